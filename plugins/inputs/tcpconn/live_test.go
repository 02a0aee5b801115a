//go:build linux

package tcpconn

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/tcpconn/telegraf-tcpconn/internal/testchild"
)

// childEnv switches the test binary into a helper process that holds a
// listener and one connection to it, prints what the parent must find, and
// waits for stdin to close. nameEnv, when set, is the name it takes.
const (
	childEnv = "TCPCONN_TEST_CHILD"
	nameEnv  = "TCPCONN_TEST_NAME"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		holdSockets()
		return
	}
	if os.Getenv(churnEnv) == "1" {
		churn()
		return
	}
	if os.Getenv(faultsEnv) == "1" {
		gatherFaults()
		return
	}
	if os.Getenv(exitEnv) != "" {
		holdShared()
		return
	}
	if os.Getenv(manyEnv) != "" {
		holdMany()
		return
	}
	os.Exit(m.Run())
}

// want is one socket a test expects gather to report.
type want struct {
	pid, fd                          int
	family, localPort, remote, state string
	remotePort                       string
}

func (w want) key() string {
	return fmt.Sprintf("pid=%d fd=%d %s :%s -> %s:%s %s", w.pid, w.fd, w.family, w.localPort, w.remote, w.remotePort, w.state)
}

func holdSockets() {
	if name := os.Getenv(nameEnv); name != "" {
		if err := testchild.SetName(name); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	server, err := ln.Accept()
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for _, s := range []struct {
		c     syscall.Conn
		state string
	}{{ln.(*net.TCPListener), "LISTEN"}, {client.(*net.TCPConn), "ESTABLISHED"}, {server.(*net.TCPConn), "ESTABLISHED"}} {
		fmt.Println(describe(os.Getpid(), s.c, s.state).line())
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	// The sockets must stay reachable until here: a net.Conn nobody refers
	// to is closed by its finalizer, and under load the collector runs
	// while the parent gathers (that was the flake of issue 15: the child
	// had closed its sockets, so no gather could find them).
	for _, c := range []io.Closer{ln, client, server} {
		c.Close()
	}
}

func (w want) line() string {
	return strings.Join([]string{strconv.Itoa(w.pid), strconv.Itoa(w.fd), w.family, w.localPort, w.remote, w.remotePort, w.state}, " ")
}

func describe(pid int, c syscall.Conn, state string) want {
	w := want{pid: pid, fd: fdOf(c), state: state, family: "ipv4"}
	var local, remote net.Addr
	switch c := c.(type) {
	case *net.TCPListener:
		local = c.Addr()
	case *net.TCPConn:
		local, remote = c.LocalAddr(), c.RemoteAddr()
	}
	la := local.(*net.TCPAddr)
	if la.IP.To4() == nil {
		w.family = "ipv6"
	}
	w.localPort = strconv.Itoa(la.Port)
	if remote == nil {
		w.remote, w.remotePort = "0.0.0.0", "0"
		if w.family == "ipv6" {
			w.remote = "::"
		}
	} else {
		ra := remote.(*net.TCPAddr)
		w.remote, w.remotePort = ra.IP.String(), strconv.Itoa(ra.Port)
	}
	return w
}

// fdOf returns the descriptor behind c without dup-ing it: a dup would be
// one more owner for gather to find.
func fdOf(c syscall.Conn) int {
	rc, err := c.SyscallConn()
	if err != nil {
		panic(err)
	}
	var fd int
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		panic(err)
	}
	return fd
}

func TestLiveSockets(t *testing.T) {
	for _, walk := range []string{"procfs", "bpf"} {
		t.Run("owner_walk="+walk, func(t *testing.T) { liveSockets(t, walk) })
	}
}

func liveSockets(t *testing.T, walk string) {
	var wants []want

	// This process: a v4 and a v6 listener, each with one connection.
	for _, network := range []string{"tcp4", "tcp6"} {
		addr := "127.0.0.1:0"
		if network == "tcp6" {
			addr = "[::1]:0"
		}
		ln, err := net.Listen(network, addr)
		if err != nil && network == "tcp6" {
			t.Logf("no IPv6 loopback here: %v", err)
			continue
		}
		require.NoError(t, err)
		t.Cleanup(func() { ln.Close() })
		client, err := net.Dial(network, ln.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { client.Close() })
		server, err := ln.Accept()
		require.NoError(t, err)
		t.Cleanup(func() { server.Close() })
		wants = append(wants,
			describe(os.Getpid(), ln.(*net.TCPListener), "LISTEN"),
			describe(os.Getpid(), client.(*net.TCPConn), "ESTABLISHED"),
			describe(os.Getpid(), server.(*net.TCPConn), "ESTABLISHED"),
		)
	}

	// A child process holds three more.
	child, said := startChild(t, childEnv)
	for _, line := range said {
		f := strings.Fields(line)
		require.Len(t, f, 7, "child said %q", line)
		pid, _ := strconv.Atoi(f[0])
		fd, _ := strconv.Atoi(f[1])
		wants = append(wants, want{pid: pid, fd: fd, family: f[2], localPort: f[3], remote: f[4], remotePort: f[5], state: f[6]})
	}

	plugin := inputs.Inputs["tcpconn"]().(*TCPConn)
	plugin.Log = testutil.Logger{}
	// The host may be busy with other tests' sockets; only ours matter.
	plugin.ProcessNames = []string{"tcpconn.test"}
	plugin.Timeout = config.Duration(time.Minute)
	plugin.OwnerWalk = walk
	require.NoError(t, plugin.Init())
	require.Equal(t, walk, plugin.walkName)
	var acc testutil.Accumulator
	require.NoError(t, plugin.Gather(&acc))
	// Some machines keep a process or two from root too (here pid 1, which
	// holds a capability the tests lack): that is the one summarising error,
	// and nothing else may go wrong.
	for _, err := range acc.Errors {
		require.ErrorContains(t, err, "not readable: permission denied")
	}
	require.LessOrEqual(t, len(acc.Errors), 1)

	ours := map[string]bool{strconv.Itoa(os.Getpid()): true, strconv.Itoa(child.Process.Pid): true}
	var got []string
	for _, m := range acc.GetTelegrafMetrics() {
		tags := m.Tags()
		if !ours[tags["pid"]] {
			continue
		}
		pid, _ := strconv.Atoi(tags["pid"])
		fd, _ := strconv.Atoi(tags["fd"])
		w := want{pid: pid, fd: fd, family: tags["family"], localPort: tags["local_port"],
			remote: tags["remote_addr"], remotePort: tags["remote_port"], state: tags["state"]}
		got = append(got, w.key())
		require.Equal(t, "tcpconn.test", tags["process_name"])
		require.Contains(t, []string{"127.0.0.1", "::1"}, tags["local_addr"])
	}
	var expected []string
	for _, w := range wants {
		expected = append(expected, w.key())
	}
	require.ElementsMatch(t, expected, got)
}

// startChild runs this test binary, behind prefix (such as ip netns exec
// NAME) if any, in the role the environment variable env selects. It
// returns the child and the lines it printed before "ready"; the child
// ends with the test, when its stdin closes.
func startChild(t *testing.T, env string, prefix ...string) (*exec.Cmd, []string) {
	t.Helper()
	args := append(slices.Clone(prefix), os.Args[0], "-test.run=^$")
	child := exec.Command(args[0], args[1:]...)
	child.Env = append(os.Environ(), env+"=1")
	return startChildCmd(t, child)
}

// startChildCmd starts a child that prints lines, then "ready", and returns
// those lines.
func startChildCmd(t *testing.T, child *exec.Cmd) (*exec.Cmd, []string) {
	t.Helper()
	_, stdout := testchild.Start(t, child)
	var said []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "ready" {
		said = append(said, sc.Text())
	}
	require.Equal(t, "ready", sc.Text(), "the child did not get ready; it said %q", said)
	return child, said
}
