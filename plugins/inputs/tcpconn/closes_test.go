//go:build linux

package tcpconn

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// closesPlugin is a plugin that takes the kernel's destroy notifications,
// started (as Telegraf starts a service input) and stopped with the test.
func closesPlugin(t *testing.T, configure func(*TCPConn)) *TCPConn {
	t.Helper()
	p := livePlugin(t, "event", "summary")
	p.Source, p.TCPInfo = "netlink", true
	p.SummaryGroupBy = []string{"process_name", "direction"}
	if configure != nil {
		configure(p)
	}
	require.NoError(t, p.Init())
	require.NoError(t, p.Start(&testutil.Accumulator{}))
	t.Cleanup(p.Stop)
	require.NotNil(t, p.join.closes, "subscribed to the destroy notifications")
	return p
}

// allProcesses walks every process: with process_names, a short-lived
// socket that no listener of theirs accepted is not reported.
func allProcesses(p *TCPConn) { p.ProcessNames = nil }

// plainListener listens on 127.0.0.1 with TCP, not MPTCP, which Go picks
// by default where the kernel has it: an MPTCP listener's table row is a
// subflow with a cookie of its own.
func plainListener(t *testing.T) net.Listener {
	t.Helper()
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln
}

// connectAndClose makes n connections to ln, sends size bytes on each
// from the client, which the server reads, and closes both ends. With
// reset, the client closes with SO_LINGER 0: no TIME_WAIT.
func connectAndClose(t *testing.T, ln net.Listener, n, size int, reset bool) {
	t.Helper()
	var d net.Dialer
	d.SetMultipathTCP(false)
	buf := make([]byte, size)
	for range n {
		c, err := d.Dial("tcp4", ln.Addr().String())
		require.NoError(t, err)
		s, err := ln.Accept()
		require.NoError(t, err)
		if size > 0 {
			_, err = c.Write(buf)
			require.NoError(t, err)
			_, err = io.ReadFull(s, buf)
			require.NoError(t, err)
		}
		if reset {
			require.NoError(t, c.(*net.TCPConn).SetLinger(0))
		}
		require.NoError(t, c.Close())
		require.NoError(t, s.Close())
	}
}

// closedEvents gathers and returns the closed events about port (local or
// remote), by cookie, and the gather's metrics.
func closedEvents(t *testing.T, p *TCPConn, port int) (map[int64]telegraf.Metric, []telegraf.Metric) {
	t.Helper()
	var acc testutil.Accumulator
	require.NoError(t, p.Gather(&acc))
	for _, err := range acc.Errors {
		require.ErrorContains(t, err, "not readable: permission denied")
	}
	out := make(map[int64]telegraf.Metric)
	ps := strconv.Itoa(port)
	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() != measurementEvent || m.Tags()["event"] != eventClosed {
			continue
		}
		if m.Tags()["local_port"] != ps && m.Tags()["remote_port"] != ps {
			continue
		}
		cookie, ok := m.GetField("cookie")
		require.True(t, ok, "a cookie on %v", m)
		_, dup := out[cookie.(int64)]
		require.False(t, dup, "one closed event per socket: %v", m)
		out[cookie.(int64)] = m
	}
	return out, acc.GetTelegrafMetrics()
}

// waitNotified waits until the kernel's notifications of n sockets closed
// on port may have arrived: the kernel sends them from a workqueue.
func waitNotified() { time.Sleep(300 * time.Millisecond) }

