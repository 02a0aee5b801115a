//go:build linux

package bpfwalk

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/bench/loadgen"
	"github.com/tcpconn/telegraf-tcpconn/internal/testchild"
	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// The test binary doubles as the child process of the live, permission and
// namespace tests (TestMain dispatches on childEnv), and as a load child of
// bench/loadgen (first argument loadgen.ChildFlag).
const childEnv = "BPFWALK_TEST_CHILD"

// highFD is where the live child dup3s its listener.
const highFD = 900

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == loadgen.ChildFlag {
		if err := loadgen.RunChild(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	switch mode := os.Getenv(childEnv); mode {
	case "":
		os.Exit(m.Run())
	case "live":
		os.Exit(liveChild())
	case "perm":
		os.Exit(permChild())
	case "pidns":
		os.Exit(pidnsChild())
	case "timens-outer":
		os.Exit(timensOuter())
	case "timens":
		os.Exit(timensChild())
	case "brief":
		os.Exit(briefChild())
	default:
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", childEnv, mode)
		os.Exit(2)
	}
}

// newWalker returns a Walker closed when the test ends, or skips the test
// where the bpf walk cannot run at all.
func newWalker(t testing.TB, opts Options) *Walker {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the bpf walk needs CAP_BPF and CAP_PERFMON: run the tests as root")
	}
	w, err := New(opts)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("the kernel cannot run the bpf walk: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, w.Close()) })
	return w
}

// walk walks once and requires no error but the denial of hidden
// processes (pid 1 of this sandbox).
func walk(t testing.TB, w *Walker) *resolver.Table {
	t.Helper()
	tab, err := w.Walk(context.Background())
	requireOnlyDenied(t, err)
	checkInvariants(t, tab)
	return tab
}

func requireOnlyDenied(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var de *resolver.DeniedError
	require.ErrorAs(t, err, &de)
	require.Equal(t, de.Error(), err.Error(), "nothing but the denial summary")
}

// checkInvariants checks what the Table documents of itself.
func checkInvariants(t testing.TB, tab *resolver.Table) {
	t.Helper()
	require.Equal(t, len(tab.Owners), tab.Stats.Sockets)
	require.LessOrEqual(t, len(tab.Procs), tab.Stats.Processes)
	require.True(t, slices.IsSortedFunc(tab.Procs, func(a, b resolver.Process) int { return int(a.PID) - int(b.PID) }), "Procs sorted by pid")
	require.True(t, slices.IsSortedFunc(tab.Unwalked, func(a, b resolver.Unwalked) int { return int(a.PID) - int(b.PID) }), "Unwalked sorted by pid")
	for i := 1; i < len(tab.Procs); i++ {
		require.NotEqual(t, tab.Procs[i-1].PID, tab.Procs[i].PID, "one Process per pid")
	}
	for i, o := range tab.Owners {
		require.GreaterOrEqual(t, o.Proc, int32(0))
		require.Less(t, int(o.Proc), len(tab.Procs))
		require.Equal(t, o.PID, tab.Procs[o.Proc].PID, "owner %d names its process", i)
		if i > 0 {
			p := tab.Owners[i-1]
			require.True(t, p.Inode < o.Inode || p.Inode == o.Inode && (p.PID < o.PID || p.PID == o.PID && p.FD < o.FD),
				"owners sorted by inode, pid, fd and unique: %+v then %+v", p, o)
		}
	}
}

// sock is one socket descriptor held by a process.
type sock = testchild.Sock

// liveChild holds v4 and v6 loopback sockets, the socket inherited on fd 3
// and a dup of its listener on highFD, prints them as "sock <fd> <inode>"
// lines and "ready", and waits for its stdin to close.
func liveChild() int {
	fail := func(err error) int {
		fmt.Printf("error %v\n", err)
		return 1
	}
	if name := os.Getenv("BPFWALK_COMM"); name != "" {
		if err := testchild.SetName(name); err != nil {
			return fail(err)
		}
	}
	if os.Getenv("BPFWALK_LO_UP") != "" {
		if err := loUp(); err != nil {
			return fail(err)
		}
	}
	if err := testchild.HoldSockets(highFD, false); err != nil {
		return fail(err)
	}
	return 0
}

// loUp brings up the loopback interface of a new network namespace.
func loUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// startLiveChild starts liveChild, with shared as its fd 3 unless nil, and
// returns its pid and sockets sorted by fd. The child exits when the test
// ends. setup may change the command before it starts.
func startLiveChild(t *testing.T, shared *os.File, setup func(*exec.Cmd)) (int32, []sock) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"=live")
	if shared != nil {
		cmd.ExtraFiles = []*os.File{shared}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Stderr = os.Stderr
	if setup != nil {
		setup(cmd)
	}
	_, stdout := testchild.Start(t, cmd)
	return int32(cmd.Process.Pid), readSocks(t, stdout)
}

// readSocks reads "sock <fd> <inode>" lines up to "ready".
func readSocks(t *testing.T, stdout *bufio.Reader) []sock {
	t.Helper()
	socks := testchild.ReadSocks(t, stdout)
	sortSocks(socks)
	return socks
}

func sortSocks(s []sock) {
	slices.SortFunc(s, func(a, b sock) int {
		if a.FD != b.FD {
			return int(a.FD) - int(b.FD)
		}
		return int(a.Inode - b.Inode)
	})
}

// ownedBy returns the sockets the table gives pid, sorted by fd.
func ownedBy(tab *resolver.Table, pid int32) []sock {
	var socks []sock
	for _, o := range tab.Owners {
		if o.PID == pid {
			socks = append(socks, sock{FD: o.FD, Inode: o.Inode})
		}
	}
	sortSocks(socks)
	return socks
}

// proc returns the Process of pid in the table.
func proc(tab *resolver.Table, pid int32) (resolver.Process, bool) {
	i, ok := slices.BinarySearchFunc(tab.Procs, pid, func(p resolver.Process, pid int32) int { return int(p.PID) - int(pid) })
	if !ok {
		return resolver.Process{}, false
	}
	return tab.Procs[i], true
}
