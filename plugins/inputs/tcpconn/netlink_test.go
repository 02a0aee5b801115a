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
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/internal/testchild"
)

// manyEnv switches the test binary into a process named nl-load that
// holds the given number of loopback connections, both ends, one of them
// with 100 bytes its receiver has not read, and one socket only bound.
const manyEnv = "TCPCONN_TEST_MANY"

func holdMany() {
	fail := func(err error) {
		fmt.Println("error", err)
		os.Exit(1)
	}
	n, err := strconv.Atoi(os.Getenv(manyEnv))
	if err != nil {
		fail(err)
	}
	if err := testchild.SetName("nl-load"); err != nil {
		fail(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	conns := []io.Closer{ln}
	// And a socket that is bound and neither listens nor connects, which
	// /proc/net/tcp does not list: nor must a dump.
	bound, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_TCP)
	if err != nil {
		fail(err)
	}
	if err := unix.Bind(bound, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		fail(err)
	}
	for i := range n {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			fail(err)
		}
		s, err := ln.Accept()
		if err != nil {
			fail(err)
		}
		if i == 0 {
			if _, err := c.Write(make([]byte, 100)); err != nil {
				fail(err)
			}
		}
		conns = append(conns, c, s)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}

// gatherMetrics runs one gather and returns its metrics, with its errors
// required to be at most the denial of this sandbox's pid 1.
func gatherMetrics(t *testing.T, p *TCPConn) []telegraf.Metric {
	t.Helper()
	var acc testutil.Accumulator
	require.NoError(t, p.Gather(&acc))
	for _, err := range acc.Errors {
		require.ErrorContains(t, err, "not readable: permission denied")
	}
	return acc.GetTelegrafMetrics()
}

func sourcePlugin(t *testing.T, source string, configure func(*TCPConn)) *TCPConn {
	t.Helper()
	p := livePlugin(t, "connection")
	p.Source = source
	p.ProcessNames = nil
	if configure != nil {
		configure(p)
	}
	require.NoError(t, p.Init())
	return p
}

// TestNetlinkSameAsProcfs gathers a load of 6000 loopback sockets, held
// idle by two children, through the text tables and through netlink: the
// same series, the same fields. Then the live table of the whole host,
// unowned sockets included: every series that two procfs reads around the
// netlink dump agree on is in the dump, with the same fields, and the dump
// lists nothing neither procfs read saw.
func TestNetlinkSameAsProcfs(t *testing.T) {
	for range 2 {
		child := exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), manyEnv+"=1500")
		_, out := testchild.Start(t, child)
		line, err := out.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "ready\n", line)
	}
	ours := func(p *TCPConn) { p.ProcessNames = []string{"nl-load"} }
	procfs := canonical(gatherMetrics(t, sourcePlugin(t, "procfs", ours)))
	netlink := canonical(gatherMetrics(t, sourcePlugin(t, "netlink", ours)))
	require.Len(t, procfs, 2*(1+2*1500))
	require.Equal(t, procfs, netlink)
	require.True(t, slices.ContainsFunc(netlink, func(s string) bool { return strings.Contains(s, "rx_queue=100") }), "the queue of the unread bytes")

	// In the kernel, by state, with the listeners kept for direction.
	established := func(p *TCPConn) { ours(p); p.States = []string{"ESTABLISHED"} }
	filtered := sourcePlugin(t, "netlink", established)
	require.NotZero(t, filtered.source.(*netlinkSource).states, "filtered by the kernel")
	require.Equal(t, canonical(gatherMetrics(t, sourcePlugin(t, "procfs", established))), canonical(gatherMetrics(t, filtered)))

	whole := func(p *TCPConn) { p.IncludeUnowned = true }
	before := series(gatherMetrics(t, sourcePlugin(t, "procfs", whole)))
	dumped := series(gatherMetrics(t, sourcePlugin(t, "netlink", whole)))
	after := series(gatherMetrics(t, sourcePlugin(t, "procfs", whole)))
	var stable int
	for key, fields := range before {
		if after[key] == fields {
			stable++
			require.Equal(t, fields, dumped[key], "series %s", key)
		}
	}
	for key := range dumped {
		_, b := before[key]
		_, a := after[key]
		require.True(t, a || b, "series %s only in the dump", key)
	}
	require.Greater(t, stable, 6000)
}

