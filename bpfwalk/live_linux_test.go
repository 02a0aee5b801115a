//go:build linux

package bpfwalk

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/procfs"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/internal/testchild"
	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// TestWalkShared: a listener held twice by the test process and inherited
// by a child on fd 3, a child's listener dup'd to a high fd: every owner is
// reported, in order, with the process fields procfs gives.
func TestWalkShared(t *testing.T) {
	w := newWalker(t, Options{ProcRoot: "/proc"})
	self := int32(os.Getpid())

	closers, mine, err := testchild.OpenLoopback("tcp4", "127.0.0.1:0")
	defer testchild.CloseAll(closers)
	require.NoError(t, err)
	sl, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer sl.Close()
	sharedFile, err := sl.(*net.TCPListener).File()
	require.NoError(t, err)
	defer sharedFile.Close()
	slfd, err := testchild.FDOf(sl)
	require.NoError(t, err)
	s1, err := testchild.SockOf(slfd)
	require.NoError(t, err)
	s2, err := testchild.SockOf(int32(sharedFile.Fd()))
	require.NoError(t, err)
	require.Equal(t, s1.Inode, s2.Inode)
	mine = append(mine, s1, s2)
	sortSocks(mine)

	child, theirs := startLiveChild(t, sharedFile, nil)
	require.Equal(t, sock{FD: 3, Inode: s1.Inode}, theirs[0], "fd 3 of the child is the shared listener")

	tab := walk(t, w)
	// The test process may hold other sockets (the Go runtime does not,
	// but a test run by a harness might): ours must be among them.
	require.Subset(t, ownedBy(tab, self), mine, "the test process's sockets")
	require.Equal(t, theirs, ownedBy(tab, child), "the child's sockets")

	want := []resolver.Owner{{Inode: s1.Inode, PID: self, FD: min(s1.FD, s2.FD)}, {Inode: s1.Inode, PID: self, FD: max(s1.FD, s2.FD)}, {Inode: s1.Inode, PID: child, FD: 3}}
	if child < self {
		want = []resolver.Owner{want[2], want[0], want[1]}
	}
	i, j := tab.Lookup(s1.Inode)
	got := slices.Clone(tab.Owners[i:j])
	for k := range got {
		got[k].Proc = 0
	}
	require.Equal(t, want, got, "every owner of the shared listener")

	i, j = tab.Lookup(theirs[len(theirs)-1].Inode)
	require.Equal(t, 2, j-i, "the listener and its dup")

	fs, err := procfs.NewFS("/proc")
	require.NoError(t, err)
	for _, pid := range []int32{self, child} {
		p, ok := proc(tab, pid)
		require.True(t, ok)
		pr, err := fs.Proc(int(pid))
		require.NoError(t, err)
		comm, err := pr.Comm()
		require.NoError(t, err)
		stat, err := pr.Stat()
		require.NoError(t, err)
		status, err := pr.NewStatus()
		require.NoError(t, err)
		var ns unix.Stat_t
		require.NoError(t, unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &ns))
		require.Equal(t, resolver.Process{
			PID: pid, Name: comm, UID: uint32(status.UIDs[1]), NetNS: ns.Ino, StartTime: stat.Starttime, CgroupID: p.CgroupID,
		}, p)
		require.Equal(t, cgroupInode(t, pid), p.CgroupID)
	}
}

// TestWalkExitedLeader runs a process whose main thread calls pthread_exit
// while another thread holds a listener: /proc/<pid>/fd is empty, the
// leader's files are gone, and the walk must read them through the thread.
func TestWalkExitedLeader(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is needed to exit a main thread while another runs: apt-get install -y python3")
	}
	w := newWalker(t, Options{ProcRoot: "/proc", Cgroup: true})
	const script = `
import ctypes, socket, sys, threading
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.fileno(), flush=True)
threading.Thread(target=sys.stdin.read).start()
threading.Thread(target=sys.stdin.read).start()
ctypes.CDLL(None).pthread_exit(None)
`
	cmd := exec.Command(python, "-c", script)
	cmd.Stderr = os.Stderr
	_, out := testchild.Start(t, cmd)
	var fd int32
	_, err = fmt.Fscanln(out, &fd)
	require.NoError(t, err, "the child did not report its listener")
	pid := int32(cmd.Process.Pid)
	require.Eventually(t, func() bool {
		entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		return err == nil && len(entries) == 0
	}, 10*time.Second, 10*time.Millisecond, "the leader exits")
	inode := threadSocket(t, pid, fd)

	// The /proc walk as the reference.
	r, err := resolver.New(resolver.Options{ProcRoot: "/proc", Match: func(n string) bool { return n == "python3" }})
	require.NoError(t, err)
	ref, err := r.Walk(context.Background())
	require.NoError(t, err)
	refProc, ok := proc(ref, pid)
	require.True(t, ok)

	tab := walk(t, w)
	require.GreaterOrEqual(t, tab.Stats.ExitedLeaders, 1)
	i, j := tab.Lookup(inode)
	require.Equal(t, 1, j-i, "one owner: the two live threads share the table")
	o := tab.Owners[i]
	require.Equal(t, resolver.Owner{Inode: inode, PID: pid, FD: fd, Proc: o.Proc}, o)
	p := tab.Procs[o.Proc]
	require.Equal(t, "python3", p.Name)
	require.NotZero(t, p.NetNS, "the namespace, read through the live thread")
	refProc.Cgroup, refProc.CgroupID = p.Cgroup, p.CgroupID
	require.Equal(t, refProc, p, "what the /proc walk says of it")
	require.Equal(t, cgroupInode(t, pid), p.CgroupID)
}

