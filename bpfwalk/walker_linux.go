//go:build linux

package bpfwalk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/internal/bpfload"
	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// readBufSize is what one read(2) of the iterator asks for. The kernel fills
// its own buffer, 8 pages, and returns at most that, whole records only; a
// larger buffer costs nothing more.
const readBufSize = 64 << 10

// Walker holds the loaded iterator program. Walk may be called again and
// again, but not concurrently: calls are serialised.
type Walker struct {
	opts Options
	objs taskFileObjects
	iter *link.Iter
	// workers, when the walk takes one iterator per process; nil when one
	// iterator walks every task.
	workers []*worker

	mu     sync.Mutex
	buf    []byte
	table  resolver.Table
	dec    decoder
	lister procLister

	afterRead func() // a test's hook, called after each read
}

// New checks that the bpf walk can see what a /proc walk of opts.ProcRoot
// would (see [Usable]), then loads and verifies the iterator program: the
// fixed cost of the bpf walk, which each [Walker.Walk] then does without.
//
// The error says what is missing: a proc root that is not the initial pid
// namespace's proc or is mounted with hidepid, the kernel's BTF
// (errors.ErrUnsupported), the task_file iterator (errors.ErrUnsupported),
// or the privilege to load it (os.ErrPermission).
func New(opts Options) (*Walker, error) {
	if err := checkProcRoot(opts.ProcRoot); err != nil {
		return nil, err
	}
	// The kernel's BTF, parsed once for the check and the loads.
	cache, err := iterator.CheckKernel(opts.BTF)
	if err != nil {
		return nil, err
	}
	spec, err := loadTaskFile()
	if err != nil {
		return nil, err
	}
	if err := spec.Variables[taskFileVarWantPath].Set(boolByte(opts.Cgroup)); err != nil {
		return nil, fmt.Errorf("setting want_path: %w", err)
	}
	w := &Walker{opts: opts, buf: make([]byte, readBufSize)}
	if w.dec.bootOffset, err = bootOffset(opts.ProcRoot); err != nil {
		return nil, fmt.Errorf("bpf walk: our time namespace: %w", err)
	}
	if err := spec.LoadAndAssign(&w.objs, &ebpf.CollectionOptions{Cache: cache}); err != nil {
		return nil, iterator.LoadError(err)
	}
	w.iter, err = link.AttachIter(link.IterOptions{Program: w.objs.TaskFile})
	if err != nil {
		w.objs.Close()
		return nil, iterator.LoadError(fmt.Errorf("attaching the task_file iterator: %w", err))
	}
	n := opts.Workers
	if n == 0 {
		n = runtime.GOMAXPROCS(0)
	}
	if n > 1 && hasTaskFilter(w.objs.TaskFile) {
		load := func(objs *taskFileObjects) error {
			if err := spec.LoadAndAssign(objs, &ebpf.CollectionOptions{Cache: cache}); err != nil {
				return iterator.LoadError(err)
			}
			return nil
		}
		if err := w.newWorkers(n, load); err != nil {
			w.iter.Close()
			w.objs.Close()
			return nil, err
		}
	}
	return w, nil
}

// Usable tells whether a bpf walk would see the same processes as a /proc
// walk of procRoot, and could run here: it returns nil, or the error of
// [New]. The checks of procRoot and of the kernel's BTF cost a few system
// calls; the rest is a load and verification of the program, which it then
// releases. A caller that goes on to walk should call New instead.
func Usable(procRoot string) error {
	w, err := New(Options{ProcRoot: procRoot})
	if err != nil {
		return err
	}
	return w.Close()
}