// series maps each metric's series (name and tags) to its fields.
func series(metrics []telegraf.Metric) map[string]string {
	out := make(map[string]string, len(metrics))
	for _, line := range canonical(metrics) {
		key, fields, _ := strings.Cut(line, " ")
		out[key] = fields
	}
	return out
}

// TestNetlinkTCPInfo sends 4 MiB from a client to a server and, with both
// idle, requires the tcp_info fields the kernel gave ss -tinHe for the
// same sockets, found by their cookie: counters exact, rtt close.
func TestNetlinkTCPInfo(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	require.NoError(t, err)
	defer client.Close()
	server, err := ln.Accept()
	require.NoError(t, err)
	defer server.Close()
	const size = 4 << 20
	go func() { _, _ = client.Write(make([]byte, size)) }()
	_, err = io.ReadFull(server, make([]byte, size))
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond) // the last ACKs

	p := livePlugin(t, "connection")
	p.Source, p.TCPInfo = "netlink", true
	require.NoError(t, p.Init())
	clientPort := client.LocalAddr().(*net.TCPAddr).Port
	serverPort := ln.Addr().(*net.TCPAddr).Port
	var cm, sm telegraf.Metric
	for _, m := range gatherMetrics(t, p) {
		switch m.Tags()["local_port"] {
		case strconv.Itoa(clientPort):
			cm = m
		case strconv.Itoa(serverPort):
			if m.Tags()["state"] == "ESTABLISHED" {
				sm = m
			}
		}
	}
	require.NotNil(t, cm, "the client")
	require.NotNil(t, sm, "the server end")
	field := func(m telegraf.Metric, key string) int64 {
		v, ok := m.GetField(key)
		require.True(t, ok, "%s missing on %v", key, m.Tags())
		return v.(int64)
	}
	require.GreaterOrEqual(t, field(cm, "bytes_acked"), int64(size))
	require.GreaterOrEqual(t, field(cm, "bytes_sent"), int64(size))
	require.GreaterOrEqual(t, field(sm, "bytes_received"), int64(size))

	ss := ssInfo(t, strconv.Itoa(clientPort))
	require.Equal(t, strconv.FormatInt(field(cm, "cookie"), 16), ss["sk"], "the cookie, as ss -e prints it")
	require.Equal(t, ss["cwnd"], strconv.FormatInt(field(cm, "snd_cwnd"), 10))
	require.Equal(t, ss["bytes_acked"], strconv.FormatInt(field(cm, "bytes_acked"), 10))
	if r, ok := ss["retrans"]; ok { // "retrans:0/3": the second is total_retrans
		_, total, _ := strings.Cut(r, "/")
		require.Equal(t, total, strconv.FormatInt(field(cm, "total_retrans"), 10))
	} else {
		require.Zero(t, field(cm, "total_retrans"))
	}
	rttMS, _, _ := strings.Cut(ss["rtt"], "/") // "rtt:0.052/0.026", in ms
	rtt, err := strconv.ParseFloat(rttMS, 64)
	require.NoError(t, err)
	require.InDelta(t, rtt*1000, float64(field(cm, "rtt_us")), 1000, "rtt, µs")
}

// ssInfo runs ss -tinHe for the socket with local port port and returns its
// key:value pairs.
func ssInfo(t *testing.T, port string) map[string]string {
	t.Helper()
	out, err := exec.Command("ss", "-tinHe", "sport = :"+port).Output()
	require.NoError(t, err, "iproute2's ss is the ground truth: apt-get install -y iproute2")
	kv := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		for _, f := range strings.Fields(sc.Text()) {
			if k, v, ok := strings.Cut(f, ":"); ok {
				kv[k] = v
			}
		}
	}
	require.NotEmpty(t, kv["sk"], "ss -e shows the cookie: %s", out)
	return kv
}
