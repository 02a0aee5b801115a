// Package resolver maps socket inodes to the processes and file descriptors
// that hold them.
//
// It walks <proc_root>/<pid>/fd and reads each link. A socket descriptor reads
// back exactly as "socket:[<inode>]" (proc(5), /proc/pid/fd, and
// https://man7.org/linux/man-pages/man5/proc_pid_fd.5.html); anything else that
// starts with "socket:" is counted as a bad link and skipped. The inode is the
// one in the "inode" column of /proc/net/tcp and /proc/net/tcp6
// (Documentation/networking/proc_net_tcp.rst), which is how the caller joins a
// connection to its owners.
//
// A socket shared after fork(2) or dup(2) has several owners; all of them are
// reported, in a deterministic order. A process whose leader thread has
// exited (pthread_exit) while other threads run is walked through one of
// them, task/<tid>/fd, as its own fd directory is then empty. Per process
// the resolver reads only a little: the name from /proc/<pid>/comm, the
// effective uid from /proc/<pid>/status, the start time from
// /proc/<pid>/stat, the network namespace inode of /proc/<pid>/ns/net and,
// only when asked, the command line.
//
// The walk is made of raw openat, getdents64 and readlinkat system calls with
// reused buffers, on a bounded pool of workers, one process at a time per
// worker. It never hard-codes /proc: the caller passes the proc root, which
// may be a fixture tree.
//
// The package knows nothing of Telegraf.
package resolver

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// Options configure a Resolver.
type Options struct {
	// ProcRoot is the proc file system to walk, such as "/proc" or a fixture
	// directory laid out like it. Required.
	ProcRoot string

	// PIDs, when non-nil, restricts the walk to these processes. The proc
	// root is then not listed at all; a pid that does not exist counts as
	// Gone. An empty non-nil slice walks nothing.
	PIDs []int32

	// Match, when non-nil, is called with the process name (comm) before any
	// descriptor of the process is read. When it returns false the process
	// is skipped and counted in Stats.Skipped. It may be called from several
	// goroutines at once.
	Match func(name string) bool

	// MaxFDs caps the number of descriptors read per process; 0 means no
	// cap. A process that has more is walked up to the cap, kept, and
	// counted in Stats.Truncated.
	MaxFDs int

	// Workers is the number of processes walked in parallel; 0 means
	// runtime.GOMAXPROCS(0).
	Workers int

	// Cmdline reads /proc/<pid>/cmdline into Process.Cmdline for every
	// process in Table.Procs. Command lines can hold secrets, so it is off by
	// default.
	Cmdline bool

	// Cgroup reads /proc/<pid>/cgroup into Process.Cgroup for every process
	// in Table.Procs, for callers that name containers.
	Cgroup bool
}

// Limits on what is kept per process.
const (
	// MaxNameLen caps Process.Name, in bytes.
	MaxNameLen = 64
	// MaxCmdlineLen caps Process.Cmdline, in bytes.
	MaxCmdlineLen = 4096
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
	// Cmdline is /proc/<pid>/cmdline with NULs turned into spaces, made
	// valid UTF-8 and capped at MaxCmdlineLen bytes. Empty unless
	// Options.Cmdline is set.
	Cmdline string
	// Cgroup is /proc/<pid>/cgroup as it reads ("0::/system.slice/x.scope"
	// lines), made valid UTF-8 and capped at MaxCmdlineLen bytes. Empty
	// unless Options.Cgroup is set.
	Cgroup string
}

// Owner is one (process, descriptor) pair that holds a socket.
type Owner struct {
	Inode uint64
	PID   int32
	FD    int32
	// Proc is the index of the owning process in Table.Procs.
	Proc int32
}

// Stats count what a walk saw. Races and denials are normal and are counted,
// not failed on.
type Stats struct {
	Processes int // processes whose fd directory was walked (>= len(Table.Procs))
	Gone      int // processes that vanished mid-walk (ENOENT, ESRCH) or were not there
	Denied    int // processes whose directory, fd directory or fd links were not readable (EACCES, EPERM)
	Skipped   int // processes rejected by Options.Match
	Truncated int // processes whose walk stopped at Options.MaxFDs
	Failed    int // processes that failed with another error (reported in the walk error)
	FDs       int // fd links read
	FDsGone   int // descriptors closed between listing and readlink
	Sockets   int // socket descriptors found (== len(Table.Owners))
	BadLinks  int // links starting with "socket:" that are not exactly "socket:[<decimal uint64>]"
	// ExitedLeaders counts processes whose leader thread had exited while
	// other threads ran: their descriptors were read through a live thread.
	ExitedLeaders int
}

// Table is the result of a walk: every owner of every socket found, and the
// processes walked.
type Table struct {
	// Owners is sorted by Inode, then PID, then FD, whatever the worker
	// scheduling.
	Owners []Owner
	// Procs is sorted by PID and holds the processes that own at least one
	// socket: the others are counted in Stats.Processes only, and their
	// status, stat and ns/net are not read.
	Procs []Process
	Stats Stats
}

