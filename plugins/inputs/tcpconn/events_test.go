//go:build linux

package tcpconn

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

// tree is a proc tree a test rewrites between gathers.
type tree struct {
	t    *testing.T
	root string
}

// fxRow is a row of a fixture table.
type fxRow struct {
	local, remote string // "ip:port"
	state         uint8
	inode         uint64
}

func newTree(t *testing.T) *tree {
	tr := &tree{t: t, root: t.TempDir()}
	require.NoError(t, os.MkdirAll(filepath.Join(tr.root, "net"), 0o755))
	tr.table()
	return tr
}

// table writes net/tcp with rows, as the kernel prints them on a
// little-endian host.
func (tr *tree) table(rows ...fxRow) {
	var b strings.Builder
	b.WriteString("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
	for i, r := range rows {
		fmt.Fprintf(&b, "%4d: %s %s %02X 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 20 4 30 10 -1\n",
			i, hexAddr(tr.t, r.local), hexAddr(tr.t, r.remote), r.state, r.inode)
	}
	require.NoError(tr.t, os.WriteFile(filepath.Join(tr.root, "net", "tcp"), []byte(b.String()), 0o644))
}

func hexAddr(t *testing.T, s string) string {
	ap := netip.MustParseAddrPort(s)
	require.True(t, ap.Addr().Is4())
	a := ap.Addr().As4()
	return fmt.Sprintf("%08X:%04X", binary.LittleEndian.Uint32(a[:]), ap.Port())
}

// process writes a process with a start time and its socket fds.
func (tr *tree) process(pid int, name string, start int, fds map[int]uint64) {
	dir := filepath.Join(tr.root, fmt.Sprint(pid))
	require.NoError(tr.t, os.RemoveAll(dir))
	require.NoError(tr.t, os.MkdirAll(filepath.Join(dir, "fd"), 0o755))
	require.NoError(tr.t, os.WriteFile(filepath.Join(dir, "comm"), []byte(name+"\n"), 0o644))
	stat := fmt.Sprintf("%d (%s) S 1 %d %d 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n", pid, name, pid, pid, start)
	require.NoError(tr.t, os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644))
	for fd, inode := range fds {
		require.NoError(tr.t, os.Symlink(fmt.Sprintf("socket:[%d]", inode), filepath.Join(dir, "fd", fmt.Sprint(fd))))
	}
}

func (tr *tree) plugin(configure func(*TCPConn)) *TCPConn {
	p := inputs.Inputs["tcpconn"]().(*TCPConn)
	p.ProcRoot = tr.root
	p.Protocols = []string{"tcp4"}
	p.Metrics = []string{"event"}
	p.Log = testutil.Logger{}
	if configure != nil {
		configure(p)
	}
	require.NoError(tr.t, p.Init())
	return p
}

// gather runs one gather and returns its events as "event inode state
// from_state pid fd" lines, and the errors.
func gather(t *testing.T, p *TCPConn) ([]string, []error) {
	t.Helper()
	// Events of a gather carry its start time; ages need time to pass.
	time.Sleep(10 * time.Millisecond)
	var acc testutil.Accumulator
	require.NoError(t, p.Gather(&acc))
	var events []string
	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() != measurementEvent {
			continue
		}
		events = append(events, describeEvent(t, m))
	}
	return events, acc.Errors
}

func describeEvent(t *testing.T, m telegraf.Metric) string {
	inode, _ := m.GetField("inode")
	fd, _ := m.GetField("fd")
	from, hasFrom := m.GetField("from_state")
	duration, hasDuration := m.GetField("duration_s")
	kind := m.Tags()["event"]
	require.Equal(t, kind != eventOpened, hasFrom, "from_state on %s", kind)
	require.Equal(t, kind != eventOpened, hasDuration, "duration_s on %s", kind)
	if hasDuration {
		require.Positive(t, duration, "duration_s of %s", kind)
	}
	if !hasFrom {
		from = "-"
	}
	return fmt.Sprintf("%s %v %s %v pid=%s fd=%v %s", kind, inode, m.Tags()["state"], from, m.Tags()["pid"], fd, m.Tags()["process_name"])
}

