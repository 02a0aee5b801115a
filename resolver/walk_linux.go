//go:build linux

package resolver

import (
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
	if opts.MaxFDs < 0 {
		return nil, fmt.Errorf("max fds %d: must be 0 or more", opts.MaxFDs)
	}
	if opts.PIDs != nil {
		pids := make([]int32, 0, len(opts.PIDs))
		for _, p := range opts.PIDs {
			if p <= 0 {
				return nil, fmt.Errorf("pid %d: must be positive", p)
			}
			pids = append(pids, p)
		}
		slices.Sort(pids)
		opts.PIDs = slices.Compact(pids)
	}
	return &Resolver{opts: opts}, nil
}

// Options returns the options of r, with PIDs sorted and deduplicated.
func (r *Resolver) Options() Options {
	o := r.opts
	o.PIDs = slices.Clone(o.PIDs)
	return o
}

// Walk walks the proc root once and returns what it found.
//
// The Table is never nil. It shares memory with r and stays valid only until
// the next call to Walk: copy what must outlive it.
//
// The error is nil or an errors.Join of:
//   - one *DeniedError summarising the processes that were not readable;
//   - an error counting the processes that failed otherwise;
//   - a *TruncatedError counting the processes that hit Options.MaxFDs;
//   - "walk stopped after N of M processes" wrapping ctx.Err(), when ctx
//     ended the walk early. ctx is checked between processes and between
//     batches of descriptors of one process; a process cut short keeps the
//     owners read so far.
//
// Processes that vanish mid-walk are counted in Stats.Gone and are never an
// error. If the proc root itself cannot be opened or listed, the error names
// it and the table is empty.
func (r *Resolver) Walk(ctx context.Context) (*Table, error) {
	r.mu.Lock()
	defer r.mu.Unlock()

	t := &r.table
	clear(t.Procs) // drop the previous walk's strings
	t.Owners, t.Procs, t.Stats = t.Owners[:0], t.Procs[:0], Stats{}

	root := r.opts.ProcRoot
	rootfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return t, fmt.Errorf("opening proc root %q: %w", root, err)
	}
	defer unix.Close(rootfd)

	if r.opts.PIDs != nil {
		r.pids = append(r.pids[:0], r.opts.PIDs...)
	} else if err := r.listPIDs(rootfd); err != nil {
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

	return t, r.merge(ctx, workers, n)
}

// merge gathers the workers' results into r.table, in a deterministic order.
func (r *Resolver) merge(ctx context.Context, workers []*worker, n int) error {
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
		st.Truncated += s.Truncated
		st.Failed += s.Failed
		st.FDs += s.FDs
		st.FDsGone += s.FDsGone
		st.Sockets += s.Sockets
		st.BadLinks += s.BadLinks
		st.ExitedLeaders += s.ExitedLeaders
		total += len(w.owners)
		done += w.done
		stopped = stopped || w.stopped
		denied.merge(w.denied)
		failed.merge(w.failed)
	}
	t.Stats = st

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

	var errs []error
	if st.Denied > 0 {
		errs = append(errs, &DeniedError{Processes: st.Denied, First: denied.error(r.opts.ProcRoot)})
	}
	if st.Failed > 0 {
		errs = append(errs, fmt.Errorf("%d %s could not be walked (first: %w)",
			st.Failed, plural(st.Failed, "process", "processes"), failed.error(r.opts.ProcRoot)))
	}
	if st.Truncated > 0 {
		errs = append(errs, &TruncatedError{Processes: st.Truncated, MaxFDs: r.opts.MaxFDs})
	}
	if stopped {
		errs = append(errs, fmt.Errorf("walk stopped after %d of %d processes: %w", done, n, ctx.Err()))
	}
	return errors.Join(errs...)
}

