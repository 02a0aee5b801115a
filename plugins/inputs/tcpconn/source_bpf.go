//go:build linux

package tcpconn

import (
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/bpftable"
)

// bpfSource reads the kernel's TCP table with a BPF iterator (package
// bpftable): one walk of the table gives the rows of both families, a
// fixed-size record each, which the kernel neither prints nor we parse.
// Its rows read as those of /proc/net/tcp and tcp6, so that switching
// source changes no series.
//
// The iterator's records are read ahead on another goroutine, as the text
// tables and the dumps are: the kernel's walk and the join then run on two
// cores (at 200k sockets, tcpconn -once with both BPF iterators took
// 0.59 s without, 0.45 s with: medians of 8 alternating runs).
//
// A walk lists the network namespace of the thread that opens it: the
// agent's own, or another one entered for the open (which needs
// CAP_SYS_ADMIN). Where that is refused, the namespace is read from its
// /proc tables, with one warning.
type bpfSource struct {
	procRoot string
	table    *bpftable.Table
	reader   *bpftable.Reader
	ahead    *readAhead
	self     uint64 // the agent's own network namespace
	procfs   *procfsSource
	warn     func(string)
	warned   bool
}

// newBPFSource loads the iterator program, once. It reads the kernel's
// own tables, so proc_root must be the kernel's proc, not a tree of files.
func newBPFSource(procRoot string, kernelBTF *btf.Cache, procfs *procfsSource, warn func(string)) (*bpfSource, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(procRoot, &st); err != nil {
		return nil, fmt.Errorf("proc root %q: %w", procRoot, &fs.PathError{Op: "statfs", Path: procRoot, Err: err})
	}
	if st.Type != unix.PROC_SUPER_MAGIC {
		return nil, fmt.Errorf("the BPF iterator walks the kernel's own tables, and proc_root %q is not a proc file system", procRoot)
	}
	tb, err := bpftable.NewWithBTF(kernelBTF)
	if err != nil {
		return nil, err
	}
	return &bpfSource{
		procRoot: procRoot, table: tb, reader: bpftable.NewReader(nil), ahead: newReadAhead(3, 1<<20),
		self: threadNetNS(), procfs: procfs, warn: warn,
	}, nil
}

func (*bpfSource) end() {}

// read walks the table of a namespace once, for every table asked: each
// row goes to the table of its family, and a family not asked is passed
// over. Both tables are read as far as the walk went.
func (b *bpfSource) read(ns namespace, tables []table, deadline time.Time, sink tableSink, out []tableResult) {
	stream, fallback, err := b.open(ns)
	if fallback {
		b.procfs.read(ns, tables, deadline, sink, out)
		return
	}
	clear(out)
	if err != nil {
		out[0].err = err // once for the namespace
		return
	}
	defer stream.Close()
	b.ahead.start(stream)
	defer b.ahead.end() // before the stream closes
	r := b.reader
	r.Reset(b.ahead)
	defer r.Reset(nil)
	var index [2]int // of the table of AF_INET, AF_INET6 in tables; -1: not asked
	index[0], index[1] = -1, -1
	for i, tb := range tables {
		index[b2i(tb.v6)] = i
	}
	cur := -1
	rows := 0
	read := readWhole
	for r.Next() {
		rows++
		// A clock read per row would cost more than the row itself.
		if rows%1024 == 0 && time.Now().After(deadline) {
			read, err = readPartial, &deadlineError{path: "the BPF walk of the TCP table", rows: rows}
			break
		}
		s := r.Socket()
		v6 := b2i(s.Family == bpftable.AFInet6)
		if index[v6] < 0 {
			continue
		}
		if v6 != cur {
			sink.enterTable(v6 == 1)
			cur = v6
		}
		sink.row(sock{Socket: &s.Socket, cookie: s.Cookie})
	}
	if err == nil && r.Err() != nil {
		read, err = readPartial, fmt.Errorf("the BPF walk of the TCP table: %w", r.Err())
	}
	for i := range tables {
		out[i].read = read
	}
	out[0].err = err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// open starts the walk of a namespace: the agent's own, or another one
// entered through the first of its processes that is still there. fallback
// is set when the agent may not enter namespaces: the caller reads the
// /proc tables instead.
func (b *bpfSource) open(ns namespace) (stream io.ReadCloser, fallback bool, err error) {
	if len(ns.pids) == 0 || ns.netns == b.self {
		s, err := b.table.Stream()
		return s, false, err
	}
	denied, err := enterNamespace(b.procRoot, ns, func(path string) (err error) {
		stream, err = b.table.StreamNetNS(path)
		return err
	})
	switch {
	case denied != nil:
		if !b.warned {
			b.warned = true
			b.warn(fmt.Sprintf("source = \"bpf\": %v; reading the tables of the network namespaces other than the agent's from <proc_root>/<pid>/net/tcp* instead: grant CAP_SYS_ADMIN to walk them", denied))
		}
		return nil, true, nil
	case err != nil:
		return nil, false, err
	}
	return stream, false, nil
}
