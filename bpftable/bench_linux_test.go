//go:build linux

package bpftable

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/bench/loadgen"
	"github.com/tcpconn/telegraf-tcpconn/parser"
	"github.com/tcpconn/telegraf-tcpconn/sockdiag"
)

// cpuTime returns the CPU time this process has used, user and system:
// the kernel runs the iterator, prints /proc/net/tcp and builds a dump in
// the system calls of the process that reads them.
func cpuTime(tb testing.TB) time.Duration {
	var ru unix.Rusage
	require.NoError(tb, unix.Getrusage(unix.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// run is what one way of reading the table measured.
type run struct {
	rows      int
	wall, cpu time.Duration
}

func (r run) nsPerRow() float64  { return float64(r.wall.Nanoseconds()) / float64(max(r.rows, 1)) }
func (r run) cpuPerRow() float64 { return float64(r.cpu.Nanoseconds()) / float64(max(r.rows, 1)) }

// measure runs read, which returns the rows it read, b.N times.
func measure(b *testing.B, read func() int) run {
	b.ReportAllocs()
	var r run
	c0 := cpuTime(b)
	for b.Loop() {
		r.rows += read()
	}
	r.cpu, r.wall = cpuTime(b)-c0, b.Elapsed()
	b.ReportMetric(r.nsPerRow(), "ns/row")
	b.ReportMetric(r.cpuPerRow(), "cpu-ns/row")
	b.ReportMetric(float64(r.rows)/float64(b.N), "rows/op")
	n := 0
	allocs := testing.AllocsPerRun(1, func() { n = read() })
	b.ReportMetric(allocs/float64(max(n, 1)), "allocs/row")
	return r
}

// BenchmarkRead reads the whole TCP table, both families, while
// bench/loadgen children hold BPFTABLE_BENCH_CONNS (default 10000)
// loopback connections, about twice as many sockets: by the bpf table, by
// /proc/net/tcp and tcp6 through parser, and by two sock_diag dumps
// (AF_INET, AF_INET6) through sockdiag, in the same run; and by the bpf
// table loaded without the socket cookie (bpf-nocookie). The last
// sub-benchmark reports the others' wall time per row relative to the bpf
// table's (procfs/bpf, netlink/bpf): compare within one run, as the host's
// table changes between runs.
func BenchmarkRead(b *testing.B) {
	conns := 10000
	if s := os.Getenv("BPFTABLE_BENCH_CONNS"); s != "" {
		var err error
		conns, err = strconv.Atoi(s)
		require.NoError(b, err)
	}
	tb := loadTable(b)
	exe, err := os.Executable()
	require.NoError(b, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	load, err := loadgen.Start(ctx, exe, loadgen.Plan(conns))
	cancel()
	require.NoError(b, err)
	b.Cleanup(load.Close)

	bpf := func() int { return readTable(b, tb, nil) }
	// The same without the socket cookie: what the cookie costs.
	plain := loadTableWith(b, func() (*Table, error) { return newTable(nil, false) })
	bpfPlain := func() int { return readTable(b, plain, nil) }
	pr := parser.NewReader(nil)
	procfs := func() int {
		n := 0
		for _, path := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			pr.Reset(f)
			for pr.Next() {
				n++
			}
			f.Close()
			if pr.Err() != nil {
				b.Fatal(pr.Err())
			}
		}
		return n
	}
	c, err := sockdiag.Dial()
	require.NoError(b, err)
	b.Cleanup(func() { c.Close() })
	netlink := func() int {
		n := 0
		for _, af := range []uint8{sockdiag.AFInet, sockdiag.AFInet6} {
			r, err := c.Sockets(sockdiag.Request{Family: af})
			if err != nil {
				b.Fatal(err)
			}
			for r.Next() {
				n++
			}
			if r.Err() != nil || !r.Done() {
				b.Fatal(r.Err())
			}
		}
		return n
	}

	// Correct first: each sees the load, and about as many rows as the
	// others (the host's other sockets come and go).
	nb, np, nn := bpf(), procfs(), netlink()
	b.Logf("rows: bpf %d, procfs %d, netlink %d; the load holds %d sockets", nb, np, nn, load.Sockets())
	require.GreaterOrEqual(b, nb, load.Sockets())
	require.InDelta(b, np, nb, float64(np)/100)
	require.InDelta(b, nn, nb, float64(nn)/100)

	runs := map[string]run{}
	for _, bm := range []struct {
		name string
		read func() int
	}{{"bpf", bpf}, {"bpf-nocookie", bpfPlain}, {"procfs", procfs}, {"netlink", netlink}} {
		b.Run(bm.name, func(b *testing.B) {
			r := measure(b, bm.read)
			runs[bm.name] = r
			if bm.name != "netlink" {
				return
			}
			base, ok := runs["bpf"]
			if !ok {
				return
			}
			if p, ok := runs["procfs"]; ok {
				b.ReportMetric(p.nsPerRow()/base.nsPerRow(), "procfs/bpf")
				b.ReportMetric(p.cpuPerRow()/base.cpuPerRow(), "procfs/bpf-cpu")
			}
			if p, ok := runs["bpf-nocookie"]; ok {
				b.ReportMetric(base.nsPerRow()/p.nsPerRow(), "bpf/bpf-nocookie")
			}
			b.ReportMetric(r.nsPerRow()/base.nsPerRow(), "netlink/bpf")
			b.ReportMetric(r.cpuPerRow()/base.cpuPerRow(), "netlink/bpf-cpu")
		})
	}
}