// iterator names the program in the messages of a kernel without it and of
// a failed load.
var iterator = bpfload.Iterator{Prefix: "bpf walk", Name: "task_file", Since: "5.8"}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// Walk asks the kernel for every socket descriptor and returns what it
// found, in the form and order of a /proc walk's table (see
// [resolver.Table]):
//   - Owners: one per (process, descriptor) of a socket. A thread with an
//     fd table of its own (unshare(CLONE_FILES)) adds its sockets to its
//     process, which /proc/<pid>/fd does not show; an fd number already
//     read for the process is kept as the first table read gave it.
//   - Procs: the processes that own a socket, their fields as the /proc
//     walk reads them: Name from the leader's comm, UID the effective uid
//     of the leader's objective credentials, StartTime the leader's in
//     clock ticks, NetNS that of the leader or, once the leader has
//     exited, of the thread whose files were read; and CgroupID, the
//     inode of the process's cgroup v2 directory. Cgroup only with
//     Options.Cgroup.
//   - Stats: Processes, FDs, Sockets (== len(Owners)), ExitedLeaders,
//     Gone, Denied as the /proc walk counts them. Skipped, FDsGone and
//     BadLinks are 0: the kernel does not race with itself, and every
//     socket it shows is a socket.
//   - Unwalked: the processes of the proc root whose files the kernel did
//     not show although they have some (a sandbox may hide a process from
//     BPF iterators as from readlink), Reason Denied. The walk lists the
//     proc root first, and asks it of every process the iterator did not
//     show: a kernel thread, a zombie or a process with no open file owns
//     nothing.
//
// The table shares memory with w and stays valid only until the next call
// to Walk: copy what must outlive it. After Close, Walk returns an error.
//
// The error is nil, a *resolver.DeniedError counting the hidden
// processes, or what cut the walk short: "walk stopped ...: <ctx.Err()>"
// or the failed read. ctx is checked between reads of the iterator, each
// about 30 KiB of records. A walk cut short keeps the owners read so far
// and lists in Unwalked, Reason Stopped (or Failed), the last process read
// and every process of the proc root the iterator had not shown yet: the
// kernel does not tell which of them it passed over for having no files,
// so none is taken for one that owns nothing. Its Stats count what was
// read: FDs then counts the socket descriptors only. If the proc root
// itself cannot be listed, the error names it and the table is empty.
func (w *Walker) Walk(ctx context.Context) (*resolver.Table, error) {
	w.mu.Lock()
	defer w.mu.Unlock()

	t := &w.table
	clear(t.Procs) // drop the previous walk's strings
	t.Owners, t.Procs, t.Unwalked, t.Stats = t.Owners[:0], t.Procs[:0], t.Unwalked[:0], resolver.Stats{}
	d := &w.dec
	d.pids = d.pids[:0]
	if w.iter == nil {
		return t, errors.New("bpf walk: walker is closed")
	}

	// The processes there before the iterator starts: it must show
	// each one that has open files and is still there when it passes.
	root := w.opts.ProcRoot
	var err error
	if d.pids, err = w.lister.listPIDs(root, d.pids); err != nil {
		return t, fmt.Errorf("listing proc root %q: %w", root, err)
	}
	if cap(t.Owners) == 0 {
		t.Owners = make([]resolver.Owner, 0, socketsInUse(root))
	}
	d.reset(t, w.opts.Cgroup)
	d.match = w.opts.Match

	read := w.read
	if w.workers != nil {
		read = w.readEach
	}
	if err := read(ctx); err != nil {
		return t, w.cutShort(err)
	}
	t.Stats = resolver.Stats{
		Processes:     d.totals.processes - d.skipped,
		Skipped:       d.skipped,
		FDs:           d.totals.fds,
		Sockets:       len(t.Owners),
		ExitedLeaders: d.totals.exitedLeaders,
	}
	var denied []error
	for i, pid := range d.pids {
		if d.seen[i] {
			continue
		}
		if w.opts.Match != nil && !w.opts.Match(w.lister.comm(root, pid)) {
			t.Stats.Skipped++
			continue
		}
		switch why, e, start := w.lister.probe(root, pid); why {
		case noFiles:
			t.Stats.Processes++
		case gone:
			t.Stats.Gone++
		case hidden:
			t.Stats.Denied++
			t.Unwalked = append(t.Unwalked, resolver.Unwalked{PID: pid, StartTime: start, Reason: resolver.Denied})
			if len(denied) == 0 {
				denied = append(denied, fmt.Errorf("%s/%d: open files the task_file iterator does not show: %w", root, pid, e))
			}
		}
	}
	w.sort()
	if len(denied) > 0 {
		return t, &resolver.DeniedError{Processes: t.Stats.Denied, First: denied[0]}
	}
	return t, nil
}

