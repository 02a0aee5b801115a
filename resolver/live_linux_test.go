//go:build linux

package resolver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/procfs"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/internal/testchild"
)

// The test binary doubles as the child process of the live and permission
// tests: TestMain dispatches on this variable.
const childEnv = "RESOLVER_TEST_CHILD"

// highFD is where the live child dup2s one of its sockets.
const highFD = 900

func TestMain(m *testing.M) {
	switch mode := os.Getenv(childEnv); mode {
	case "":
		os.Exit(m.Run())
	case "live":
		os.Exit(liveChild())
	case "perm":
		os.Exit(permChild())
	default:
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", childEnv, mode)
		os.Exit(2)
	}
}

// sock is one socket descriptor held by a process.
type sock = testchild.Sock

// liveChild holds its own v4 and v6 loopback sockets, the shared socket on
// fd 3 and a dup of its listener on highFD, prints them as "sock <fd>
// <inode>" lines and "ready", and waits for its standard input to close.
func liveChild() int {
	fail := func(err error) int {
		fmt.Printf("error %v\n", err)
		return 1
	}
	if err := testchild.HoldSockets(highFD, true); err != nil {
		return fail(err)
	}
	return 0
}

// startLiveChild starts liveChild with shared as its fd 3 and returns its
// pid and sockets. The child exits when the test ends.
func startLiveChild(t *testing.T, shared *os.File) (int32, []sock) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"=live")
	cmd.ExtraFiles = []*os.File{shared}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Stderr = os.Stderr
	_, stdout := testchild.Start(t, cmd)

	return int32(cmd.Process.Pid), testchild.ReadSocks(t, stdout)
}

// ownedBy returns the sockets the table gives pid, sorted by fd.
func ownedBy(t *testing.T, tab *Table, pid int32) []sock {
	t.Helper()
	var socks []sock
	for _, o := range tab.Owners {
		if o.PID == pid {
			require.Equal(t, pid, tab.Procs[o.Proc].PID)
			socks = append(socks, sock{FD: o.FD, Inode: o.Inode})
		}
	}
	sortSocks(socks)
	return socks
}

func sortSocks(s []sock) {
	slices.SortFunc(s, func(a, b sock) int { return int(a.FD) - int(b.FD) })
}

