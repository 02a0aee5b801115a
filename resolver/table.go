package resolver

import (
	"cmp"
	"math/bits"
	"slices"
)

// Limits on what is kept per process.
const (
	// MaxNameLen caps Process.Name, in bytes.
	MaxNameLen = 64
	// MaxCgroupLen caps Process.Cgroup, in bytes.
	MaxCgroupLen = 4096
)

// Process is what the resolver knows of a process that owns a socket.
type Process struct {
	PID int32
	// Name is the content of /proc/<pid>/comm without its trailing newline,
	// made valid UTF-8 (invalid bytes become U+FFFD) and capped at
	// MaxNameLen bytes on a rune boundary. It may hold spaces, ')', commas
	// and newlines.
	Name string
	// UID is the effective uid, the second column of the "Uid:" line of
	// /proc/<pid>/status; if status cannot be read, the owner of the
	// /proc/<pid> directory.
	UID uint32
	// NetNS is the inode of /proc/<pid>/ns/net (followed, as stat(2) does),
	// or 0 if it cannot be read.
	NetNS uint64
	// StartTime is field 22 of /proc/<pid>/stat, the start time in clock
	// ticks since boot, or 0 if unknown. With PID it identifies a process
	// across pid reuse.
	StartTime uint64
	// Cgroup is /proc/<pid>/cgroup as it reads ("0::/system.slice/x.scope"
	// lines), made valid UTF-8 and capped at MaxCgroupLen bytes. Empty
	// unless Options.Cgroup is set.
	Cgroup string
	// CgroupID is the id of the process's cgroup v2 (the inode of its
	// directory in the cgroup2 file system), or 0 if the walk does not
	// know it. The /proc walk does not; a walk that asks the kernel does.
	CgroupID uint64
}

// Owner is one (process, descriptor) pair that holds a socket.
type Owner struct {
	Inode uint64
	PID   int32
	FD    int32
	// Proc is the index of the owning process in Table.Procs.
	Proc int32
}

// Reason says why a process was not walked.
type Reason uint8

// The reasons of Unwalked.
const (
	// Denied: a file of the process could not be read for lack of
	// permission (EACCES, EPERM).
	Denied Reason = iota + 1
	// Failed: another error, such as ENOTDIR, EMFILE or EIO.
	Failed
	// Stopped: the walk ended (its context did) before it reached the
	// process or while it read its descriptors.
	Stopped
)

func (r Reason) String() string {
	switch r {
	case Denied:
		return "denied"
	case Failed:
		return "failed"
	case Stopped:
		return "stopped"
	}
	return "unknown"
}

// Unwalked is a process that was there but whose descriptors the walk could
// not read, or not all of them.
type Unwalked struct {
	PID int32
	// StartTime is the process's start time (as in Process) when it could
	// be read, else 0.
	StartTime uint64
	Reason    Reason
}

// Stats count what a walk saw. Races and denials are normal and are counted,
// not failed on.
type Stats struct {
	Processes int // processes whose fd directory was walked, whole or until the walk stopped (>= len(Table.Procs))
	Gone      int // processes that vanished mid-walk (ENOENT, ESRCH) or were not there
	Denied    int // processes whose directory, fd directory or fd links were not readable (EACCES, EPERM)
	Skipped   int // processes rejected by Options.Match
	Failed    int // processes that failed with another error (reported in the walk error)
	Stopped   int // processes not reached, or cut short, when the walk's context ended
	FDs       int // fd links read
	FDsGone   int // descriptors closed between listing and readlink
	Sockets   int // socket descriptors found (== len(Table.Owners))
	BadLinks  int // links starting with "socket:" that are not exactly "socket:[<decimal uint64>]"
	// ExitedLeaders counts processes whose leader thread had exited while
	// other threads ran: their descriptors were read through a live thread.
	ExitedLeaders int
}

// Table is the result of a walk: every owner of every socket found, the
// processes that own them, and the processes the walk could not read.
type Table struct {
	// Owners is sorted by Inode, then PID, then FD, whatever the worker
	// scheduling.
	Owners []Owner
	// Procs is sorted by PID and holds the processes that own at least one
	// socket: the others are counted in Stats.Processes only, and their
	// status, stat and ns/net are not read.
	Procs []Process
	// Unwalked is sorted by PID and holds the processes whose descriptors
	// are not known, or not all: a process cut short by the deadline is
	// both here and, with the sockets read so far, in Procs. A process
	// that is neither here nor in Procs was walked and owns no socket, or
	// is gone.
	Unwalked []Unwalked
	Stats    Stats

	index index
}

