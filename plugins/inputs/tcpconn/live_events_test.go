//go:build linux

package tcpconn

import (
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// churnEnv switches the test binary into a process that opens and closes
// loopback connections, about churnRate a second, until stdin closes.
const (
	churnEnv  = "TCPCONN_TEST_CHURN"
	churnRate = 1000
)

func churn() {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// Hold each server end a little, so that gathers see some.
			time.AfterFunc(20*time.Millisecond, func() { c.Close() })
		}
	}()
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	fmt.Println("ready")
	tick := time.NewTicker(time.Second / churnRate)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			c, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				continue // the accept queue may be full for a moment
			}
			time.AfterFunc(10*time.Millisecond, func() { c.Close() })
		}
	}
}

func livePlugin(t *testing.T, metrics ...string) *TCPConn {
	t.Helper()
	p := inputs.Inputs["tcpconn"]().(*TCPConn)
	p.Log = testutil.Logger{}
	p.ProcessNames = []string{"tcpconn.test"}
	p.Metrics = metrics
	p.Timeout = config.Duration(time.Minute)
	return p
}

// eventsOf gathers and returns the events about the given local ports, as
// "event state from_state local_port".
func eventsOf(t *testing.T, p *TCPConn, ports ...int) []string {
	t.Helper()
	time.Sleep(20 * time.Millisecond) // durations must grow
	var acc testutil.Accumulator
	require.NoError(t, p.Gather(&acc))
	var out []string
	for _, m := range acc.GetTelegrafMetrics() {
		port, _ := strconv.Atoi(m.Tags()["local_port"])
		if m.Name() != measurementEvent || !slices.Contains(ports, port) {
			continue
		}
		out = append(out, describeEvent(t, m))
	}
	return out
}

// TestLiveEvents drives a real connection through ESTABLISHED, CLOSE_WAIT
// and closed, and a listener that stops, with gathers between the steps,
// reading the tables from /proc and with the BPF iterator.
func TestLiveEvents(t *testing.T) {
	for _, source := range []string{"procfs", "bpf"} {
		t.Run(source, func(t *testing.T) { testLiveEvents(t, source) })
	}
}

func testLiveEvents(t *testing.T, source string) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	client, err := net.Dial("tcp4", ln.Addr().String())
	require.NoError(t, err)
	server, err := ln.Accept()
	require.NoError(t, err)
	listenPort := ln.Addr().(*net.TCPAddr).Port
	clientPort := client.LocalAddr().(*net.TCPAddr).Port
	serverInode, clientInode, listenInode := inodeOf(t, server.(*net.TCPConn)), inodeOf(t, client.(*net.TCPConn)), inodeOf(t, ln.(*net.TCPListener))
	serverFD, clientFD, listenFD := fdOf(server.(*net.TCPConn)), fdOf(client.(*net.TCPConn)), fdOf(ln.(*net.TCPListener))
	pid := os.Getpid()
	name := "tcpconn.test"

	p := livePlugin(t, "event")
	p.Source = source
	require.NoError(t, p.Init())
	require.Empty(t, eventsOf(t, p, listenPort, clientPort), "the first gather only records")

	// The peer closes: the server end waits in CLOSE_WAIT, the client's fd
	// is gone (its socket lingers in FIN_WAIT2, owned by no one).
	require.NoError(t, client.Close())
	require.Eventually(t, func() bool { return tcpState(t, serverInode) == "08" }, 5*time.Second, 10*time.Millisecond)
	require.ElementsMatch(t, []string{
		fmt.Sprintf("state_changed %d CLOSE_WAIT ESTABLISHED pid=%d fd=%d %s", serverInode, pid, serverFD, name),
		fmt.Sprintf("closed %d ESTABLISHED ESTABLISHED pid=%d fd=%d %s", clientInode, pid, clientFD, name),
	}, eventsOf(t, p, listenPort, clientPort))

	// The server closes too, and the listener stops.
	require.NoError(t, server.Close())
	require.NoError(t, ln.Close())
	require.ElementsMatch(t, []string{
		fmt.Sprintf("closed %d CLOSE_WAIT CLOSE_WAIT pid=%d fd=%d %s", serverInode, pid, serverFD, name),
		fmt.Sprintf("closed %d LISTEN LISTEN pid=%d fd=%d %s", listenInode, pid, listenFD, name),
	}, eventsOf(t, p, listenPort, clientPort))

	require.Empty(t, eventsOf(t, p, listenPort, clientPort))
}

