//go:build linux

package main

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// listen opens a loopback listener for the test's lifetime and returns its port.
func listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