func TestWalkLive(t *testing.T) {
	self := int32(os.Getpid())

	closers, mine, err := testchild.OpenLoopback("tcp4", "127.0.0.1:0")
	defer testchild.CloseAll(closers)
	require.NoError(t, err)
	if c6, s6, err := testchild.OpenLoopback("tcp6", "[::1]:0"); err == nil {
		defer testchild.CloseAll(c6)
		mine = append(mine, s6...)
	} else {
		t.Logf("no IPv6 loopback, v4 only: %v", err)
	}

	// A listener shared with the child: the parent holds it twice (the
	// listener and its File dup), the child once, on fd 3.
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

	child, theirs := startLiveChild(t, sharedFile)
	sortSocks(theirs)
	require.Equal(t, int32(3), theirs[0].FD)
	require.Equal(t, s1.Inode, theirs[0].Inode, "fd 3 of the child is the shared listener")
	require.Equal(t, int32(highFD), theirs[len(theirs)-1].FD)

	check := func(t *testing.T, tab *Table) {
		require.Equal(t, mine, ownedBy(t, tab, self), "the test process's sockets")
		require.Equal(t, theirs, ownedBy(t, tab, child), "the child's sockets")

		// Every owner of the shared listener, in order.
		want := []Owner{{Inode: s1.Inode, PID: self, FD: min(s1.FD, s2.FD)}, {Inode: s1.Inode, PID: self, FD: max(s1.FD, s2.FD)}, {Inode: s1.Inode, PID: child, FD: 3}}
		if child < self {
			want = []Owner{want[2], want[0], want[1]}
		}
		i, j := tab.Lookup(s1.Inode)
		got := slices.Clone(tab.Owners[i:j])
		for k := range got {
			got[k].Proc = 0
		}
		require.Equal(t, want, got)

		// The dup2'd listener of the setsid child: both fds.
		i, j = tab.Lookup(theirs[len(theirs)-1].Inode)
		require.Equal(t, 2, j-i)
		require.Equal(t, child, tab.Owners[i].PID)
		require.Equal(t, child, tab.Owners[j-1].PID)
		require.Equal(t, int32(highFD), tab.Owners[j-1].FD)

		// What we know of the processes, against procfs as an oracle.
		fs, err := procfs.NewFS("/proc")
		require.NoError(t, err)
		for _, pid := range []int32{self, child} {
			k, found := slices.BinarySearchFunc(tab.Procs, pid, func(p Process, pid int32) int { return int(p.PID) - int(pid) })
			require.True(t, found)
			p := tab.Procs[k]
			proc, err := fs.Proc(int(pid))
			require.NoError(t, err)
			comm, err := proc.Comm()
			require.NoError(t, err)
			stat, err := proc.Stat()
			require.NoError(t, err)
			status, err := proc.NewStatus()
			require.NoError(t, err)
			var ns unix.Stat_t
			require.NoError(t, unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &ns))
			require.Equal(t, Process{
				PID: pid, Name: comm, UID: uint32(status.UIDs[1]), NetNS: ns.Ino, StartTime: stat.Starttime,
			}, p)

			targets, err := proc.FileDescriptorTargets()
			require.NoError(t, err)
			var oracle, ours []uint64
			for _, target := range targets {
				if inode, ok := strings.CutPrefix(target, "socket:["); ok {
					v, err := strconv.ParseUint(strings.TrimSuffix(inode, "]"), 10, 64)
					require.NoError(t, err)
					oracle = append(oracle, v)
				}
			}
			for _, s := range ownedBy(t, tab, pid) {
				ours = append(ours, s.Inode)
			}
			slices.Sort(oracle)
			slices.Sort(ours)
			require.Equal(t, oracle, ours, "pid %d against procfs", pid)
		}
	}

	t.Run("whole host", func(t *testing.T) {
		tab, err := walk(t, Options{ProcRoot: "/proc"})
		if err != nil {
			// Even root may be denied some processes (a container's
			// init, a missing CAP_SYS_PTRACE): that, and only that, is
			// allowed.
			var de *DeniedError
			require.ErrorAs(t, err, &de)
			require.Equal(t, de.Error(), err.Error(), "nothing but the denial summary")
			require.Equal(t, tab.Stats.Denied, de.Processes)
			t.Logf("denied: %v", err)
		}
		check(t, tab)
		require.Equal(t, len(tab.Owners), tab.Stats.Sockets)
		require.LessOrEqual(t, len(tab.Procs), tab.Stats.Processes)
	})
	t.Run("match", func(t *testing.T) {
		comm, err := os.ReadFile("/proc/self/comm")
		require.NoError(t, err)
		name := strings.TrimSuffix(string(comm), "\n")
		tab, err := walk(t, Options{ProcRoot: "/proc", Workers: 2, Match: func(n string) bool { return n == name }})
		require.NoError(t, err)
		check(t, tab)
		var pids []int32
		for _, p := range tab.Procs {
			pids = append(pids, p.PID)
		}
		require.Subset(t, pids, []int32{child, self})
	})
}

// permResult is what permChild reports on its standard output.
type permResult struct {
	UID             int
	Found           bool // its own listener, with the right pid and fd
	Stats           Stats
	DeniedErrors    int
	Errors          int
	Err             string
	IsPermission    bool
	Fixture         Stats
	FixtureErr      string
	FixtureOwner    []Owner
	FixtureUnwalked []Unwalked
}