// TestClosesShortLived opens 2000 loopback connections and closes them
// between two gathers: every one of the 4000 sockets is a closed event,
// short-lived and without owner, with the bytes the test sent; and the
// summary counts them, the servers' for the listener's process.
func TestClosesShortLived(t *testing.T) {
	ln := plainListener(t)
	port := ln.Addr().(*net.TCPAddr).Port
	p := closesPlugin(t, allProcesses)
	first, _ := closedEvents(t, p, port)
	require.Empty(t, first)

	const n, size = 2000, 100
	connectAndClose(t, ln, n, size, false)
	waitNotified()
	events, metrics := closedEvents(t, p, port)
	require.Len(t, events, 2*n, "both ends of each connection")
	var servers, clients int
	for _, m := range events {
		tags := m.Tags()
		require.Equal(t, true, field(t, m, "short_lived"), "%v", m)
		for _, owner := range []string{"pid", "process_name"} {
			require.NotContains(t, tags, owner, "the kernel does not say who owned it")
		}
		require.NotContains(t, m.Fields(), "fd")
		require.NotContains(t, m.Fields(), "inode", "orphaned: the kernel notifies inode 0")
		require.NotContains(t, m.Fields(), "duration_s", "never seen: no first sighting")
		require.Equal(t, "local", tags["direction"])
		if tags["local_port"] == strconv.Itoa(port) {
			servers++
			require.Equal(t, int64(size+1), field(t, m, "bytes_received"), "and the FIN: %v", m)
		} else {
			clients++
			require.Equal(t, int64(size), field(t, m, "bytes_sent"), "%v", m)
			require.Equal(t, int64(size+2), field(t, m, "bytes_acked"), "the SYN and the FIN are acked too: %v", m)
		}
	}
	require.Equal(t, n, servers)
	require.Equal(t, n, clients)

	// The servers' ends count for the process that listens on the port.
	var listenerClosed int64
	for _, m := range metrics {
		if m.Name() == measurementSummary && m.Tags()["process_name"] == "tcpconn.test" && m.Tags()["direction"] == "local" {
			listenerClosed += field(t, m, "closed").(int64)
		}
	}
	require.GreaterOrEqual(t, listenerClosed, int64(n))
}

// TestClosesShortLivedProcessNames: with process_names, a short-lived
// socket is reported only when a listener of those processes accepted it,
// since it has no owner of its own: the servers' ends of our listener,
// not the clients' (which might be any process's), and nothing for a
// listener of a process not named.
func TestClosesShortLivedProcessNames(t *testing.T) {
	const n = 200
	for _, tc := range []struct {
		names   []string
		servers int
	}{
		{[]string{"tcpconn.test"}, n},
		{[]string{"no-such-process"}, 0},
	} {
		t.Run(tc.names[0], func(t *testing.T) {
			ln := plainListener(t)
			port := ln.Addr().(*net.TCPAddr).Port
			p := closesPlugin(t, func(p *TCPConn) { p.ProcessNames = tc.names })
			first, _ := closedEvents(t, p, port)
			require.Empty(t, first)

			connectAndClose(t, ln, n, 10, false)
			waitNotified()
			events, metrics := closedEvents(t, p, port)
			servers := 0
			for _, m := range events {
				require.Equal(t, strconv.Itoa(port), m.Tags()["local_port"], "a client end, which no listener of ours accepted: %v", m)
				require.Equal(t, true, field(t, m, "short_lived"), "%v", m)
				servers++
			}
			require.Equal(t, tc.servers, servers)
			var closed int64
			for _, m := range metrics {
				if m.Name() == measurementSummary {
					if _, ok := m.Tags()["process_name"]; !ok && m.Tags()["direction"] == "local" {
						// Sockets a gather saw without owner still count:
						// not ours, none short-lived.
						continue
					}
					closed += field(t, m, "closed").(int64)
				}
			}
			require.GreaterOrEqual(t, closed, int64(tc.servers))
		})
	}
}

// field returns a field of m, required.
func field(t *testing.T, m telegraf.Metric, key string) any {
	t.Helper()
	v, ok := m.GetField(key)
	require.True(t, ok, "field %s of %v", key, m)
	return v
}

