//go:build linux

package tcpconn

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/tcpconn/telegraf-tcpconn/parser"
	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// benchTree writes a proc tree with n owned connections (both ends in
// net/tcp, spread over 10 processes) and a listener, on tmpfs when there is
// one: symlinks on a disk file system cost more than the walk.
func benchTree(b *testing.B, n int) string {
	b.Helper()
	base := ""
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		base = "/dev/shm"
	}
	root, err := os.MkdirTemp(base, "tcpconn-bench-") //nolint:usetesting // b.TempDir is not on tmpfs
	require.NoError(b, err)
	b.Cleanup(func() { os.RemoveAll(root) })
	require.NoError(b, os.MkdirAll(filepath.Join(root, "net"), 0o755))
	require.NoError(b, os.MkdirAll(filepath.Join(root, "sys/net/ipv4"), 0o755))
	require.NoError(b, os.WriteFile(filepath.Join(root, "sys/net/ipv4/ip_local_port_range"), []byte("32768\t60999\n"), 0o644))

	var tcp strings.Builder
	tcp.WriteString("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
	addr := func(ip string, port int) string {
		a := netip.MustParseAddr(ip).As4()
		return fmt.Sprintf("%08X:%04X", binary.LittleEndian.Uint32(a[:]), port)
	}
	row := func(sl int, local, remote string, state int, inode int) {
		fmt.Fprintf(&tcp, "%4d: %s %s %02X 00000000:00000000 00:00000000 00000000  1000        0 %d 1 0000000000000000 20 4 30 10 -1\n",
			sl, local, remote, state, inode)
	}
	const procs = 10
	for p := range procs {
		require.NoError(b, os.MkdirAll(filepath.Join(root, fmt.Sprint(100+p), "fd"), 0o755))
		require.NoError(b, os.WriteFile(filepath.Join(root, fmt.Sprint(100+p), "comm"), []byte(fmt.Sprintf("proc%d\n", p)), 0o644))
	}
	link := func(pid, fd, inode int) {
		require.NoError(b, os.Symlink(fmt.Sprintf("socket:[%d]", inode), filepath.Join(root, fmt.Sprint(pid), "fd", fmt.Sprint(fd))))
	}
	row(0, addr("0.0.0.0", 8080), addr("0.0.0.0", 0), 0x0A, 1)
	link(100, 3, 1)
	for i := range n / 2 {
		server, client := 10+2*i, 11+2*i
		port := 32768 + i%28000
		ip := fmt.Sprintf("127.0.%d.%d", 1+i/28000/250, 1+(i/28000)%250)
		row(1+2*i, addr("127.0.0.1", 8080), addr(ip, port), 0x01, server)
		row(2+2*i, addr(ip, port), addr("127.0.0.1", 8080), 0x01, client)
		link(100+i%procs, 10+i/procs*2, server)
		link(100+(i+1)%procs, 11+i/procs*2, client)
	}
	require.NoError(b, os.WriteFile(filepath.Join(root, "net", "tcp"), []byte(tcp.String()), 0o644))
	return root
}

// BenchmarkGather is the plugin's whole gather on a fixture tree: walk,
// stream, join and metric construction (into a discarding accumulator).
func BenchmarkGather(b *testing.B) {
	for _, n := range []int{2000, 20000} {
		for _, metrics := range [][]string{{"connection"}, {"connection", "event", "summary"}} {
			b.Run(fmt.Sprintf("sockets=%d/metrics=%s", n, strings.Join(metrics, "+")), func(b *testing.B) {
				p := inputs.Inputs["tcpconn"]().(*TCPConn)
				p.ProcRoot = benchTree(b, n)
				p.Protocols = []string{"tcp4"}
				p.Metrics = metrics
				p.Log = testutil.Logger{}
				require.NoError(b, p.Init())

				acc := testutil.Accumulator{}
				require.NoError(b, p.Gather(&acc))
				require.Empty(b, acc.Errors)
				require.GreaterOrEqual(b, acc.NMetrics(), uint64(n), "every socket gathered")

				// Telegraf's path (AddFields into a discarding accumulator),
				// the shim's (line protocol into a discarding writer), and
				// its table's (Connections, dropped).
				for _, path := range []string{"accumulator", "lineprotocol", "connections"} {
					b.Run("path="+path, func(b *testing.B) {
						var gatherAcc telegraf.Accumulator = &testutil.Accumulator{Discard: true}
						switch path {
						case "lineprotocol":
							gatherAcc = &discardSink{Accumulator: testutil.Accumulator{Discard: true}}
						case "connections":
							gatherAcc = &discardConnections{Accumulator: testutil.Accumulator{Discard: true}}
						}
						b.ReportAllocs()
						for b.Loop() {
							if err := p.Gather(gatherAcc); err != nil {
								b.Fatal(err)
							}
						}
						b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/socket")
						b.ReportMetric(float64(testing.AllocsPerRun(1, func() { _ = p.Gather(gatherAcc) }))/float64(n), "allocs/socket")
					})
				}
			})
		}
	}
}

// BenchmarkTrackerMemory measures what max_tracked multiplies: the heap kept
// per tracked socket between gathers, for age_s alone and with events.
func BenchmarkTrackerMemory(b *testing.B) {
	const n = 200000
	now := time.Now()
	var f facts
	f.reset(&resolver.Table{})
	for _, events := range []bool{false, true} {
		b.Run(fmt.Sprintf("events=%v", events), func(b *testing.B) {
			var perSocket float64
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				tr := newTracker(n, events, false)
				tr.begin(now, 0) // grown, as an agent's map grows over its gathers
				var s parser.Socket
				r := row{sock: sock{Socket: &s}, owners: make([]owner, 1)}
				for i := range n {
					a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
					s = parser.Socket{Local: netip.AddrPortFrom(a, 5432), Remote: netip.AddrPortFrom(a, uint16(i)), State: parser.Established, Inode: uint64(i + 1)}
					r.owners = append(r.owners[:0], owner{pid: 100, fd: int32(i), start: 12345, name: "postgres"})
					tr.observe(sockKey{netns: 4026531840, inode: uint64(i + 1)}, &r, &f)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perSocket = float64(after.HeapAlloc-before.HeapAlloc) / n
				runtime.KeepAlive(tr)
			}
			b.ReportMetric(perSocket, "B/tracked")
		})
	}
}

// discardSink takes line protocol and drops it.
type discardSink struct {
	testutil.Accumulator
}

func (*discardSink) LineProtocol() io.Writer { return io.Discard }

// discardConnections takes Connections and drops them.
type discardConnections struct {
	testutil.Accumulator
}

func (*discardConnections) AddConnection(*Connection) {}
