//go:build linux

package resolver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/internal/proctext"
)

const (
	// dirBufSize is the getdents64 buffer of a worker: about 1300 fd
	// entries per system call, and the bound on what a huge fd directory
	// costs in memory beyond the owners kept.
	dirBufSize = 32 << 10
	// fileBufSize bounds what is read of status, stat and cmdline.
	fileBufSize = 4 << 10
	// commBufSize bounds what is read of comm (the kernel's is 16 bytes
	// and a fixture's is capped to MaxNameLen anyway).
	commBufSize = 4 * MaxNameLen
	// linkBufSize is the readlink buffer: any longer target is not a valid
	// socket link.
	linkBufSize = 64
)

// Resolver walks a proc file system. It keeps its buffers from one walk to
// the next. Walk may be called again and again, but not concurrently: calls
// are serialised.
type Resolver struct {
	opts Options

	mu      sync.Mutex
	rootBuf []byte
	pids    []int32
	slots   []Process // one per candidate pid; PID 0 marks an empty slot
	remap   []int32   // slot index -> index in table.Procs
	workers []*worker
	table   Table
}

// New validates opts and returns a Resolver.
func New(opts Options) (*Resolver, error) {
	if opts.ProcRoot == "" {
		return nil, errors.New("proc root is required")
	}
	if opts.Workers < 0 {
		return nil, fmt.Errorf("workers %d: must be 0 or more", opts.Workers)
	}
	return &Resolver{opts: opts}, nil
}

// Walk walks the proc root once and returns what it found.
//
// The Table is never nil. It shares memory with r and stays valid only until
// the next call to Walk: copy what must outlive it.
//
// The error is nil or an errors.Join of:
//   - one *DeniedError summarising the processes that were not readable;
//   - an error counting the processes that failed otherwise;
//   - "walk stopped after N of M processes" wrapping ctx.Err(), when ctx
//     ended the walk early. ctx is checked between processes and between
//     batches of descriptors of one process; a process cut short keeps the
//     owners read so far.
//
// Each process the error counts is in Table.Unwalked, so a caller decides
// from the table, not from the error, what the walk proved. Processes that
// vanish mid-walk are counted in Stats.Gone and are never an error. If the
// proc root itself cannot be opened or listed, the error names it and the
// table is empty.
func (r *Resolver) Walk(ctx context.Context) (*Table, error) {
	r.mu.Lock()
	defer r.mu.Unlock()

	t := &r.table
	clear(t.Procs) // drop the previous walk's strings
	t.Owners, t.Procs, t.Unwalked, t.Stats = t.Owners[:0], t.Procs[:0], t.Unwalked[:0], Stats{}

	root := r.opts.ProcRoot
	rootfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return t, fmt.Errorf("opening proc root %q: %w", root, err)
	}
	defer unix.Close(rootfd)

	if err := r.listPIDs(rootfd); err != nil {
		return t, fmt.Errorf("listing proc root %q: %w", root, err)
	}
	pids := r.pids
	n := len(pids)

	r.slots = slices.Grow(r.slots[:0], n)[:n]
	clear(r.slots)

	nw := r.opts.Workers
	if nw == 0 {
		nw = runtime.GOMAXPROCS(0)
	}
	nw = max(min(nw, n), 1)
	for len(r.workers) < nw {
		r.workers = append(r.workers, newWorker())
	}
	workers := r.workers[:nw]

	var next atomic.Int64
	done := ctx.Done()
	// A worker that sees done before taking a pid leaves next alone, so
	// the pids from next on were never reached.
	run := func(w *worker) {
		w.reset()
		for {
			select {
			case <-done:
				w.stopped = true
				return
			default:
			}
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			if !w.process(&r.opts, done, rootfd, i, pids[i], &r.slots[i]) {
				w.stopped = true
				return
			}
			w.done++
		}
	}
	if nw == 1 {
		run(workers[0])
	} else {
		var wg sync.WaitGroup
		for _, w := range workers[1:] {
			wg.Go(func() { run(w) })
		}
		run(workers[0])
		wg.Wait()
	}

	reached := min(int(next.Load()), n)
	return t, r.merge(ctx, workers, pids[reached:])
}