// TestClosesSeenOnce closes a connection a gather saw: exactly one closed
// event per end, from the notification, with the owner the gather saw, its
// age, and the last tcp_info; the sweep of the next gather adds none.
func TestClosesSeenOnce(t *testing.T) {
	ln := plainListener(t)
	port := ln.Addr().(*net.TCPAddr).Port
	var d net.Dialer
	d.SetMultipathTCP(false)
	c, err := d.Dial("tcp4", ln.Addr().String())
	require.NoError(t, err)
	s, err := ln.Accept()
	require.NoError(t, err)
	_, err = c.Write(make([]byte, 1000))
	require.NoError(t, err)
	_, err = io.ReadFull(s, make([]byte, 1000))
	require.NoError(t, err)
	clientFD := fdOf(c.(*net.TCPConn))

	p := closesPlugin(t, nil)
	first, _ := closedEvents(t, p, port)
	require.Empty(t, first)
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, c.Close())
	require.NoError(t, s.Close())
	waitNotified()
	events, _ := closedEvents(t, p, port)
	require.Len(t, events, 2, "the two ends, once each")
	var client telegraf.Metric
	for _, m := range events {
		require.Equal(t, false, field(t, m, "short_lived"))
		require.Equal(t, "tcpconn.test", m.Tags()["process_name"])
		require.Positive(t, field(t, m, "duration_s"))
		if m.Tags()["remote_port"] == strconv.Itoa(port) {
			client = m
		}
	}
	require.NotNil(t, client)
	require.Equal(t, int64(clientFD), field(t, client, "fd"))
	require.Equal(t, "ESTABLISHED", client.Tags()["state"], "the last state a gather saw")
	require.Equal(t, int64(1000), field(t, client, "bytes_sent"))

	again, _ := closedEvents(t, p, port)
	require.Empty(t, again, "the sweep reports no second close")
}

// TestClosesGlimpsed closes a connection that one gather listed without
// owner, as it was made between that gather's owner walk and its table
// read: its server end is short-lived, counted for the listener's process,
// like one no gather saw; not lost as an unowned socket that lived long.
func TestClosesGlimpsed(t *testing.T) {
	ln := plainListener(t)
	port := ln.Addr().(*net.TCPAddr).Port
	// By port too: another test binary, here or in another run, has the
	// same process name.
	p := closesPlugin(t, func(p *TCPConn) {
		p.ProcessNames = []string{"tcpconn.test"}
		p.SummaryGroupBy = []string{"process_name", "local_port"}
		p.FoldEphemeralPorts = false // the listener's port is one
	})
	first, _ := closedEvents(t, p, port)
	require.Empty(t, first)

	var c, s net.Conn
	p.afterWalk = func() {
		var d net.Dialer
		d.SetMultipathTCP(false)
		var err error
		c, err = d.Dial("tcp4", ln.Addr().String())
		require.NoError(t, err)
		s, err = ln.Accept()
		require.NoError(t, err)
	}
	var acc testutil.Accumulator
	require.NoError(t, p.Gather(&acc))
	p.afterWalk = nil
	serverPort := strconv.Itoa(s.RemoteAddr().(*net.TCPAddr).Port)
	listed := false
	for _, row := range p.join.tracker.sockets {
		listed = listed || row.pid == 0 && row.state == parser.Established
	}
	require.True(t, listed, "the gather listed the new sockets, without owner")
	require.NoError(t, c.Close())
	require.NoError(t, s.Close())
	waitNotified()

	events, metrics := closedEvents(t, p, port)
	require.Len(t, events, 1, "the server's end, which our listener accepted; the client's might be any process's: %v", events)
	for _, m := range events {
		require.Equal(t, strconv.Itoa(port), m.Tags()["local_port"])
		require.Equal(t, serverPort, m.Tags()["remote_port"])
		require.Equal(t, true, field(t, m, "short_lived"), "%v", m)
		require.NotContains(t, m.Tags(), "pid")
	}
	var closed int64
	for _, m := range metrics {
		if m.Name() == measurementSummary && m.Tags()["process_name"] == "tcpconn.test" && m.Tags()["local_port"] == strconv.Itoa(port) {
			closed += field(t, m, "closed").(int64)
		}
	}
	require.Equal(t, int64(1), closed, "counted once, for the listener's process")
}

