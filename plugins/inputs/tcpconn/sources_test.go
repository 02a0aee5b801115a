//go:build linux

package tcpconn

import (
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
// with 100 bytes its receiver has not read, and one socket only bound;
// and, in the tcp6 table, a dual-stack listener with a connection from
// ::1 and one from 127.0.0.1, whose server end is IPv4-mapped.
const manyEnv = "TCPCONN_TEST_MANY"

// manySockets is how many sockets of the tables a holdMany of n holds.
func manySockets(n int) int { return 1 + 2*n + 5 }

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
	// /proc/net/tcp does not list: nor must any other source.
	bound, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_TCP)
	if err != nil {
		fail(err)
	}
	if err := unix.Bind(bound, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		fail(err)
	}
	connect := func(ln net.Listener, network, addr string) (c, s net.Conn) {
		c, err := net.Dial(network, addr)
		if err != nil {
			fail(err)
		}
		s, err = ln.Accept()
		if err != nil {
			fail(err)
		}
		conns = append(conns, c, s)
		return c, s
	}
	for i := range n {
		c, _ := connect(ln, "tcp4", ln.Addr().String())
		if i == 0 {
			if _, err := c.Write(make([]byte, 100)); err != nil {
				fail(err)
			}
		}
	}
	dual, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		fail(err)
	}
	conns = append(conns, dual)
	port := strconv.Itoa(dual.Addr().(*net.TCPAddr).Port)
	connect(dual, "tcp6", "[::1]:"+port)
	connect(dual, "tcp4", "127.0.0.1:"+port)
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

// TestSourcesSameAsProcfs gathers a load of 6000 loopback sockets and a
// few of the tcp6 table, held idle by two children, through the text
// tables and through each other source: the same series, the same fields,
// also with one protocol or a state filter. Then the live table of the
// whole host, unowned sockets included: every series that two procfs reads
// around the other source's agree on is in the other's, with the same
// fields, and it lists nothing neither procfs read saw.
func TestSourcesSameAsProcfs(t *testing.T) {
	const each = 1500
	for range 2 {
		child := exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), manyEnv+"="+strconv.Itoa(each))
		_, out := testchild.Start(t, child)
		line, err := out.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "ready\n", line)
	}
	ours := func(p *TCPConn) { p.ProcessNames = []string{"nl-load"} }
	procfs := canonical(gatherMetrics(t, sourcePlugin(t, "procfs", ours)))
	require.Len(t, procfs, 2*manySockets(each))
	for _, family := range []string{"ipv4", "ipv6"} {
		require.True(t, slices.ContainsFunc(procfs, func(s string) bool { return strings.Contains(s, `family="`+family+`"`) }), family)
	}
	require.True(t, slices.ContainsFunc(procfs, func(s string) bool { return strings.Contains(s, "rx_queue=100") }), "the queue of the unread bytes")

	for _, source := range []string{"netlink", "bpf"} {
		t.Run(source, func(t *testing.T) {
			require.Equal(t, procfs, canonical(gatherMetrics(t, sourcePlugin(t, source, ours))))

			for _, protocol := range []string{"tcp4", "tcp6"} {
				one := func(p *TCPConn) { ours(p); p.Protocols = []string{protocol} }
				want := canonical(gatherMetrics(t, sourcePlugin(t, "procfs", one)))
				require.NotEmpty(t, want)
				require.Equal(t, want, canonical(gatherMetrics(t, sourcePlugin(t, source, one))), "protocols = [%q]", protocol)
			}

			established := func(p *TCPConn) { ours(p); p.States = []string{"ESTABLISHED"} }
			filtered := sourcePlugin(t, source, established)
			if n, ok := filtered.source.(*netlinkSource); ok {
				require.NotZero(t, n.states, "filtered by the kernel")
			}
			require.Equal(t, canonical(gatherMetrics(t, sourcePlugin(t, "procfs", established))), canonical(gatherMetrics(t, filtered)))

			whole := func(p *TCPConn) { p.IncludeUnowned = true }
			before := series(gatherMetrics(t, sourcePlugin(t, "procfs", whole)))
			other := series(gatherMetrics(t, sourcePlugin(t, source, whole)))
			after := series(gatherMetrics(t, sourcePlugin(t, "procfs", whole)))
			var stable int
			for key, fields := range before {
				if after[key] == fields {
					stable++
					require.Equal(t, fields, other[key], "series %s", key)
				}
			}
			for key := range other {
				_, b := before[key]
				_, a := after[key]
				require.True(t, a || b, "series %s only in source %q", key, source)
			}
			require.Greater(t, stable, 2*manySockets(each))
		})
	}
}

// TestBPFSourceDeadline: a walk past the deadline stops, and both tables
// it was reading are partial, with one error that says where it stopped.
func TestBPFSourceDeadline(t *testing.T) {
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), manyEnv+"=1500")
	_, out := testchild.Start(t, child)
	line, err := out.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)

	p := sourcePlugin(t, "bpf", nil)
	var sink countingSink
	res := make([]tableResult, len(p.tables))
	p.source.read(namespace{}, p.tables, time.Now().Add(-time.Second), &sink, res)
	require.Equal(t, []tableResult{{readPartial, res[0].err}, {readPartial, nil}}, res)
	var cut *deadlineError
	require.ErrorAs(t, res[0].err, &cut)
	require.Equal(t, "stopped reading the BPF walk of the TCP table after 1024 rows", cut.Error())
	require.Less(t, sink.rows, 1024)

	p.source.read(namespace{}, p.tables, time.Now().Add(time.Minute), &sink, res)
	require.Equal(t, []tableResult{{readWhole, nil}, {readWhole, nil}}, res)
	require.Greater(t, sink.rows, manySockets(1500))
	require.GreaterOrEqual(t, sink.by[1], 5, "the child's tcp6 sockets, in their table")
	require.Zero(t, sink.wrong, "rows in the table of the other family")
}

// countingSink counts the rows of each table a source reads, and those
// in the wrong table: an IPv4 address in tcp6, or an IPv6 one in tcp.
type countingSink struct {
	v6    bool
	rows  int
	by    [2]int
	wrong int
}

func (c *countingSink) enterTable(v6 bool) { c.v6 = v6 }

func (c *countingSink) row(s sock) {
	c.rows++
	c.by[b2i(c.v6)]++
	if s.Local.Addr().Is4() == c.v6 {
		c.wrong++
	}
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