// Lookup returns the owners of inode as the half-open range t.Owners[i:j];
// i == j when there is none. It does not allocate.
func (t *Table) Lookup(inode uint64) (i, j int) {
	o := t.Owners
	// Lower bound of inode. Socket inodes come from a counter, so they are
	// spread evenly enough for interpolation to land near the answer in a
	// probe or two where bisection takes 18 at 200k owners, each a likely
	// cache miss. A few probes at most, then bisection, which the
	// interpolation can only have narrowed.
	lo, hi := 0, len(o)
	for probes := 0; probes < 3 && hi-lo > 32; probes++ {
		a, b := o[lo].Inode, o[hi-1].Inode
		if inode <= a {
			hi = lo
			break
		}
		if inode > b {
			lo = hi
			break
		}
		m := lo + int(float64(inode-a)/float64(b-a)*float64(hi-1-lo))
		// Keep the invariant o[lo-1] < inode <= o[hi] of a lower bound.
		if o[m].Inode < inode {
			lo = m + 1
		} else {
			hi = m
		}
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

// Process returns the process of owner o.
func (t *Table) Process(o Owner) *Process {
	return &t.Procs[o.Proc]
}

const (
	socketPrefix = "socket:["
	// maxSocketLink is len("socket:[18446744073709551615]").
	maxSocketLink = len(socketPrefix) + 20 + 1
)

// ParseSocketLink parses the target of a /proc/<pid>/fd link of a socket. It
// accepts exactly "socket:[<decimal>]" where the decimal fits in a uint64 and
// has no sign, no spaces and no leading zero; anything else, including an
// overlong input, returns ok == false. It does not allocate.
func ParseSocketLink(b []byte) (inode uint64, ok bool) {
	if len(b) < len(socketPrefix)+2 || len(b) > maxSocketLink ||
		string(b[:len(socketPrefix)]) != socketPrefix || b[len(b)-1] != ']' {
		return 0, false
	}
	digits := b[len(socketPrefix) : len(b)-1]
	if len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if inode > (^uint64(0)-d)/10 {
			return 0, false
		}
		inode = inode*10 + d
	}
	return inode, true
}

// DeniedError summarises, once per walk, the processes that could not be
// read for lack of permission (EACCES or EPERM): another user's processes
// when running unprivileged, or hidepid.
type DeniedError struct {
	// Processes is the number of processes denied.
	Processes int
	// First is the error of the lowest denied pid.
	First error
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("%d %s not readable: permission denied (first: %v)",
		e.Processes, plural(e.Processes, "process", "processes"), e.First)
}

func (e *DeniedError) Unwrap() error { return e.First }

// TruncatedError reports the processes whose walk stopped at Options.MaxFDs.
type TruncatedError struct {
	Processes int
	MaxFDs    int
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("%d %s had more than %d fds: walked the first %d only",
		e.Processes, plural(e.Processes, "process", "processes"), e.MaxFDs, e.MaxFDs)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// cleanText returns b as valid UTF-8, each run of invalid bytes replaced by
// U+FFFD as strings.ToValidUTF8 does, capped at limit bytes on a rune
// boundary.
func cleanText(b []byte, limit int) string {
	if utf8.Valid(b) {
		return string(b[:runeCut(b, limit)])
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return s[:runeCut(s, limit)]
}

// runeCut returns the largest n <= limit such that b[:n] ends on a rune
// boundary.
func runeCut[T string | []byte](b T, limit int) int {
	if len(b) <= limit {
		return len(b)
	}
	n := limit
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return n
}

// ParseStatusUID returns the effective uid, the second column of the "Uid:"
// line of the content of /proc/<pid>/status (proc_pid_status(5)).
func ParseStatusUID(b []byte) (uid uint32, ok bool) {
	const key = "Uid:"
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(line) < len(key) || string(line[:len(key)]) != key {
			continue
		}
		f := fields(line[len(key):], 2)
		v, ok := parseUint(f[1])
		if !ok || v > math.MaxUint32 {
			return 0, false
		}
		return uint32(v), true
	}
	return 0, false
}

// ParseStatStartTime returns field 22, starttime, of the content of
// /proc/<pid>/stat (proc_pid_stat(5)). The name in field 2 may hold spaces
// and parentheses, so the fields are counted from the last ')'.
func ParseStatStartTime(b []byte) (ticks uint64, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	// After ')' come fields 3 (state) to 52; starttime is the 20th.
	f := fields(b[i+1:], 20)
	return parseUint(f[19])
}

// parseUint parses unsigned decimal digits, rejecting empty input, any
// other byte and overflow.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// fields returns the first n space- or tab-separated fields of b; missing
// ones are empty. It does not allocate for n <= 20.
func fields(b []byte, n int) [20][]byte {
	var f [20][]byte
	for k := 0; k < n && k < len(f); k++ {
		for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
			b = b[1:]
		}
		end := 0
		for end < len(b) && b[end] != ' ' && b[end] != '\t' && b[end] != '\n' {
			end++
		}
		f[k], b = b[:end], b[end:]
	}
	return f
}

// cleanCmdline turns the NUL-separated content of /proc/<pid>/cmdline into
// one line, arguments separated by spaces, valid UTF-8 and capped at
// MaxCmdlineLen bytes. It rewrites b.
func cleanCmdline(b []byte) string {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	for i, c := range b {
		if c == 0 {
			b[i] = ' '
		}
	}
	return cleanText(b, MaxCmdlineLen)
}

// cleanComm turns the content of /proc/<pid>/comm into Process.Name.
func cleanComm(b []byte) string {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return cleanText(b, MaxNameLen)
}