// permChild runs as an unprivileged user: it walks /proc and a fixture tree
// with an unreadable fd directory, and reports what it saw.
func permChild() int {
	res := permResult{UID: os.Geteuid()}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer l.Close()
	fd, err := testchild.FDOf(l)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	s, err := testchild.SockOf(fd)
	if err != nil {
		fmt.Println(err)
		return 1
	}

	r, err := New(Options{ProcRoot: "/proc"})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	tab, err := r.Walk(context.Background())
	res.Stats = tab.Stats
	if err != nil {
		res.Err = err.Error()
		res.IsPermission = errors.Is(err, os.ErrPermission)
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		res.Errors = len(errs)
		for _, e := range errs {
			var de *DeniedError
			if errors.As(e, &de) {
				res.DeniedErrors++
			}
		}
	}
	i, j := tab.Lookup(s.Inode)
	res.Found = j-i == 1 && tab.Owners[i].PID == int32(os.Getpid()) && tab.Owners[i].FD == s.FD

	if root := os.Getenv("RESOLVER_TEST_FIXTURE"); root != "" {
		tab, err := walkFixture(root)
		res.Fixture = tab.Stats
		res.FixtureOwner = tab.Owners
		res.FixtureUnwalked = tab.Unwalked
		if err != nil {
			res.FixtureErr = err.Error()
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}

func walkFixture(root string) (*Table, error) {
	r, err := New(Options{ProcRoot: root})
	if err != nil {
		return &Table{}, err
	}
	return r.Walk(context.Background())
}

func TestWalkPermission(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the permission test drops from root to uid 65534: run it as root")
	}
	// A copy of the test binary that uid 65534 can reach and run.
	dir, err := os.MkdirTemp("", "resolver-perm-") //nolint:usetesting // must be reachable by uid 65534, unlike t.TempDir's parents
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	exe, err := os.Executable()
	require.NoError(t, err)
	data, err := os.ReadFile(exe)
	require.NoError(t, err)
	bin := filepath.Join(dir, "resolver.test")
	require.NoError(t, os.WriteFile(bin, data, 0o755))

	// A fixture where one process's fd directory is not readable by 65534.
	root := filepath.Join(dir, "proc")
	writeTree(t, root,
		fxProc{pid: "10", comm: strp("open\n"), fds: map[string]string{"3": "socket:[5]"}},
		fxProc{pid: "11", comm: strp("closed\n"), stat: statLine("11", "closed", 12345), fds: map[string]string{"3": "socket:[6]"}},
	)
	// An exited process not yet reaped: the kernel makes its fd directory
	// root's, as for 12, but it is gone, not denied.
	writeTree(t, root, fxProc{pid: "12", comm: strp("dead\n"),
		stat: strings.Replace(statLine("12", "dead", 777), ") S ", ") Z ", 1), fds: map[string]string{"3": "socket:[7]"}})
	require.NoError(t, os.Chmod(root, 0o755))
	require.NoError(t, os.Chmod(filepath.Join(root, "11", "fd"), 0o000))
	require.NoError(t, os.Chmod(filepath.Join(root, "12", "fd"), 0o000))

	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=perm", "RESOLVER_TEST_FIXTURE="+root)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	require.NoError(t, err, "child output: %s", out)
	var res permResult
	require.NoError(t, json.Unmarshal(out, &res), "child output: %s", out)
	t.Logf("as uid %d: %+v", res.UID, res.Stats)

	require.Equal(t, 65534, res.UID)
	require.True(t, res.Found, "the child finds its own listener")
	require.Positive(t, res.Stats.Processes)
	require.Positive(t, res.Stats.Denied, "other users' processes are denied")
	require.Zero(t, res.Stats.Failed)
	require.Equal(t, 1, res.Errors, "only the denial summary: %s", res.Err)
	require.Equal(t, 1, res.DeniedErrors)
	require.True(t, res.IsPermission)
	require.Regexp(t, `^\d+ process(es)? not readable: permission denied \(first: (open|readlink) /proc/\d+/fd(/\d+)?: permission denied\)$`, res.Err)

	require.Equal(t, Stats{Processes: 1, Denied: 1, Gone: 1, FDs: 1, Sockets: 1}, res.Fixture)
	require.Equal(t, []Owner{{Inode: 5, PID: 10, FD: 3}}, res.FixtureOwner)
	require.Equal(t, []Unwalked{{PID: 11, StartTime: 12345, Reason: Denied}}, res.FixtureUnwalked,
		"the denied process, with the start time its stat tells")
	require.Equal(t, fmt.Sprintf("1 process not readable: permission denied (first: open %s/11/fd: permission denied)", root), res.FixtureErr)
}

// TestWalkChurn walks /proc while processes come and go: whatever vanishes
// mid-walk is counted, never an error or a panic.
func TestWalkChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes for a second")
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to spawn")
	}
	stop := make(chan struct{})
	spawned := make(chan int, 1)
	var n int
	halt := sync.OnceFunc(func() {
		close(stop)
		n = <-spawned
	})
	t.Cleanup(halt) // also when a require below fails
	go func() {
		n := 0
		defer func() { spawned <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if exec.Command(truePath).Run() == nil {
				n++
			}
		}
	}()

	r, err := New(Options{ProcRoot: "/proc", Cgroup: true})
	require.NoError(t, err)
	var gone int
	for range 30 {
		tab, err := r.Walk(context.Background())
		if err != nil {
			var de *DeniedError
			require.ErrorAs(t, err, &de)
			require.Equal(t, de.Error(), err.Error(), "nothing but the denial summary")
		}
		require.Zero(t, tab.Stats.Failed)
		require.Equal(t, len(tab.Owners), tab.Stats.Sockets)
		require.LessOrEqual(t, len(tab.Procs), tab.Stats.Processes)
		gone += tab.Stats.Gone
	}
	halt()
	t.Logf("%d processes spawned, %d seen vanishing mid-walk", n, gone)
}