// merge gathers the workers' results into r.table, in a deterministic order.
// unreached are the pids no worker took.
func (r *Resolver) merge(ctx context.Context, workers []*worker, unreached []int32) error {
	n := len(r.pids)
	t := &r.table
	var (
		st             Stats
		total, done    int
		stopped        bool
		denied, failed firstError
	)
	for _, w := range workers {
		s := &w.stats
		st.Processes += s.Processes
		st.Gone += s.Gone
		st.Denied += s.Denied
		st.Skipped += s.Skipped
		st.Failed += s.Failed
		st.Stopped += s.Stopped
		st.FDs += s.FDs
		st.FDsGone += s.FDsGone
		st.Sockets += s.Sockets
		st.BadLinks += s.BadLinks
		st.ExitedLeaders += s.ExitedLeaders
		total += len(w.owners)
		t.Unwalked = append(t.Unwalked, w.unwalked...)
		done += w.done
		stopped = stopped || w.stopped
		denied.merge(w.denied)
		failed.merge(w.failed)
	}
	for _, pid := range unreached {
		t.Unwalked = append(t.Unwalked, Unwalked{PID: pid, Reason: Stopped})
	}
	st.Stopped += len(unreached)
	t.Stats = st
	slices.SortFunc(t.Unwalked, func(a, b Unwalked) int { return cmp.Compare(a.PID, b.PID) })

	r.remap = slices.Grow(r.remap[:0], n)[:n]
	t.Procs = slices.Grow(t.Procs, st.Processes)
	for i := range r.slots {
		if r.slots[i].PID != 0 {
			r.remap[i] = int32(len(t.Procs))
			t.Procs = append(t.Procs, r.slots[i])
		}
	}
	t.Owners = slices.Grow(t.Owners, total)
	for _, w := range workers {
		for _, o := range w.owners {
			o.Proc = r.remap[o.Proc]
			t.Owners = append(t.Owners, o)
		}
	}
	slices.SortFunc(t.Owners, compareOwners)
	t.Index()

	var errs []error
	if st.Denied > 0 {
		errs = append(errs, &DeniedError{Processes: st.Denied, First: denied.error(r.opts.ProcRoot)})
	}
	if st.Failed > 0 {
		errs = append(errs, fmt.Errorf("%d %s could not be walked (first: %w)",
			st.Failed, plural(st.Failed, "process", "processes"), failed.error(r.opts.ProcRoot)))
	}
	if stopped {
		errs = append(errs, fmt.Errorf("walk stopped after %d of %d processes: %w", done, n, ctx.Err()))
	}
	return errors.Join(errs...)
}

// listPIDs lists the numeric entries of the proc root into r.pids, sorted.
func (r *Resolver) listPIDs(rootfd int) error {
	if r.rootBuf == nil {
		r.rootBuf = make([]byte, dirBufSize)
	}
	r.pids = r.pids[:0]
	for {
		n, err := getdents(rootfd, r.rootBuf)
		if err != nil {
			return err
		}
		if n <= 0 {
			break
		}
		it := direntIter{buf: r.rootBuf[:n]}
		for {
			off, l, ok := it.next()
			if !ok {
				break
			}
			if pid, ok := proctext.ParseCanonical(r.rootBuf[off:off+l], math.MaxInt32); ok && pid > 0 {
				r.pids = append(r.pids, int32(pid))
			}
		}
	}
	slices.Sort(r.pids) // the kernel lists them in order already: cheap
	r.pids = slices.Compact(r.pids)
	return nil
}

func getdents(fd int, buf []byte) (int, error) {
	for {
		n, err := unix.Getdents(fd, buf)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// failure is why one process could not be walked: the system call, the
// file relative to <proc_root>/<pid> ("" for the directory itself, "fd/<fd>"
// when fd >= 0) and the errno.
type failure struct {
	op   string
	what string
	fd   int32
	err  unix.Errno
}

func failed(op, what string, err unix.Errno) failure {
	return failure{op: op, what: what, fd: -1, err: err}
}

// firstError remembers the failure of the lowest pid, so that the reported
// one does not depend on the worker scheduling.
type firstError struct {
	pid int32 // 0: none
	f   failure
}

func (e *firstError) set(pid int32, f failure) {
	if e.pid == 0 || pid < e.pid {
		*e = firstError{pid: pid, f: f}
	}
}

func (e *firstError) merge(g firstError) {
	if g.pid != 0 {
		e.set(g.pid, g.f)
	}
}

func (e *firstError) error(root string) error {
	p := root + "/" + strconv.Itoa(int(e.pid))
	if e.f.what != "" {
		p += "/" + e.f.what
	}
	if e.f.fd >= 0 {
		p += "/" + strconv.Itoa(int(e.f.fd))
	}
	return &fs.PathError{Op: e.f.op, Path: p, Err: e.f.err}
}