// index is a directory of Owners by inode, which Lookup reads: bucket k
// holds the owners whose inodes are in [min + k<<shift, min + (k+1)<<shift),
// Owners[start[k]:start[k+1]]. There is a bucket for about every two
// owners, so a lookup reads one entry of start and bisects a few owners,
// where bisecting all of Owners takes 18 probes, each a likely cache miss:
// 30 to 70 ns a lookup against 170 at 200k sockets here.
type index struct {
	owners int // len(Owners) when built; another length disables it
	min    uint64
	shift  uint
	start  []int32
}

// Index builds the directory that speeds up Lookup. Walk and Sort call it;
// a caller who changes Owners afterwards calls it again. Without it, or
// after Owners changed length, Lookup bisects.
func (t *Table) Index() {
	x := &t.index
	o := t.Owners
	x.owners = -1
	if len(o) == 0 {
		return
	}
	size := 1 << bits.Len(uint(len(o)/2))
	first, last := o[0].Inode, o[len(o)-1].Inode
	x.min, x.shift = first, 0
	for (last-first)>>x.shift >= uint64(size) {
		x.shift++
	}
	x.start = slices.Grow(x.start[:0], size+1)[:size+1]
	// An owner's bucket is (inode-first)>>shift, below size: computed so,
	// the bounds cannot overflow.
	i := 0
	for k := range x.start {
		for i < len(o) && (o[i].Inode-first)>>x.shift < uint64(k) {
			i++
		}
		x.start[k] = int32(i)
	}
	x.owners = len(o)
}

// Lookup returns the owners of inode as the half-open range t.Owners[i:j];
// i == j when there is none, and i is where inode would go. It does not
// allocate.
func (t *Table) Lookup(inode uint64) (i, j int) {
	o := t.Owners
	// The lower bound of inode, within its bucket of the index.
	lo, hi := 0, len(o)
	if x := &t.index; x.owners == len(o) && len(o) > 0 {
		if inode < x.min {
			return 0, 0
		}
		k := (inode - x.min) >> x.shift
		if k >= uint64(len(x.start)-1) {
			return len(o), len(o)
		}
		lo, hi = int(x.start[k]), int(x.start[k+1])
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if o[m].Inode < inode {
			lo = m + 1
		} else {
			hi = m
		}
	}
	i = lo
	// Most sockets have one owner or a few: scan, then fall back to
	// bisection for a socket inherited by many workers.
	j = i
	for j < len(o) && j-i < 8 && o[j].Inode == inode {
		j++
	}
	if j-i < 8 || j == len(o) || o[j].Inode != inode {
		return i, j
	}
	lo, hi = j, len(o)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if o[m].Inode <= inode {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return i, lo
}

// FindUnwalked returns the entry of pid in t.Unwalked, if it has one.
func (t *Table) FindUnwalked(pid int32) (Unwalked, bool) {
	i, ok := slices.BinarySearchFunc(t.Unwalked, pid, func(u Unwalked, pid int32) int { return cmp.Compare(u.PID, pid) })
	if !ok {
		return Unwalked{}, false
	}
	return t.Unwalked[i], true
}

// Sort puts a table that a walk filled in any order into the order the
// fields document: Procs and Unwalked by pid, Owners by inode, pid and fd,
// with each Owner.Proc still naming its process. A walk other than the
// /proc one (one that asks the kernel) fills a Table and calls it.
func (t *Table) Sort() {
	if !slices.IsSortedFunc(t.Procs, compareProcs) {
		perm := make([]int32, len(t.Procs))
		for i := range perm {
			perm[i] = int32(i)
		}
		slices.SortStableFunc(perm, func(a, b int32) int { return cmp.Compare(t.Procs[a].PID, t.Procs[b].PID) })
		procs := make([]Process, len(t.Procs))
		remap := make([]int32, len(t.Procs))
		for to, from := range perm {
			procs[to] = t.Procs[from]
			remap[from] = int32(to)
		}
		copy(t.Procs, procs)
		for i := range t.Owners {
			t.Owners[i].Proc = remap[t.Owners[i].Proc]
		}
	}
	slices.SortFunc(t.Unwalked, func(a, b Unwalked) int { return cmp.Compare(a.PID, b.PID) })
	slices.SortFunc(t.Owners, compareOwners)
	t.Index()
}

func compareProcs(a, b Process) int { return cmp.Compare(a.PID, b.PID) }

func compareOwners(a, b Owner) int {
	if c := cmp.Compare(a.Inode, b.Inode); c != 0 {
		return c
	}
	if c := cmp.Compare(a.PID, b.PID); c != 0 {
		return c
	}
	return cmp.Compare(a.FD, b.FD)
}