func compareOwners(a, b Owner) int {
	switch {
	case a.Inode != b.Inode:
		if a.Inode < b.Inode {
			return -1
		}
		return 1
	case a.PID != b.PID:
		return int(a.PID) - int(b.PID)
	default:
		return int(a.FD) - int(b.FD)
	}
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
			if pid, ok := parseDecimal(r.rootBuf[off:off+l], math.MaxInt32); ok && pid > 0 {
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

// worker walks one process at a time with its own buffers and results.
type worker struct {
	dirBuf []byte
	file   []byte
	link   []byte
	path   []byte

	owners  []Owner // Proc holds the slot index until merge
	stats   Stats
	done    int
	stopped bool
	denied  firstError
	failed  firstError
}

func newWorker() *worker {
	return &worker{
		dirBuf: make([]byte, dirBufSize),
		file:   make([]byte, fileBufSize),
		link:   make([]byte, linkBufSize),
		path:   make([]byte, 0, 16),
	}
}

func (w *worker) reset() {
	w.owners = w.owners[:0]
	w.stats = Stats{}
	w.done = 0
	w.stopped = false
	w.denied = firstError{}
	w.failed = firstError{}
}

// fail counts a process that could not be walked, by errno.
func (w *worker) fail(pid int32, f failure) {
	switch f.err {
	case unix.ENOENT, unix.ESRCH:
		w.stats.Gone++
	case unix.EACCES, unix.EPERM:
		w.stats.Denied++
		w.denied.set(pid, f)
	default:
		w.stats.Failed++
		w.failed.set(pid, f)
	}
}

// process walks one process and stores it in out. It returns false if done
// was closed before it could finish. The process is counted in exactly one
// of Stats.Processes, Gone, Denied, Skipped and Failed.
func (w *worker) process(opts *Options, done <-chan struct{}, rootfd, slot int, pid int32, out *Process) bool {
	w.path = strconv.AppendUint(w.path[:0], uint64(pid), 10)
	w.path = append(w.path, 0)
	pfd, e := openat(rootfd, &w.path[0], unix.O_RDONLY|unix.O_DIRECTORY)
	if e != 0 {
		w.fail(pid, failed("open", "", e))
		return true
	}
	defer unix.Close(pfd)

	comm, e := readFile(pfd, cstr("comm\x00"), w.file[:commBufSize])
	if e != 0 {
		w.fail(pid, failed("open", "comm", e))
		return true
	}
	p := Process{PID: pid, Name: cleanComm(comm)}
	if opts.Match != nil && !opts.Match(p.Name) {
		w.stats.Skipped++
		return true
	}

	fdfd, e := openat(pfd, cstr("fd\x00"), unix.O_RDONLY|unix.O_DIRECTORY)
	if e != 0 {
		w.fail(pid, failed("open", "fd", e))
		return true
	}
	defer unix.Close(fdfd)

	start := len(w.owners)
	truncated, stopped, nfd, f := w.walkFDs(done, fdfd, pid, int32(slot), opts.MaxFDs)
	// A thread-group leader that called pthread_exit while its other
	// threads run is a zombie with an empty fd directory, and ns/net gone:
	// its descriptors and namespace are those of its live threads. ss -p
	// misses such sockets. Kernel threads also have an empty fd directory,
	// and no other thread to find.
	nsdir := pfd
	if nfd == 0 && f.err == 0 && !stopped {
		if tfd := w.liveThread(pfd, pid); tfd >= 0 {
			defer unix.Close(tfd)
			switch tfdfd, e := openat(tfd, cstr("fd\x00"), unix.O_RDONLY|unix.O_DIRECTORY); e {
			case 0:
				defer unix.Close(tfdfd)
				truncated, stopped, _, f = w.walkFDs(done, tfdfd, pid, int32(slot), opts.MaxFDs)
				nsdir = tfd
				w.stats.ExitedLeaders++
			case unix.ENOENT, unix.ESRCH:
				// The thread ended too: nothing more to find.
			default:
				w.fail(pid, failed("open", "task fd", e))
				return true
			}
		}
	}
	if f.err != 0 {
		w.owners = w.owners[:start]
		w.fail(pid, f)
		return true
	}
	w.stats.Processes++
	w.stats.Sockets += len(w.owners) - start
	if truncated {
		w.stats.Truncated++
	}
	// status and stat cost the kernel more than a whole small fd
	// directory: read them only for the processes the join needs.
	if len(w.owners) > start {
		w.readMeta(pfd, nsdir, &p, opts)
		*out = p
	}
	return !stopped
}

// readMeta reads the cheap per-process facts, ns/net from nsdir (the
// process's directory, or a live thread's). Each one that cannot be read is
// left at its fallback: the process itself was there when its fd directory
// was opened.
func (w *worker) readMeta(pfd, nsdir int, p *Process, opts *Options) {
	uidOK := false
	if b, e := readFile(pfd, cstr("status\x00"), w.file); e == 0 {
		p.UID, uidOK = ParseStatusUID(b)
	}
	if !uidOK {
		var st unix.Stat_t
		if unix.Fstat(pfd, &st) == nil {
			p.UID = st.Uid
		}
	}
	if b, e := readFile(pfd, cstr("stat\x00"), w.file); e == 0 {
		p.StartTime, _ = ParseStatStartTime(b)
	}
	var st unix.Stat_t
	if unix.Fstatat(nsdir, "ns/net", &st, 0) == nil {
		p.NetNS = st.Ino
	}
	if opts.Cmdline {
		if b, e := readFile(pfd, cstr("cmdline\x00"), w.file); e == 0 {
			p.Cmdline = cleanCmdline(b)
		}
	}
	if opts.Cgroup {
		if b, e := readFile(pfd, cstr("cgroup\x00"), w.file); e == 0 {
			p.Cgroup = cleanText(b, MaxCmdlineLen)
		}
	}
}

// liveThread opens the directory of a thread of pid other than pid itself,
// task/<tid>, and returns its descriptor, or -1 if there is none.
func (w *worker) liveThread(pfd int, pid int32) int {
	taskfd, e := openat(pfd, cstr("task\x00"), unix.O_RDONLY|unix.O_DIRECTORY)
	if e != 0 {
		return -1
	}
	defer unix.Close(taskfd)
	for {
		n, err := getdents(taskfd, w.dirBuf)
		if err != nil || n <= 0 {
			return -1
		}
		it := direntIter{buf: w.dirBuf[:n]}
		for {
			off, l, ok := it.next()
			if !ok {
				break
			}
			if tid, ok := parseDecimal(w.dirBuf[off:off+l], math.MaxInt32); !ok || int32(tid) == pid {
				continue
			}
			if tfd, e := openat(taskfd, &w.dirBuf[off], unix.O_RDONLY|unix.O_DIRECTORY); e == 0 {
				return tfd
			}
		}
	}
}

// walkFDs lists the fd directory in batches and reads each link, appending
// the sockets to w.owners. It stops after maxFDs descriptors (truncated), or
// between batches once done is closed (stopped). It returns the number of
// descriptors listed. A failure means the process cannot be walked: its
// owners are to be dropped.
func (w *worker) walkFDs(done <-chan struct{}, fdfd int, pid, slot int32, maxFDs int) (truncated, stopped bool, nfd int, _ failure) {
	for {
		select {
		case <-done:
			return false, true, nfd, failure{}
		default:
		}
		n, err := getdents(fdfd, w.dirBuf)
		if err != nil {
			return false, false, nfd, failed("getdents", "fd", errno(err))
		}
		if n <= 0 {
			return false, false, nfd, failure{}
		}
		it := direntIter{buf: w.dirBuf[:n]}
		for {
			off, l, ok := it.next()
			if !ok {
				break
			}
			fd, ok := parseDecimal(w.dirBuf[off:off+l], math.MaxInt32)
			if !ok {
				continue // ".", ".." and anything that is not an fd
			}
			if maxFDs > 0 && nfd >= maxFDs {
				return true, false, nfd, failure{}
			}
			nfd++
			m, e := readlinkat(fdfd, &w.dirBuf[off], w.link)
			switch e {
			case 0:
			case unix.ENOENT, unix.ESRCH:
				w.stats.FDsGone++
				continue
			case unix.EACCES, unix.EPERM:
				return false, false, nfd, failure{op: "readlink", what: "fd", fd: int32(fd), err: e}
			default:
				continue // EINVAL: not a link (a fixture's plain file)
			}
			w.stats.FDs++
			target := w.link[:m]
			if len(target) < len("socket:") || string(target[:len("socket:")]) != "socket:" {
				continue
			}
			inode, ok := ParseSocketLink(target)
			if !ok {
				w.stats.BadLinks++
				continue
			}
			w.owners = append(w.owners, Owner{Inode: inode, PID: pid, FD: int32(fd), Proc: slot})
		}
	}
}
