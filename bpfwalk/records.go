package bpfwalk

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/tcpconn/telegraf-tcpconn/internal/proctext"
	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// The records task_file.bpf.c writes, in the CPU's byte order. Keep in step
// with the C structs sock_rec, proc_rec and end_rec.
const (
	recSock = 1
	recProc = 2
	recEnd  = 3
	recTask = 4

	taskRecLen     = 8
	sockRecLen     = 16
	procRecHeadLen = 64
	endRecLen      = 32

	// Flags of a proc record.
	procExitedLeader = 1
	procOwnTable     = 2
	procPathWhole    = 4

	// userHZ is USER_HZ, the unit of /proc/<pid>/stat's start time:
	// sysconf(_SC_CLK_TCK), 100 on every architecture Go supports.
	userHZ = 100

	// internMax bounds each string cache of a decoder.
	internMax = 1 << 14
)

// endTotals are the counts of an end record.
type endTotals struct {
	processes, fds, exitedLeaders int
}

// decoder fills a Table from the records of one walk, as they arrive. It
// keeps its maps and string caches from one walk to the next.
type decoder struct {
	t      *resolver.Table
	cgroup bool // fill Process.Cgroup
	// bootOffset is the boottime offset of our time namespace, in ns,
	// which /proc adds to the start times it shows us (0 in the initial
	// one).
	bootOffset int64

	// pids are the processes of the proc root when the walk began,
	// sorted; seen[i] tells whether the kernel showed the files of
	// pids[i], in a task record.
	pids []int32
	seen []bool
	// done[i], in a walk of one iterator per process, tells that the
	// iterator of pids[i] ended whole.
	done []bool

	procs map[int32]int32 // pid -> index in t.Procs, or skippedProc
	match func(string) bool
	// skipped counts the processes that match rejected.
	skipped int
	dupFDs  map[int32]struct{}

	// s is the session being decoded: one per iterator read at a time.
	// A walk with one iterator has one, a walk with one per process
	// (see Walker) one per worker, swapped in before each decode.
	s    *session
	one  session
	ends int // end records, one per iterator
	// totals sums the end records.
	totals  endTotals
	records int

	names   map[string]string // raw comm -> Name
	cgroups map[string]string // raw path and flags -> Cgroup
	path    []byte
}

// session is where the records of one iterator are: the last task and
// proc records, and whether its end record came.
type session struct {
	last int32 // pid of the last task record
	cur  int32 // index in t.Procs of the last proc record's process, -1 before any
	// dup: the sockets that follow are of a second fd table of the
	// process (a thread's own, or a retried walk): keep the fds not
	// already seen, in decoder.dupFDs.
	dup bool
	end bool
}

// begin starts an iterator's session.
func (s *session) begin() { *s = session{cur: -1} }

func (d *decoder) reset(t *resolver.Table, cgroup bool) {
	d.t, d.cgroup = t, cgroup
	if d.procs == nil {
		d.procs = make(map[int32]int32)
		d.dupFDs = make(map[int32]struct{})
		d.names = make(map[string]string)
		d.cgroups = make(map[string]string)
	}
	clear(d.procs)
	d.records, d.ends, d.totals, d.skipped = 0, 0, endTotals{}, 0
	d.one.begin()
	d.s = &d.one
	d.seen = slices.Grow(d.seen[:0], len(d.pids))[:len(d.pids)]
	clear(d.seen)
}

// decode takes the whole records at the start of b and returns how many
// bytes they took. The rest, a record cut by the end of a read, comes again
// with the next read.
func (d *decoder) decode(b []byte) (int, error) {
	ne := binary.NativeEndian
	off := 0
	for len(b)-off >= 4 {
		r := b[off:]
		switch kind := ne.Uint32(r); kind {
		case recTask:
			if len(r) < taskRecLen {
				return off, nil
			}
			d.task(int32(ne.Uint32(r[4:])))
			off += taskRecLen
		case recSock:
			if len(r) < sockRecLen {
				return off, nil
			}
			if d.s.cur == -1 {
				return off, fmt.Errorf("record %d: a socket before any process", d.records)
			}
			d.sock(int32(ne.Uint32(r[4:])), ne.Uint64(r[8:]))
			off += sockRecLen
		case recProc:
			if len(r) < procRecHeadLen {
				return off, nil
			}
			n := procRecHeadLen + int(ne.Uint16(r[56:]))
			if len(r) < n {
				return off, nil
			}
			d.proc(r[:n])
			off += n
		case recEnd:
			if len(r) < endRecLen {
				return off, nil
			}
			if d.s.end {
				return off, fmt.Errorf("record %d: a second end record", d.records)
			}
			d.s.end = true
			d.ends++
			d.totals.processes += int(ne.Uint64(r[8:]))
			d.totals.fds += int(ne.Uint64(r[16:]))
			d.totals.exitedLeaders += int(ne.Uint64(r[24:]))
			off += endRecLen
		default:
			return off, fmt.Errorf("record %d: unknown kind %d", d.records, kind)
		}
		d.records++
	}
	return off, nil
}