// threadSocket returns the inode of fd in some thread of pid.
func threadSocket(t *testing.T, pid, fd int32) uint64 {
	t.Helper()
	tids, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	require.NoError(t, err)
	for _, tid := range tids {
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/task/%s/fd/%d", pid, tid.Name(), fd), &st) == nil {
			return st.Ino
		}
	}
	t.Fatalf("no thread of %d has fd %d", pid, fd)
	return 0
}

// TestWalkOwnTable: a thread that unshares its fd table (CLONE_FILES) and
// opens a socket there: the socket is its process's, and a fd number the
// process's leader also has is reported once, as the leader's table has it.
func TestWalkOwnTable(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is needed for a thread with its own fd table")
	}
	w := newWalker(t, Options{ProcRoot: "/proc"})
	// The thread unshares its table (a copy: it has the leader's fds
	// too), closes the copy of the leader's socket and opens its own on
	// the same fd number, then another.
	const script = `
import ctypes, os, socket, sys, threading
a = socket.socket(); a.bind(("127.0.0.1", 0)); a.listen()
libc = ctypes.CDLL(None, use_errno=True)
def thread():
    if libc.unshare(0x400) != 0:
        print("error", ctypes.get_errno(), flush=True); return
    fd = a.detach()
    os.close(fd)
    b = socket.socket(); b.bind(("127.0.0.1", 0)); b.listen()
    c = socket.socket(); c.bind(("127.0.0.1", 0)); c.listen()
    print(fd, b.fileno(), c.fileno(), threading.get_native_id(), flush=True)
    sys.stdin.read()
threading.Thread(target=thread).start()
`
	cmd := exec.Command(python, "-c", script)
	cmd.Stderr = os.Stderr
	_, out := testchild.Start(t, cmd)
	line, err := out.ReadString('\n')
	require.NoError(t, err)
	f := strings.Fields(line)
	require.Len(t, f, 4, "child said %q", line)
	pid := int32(cmd.Process.Pid)
	afd, _ := strconv.Atoi(f[0])
	bfd, _ := strconv.Atoi(f[1])
	cfd, _ := strconv.Atoi(f[2])
	tid := f[3]
	inodeIn := func(dir string, fd int) uint64 {
		var st unix.Stat_t
		require.NoError(t, unix.Stat(filepath.Join(dir, strconv.Itoa(fd)), &st))
		return st.Ino
	}
	leaderDir := fmt.Sprintf("/proc/%d/fd", pid)
	threadDir := fmt.Sprintf("/proc/%d/task/%s/fd", pid, tid)
	a := inodeIn(leaderDir, afd)
	c := inodeIn(threadDir, cfd)
	if bfd == afd {
		// The thread's new socket took the number of the one it closed:
		// the leader's stands for that fd.
		require.NotEqual(t, a, inodeIn(threadDir, bfd))
	}

	tab := walk(t, w)
	got := ownedBy(tab, pid)
	require.Contains(t, got, sock{FD: int32(afd), Inode: a}, "the leader's socket")
	require.Contains(t, got, sock{FD: int32(cfd), Inode: c}, "the thread's own")
	for i := 1; i < len(got); i++ {
		require.NotEqual(t, got[i-1].FD, got[i].FD, "one owner per fd: %v", got)
	}
	t.Logf("pid %d: %v (the /proc walk shows only the leader's fd %d)", pid, got, afd)
}

