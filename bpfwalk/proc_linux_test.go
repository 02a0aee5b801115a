//go:build linux

package bpfwalk

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSocketsUsed(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
	}{
		{"sockets: used 67\nTCP: inuse 1 orphan 0 tw 0 alloc 1 mem 240\n", 67},
		{"sockets: used 0\n", 0},
		{"sockets: used 99999999999\n", maxOwnersHint},
		{"sockets: used -1\n", 0},
		{"sockets: unused 5\n", 0},
		{"TCP: inuse 1\n", 0},
		{"", 0},
	} {
		require.Equal(t, tt.want, parseSocketsUsed([]byte(tt.in)), "%q", tt.in)
	}
}

// TestSocketsInUse: the kernel's count includes a socket this test holds,
// and a proc root without sockstat gives no hint.
func TestSocketsInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	require.Positive(t, socketsInUse("/proc"))
	require.Zero(t, socketsInUse(t.TempDir()))
}