func TestEvents(t *testing.T) {
	tr := newTree(t)
	const (
		listen      = 0x0A
		established = 0x01
		closeWait   = 0x08
	)
	lis := fxRow{"0.0.0.0:8080", "0.0.0.0:0", listen, 100}
	a := fxRow{"10.0.0.1:8080", "10.0.0.2:50000", established, 101}
	tr.process(10, "server", 1000, map[int]uint64{3: 100, 4: 101})
	tr.table(lis, a)
	p := tr.plugin(nil)

	events, errs := gather(t, p)
	require.Empty(t, errs)
	require.Empty(t, events, "the first gather records the state without a flood of opened events")

	// The peer closes a; a new connection b arrives, owned by a second process.
	a.state = closeWait
	b := fxRow{"10.0.0.1:8080", "10.0.0.3:50001", established, 102}
	tr.process(11, "worker", 2000, map[int]uint64{5: 102})
	tr.table(lis, a, b)
	events, _ = gather(t, p)
	require.ElementsMatch(t, []string{
		"state_changed 101 CLOSE_WAIT ESTABLISHED pid=10 fd=4 server",
		"opened 102 ESTABLISHED - pid=11 fd=5 worker",
	}, events)

	// A row missing while its fd is still held is the kernel skipping a row
	// between two reads, not a close.
	tr.table(lis, a)
	events, _ = gather(t, p)
	require.Empty(t, events)

	// The server closes a and stops listening.
	tr.process(10, "server", 1000, nil)
	tr.table(b)
	events, _ = gather(t, p)
	require.ElementsMatch(t, []string{
		"closed 101 CLOSE_WAIT CLOSE_WAIT pid=10 fd=4 server",
		"closed 100 LISTEN LISTEN pid=10 fd=3 server",
	}, events)

	// Pid 11 is reused by a new process that holds the same inode: a new
	// owner, so the old socket closed and a new one opened.
	tr.process(11, "worker", 3000, map[int]uint64{5: 102})
	events, _ = gather(t, p)
	require.Equal(t, []string{
		"closed 102 ESTABLISHED ESTABLISHED pid=11 fd=5 worker",
		"opened 102 ESTABLISHED - pid=11 fd=5 worker",
	}, events)

	// Nothing changes: no events.
	events, _ = gather(t, p)
	require.Empty(t, events)
}

func TestEventsEmitInitial(t *testing.T) {
	tr := newTree(t)
	tr.process(10, "server", 1000, map[int]uint64{3: 100})
	tr.table(fxRow{"0.0.0.0:8080", "0.0.0.0:0", 0x0A, 100})
	p := tr.plugin(func(p *TCPConn) { p.EmitInitial = true })
	events, _ := gather(t, p)
	require.Equal(t, []string{"opened 100 LISTEN - pid=10 fd=3 server"}, events)
}

// An incomplete gather must not take the sockets it did not reach for
// closed ones.
func TestEventsIncompleteGatherClosesNothing(t *testing.T) {
	tr := newTree(t)
	tr.process(10, "server", 1000, map[int]uint64{3: 100})
	tr.table(fxRow{"0.0.0.0:8080", "0.0.0.0:0", 0x0A, 100})
	p := tr.plugin(nil)
	events, _ := gather(t, p)
	require.Empty(t, events)

	// The table becomes unreadable as a file, and the process vanishes.
	require.NoError(t, os.Remove(filepath.Join(tr.root, "net", "tcp")))
	require.NoError(t, os.Mkdir(filepath.Join(tr.root, "net", "tcp"), 0o755))
	require.NoError(t, os.RemoveAll(filepath.Join(tr.root, "10")))
	var acc testutil.Accumulator
	_ = p.Gather(&acc)
	require.NotEmpty(t, acc.Errors)
	for _, m := range acc.GetTelegrafMetrics() {
		require.NotEqual(t, measurementEvent, m.Name())
	}
}

