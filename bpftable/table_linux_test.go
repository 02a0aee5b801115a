//go:build linux

package bpftable

import (
	"errors"
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/internal/testchild"
)

// loadTable loads the program, or skips where it cannot run at all: no
// BTF, an old kernel, or no privilege when not root.
func loadTable(tb testing.TB) *Table {
	tb.Helper()
	return loadTableWith(tb, New)
}

func loadTableWith(tb testing.TB, load func() (*Table, error)) *Table {
	tb.Helper()
	t, err := load()
	if errors.Is(err, errors.ErrUnsupported) || errors.Is(err, os.ErrPermission) && os.Geteuid() != 0 {
		tb.Skipf("bpf table cannot run here: %v", err)
	}
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, t.Close()) })
	return t
}

// readTable reads one walk of t, calling fn with each socket, and returns
// how many it read.
func readTable(tb testing.TB, t *Table, fn func(*Socket)) int {
	r, err := t.Open()
	require.NoError(tb, err)
	n := 0
	for r.Next() {
		if fn != nil {
			fn(r.Socket())
		}
		n++
	}
	require.NoError(tb, r.Err())
	require.NoError(tb, r.Close())
	return n
}

// TestReadAllocs: a walk allocates a few objects to open its iterator,
// none per row, and reuses the buffer of the walk before.
func TestReadAllocs(t *testing.T) {
	tb := loadTable(t)
	hold(t, 500)
	rows := 0
	allocs := testing.AllocsPerRun(3, func() { rows = readTable(t, tb, nil) })
	require.GreaterOrEqual(t, rows, 1000)
	t.Logf("%d rows, %.0f allocations per walk", rows, allocs)
	require.LessOrEqual(t, allocs, 10.0)
}

// TestClosed: Open after Close fails, Close again is a no-op.
func TestClosed(t *testing.T) {
	tb := loadTable(t)
	require.NoError(t, tb.Close())
	_, err := tb.Open()
	require.EqualError(t, err, "bpf table: table is closed")
	require.NoError(t, tb.Close())
}

// TestReaderClose: a walk closed before its end stops there and says so;
// Close again does nothing; the next Open reuses the buffer.
func TestReaderClose(t *testing.T) {
	tb := loadTable(t)
	hold(t, 2)
	r, err := tb.Open()
	require.NoError(t, err)
	buf := &r.buf[0]
	require.True(t, r.Next())
	require.NoError(t, r.Close())
	require.False(t, r.Next())
	require.EqualError(t, r.Err(), "bpf table: reader is closed")
	require.NoError(t, r.Close())

	r2, err := tb.Open()
	require.NoError(t, err)
	require.Same(t, buf, &r2.buf[0], "the buffer of the closed reader")
	n := 0
	for r2.Next() {
		n++
	}
	require.NoError(t, r2.Err())
	require.GreaterOrEqual(t, n, 5)
	require.NoError(t, r2.Close())
	require.NoError(t, r2.Err(), "closed after its end")
}

// TestCookie: the walk gives each socket the cookie SO_COOKIE gives it.
// Not of a Go listener by default: since Go 1.24 it is an MPTCP socket,
// whose SO_COOKIE is the MPTCP socket's, and whose TCP listener, its
// subflow, has a cookie of its own, the one sock_diag and the walk give.
func TestCookie(t *testing.T) {
	tb := loadTable(t)
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	l, err := lc.Listen(t.Context(), "tcp6", "[::1]:0")
	require.NoError(t, err)
	defer l.Close()
	c, err := net.Dial("tcp6", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	s, err := l.Accept()
	require.NoError(t, err)
	defer s.Close()

	want := map[uint64]uint64{} // inode -> SO_COOKIE
	for _, conn := range []any{l, c, s} {
		fd, err := testchild.FDOf(conn)
		require.NoError(t, err)
		sock, err := testchild.SockOf(fd)
		require.NoError(t, err)
		cookie, err := unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_COOKIE)
		require.NoError(t, err)
		require.NotZero(t, cookie)
		want[sock.Inode] = cookie
	}
	got := map[uint64]uint64{}
	readTable(t, tb, func(s *Socket) {
		if _, ok := want[s.Inode]; ok {
			got[s.Inode] = s.Cookie
		}
	})
	require.Equal(t, want, got)
}