// TestWalkLiveExitedLeader runs a process whose main thread calls
// pthread_exit while another thread holds a listener, as some C and Java
// programs do. /proc/<pid>/fd is then empty (ss -p shows the listener
// without a process); the walk must still find it, with the pid and fd.
func TestWalkLiveExitedLeader(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is needed to exit a main thread while another runs: apt-get install -y python3")
	}
	const script = `
import ctypes, socket, sys, threading
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.fileno(), flush=True)
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
	inode, err := socketInode(fmt.Sprintf("/proc/%d/task", pid), fd)
	require.NoError(t, err)

	// Wait for the leader to be a zombie.
	require.Eventually(t, func() bool {
		entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		return err == nil && len(entries) == 0
	}, 10*time.Second, 10*time.Millisecond)

	tab, err := walk(t, Options{ProcRoot: "/proc", Match: func(n string) bool { return n == "python3" }})
	require.NoError(t, err)
	require.GreaterOrEqual(t, tab.Stats.ExitedLeaders, 1)
	i, j := tab.Lookup(inode)
	require.Len(t, tab.Owners[i:j], 1)
	o := tab.Owners[i]
	require.Equal(t, Owner{Inode: inode, PID: pid, FD: fd, Proc: o.Proc}, o)
	require.Equal(t, "python3", tab.Procs[o.Proc].Name)
	require.NotZero(t, tab.Procs[o.Proc].NetNS, "the namespace, read through the live thread")
}

// socketInode finds the inode of fd in any thread of a process under
// taskDir.
func socketInode(taskDir string, fd int32) (uint64, error) {
	tids, err := os.ReadDir(taskDir)
	if err != nil {
		return 0, err
	}
	for _, tid := range tids {
		target, err := os.Readlink(filepath.Join(taskDir, tid.Name(), "fd", strconv.Itoa(int(fd))))
		if err != nil {
			continue
		}
		if inode, ok := parseSocketLink([]byte(target)); ok {
			return inode, nil
		}
	}
	return 0, fmt.Errorf("fd %d of %s is no socket", fd, taskDir)
}

// TestWalkLiveUnderLoad walks again and again while processes come and go
// and connections open and close around a child that holds its sockets: no
// walk may miss one of them, or add one, even without an error. (The flake
// of issue 15 looked like such a miss; the child had closed them.)
func TestWalkLiveUnderLoad(t *testing.T) {
	truePath, err := exec.LookPath("true")
	require.NoError(t, err, "true(1) spawns the processes of the load")
	sl, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer sl.Close()
	shared, err := sl.(*net.TCPListener).File()
	require.NoError(t, err)
	defer shared.Close()
	child, theirs := startLiveChild(t, shared)
	sortSocks(theirs)

	stop := make(chan struct{})
	var load sync.WaitGroup
	defer func() { close(stop); load.Wait() }()
	load.Go(func() { // processes
		for {
			select {
			case <-stop:
				return
			default:
				_ = exec.Command(truePath).Run()
			}
		}
	})
	load.Go(func() { // connections
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return
		}
		defer ln.Close()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				continue
			}
			s, err := ln.Accept()
			if err == nil {
				s.Close()
			}
			c.Close()
		}
	})

	r, err := New(Options{ProcRoot: "/proc"})
	require.NoError(t, err)
	for i := range 50 {
		tab, err := r.Walk(context.Background())
		if err != nil {
			var de *DeniedError
			require.ErrorAs(t, err, &de, "walk %d", i)
			require.Equal(t, de.Error(), err.Error(), "walk %d: nothing but the denial summary", i)
		}
		require.Equal(t, theirs, ownedBy(t, tab, child), "walk %d", i)
	}
}
