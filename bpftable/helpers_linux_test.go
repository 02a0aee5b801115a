//go:build linux

package bpftable

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// hold opens a loopback listener and n connections to it, closed at the
// end of the test.
func hold(tb testing.TB, n int) {
	tb.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(tb, err)
	tb.Cleanup(func() { l.Close() })
	for range n {
		c, err := net.Dial("tcp4", l.Addr().String())
		require.NoError(tb, err)
		s, err := l.Accept()
		require.NoError(tb, err)
		tb.Cleanup(func() { c.Close(); s.Close() })
	}
}
