//go:build linux

package sockdiag

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// cpuTime returns the CPU time this process has used, user and system:
// the kernel builds a dump, and prints /proc/net/tcp, in the system calls
// of the process that reads them.
func cpuTime(b testing.TB) time.Duration {
	var ru unix.Rusage
	require.NoError(b, unix.Getrusage(unix.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// tableRun measures one way of reading the whole IPv4 table: each call of
// read returns the sockets it saw.
type tableRun struct {
	sockets int
	wall    time.Duration
	cpu     time.Duration
}

func measure(b *testing.B, read func() int) tableRun {
	b.ReportAllocs()
	var run tableRun
	c0 := cpuTime(b)
	for b.Loop() {
		run.sockets += read()
	}
	run.cpu = cpuTime(b) - c0
	run.wall = b.Elapsed()
	per := float64(run.sockets)
	b.ReportMetric(float64(run.wall.Nanoseconds())/per, "ns/socket")
	b.ReportMetric(float64(run.cpu.Nanoseconds())/per, "cpu-ns/socket")
	b.ReportMetric(per/run.wall.Seconds(), "sockets/s")
	// The allocations of one more read, counted by AllocsPerRun, which
	// keeps the rest of the runtime quiet (GOMAXPROCS 1) while it counts.
	n := 0
	allocs := testing.AllocsPerRun(1, func() { n = read() })
	b.ReportMetric(allocs/float64(max(n, 1)), "allocs/socket")
	b.ReportMetric(per/float64(b.N), "sockets/op")
	return run
}

// BenchmarkTable reads the IPv4 TCP table while this process holds 2000
// loopback connections and their listener (4001 sockets, plus what else
// the host has), by a sock_diag dump with and without tcp_info and by
// /proc/net/tcp through parser, in the same run. The procfs run reports
// the CPU time per socket of each dump relative to its own
// (netlink/procfs-cpu): compare within one run, as the host's table
// changes between runs.
func BenchmarkTable(b *testing.B) {
	const conns = 2000
	l := listen(b, families[0], nil)
	ours := map[uint64]bool{inodeOf(l): true}
	for range conns {
		c, s := connect(b, l)
		ours[inodeOf(c)], ours[inodeOf(s)] = true, true
	}
	c, err := Dial()
	require.NoError(b, err)
	b.Cleanup(func() { c.Close() })

	// Correct first: each path sees every socket of ours, once.
	for _, info := range []bool{false, true} {
		seen := 0
		sockets := dumpAll(b, c, Request{Family: AFInet, Info: info})
		for i := range sockets {
			if ours[sockets[i].Inode] {
				seen++
			}
		}
		require.Equal(b, len(ours), seen)
	}
	seen := 0
	for ino := range procTable(b, "/proc/net/tcp") {
		if ours[ino] {
			seen++
		}
	}
	require.Equal(b, len(ours), seen)

	dump := func(req Request) func() int {
		return func() int {
			r, err := c.Sockets(req)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for r.Next() {
				n++
			}
			if r.Err() != nil || !r.Done() {
				b.Fatal(r.Err())
			}
			return n
		}
	}
	pr := parser.NewReader(nil)
	procfs := func() int {
		f, err := os.Open("/proc/net/tcp")
		if err != nil {
			b.Fatal(err)
		}
		pr.Reset(f)
		n := 0
		for pr.Next() {
			n++
		}
		f.Close()
		if pr.Err() != nil {
			b.Fatal(pr.Err())
		}
		return n
	}

	cpuPer := func(r tableRun) float64 { return float64(r.cpu) / float64(max(r.sockets, 1)) }
	runs := map[string]tableRun{}
	for _, bm := range []struct {
		name string
		read func() int
	}{
		{"netlink", dump(Request{Family: AFInet})},
		{"netlink+info", dump(Request{Family: AFInet, Info: true})},
		{"procfs", procfs},
	} {
		b.Run(bm.name, func(b *testing.B) {
			run := measure(b, bm.read)
			runs[bm.name] = run
			if bm.name != "procfs" {
				return
			}
			// CPU time per socket of each dump, relative to procfs's.
			if r, ok := runs["netlink"]; ok {
				b.ReportMetric(cpuPer(r)/cpuPer(run), "netlink/procfs-cpu")
			}
			if r, ok := runs["netlink+info"]; ok {
				b.ReportMetric(cpuPer(r)/cpuPer(run), "netlink+info/procfs-cpu")
			}
		})
	}
}

// BenchmarkReader decodes a stream of 10000 generated sockets from memory:
// the decoder alone, without the kernel.
func BenchmarkReader(b *testing.B) {
	for _, info := range []bool{false, true} {
		name := "plain"
		if info {
			name = "info"
		}
		b.Run(name, func(b *testing.B) {
			data, want := genDump(10000, info)
			res := read(data, nil)
			require.Equal(b, want, res.Sockets)
			r := NewReader(nil)
			br := bytes.NewReader(data)
			b.SetBytes(int64(len(data)))
			measure(b, func() int {
				br.Reset(data)
				r.Reset(br)
				n := 0
				for r.Next() {
					n++
				}
				return n
			})
		})
	}
}
