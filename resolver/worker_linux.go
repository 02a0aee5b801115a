//go:build linux

package resolver

import (
	"math"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/internal/proctext"
)

// worker walks one process at a time with its own buffers and results.
type worker struct {
	dirBuf []byte
	file   []byte
	link   []byte
	path   []byte

	owners   []Owner // Proc holds the slot index until merge
	unwalked []Unwalked
	stats    Stats
	done     int
	stopped  bool
	denied   firstError
	failed   firstError
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
	w.unwalked = w.unwalked[:0]
	w.stats = Stats{}
	w.done = 0
	w.stopped = false
	w.denied = firstError{}
	w.failed = firstError{}
}

// fail counts a process that could not be walked, by errno. pfd is its
// directory, or -1 if it could not be opened. A process that is gone is
// only counted; one that is there but could not be read is also recorded
// in w.unwalked, with its start time when stat can tell it (stat is
// readable by anyone), so that the caller can tell it from a new process
// with the same pid.
func (w *worker) fail(pid int32, pfd int, f failure) {
	var reason Reason
	switch f.err {
	case unix.ENOENT, unix.ESRCH:
		w.stats.Gone++
		return
	case unix.EACCES, unix.EPERM:
		w.stats.Denied++
		w.denied.set(pid, f)
		reason = Denied
	default:
		w.stats.Failed++
		w.failed.set(pid, f)
		reason = Failed
	}
	w.unwalked = append(w.unwalked, Unwalked{PID: pid, StartTime: w.startTime(pfd), Reason: reason})
}

// zombie reports whether the process (or thread) whose directory is pfd
// has exited, though its parent has not reaped it, or is exiting.
func (w *worker) zombie(pfd int) bool {
	b, e := readFile(pfd, cstr("stat\x00"), w.file)
	return e == 0 && parseStatExiting(b)
}

// startTime reads the start time of the process whose directory is pfd,
// or returns 0.
func (w *worker) startTime(pfd int) uint64 {
	if pfd < 0 {
		return 0
	}
	b, e := readFile(pfd, cstr("stat\x00"), w.file)
	if e != 0 {
		return 0
	}
	ticks, _ := parseStatStartTime(b)
	return ticks
}

// process walks one process and stores it in out. It returns false if done
// was closed before it could finish. The process is counted in exactly one
// of Stats.Processes, Gone, Denied, Skipped and Failed; one cut short by
// done counts in Processes and Stopped, and is recorded as Unwalked.
func (w *worker) process(opts *Options, done <-chan struct{}, rootfd, slot int, pid int32, out *Process) bool {
	w.path = strconv.AppendUint(w.path[:0], uint64(pid), 10)
	w.path = append(w.path, 0)
	pfd, e := openat(rootfd, &w.path[0], unix.O_RDONLY|unix.O_DIRECTORY)
	if e != 0 {
		w.fail(pid, -1, failed("open", "", e))
		return true
	}
	defer unix.Close(pfd)

	comm, e := readFile(pfd, cstr("comm\x00"), w.file[:commBufSize])
	if e != 0 {
		w.fail(pid, pfd, failed("open", "comm", e))
		return true
	}
	p := Process{PID: pid, Name: cleanComm(comm)}
	if opts.Match != nil && !opts.Match(p.Name) {
		w.stats.Skipped++
		return true
	}

	// A zombie's fd directory belongs to root, as its memory is gone: to
	// another user a process that has exited, or whose leader thread has,
	// looks denied. It is not.
	fdfd, e := openat(pfd, cstr("fd\x00"), unix.O_RDONLY|unix.O_DIRECTORY)
	zombie := (e == unix.EACCES || e == unix.EPERM) && w.zombie(pfd)
	switch {
	case zombie:
	case e != 0:
		w.fail(pid, pfd, failed("open", "fd", e))
		return true
	default:
		defer unix.Close(fdfd)
	}

	start := len(w.owners)
	var (
		stopped bool
		nfd     int
		f       failure
	)
	if !zombie {
		stopped, nfd, f = w.walkFDs(done, fdfd, pid, int32(slot))
	}
	// A thread-group leader that called pthread_exit while its other
	// threads run is a zombie with an empty fd directory, and ns/net gone:
	// its descriptors and namespace are those of its live threads. ss -p
	// misses such sockets. Kernel threads also have an empty fd directory,
	// and no other thread to find.
	nsdir := pfd
	if nfd == 0 && f.err == 0 && !stopped {
		tfd := w.liveThread(pfd, pid)
		if tfd < 0 && zombie {
			w.stats.Gone++ // it has exited: its files are closed
			return true
		}
		if tfd >= 0 {
			defer unix.Close(tfd)
			switch tfdfd, e := openat(tfd, cstr("fd\x00"), unix.O_RDONLY|unix.O_DIRECTORY); e {
			case 0:
				defer unix.Close(tfdfd)
				stopped, _, f = w.walkFDs(done, tfdfd, pid, int32(slot))
				nsdir = tfd
				w.stats.ExitedLeaders++
			case unix.ENOENT, unix.ESRCH:
				// The thread ended too: nothing more to find.
			default:
				if zombie && (e == unix.EACCES || e == unix.EPERM) && w.zombie(tfd) {
					w.stats.Gone++ // the thread is dying too, as its process did
					return true
				}
				w.fail(pid, pfd, failed("open", "task fd", e))
				return true
			}
		}
	}
	if f.err != 0 {
		w.owners = w.owners[:start]
		w.fail(pid, pfd, f)
		return true
	}
	// status and stat cost the kernel more than a whole small fd
	// directory: read them only for the processes the join needs.
	if len(w.owners) > start {
		if f := w.readMeta(pfd, nsdir, &p, opts); f.err != 0 {
			w.owners = w.owners[:start]
			w.fail(pid, pfd, f)
			return !stopped
		}
		*out = p
	}
	w.stats.Processes++
	w.stats.Sockets += len(w.owners) - start
	if stopped {
		w.stats.Stopped++
		start := p.StartTime
		if start == 0 {
			start = w.startTime(pfd)
		}
		w.unwalked = append(w.unwalked, Unwalked{PID: pid, StartTime: start, Reason: Stopped})
	}
	return !stopped
}