// TestWalkChurn walks again and again while processes and connections come
// and go: no error but the denial of hidden processes, no panic, and the
// table's invariants hold.
func TestWalkChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes for a few seconds")
	}
	w := newWalker(t, Options{ProcRoot: "/proc", Cgroup: true})
	exe, err := os.Executable()
	require.NoError(t, err)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var spawned, dialed int
	wg.Go(func() { // processes that open a socket and exit
		for {
			select {
			case <-stop:
				return
			default:
			}
			cmd := exec.Command(exe)
			cmd.Env = append(os.Environ(), childEnv+"=brief", "BPFWALK_DIAL="+l.Addr().String())
			if cmd.Run() == nil {
				spawned++
			}
		}
	})
	wg.Go(func() { // connections of this process
		for {
			select {
			case <-stop:
				return
			default:
			}
			if c, err := net.Dial("tcp4", l.Addr().String()); err == nil {
				c.Close()
				dialed++
			}
		}
	})
	var gone, walks int
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		tab, err := w.Walk(context.Background())
		requireOnlyDenied(t, err)
		checkInvariants(t, tab)
		require.Zero(t, tab.Stats.Failed)
		gone += tab.Stats.Gone
		walks++
	}
	close(stop)
	wg.Wait()
	t.Logf("%d walks; %d processes spawned, %d connections; %d processes gone between listing and probe", walks, spawned, dialed, gone)
}

// briefChild connects to BPFWALK_DIAL, holds a listener too, and exits.
func briefChild() int {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 1
	}
	defer l.Close()
	c, err := net.Dial("tcp4", os.Getenv("BPFWALK_DIAL"))
	if err != nil {
		return 1
	}
	c.Close()
	return 0
}

// TestWalkStopped: a walk whose context ends returns what it read, the
// context's error, and lists as unwalked every process it cannot prove it
// read whole, so that none is taken for one that owns nothing.
func TestWalkStopped(t *testing.T) {
	w := newWalker(t, Options{ProcRoot: "/proc"})
	child, _ := startLiveChild(t, nil, nil)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tab, err := w.Walk(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "walk stopped")
	checkInvariants(t, tab)
	require.Empty(t, tab.Owners)
	u, ok := tab.FindUnwalked(child)
	require.True(t, ok, "the child is not proven to own nothing")
	require.Equal(t, resolver.Stopped, u.Reason)
	require.Equal(t, len(tab.Unwalked), tab.Stats.Stopped)

	// Stopped after the first read: what was read stays, and the
	// processes after it are listed.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	w.afterRead = cancel
	defer func() { w.afterRead = nil }()
	tab, err = w.Walk(ctx)
	require.ErrorIs(t, err, context.Canceled)
	checkInvariants(t, tab)
	if len(tab.Procs) > 0 {
		last := w.dec.s.last
		_, ok := tab.FindUnwalked(last)
		require.True(t, ok, "the last process read (%d) may be cut short", last)
	}
	t.Logf("stopped after one read: %d owners, %d processes, %d unwalked", len(tab.Owners), len(tab.Procs), len(tab.Unwalked))

	// And the next walk is whole again.
	w.afterRead = nil
	tab = walk(t, w)
	for _, u := range tab.Unwalked {
		require.Equal(t, resolver.Denied, u.Reason)
	}
}

// TestWalkMatch filters by name as the /proc walk does: the owners of the
// other processes are dropped and counted as skipped, and a process the
// iterator does not show but the filter rejects is skipped, not denied.
func TestWalkMatch(t *testing.T) {
	comm, err := os.ReadFile("/proc/self/comm")
	require.NoError(t, err)
	name := strings.TrimSuffix(string(comm), "\n")
	closers, mine, err := testchild.OpenLoopback("tcp4", "127.0.0.1:0")
	defer testchild.CloseAll(closers)
	require.NoError(t, err)

	w := newWalker(t, Options{ProcRoot: "/proc", Match: func(n string) bool { return n == name }})
	tab, err := w.Walk(context.Background())
	require.NoError(t, err, "pid 1, hidden here, is not ours: skipped, not denied")
	require.Empty(t, tab.Unwalked)
	require.Positive(t, tab.Stats.Skipped)
	for _, p := range tab.Procs {
		require.Equal(t, name, p.Name)
	}
	for _, o := range tab.Owners {
		require.Equal(t, name, tab.Procs[o.Proc].Name)
	}
	require.Subset(t, ownedBy(tab, int32(os.Getpid())), mine)

	r, err := resolver.New(resolver.Options{ProcRoot: "/proc", Match: func(n string) bool { return n == name }})
	require.NoError(t, err)
	proc, err := r.Walk(context.Background())
	require.NoError(t, err)
	require.Equal(t, ownedBy(proc, int32(os.Getpid())), ownedBy(tab, int32(os.Getpid())), "the same owners as the /proc walk")
}