// read reads the iterator to its end, decoding the records as they come.
func (w *Walker) read(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return stopped{fmt.Errorf("walk stopped before it started: %w", err)}
	}
	rd, err := w.iter.Open()
	if err != nil {
		return fmt.Errorf("bpf walk: opening the task_file iterator: %w", err)
	}
	defer rd.Close()
	return w.drain(ctx, rd.Read, w.buf, &w.dec.one, w.dec.decode, 0)
}

// drain reads an iterator to its end record with read (io.EOF at its
// end), its records decoded into s: decode takes each read's whole
// records, the rest comes again with the next read. pid is the process of
// an iterator of one process, 0 for one of every task.
func (w *Walker) drain(ctx context.Context, read func([]byte) (int, error), buf []byte, s *session, decode func([]byte) (int, error), pid int32) error {
	what := func() string {
		if pid == 0 {
			return "the task_file iterator"
		}
		return fmt.Sprintf("the task_file iterator of pid %d", pid)
	}
	done := ctx.Done()
	n := 0 // bytes of a cut record at the start of buf
	for {
		select {
		case <-done:
			return stopped{fmt.Errorf("walk stopped in %s: %w", what(), ctx.Err())}
		default:
		}
		m, err := read(buf[n:])
		if m > 0 {
			n += m
			used, derr := decode(buf[:n])
			if derr != nil {
				return fmt.Errorf("bpf walk: %s: %w", what(), derr)
			}
			n = copy(buf, buf[used:n])
		}
		if w.afterRead != nil {
			w.afterRead()
		}
		switch {
		case errors.Is(err, io.EOF):
			if !s.end || n != 0 {
				return fmt.Errorf("bpf walk: %s ended without its end record (%d bytes left)", what(), n)
			}
			return nil
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
			// The kernel went through a million files without a
			// record to show in one read, or a signal came: read on.
		case err != nil:
			return fmt.Errorf("bpf walk: reading %s: %w", what(), err)
		}
	}
}

// stopped is the error of a walk that its context ended.
type stopped struct{ error }

func (s stopped) Unwrap() error { return s.error }

// cutShort finishes the table of a walk cut short by err and returns err.
func (w *Walker) cutShort(err error) error {
	t := &w.table
	d := &w.dec
	reason := resolver.Failed
	if errors.As(err, new(stopped)) {
		reason = resolver.Stopped
	}
	// FDs counts the sockets only: the kernel's count is in the end
	// record, which a walk cut short lacks.
	t.Stats = resolver.Stats{FDs: len(t.Owners), Sockets: len(t.Owners)}
	for i, pid := range d.pids {
		if d.seen[i] {
			t.Stats.Processes++
		}
		whole := d.seen[i] && pid != d.s.last
		if w.workers != nil {
			whole = d.done[i]
		}
		if !whole {
			t.Unwalked = append(t.Unwalked, resolver.Unwalked{PID: pid, Reason: reason})
		}
	}
	if reason == resolver.Stopped {
		t.Stats.Stopped = len(t.Unwalked)
	} else {
		t.Stats.Failed = len(t.Unwalked)
	}
	w.sort()
	return err
}

// sort puts the table in the order it documents.
func (w *Walker) sort() {
	t := &w.table
	sortByInode(t.Owners)
	t.Sort()
}

// Close releases the program and its iterator. The last table stays
// valid.
func (w *Walker) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.iter == nil {
		return nil
	}
	err := errors.Join(w.closeWorkers(), w.iter.Close(), w.objs.Close())
	w.iter = nil
	return err
}