// TestClosesAgainstSS runs ss -tEH, iproute2's listener of the same
// notifications, during a burst: both must see the same destroyed sockets
// of the test's port, unless ours lost some (ENOBUFS), which it counts.
func TestClosesAgainstSS(t *testing.T) {
	ln := plainListener(t)
	port := ln.Addr().(*net.TCPAddr).Port
	p := closesPlugin(t, allProcesses)
	_, _ = closedEvents(t, p, port)

	// Line-buffered: ss is killed at the end, and would lose its last page.
	ss := exec.Command("stdbuf", "-oL", "ss", "-tEHn")
	out, err := ss.StdoutPipe()
	require.NoError(t, err, "iproute2's ss is the ground truth")
	require.NoError(t, ss.Start())
	seen := make(chan map[string]bool, 1)
	go func() {
		tuples := make(map[string]bool)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) >= 5 && (strings.HasSuffix(f[3], ":"+strconv.Itoa(port)) || strings.HasSuffix(f[4], ":"+strconv.Itoa(port))) {
				tuples[f[3]+" "+f[4]] = true
			}
		}
		seen <- tuples
	}()
	time.Sleep(200 * time.Millisecond) // ss has subscribed
	const n = 1000
	connectAndClose(t, ln, n, 10, false)
	waitNotified()
	require.NoError(t, ss.Process.Signal(syscall.SIGTERM))
	_ = ss.Wait()
	theirs := <-seen

	events, _ := closedEvents(t, p, port)
	ours := make(map[string]bool, len(events))
	for _, m := range events {
		tags := m.Tags()
		ours[tags["local_addr"]+":"+tags["local_port"]+" "+tags["remote_addr"]+":"+tags["remote_port"]] = true
	}
	if p.join.overruns > 0 {
		t.Logf("our listener overran %d times: %d of ss's %d seen", p.join.overruns, len(ours), len(theirs))
		require.Subset(t, keysOf(theirs), keysOf(ours))
		return
	}
	var onlyOurs, onlyTheirs []string
	for k := range ours {
		if !theirs[k] {
			onlyOurs = append(onlyOurs, k)
		}
	}
	for k := range theirs {
		if !ours[k] {
			onlyTheirs = append(onlyTheirs, k)
		}
	}
	require.Len(t, ours, 2*n)
	require.Empty(t, onlyOurs, "not in ss -E (of %d)", len(theirs))
	require.Empty(t, onlyTheirs, "in ss -E only")
}

func keysOf(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestClosesBurst closes 50,000 connections (100,000 sockets, reset, so
// that no TIME_WAIT exhausts the ports) between two gathers with
// max_pending_closes = 10,000: the queue keeps 10,000, the rest is counted
// exactly as dropped in one error, and the heap stays within the bound.
func TestClosesBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("50,000 connections take a few seconds")
	}
	ln := plainListener(t)
	port := ln.Addr().(*net.TCPAddr).Port
	const limit = 10000
	p := closesPlugin(t, func(p *TCPConn) { p.ProcessNames = nil; p.MaxPendingCloses = limit; p.Metrics = []string{"event"} })
	_, _ = closedEvents(t, p, port)

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	const n = 50000
	connectAndClose(t, ln, n, 0, true)
	elapsed := time.Since(start)
	waitNotified()
	runtime.GC()
	runtime.ReadMemStats(&after)
	q := p.join.closes
	q.mu.Lock()
	kept := len(q.pending)
	q.mu.Unlock()
	growth := int64(after.HeapInuse) - int64(before.HeapInuse)
	require.Equal(t, limit, kept, "the queue is full, and no more")
	require.Less(t, growth, int64(limit*256+8<<20), "the heap is bounded by max_pending_closes, not by the burst")

	var acc testutil.Accumulator
	require.NoError(t, p.Gather(&acc))
	var dropped, received int
	for _, err := range acc.Errors {
		if _, err := fmt.Sscanf(err.Error(), "max_pending_closes 10000 reached: %d of %d destroyed sockets", &dropped, &received); err == nil {
			break
		}
	}
	t.Logf("%d closes in %v (%.0f/s); %d notifications received, %d kept, %d dropped, %d overruns; heap %+.1f MiB at the bound",
		2*n, elapsed.Round(time.Millisecond), float64(2*n)/elapsed.Seconds(), received, limit, dropped, q.l.Overruns(), float64(growth)/(1<<20))
	require.Positive(t, received, "one error says how many were dropped: %v", acc.Errors)
	require.Equal(t, received-limit, dropped, "every notification past the bound counted")
	if q.l.Overruns() == 0 {
		require.GreaterOrEqual(t, received, 2*n, "no overrun: every socket notified")
	}
}