func TestMaxTracked(t *testing.T) {
	tr := newTree(t)
	tr.process(10, "server", 1000, map[int]uint64{3: 100, 4: 101, 5: 102})
	tr.table(
		fxRow{"0.0.0.0:8080", "0.0.0.0:0", 0x0A, 100},
		fxRow{"10.0.0.1:8080", "10.0.0.2:50000", 0x01, 101},
		fxRow{"10.0.0.1:8080", "10.0.0.3:50000", 0x01, 102},
	)
	p := tr.plugin(func(p *TCPConn) {
		p.MaxTracked = 2
		p.Metrics = []string{"connection", "event"}
	})
	var acc testutil.Accumulator
	require.NoError(t, p.Gather(&acc))
	require.Len(t, p.join.tracker.sockets, 2)
	require.Len(t, acc.Errors, 1)
	require.ErrorContains(t, acc.Errors[0], "max_tracked 2 reached: 1 sockets not tracked")
	var withAge int
	for _, m := range acc.GetTelegrafMetrics() {
		if _, ok := m.GetField("age_s"); ok {
			withAge++
		}
	}
	require.Equal(t, 2, withAge, "an untracked socket has no age")
}

// A summary group that empties reports a zero once, so that an alert on it
// clears at once, then stops.
func TestSummaryGroupEmpties(t *testing.T) {
	tr := newTree(t)
	tr.process(10, "server", 1000, map[int]uint64{3: 100, 4: 101})
	tr.table(fxRow{"0.0.0.0:8080", "0.0.0.0:0", 0x0A, 100}, fxRow{"10.0.0.1:8080", "10.0.0.2:50000", 0x08, 101})
	p := tr.plugin(func(p *TCPConn) { p.Metrics = []string{"summary", "event"} })

	counts := func() map[string]int64 {
		var acc testutil.Accumulator
		require.NoError(t, p.Gather(&acc))
		out := make(map[string]int64)
		for _, m := range acc.GetTelegrafMetrics() {
			if m.Name() == measurementSummary {
				c, _ := m.GetField("count")
				out[m.Tags()["process_name"]+" "+m.Tags()["state"]] = c.(int64)
			}
			if m.Name() == measurementEvent {
				require.Equal(t, "inbound", m.Tags()["direction"], "events carry the direction")
			}
		}
		return out
	}
	require.Equal(t, map[string]int64{"server LISTEN": 1, "server CLOSE_WAIT": 1}, counts())
	tr.process(10, "server", 1000, map[int]uint64{3: 100})
	tr.table(fxRow{"0.0.0.0:8080", "0.0.0.0:0", 0x0A, 100})
	require.Equal(t, map[string]int64{"server LISTEN": 1, "server CLOSE_WAIT": 0}, counts())
	require.Equal(t, map[string]int64{"server LISTEN": 1}, counts())
}

// A process name line protocol cannot carry raw (comm may hold a newline)
// takes the accumulator's path, which escapes it, and loses nothing.
func TestLineProtocolFallback(t *testing.T) {
	tr := newTree(t)
	tr.process(10, "plain", 1000, map[int]uint64{3: 100})
	tr.process(11, "we\tird", 1000, map[int]uint64{3: 101})
	tr.table(fxRow{"0.0.0.0:80", "0.0.0.0:0", 0x0A, 100}, fxRow{"0.0.0.0:81", "0.0.0.0:0", 0x0A, 101})
	p := tr.plugin(func(p *TCPConn) { p.Metrics = []string{"connection"} })
	var sink lineSink
	require.NoError(t, p.Gather(&sink))
	require.Empty(t, sink.Errors)
	require.Contains(t, sink.buf.String(), "process_name=plain")
	fallback := sink.GetTelegrafMetrics()
	require.Len(t, fallback, 1)
	require.Equal(t, "we\tird", fallback[0].Tags()["process_name"])
	require.Len(t, sink.metrics(t), 2)
}