// readMeta reads the cheap per-process facts, ns/net from nsdir (the
// process's directory, or a live thread's). A file that is not there (a
// fixture's, or one of a process that is exiting) leaves its fact at its
// fallback. Any other error (EMFILE, EIO, EACCES) fails the process: a
// start time or a namespace that could not be read is not a fact.
func (w *worker) readMeta(pfd, nsdir int, p *Process, opts *Options) failure {
	uidOK := false
	switch b, e := readFile(pfd, cstr("status\x00"), w.file); e {
	case 0:
		p.UID, uidOK = parseStatusUID(b)
	case unix.ENOENT, unix.ESRCH:
	default:
		return failed("open", "status", e)
	}
	if !uidOK {
		var st unix.Stat_t
		if unix.Fstat(pfd, &st) == nil {
			p.UID = st.Uid
		}
	}
	switch b, e := readFile(pfd, cstr("stat\x00"), w.file); e {
	case 0:
		p.StartTime, _ = parseStatStartTime(b)
	case unix.ENOENT, unix.ESRCH:
	default:
		return failed("open", "stat", e)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(nsdir, "ns/net", &st, 0); err == nil {
		p.NetNS = st.Ino
	} else if e := errno(err); e != unix.ENOENT && e != unix.ESRCH {
		return failed("stat", "ns/net", e)
	}
	if opts.Cgroup {
		switch b, e := readFile(pfd, cstr("cgroup\x00"), w.file); e {
		case 0:
			p.Cgroup = proctext.CleanText(b, MaxCgroupLen)
		case unix.ENOENT, unix.ESRCH:
		default:
			return failed("open", "cgroup", e)
		}
	}
	return failure{}
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
			if tid, ok := proctext.ParseCanonical(w.dirBuf[off:off+l], math.MaxInt32); !ok || int32(tid) == pid {
				continue
			}
			if tfd, e := openat(taskfd, &w.dirBuf[off], unix.O_RDONLY|unix.O_DIRECTORY); e == 0 {
				return tfd
			}
		}
	}
}

// walkFDs lists the fd directory in batches and reads each link, appending
// the sockets to w.owners. It stops between batches once done is closed
// (stopped). It returns the number of descriptors listed. A failure means
// the process cannot be walked: its owners are to be dropped.
func (w *worker) walkFDs(done <-chan struct{}, fdfd int, pid, slot int32) (stopped bool, nfd int, _ failure) {
	for {
		select {
		case <-done:
			return true, nfd, failure{}
		default:
		}
		n, err := getdents(fdfd, w.dirBuf)
		if err != nil {
			return false, nfd, failed("getdents", "fd", errno(err))
		}
		if n <= 0 {
			return false, nfd, failure{}
		}
		it := direntIter{buf: w.dirBuf[:n]}
		for {
			off, l, ok := it.next()
			if !ok {
				break
			}
			fd, ok := proctext.ParseCanonical(w.dirBuf[off:off+l], math.MaxInt32)
			if !ok {
				continue // ".", ".." and anything that is not an fd
			}
			nfd++
			m, e := readlinkat(fdfd, &w.dirBuf[off], w.link)
			switch e {
			case 0:
			case unix.ENOENT, unix.ESRCH:
				w.stats.FDsGone++
				continue
			case unix.EACCES, unix.EPERM:
				return false, nfd, failure{op: "readlink", what: "fd", fd: int32(fd), err: e}
			default:
				continue // EINVAL: not a link (a fixture's plain file)
			}
			w.stats.FDs++
			target := w.link[:m]
			if len(target) < len("socket:") || string(target[:len("socket:")]) != "socket:" {
				continue
			}
			inode, ok := parseSocketLink(target)
			if !ok {
				w.stats.BadLinks++
				continue
			}
			w.owners = append(w.owners, Owner{Inode: inode, PID: pid, FD: int32(fd), Proc: slot})
		}
	}
}
