package parser

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/procfs"
	"github.com/stretchr/testify/require"
)

// procfsParse parses a tcp (or tcp6) table with procfs, which reads
// <root>/net/tcp{,6}. procfs decodes addresses as little-endian words.
func procfsParse(t testing.TB, data []byte, v6 bool) procfs.NetTCP {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(root, "net"), 0o755))
	name := "tcp"
	if v6 {
		name = "tcp6"
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "net", name), data, 0o644))
	fs, err := procfs.NewFS(root)
	require.NoError(t, err)
	var rows procfs.NetTCP
	if v6 {
		rows, err = fs.NetTCP6()
	} else {
		rows, err = fs.NetTCP()
	}
	require.NoError(t, err)
	return rows
}

// requireSameAsProcfs parses data with both parsers and requires the same
// rows.
func requireSameAsProcfs(t *testing.T, data []byte, v6 bool) []Socket {
	t.Helper()
	want := procfsParse(t, data, v6)
	got := read(data, binary.LittleEndian, nil)
	require.NoError(t, got.Err)
	require.Empty(t, got.Errors)
	require.Len(t, got.Sockets, len(want))
	for i, w := range want {
		s := got.Sockets[i]
		local, ok := netip.AddrFromSlice(w.LocalAddr)
		require.True(t, ok)
		remote, ok := netip.AddrFromSlice(w.RemAddr)
		require.True(t, ok)
		require.Equal(t, w.Sl, s.Slot, "row %d", i)
		require.Equal(t, netip.AddrPortFrom(local, uint16(w.LocalPort)), s.Local, "row %d", i)
		require.Equal(t, netip.AddrPortFrom(remote, uint16(w.RemPort)), s.Remote, "row %d", i)
		require.Equal(t, w.St, uint64(s.State), "row %d", i)
		require.Equal(t, w.TxQueue, uint64(s.TxQueue), "row %d", i)
		require.Equal(t, w.RxQueue, uint64(s.RxQueue), "row %d", i)
		require.Equal(t, w.UID, uint64(s.UID), "row %d", i)
		require.Equal(t, w.Inode, s.Inode, "row %d", i)
	}
	return got.Sockets
}

func requireLittleEndian(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("procfs decodes addresses as little-endian; this host is not")
	}
}

func TestProcfsFixtures(t *testing.T) {
	requireLittleEndian(t)
	tests := []struct {
		name string
		v6   bool
		rows int
	}{
		{"tcp", false, 14},
		{"tcp6", true, 8},
		{"tcp_kernel_doc", false, 2},
		{"tcp_states", false, 14},
		{"tcp6_addrs", true, 6},
		{"tcp_header_only", false, 0},
		{"tcp_empty", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := requireSameAsProcfs(t, mustReadFile(t, tt.name), tt.v6)
			require.Len(t, got, tt.rows)
		})
	}
	t.Run("generated", func(t *testing.T) {
		for _, v6 := range []bool{false, true} {
			data, _ := genTable(12000, v6, binary.LittleEndian)
			requireSameAsProcfs(t, data, v6)
		}
	})
}

// listen opens a listener and a connection to it, and returns the local
// addresses of the listener and of both ends.
func listen(t *testing.T, network, laddr, dial string) (listener, client, server netip.AddrPort) {
	t.Helper()
	ln, err := net.Listen(network, laddr)
	if err != nil {
		t.Skipf("listen %s %s: %v", network, laddr, err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	listener = ln.Addr().(*net.TCPAddr).AddrPort()
	c, err := net.Dial(network, netip.AddrPortFrom(netip.MustParseAddr(dial), listener.Port()).String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	s, ok := <-accepted
	require.True(t, ok)
	t.Cleanup(func() { _ = s.Close() })
	return listener, c.LocalAddr().(*net.TCPAddr).AddrPort(), s.LocalAddr().(*net.TCPAddr).AddrPort()
}

func TestProcfsLive(t *testing.T) {
	requireLittleEndian(t)
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip(err)
	}
	type conn struct {
		listener, client, server netip.AddrPort
	}
	var conns []conn
	l, c, s := listen(t, "tcp4", "127.0.0.1:0", "127.0.0.1")
	conns = append(conns, conn{l, c, s})
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		_ = ln.Close()
		l, c, s = listen(t, "tcp6", "[::1]:0", "::1")
		conns = append(conns, conn{l, c, s})
		// A dual-stack listener: the accepted end is ::ffff:127.0.0.1 in tcp6.
		l, c, s = listen(t, "tcp", "[::]:0", "127.0.0.1")
		require.True(t, s.Addr().Is4In6(), "%s", s)
		conns = append(conns, conn{l, c, s})
	}

	for _, v6 := range []bool{false, true} {
		name := "/proc/net/tcp"
		if v6 {
			name = "/proc/net/tcp6"
		}
		// Read once, so both parsers see the same table.
		data, err := os.ReadFile(name)
		if err != nil {
			t.Skip(err)
		}
		sockets := requireSameAsProcfs(t, data, v6)
		require.Len(t, sockets, bytes.Count(data, []byte("\n"))-1)

		// Real beats fake: our sockets are in the table.
		has := func(local netip.AddrPort, st State) bool {
			for _, s := range sockets {
				if s.Local == local && s.State == st {
					return true
				}
			}
			return false
		}
		for _, c := range conns {
			if c.listener.Addr().Is6() == v6 {
				require.True(t, has(c.listener, Listen), "%s in %s", c.listener, name)
			}
			if c.server.Addr().Is6() == v6 {
				require.True(t, has(c.server, Established), "%s in %s", c.server, name)
			}
			if c.client.Addr().Is6() == v6 {
				require.True(t, has(c.client, Established), "%s in %s", c.client, name)
			}
		}
	}
}