// task notes that the kernel showed the files of process pid.
func (d *decoder) task(pid int32) {
	d.s.last = pid
	if i, ok := slices.BinarySearch(d.pids, pid); ok {
		d.seen[i] = true
	}
}

// skippedProc marks in decoder.procs a process that Options.Match rejected.
const skippedProc = -2

func (d *decoder) sock(fd int32, inode uint64) {
	if d.s.cur == skippedProc {
		return
	}
	t := d.t
	pid := t.Procs[d.s.cur].PID
	if d.s.dup {
		if _, ok := d.dupFDs[fd]; ok {
			return
		}
		d.dupFDs[fd] = struct{}{}
	}
	t.Owners = append(t.Owners, resolver.Owner{Inode: inode, PID: pid, FD: fd, Proc: d.s.cur})
}

// proc starts the sockets of a process: a new one, or a second fd table of
// one already seen, whose fields are kept.
func (d *decoder) proc(r []byte) {
	ne := binary.NativeEndian
	t := d.t
	pid := int32(ne.Uint32(r[4:]))
	if i, ok := d.procs[pid]; ok {
		d.s.cur, d.s.dup = i, true
		if i == skippedProc {
			return
		}
		clear(d.dupFDs)
		for _, o := range t.Owners {
			if o.PID == pid {
				d.dupFDs[o.FD] = struct{}{}
			}
		}
		return
	}
	p := resolver.Process{
		PID:       pid,
		UID:       ne.Uint32(r[12:]),
		StartTime: startTicks(ne.Uint64(r[16:]), d.bootOffset),
		NetNS:     ne.Uint64(r[24:]),
		CgroupID:  ne.Uint64(r[32:]),
		Name:      d.name(r[40:56]),
	}
	if d.match != nil && !d.match(p.Name) {
		d.s.cur, d.s.dup = skippedProc, false
		d.procs[pid] = skippedProc
		d.skipped++
		return
	}
	if d.cgroup {
		p.Cgroup = d.cgroupText(r[58], r[59], r[procRecHeadLen:])
	}
	d.s.cur, d.s.dup = int32(len(t.Procs)), false
	d.procs[pid] = d.s.cur
	t.Procs = append(t.Procs, p)
}

// startTicks converts a task's start_boottime into the start time of
// /proc/<pid>/stat, as proc_pid_stat does: plus the reader's time namespace
// offset, in clock ticks (nsec_to_clock_t).
func startTicks(ns uint64, offset int64) uint64 {
	if offset < 0 && uint64(-offset) > ns {
		return 0
	}
	return uint64(int64(ns)+offset) / (1e9 / userHZ)
}

// name returns the Name of a raw comm, cached: most walks see the same
// few names again.
func (d *decoder) name(comm []byte) string {
	if s, ok := d.names[string(comm)]; ok {
		return s
	}
	s := cleanName(comm)
	if len(d.names) >= internMax {
		clear(d.names)
	}
	d.names[string(comm)] = s
	return s
}

// cgroupText makes Process.Cgroup of a raw path (depth components, leaf
// first, each NUL-terminated): "0::/a/b/c\n", the cgroup v2 line of
// /proc/<pid>/cgroup, or "0::/.../b/c\n" when the path was too deep to give
// whole.
func (d *decoder) cgroupText(depth, flags byte, raw []byte) string {
	key := d.path[:0]
	key = append(key, flags&procPathWhole)
	key = append(key, raw...)
	d.path = key
	if s, ok := d.cgroups[string(key)]; ok {
		return s
	}
	// Split the components, leaf first, and write them root first.
	var comps [16][]byte
	n := 0
	for rest := raw; len(rest) > 0 && n < len(comps) && n < int(depth); n++ {
		i := 0
		for i < len(rest) && rest[i] != 0 {
			i++
		}
		comps[n] = rest[:i]
		if i < len(rest) {
			i++
		}
		rest = rest[i:]
	}
	out := make([]byte, 0, 8+len(raw))
	out = append(out, "0::"...)
	if flags&procPathWhole == 0 {
		out = append(out, "/..."...)
	}
	for k := n - 1; k >= 0; k-- {
		out = append(out, '/')
		out = append(out, comps[k]...)
	}
	if n == 0 && flags&procPathWhole != 0 {
		out = append(out, '/')
	}
	out = append(out, '\n')
	s := proctext.CleanText(out, resolver.MaxCgroupLen)
	if len(d.cgroups) >= internMax {
		clear(d.cgroups)
	}
	d.cgroups[string(key)] = s
	return s
}