// TestOpenedAfterGlimpse makes a connection between a gather's owner walk
// and its table read: that gather lists both ends without owner, and the
// next one, which finds their owner, reports them opened, once.
func TestOpenedAfterGlimpse(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	listenPort := ln.Addr().(*net.TCPAddr).Port
	p := livePlugin(t, "event")
	require.NoError(t, p.Init())
	require.Empty(t, eventsOf(t, p, listenPort), "the first gather only records")

	var client, server net.Conn
	p.afterWalk = func() {
		client, err = net.Dial("tcp4", ln.Addr().String())
		require.NoError(t, err)
		server, err = ln.Accept()
		require.NoError(t, err)
	}
	clientPort := func() int { return client.LocalAddr().(*net.TCPAddr).Port }
	require.Empty(t, eventsOf(t, p, listenPort), "listed without owner: no event yet")
	p.afterWalk = nil
	defer client.Close()
	defer server.Close()

	pid, name := os.Getpid(), "tcpconn.test"
	require.ElementsMatch(t, []string{
		fmt.Sprintf("opened %d ESTABLISHED - pid=%d fd=%d %s", inodeOf(t, server.(*net.TCPConn)), pid, fdOf(server.(*net.TCPConn)), name),
		fmt.Sprintf("opened %d ESTABLISHED - pid=%d fd=%d %s", inodeOf(t, client.(*net.TCPConn)), pid, fdOf(client.(*net.TCPConn)), name),
	}, eventsOf(t, p, listenPort, clientPort()))
	require.Empty(t, eventsOf(t, p, listenPort, clientPort()), "opened once")
}

// TestChurn gathers while a child opens and closes about a thousand
// connections a second. Every event must be about a socket a gather saw,
// and the tracker must stay within max_tracked.
func TestChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("churn takes a few seconds")
	}
	startChild(t, churnEnv)

	const maxTracked = 16
	p := livePlugin(t, "connection", "event")
	p.MaxTracked = maxTracked
	require.NoError(t, p.Init())

	seen := make(map[int64]bool) // inodes any gather reported as connections
	var events, untracked int
	for range 10 {
		time.Sleep(100 * time.Millisecond)
		var acc testutil.Accumulator
		require.NoError(t, p.Gather(&acc))
		for _, err := range acc.Errors {
			require.ErrorContains(t, err, "max_tracked")
			untracked++
		}
		now := make(map[int64]bool)
		for _, m := range acc.GetTelegrafMetrics() {
			if m.Name() == measurement {
				inode, _ := m.GetField("inode")
				now[inode.(int64)] = true
			}
		}
		for _, m := range acc.GetTelegrafMetrics() {
			if m.Name() != measurementEvent {
				continue
			}
			events++
			inode, _ := m.GetField("inode")
			if m.Tags()["event"] == eventClosed {
				require.True(t, seen[inode.(int64)], "closed event for socket %d no gather saw", inode)
			} else {
				require.True(t, now[inode.(int64)], "%s event for socket %d this gather did not see", m.Tags()["event"], inode)
			}
		}
		for inode := range now {
			seen[inode] = true
		}
		require.LessOrEqual(t, len(p.join.tracker.sockets), maxTracked)
	}
	require.Positive(t, events, "a thousand connections a second must show")
	t.Logf("%d events, %d gathers with untracked sockets", events, untracked)
}

// inodeOf returns the socket's inode, as fstat sees it.
func inodeOf(t *testing.T, c syscall.Conn) uint64 {
	t.Helper()
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(fdOf(c), &st))
	return st.Ino
}

// tcpState returns the state of the socket with this inode in
// /proc/net/tcp, as its hex code, or "" if it has no row.
func tcpState(t *testing.T, inode uint64) string {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	require.NoError(t, err)
	defer f.Close()
	r := parser.NewReader(f)
	for r.Next() {
		if s := r.Socket(); s.Inode == inode {
			return fmt.Sprintf("%02X", uint8(s.State))
		}
	}
	require.NoError(t, r.Err())
	return ""
}
