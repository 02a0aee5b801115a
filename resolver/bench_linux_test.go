//go:build linux

package resolver

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tcpconn/telegraf-tcpconn/internal/testchild"
)

// benchTree builds the fixture of BenchmarkWalk: procs processes, each with
// sockets socket links and others non-socket links, and returns its root and
// the number of fd links in it.
func benchTree(b *testing.B, procs, sockets, others int) (string, int) {
	b.Helper()
	root := fixtureDir(b)
	inode := 1000
	for p := range procs {
		dir := filepath.Join(root, fmt.Sprint(100+p))
		require.NoError(b, os.MkdirAll(filepath.Join(dir, "fd"), 0o755))
		require.NoError(b, os.WriteFile(filepath.Join(dir, "comm"), []byte(fmt.Sprintf("worker-%d\n", p)), 0o644))
		require.NoError(b, os.WriteFile(filepath.Join(dir, "status"), []byte(statusText("w", [4]uint32{0, 33, 0, 0})), 0o644))
		require.NoError(b, os.WriteFile(filepath.Join(dir, "stat"), []byte(statLine(fmt.Sprint(100+p), "w", 12345)), 0o644))
		for fd := range sockets + others {
			target := "pipe:[42]"
			switch {
			case fd < sockets:
				inode += 7
				target = fmt.Sprintf("socket:[%d]", inode)
			case fd%2 == 0:
				target = "/var/log/app.log"
			}
			require.NoError(b, os.Symlink(target, filepath.Join(dir, "fd", fmt.Sprint(fd))))
		}
	}
	return root, procs * (sockets + others)
}

// BenchmarkWalk walks a fixture tree of 12 processes with 2000 socket links
// and 200 other links each, on one worker and on GOMAXPROCS workers.
func BenchmarkWalk(b *testing.B) {
	const procs, sockets, others = 12, 2000, 200
	root, fds := benchTree(b, procs, sockets, others)
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			r, err := New(Options{ProcRoot: root, Workers: workers})
			require.NoError(b, err)
			tab, err := r.Walk(context.Background())
			require.NoError(b, err)
			require.Equal(b, Stats{Processes: procs, FDs: fds, Sockets: procs * sockets}, tab.Stats)

			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := r.Walk(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*fds), "ns/fd")
		})
	}
}

// BenchmarkWalkLive holds 4000 loopback connections (8001 socket fds) in the
// benchmark process and walks the real /proc: the process alone, and the
// whole host.
func BenchmarkWalkLive(b *testing.B) {
	const conns = 4000
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(b, err)
	defer l.Close()
	var closers []io.Closer
	defer func() { testchild.CloseAll(closers) }()
	for range conns {
		c, err := net.Dial("tcp4", l.Addr().String())
		require.NoError(b, err)
		s, err := l.Accept()
		require.NoError(b, err)
		closers = append(closers, c, s)
	}
	comm, err := os.ReadFile("/proc/self/comm")
	require.NoError(b, err)
	name := strings.TrimSuffix(string(comm), "\n")
	self := int32(os.Getpid())

	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"self/workers=1", Options{ProcRoot: "/proc", Workers: 1, Match: func(n string) bool { return n == name }}},
		{"host/workers=1", Options{ProcRoot: "/proc", Workers: 1}},
		{fmt.Sprintf("host/workers=%d", runtime.GOMAXPROCS(0)), Options{ProcRoot: "/proc"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r, err := New(bc.opts)
			require.NoError(b, err)
			tab, _ := r.Walk(context.Background()) // a denial elsewhere is fine
			var mine int
			for _, o := range tab.Owners {
				if o.PID == self {
					mine++
				}
			}
			require.GreaterOrEqual(b, mine, 2*conns+1)

			b.ReportAllocs()
			b.ResetTimer()
			fds := 0
			for range b.N {
				tab, _ := r.Walk(context.Background())
				fds += tab.Stats.FDs
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(fds), "ns/fd")
			b.ReportMetric(float64(fds)/float64(b.N), "fds/op")
		})
	}
}
