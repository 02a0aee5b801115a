//go:build linux

package tcpconn

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// errTableAbsent matches the error of a table whose file does not exist,
// as tcp6 on a kernel booted with ipv6.disable=1.
var errTableAbsent = errors.New("no such table")

// errNamespaceGone matches the error of a namespace whose every process has
// gone since the walk: none of its tables can be read.
var errNamespaceGone = errors.New("every process gone")

// deadlineError says where the deadline stopped the reading of a table.
type deadlineError struct {
	path string
	rows int
}

func (e *deadlineError) Error() string {
	return fmt.Sprintf("stopped reading %s after %d rows", e.path, e.rows)
}

// absentError is the error of an absent table, worded as the open error.
type absentError struct{ error }

func (absentError) Is(target error) bool { return target == errTableAbsent }

func (e absentError) Unwrap() error { return e.error }

// tableSink takes the rows of the tables of a namespace: each row after
// enterTable of its table.
type tableSink interface {
	enterTable(v6 bool)
	row(s sock)
}

// tableResult is what a gather read of one table, and its error.
type tableResult struct {
	read tableRead
	err  error
}

// tableSource reads the kernel's TCP tables: the text files of /proc
// (procfsSource), netlink dumps (netlinkSource) or a BPF iterator
// (bpfSource). A gather reads the tables of each namespace, then ends.
type tableSource interface {
	// read streams the tables of a namespace into sink, and says in
	// out, one for each of tables, how much of it was read.
	read(ns namespace, tables []table, deadline time.Time, sink tableSink, out []tableResult)
	// end ends a gather's reads.
	end()
}

// eachTable reads tables one by one with readTable, for the sources that
// read a table at a time. Once a namespace is found gone, its other tables
// are not tried: its error is reported once.
func eachTable(tables []table, sink tableSink, out []tableResult, readTable func(table) (tableRead, error)) {
	gone := false
	for i, tb := range tables {
		if gone {
			out[i] = tableResult{}
			continue
		}
		sink.enterTable(tb.v6)
		read, err := readTable(tb)
		out[i] = tableResult{read, err}
		gone = errors.Is(err, errNamespaceGone)
	}
}

// procfsSource reads the kernel's text tables, <proc_root>/net/tcp and
// tcp6 (or <proc_root>/<pid>/net/... for another network namespace),
// through a read-ahead and one reused parser.
type procfsSource struct {
	procRoot string
	reader   *parser.Reader
	ahead    *readAhead
	// wrap, in tests, puts a fault between the file and the parser.
	wrap func(io.Reader) io.Reader
}

func newProcfsSource(procRoot string) *procfsSource {
	return &procfsSource{
		procRoot: procRoot,
		reader:   parser.NewReader(nil),
		// Three 1 MiB buffers: at 200k sockets the table phase took 0.86 s
		// against 0.96 s with two of 256 KiB, for 2.5 MiB more, fixed.
		ahead: newReadAhead(3, 1<<20),
	}
}

func (*procfsSource) end() {}

func (p *procfsSource) read(ns namespace, tables []table, deadline time.Time, sink tableSink, out []tableResult) {
	eachTable(tables, sink, out, func(tb table) (tableRead, error) { return p.readTable(ns, tb, deadline, sink) })
}

// readTable streams one table into sink and says how much of it was read.
// A table with malformed rows is read, but not whole: the rows that could
// not be parsed are sockets too, so it proves no socket absent.
func (p *procfsSource) readTable(ns namespace, tb table, deadline time.Time, sink tableSink) (tableRead, error) {
	f, path, err := p.open(ns, tb)
	if errors.Is(err, errNamespaceGone) {
		return readNone, err
	}
	if err != nil {
		return readNone, fmt.Errorf("reading %s table: %w", tb.protocol, err)
	}
	defer f.Close()

	var rd io.Reader = f
	if p.wrap != nil {
		rd = p.wrap(rd)
	}
	p.ahead.start(rd)
	defer p.ahead.end() // before the file closes
	r := p.reader
	r.Reset(p.ahead)
	defer r.Reset(nil) // drop the file, keep the buffer
	var rows int
	for r.Next() {
		rows++
		// A clock read per row would cost more than the row itself.
		if rows%1024 == 0 && time.Now().After(deadline) {
			return readPartial, &deadlineError{path: path, rows: rows}
		}
		sink.row(sock{Socket: r.Socket()})
	}
	if err := r.Err(); err != nil {
		return readPartial, fmt.Errorf("reading %s: %w", path, err)
	}
	if n := r.Malformed(); n > 0 {
		return readPartial, fmt.Errorf("%s: skipped %d malformed rows: %w", path, n, r.MalformedErr())
	}
	return readWhole, nil
}

// open opens one table of a namespace. A process that exited since the
// walk is normal: the next process of the namespace serves. A table whose
// file is not there where its directory is matches errTableAbsent.
func (p *procfsSource) open(ns namespace, tb table) (*os.File, string, error) {
	if len(ns.pids) == 0 {
		path := filepath.Join(p.procRoot, "net", tb.file)
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			err = absentError{err}
		}
		return f, path, err
	}
	var err error
	for _, pid := range ns.pids {
		dir := filepath.Join(p.procRoot, strconv.Itoa(int(pid)), "net")
		path := filepath.Join(dir, tb.file)
		var f *os.File
		if f, err = os.Open(path); err == nil {
			return f, path, nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ESRCH) {
			return nil, path, err
		}
		if _, statErr := os.Stat(dir); statErr == nil {
			return nil, path, absentError{err} // the process is there, the table is not
		}
	}
	return nil, "", fmt.Errorf("reading network namespace %d: %w since the walk: %w", ns.netns, errNamespaceGone, err)
}
