//go:build linux

package bpfwalk

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tcpconn/telegraf-tcpconn/bench/loadgen"
	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// holdLoad starts bench/loadgen children holding conns loopback
// connections (about 2*conns sockets), stopped when the test ends.
func holdLoad(tb testing.TB, conns int) *loadgen.Load {
	tb.Helper()
	exe, err := os.Executable()
	require.NoError(tb, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := loadgen.Start(ctx, exe, loadgen.Plan(conns))
	require.NoError(tb, err)
	tb.Cleanup(l.Close)
	return l
}

// TestWalkAllocs: a walk reuses the table and its buffers, so that what it
// allocates does not grow with the sockets it finds.
func TestWalkAllocs(t *testing.T) {
	w := newWalker(t, Options{ProcRoot: "/proc", Cgroup: true})
	run := func() {
		if _, err := w.Walk(context.Background()); err != nil {
			requireOnlyDenied(t, err)
		}
	}
	run()
	small := testing.AllocsPerRun(10, run)
	smallSockets := w.table.Stats.Sockets

	l := holdLoad(t, 2000)
	run()
	tab := walk(t, w)
	// The load's own sockets, all of them: the host's others come and go
	// with the tests of other packages.
	loadPIDs := make(map[int32]bool, len(l.PIDs))
	for _, pid := range l.PIDs {
		loadPIDs[int32(pid)] = true
	}
	loadSockets := 0
	for _, o := range tab.Owners {
		if loadPIDs[o.PID] {
			loadSockets++
		}
	}
	require.Equal(t, l.Sockets(), loadSockets, "the load's sockets")
	owners := &tab.Owners[0]
	large := testing.AllocsPerRun(10, run)
	t.Logf("allocations per walk: %.0f at %d sockets, %.0f at %d sockets", small, smallSockets, large, w.table.Stats.Sockets)
	require.Same(t, owners, &w.table.Owners[0], "the second walk reuses the owners' memory")
	require.LessOrEqual(t, large, small+4, "allocations grow with the sockets")
	require.Less(t, large, 64.0)
}

// BenchmarkWalk holds BPFWALK_BENCH_CONNS (default 5000) loopback
// connections in bench/loadgen children, twice as many sockets, and walks
// the whole host with the bpf walk and the /proc walk (on GOMAXPROCS
// workers, and on one), in the same run. procfs/bpf is the ratio of their
// times.
func BenchmarkWalk(b *testing.B) {
	conns := 5000
	if s := os.Getenv("BPFWALK_BENCH_CONNS"); s != "" {
		var err error
		conns, err = strconv.Atoi(s)
		require.NoError(b, err)
	}
	l := holdLoad(b, conns)
	ctx := context.Background()

	var bpfNs float64
	for _, workers := range []int{0, 1} {
		name := "bpf"
		if workers > 0 {
			name = fmt.Sprintf("bpf/workers=%d", workers)
		}
		w := newWalker(b, Options{ProcRoot: "/proc", Workers: workers})
		b.Run(name, func(b *testing.B) { benchWalk(b, w, l, workers, &bpfNs) })
	}
	for _, workers := range []int{0, 1} {
		name := "procfs"
		if workers > 0 {
			name = fmt.Sprintf("procfs/workers=%d", workers)
		}
		b.Run(name, func(b *testing.B) {
			r, err := resolver.New(resolver.Options{ProcRoot: "/proc", Workers: workers})
			require.NoError(b, err)
			tab, err := r.Walk(ctx)
			requireOnlyDenied(b, err)
			require.GreaterOrEqual(b, tab.Stats.Sockets, l.Sockets())
			fds, sockets := tab.Stats.FDs, tab.Stats.Sockets
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := r.Walk(ctx); err != nil {
					requireOnlyDenied(b, err)
				}
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(ns/float64(fds), "ns/fd")
			b.ReportMetric(ns/float64(sockets), "ns/socket")
			b.ReportMetric(float64(sockets), "sockets")
			if bpfNs > 0 {
				b.ReportMetric(ns/bpfNs, "procfs/bpf")
			}
		})
	}
}

// BenchmarkLoad measures New and Close, the fixed cost of the bpf walk:
// parsing the kernel's BTF, relocating and verifying the program.
func BenchmarkLoad(b *testing.B) {
	newWalker(b, Options{ProcRoot: "/proc"}).Close() // skip where it cannot run
	b.ReportAllocs()
	for range b.N {
		w, err := New(Options{ProcRoot: "/proc"})
		if err != nil {
			b.Fatal(err)
		}
		w.Close()
	}
}

// benchWalk times w's walks; the default walk's time goes to bpfNs, which
// the /proc walks are compared with.
func benchWalk(b *testing.B, w *Walker, l *loadgen.Load, workers int, bpfNs *float64) {
	tab := walk(b, w)
	require.GreaterOrEqual(b, tab.Stats.Sockets, l.Sockets())
	fds, sockets := tab.Stats.FDs, tab.Stats.Sockets
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := w.Walk(context.Background()); err != nil {
			requireOnlyDenied(b, err)
		}
	}
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	if workers == 0 {
		*bpfNs = ns
	} else if *bpfNs > 0 {
		b.ReportMetric(ns / *bpfNs, "workers1/default")
	}
	b.ReportMetric(ns/float64(fds), "ns/fd")
	b.ReportMetric(ns/float64(sockets), "ns/socket")
	b.ReportMetric(float64(sockets), "sockets")
}
