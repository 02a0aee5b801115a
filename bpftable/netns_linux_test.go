//go:build linux

package bpftable

import (
	"net/netip"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/internal/netns"
	"github.com/tcpconn/telegraf-tcpconn/internal/testchild"
	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// TestNetNS: a walk lists the sockets of the network namespace of the
// thread that opens it, whatever namespace the table was loaded in.
func TestNetNS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unshare(CLONE_NEWNET) needs CAP_SYS_ADMIN: run as root")
	}
	tb := loadTable(t)
	path := testchild.NewNetNS(t)
	var (
		rows  []Socket
		inode uint64
		port  uint16
	)
	// On a thread that joins the namespace, and goes back.
	require.NoError(t, netns.Do(path, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrInet4{}); err != nil {
			return err
		}
		if err := unix.Listen(fd, 1); err != nil {
			return err
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			return err
		}
		port = uint16(sa.(*unix.SockaddrInet4).Port)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		inode = st.Ino
		r, err := tb.Open()
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			rows = append(rows, *r.Socket())
		}
		return r.Err()
	}))
	require.Len(t, rows, 1)
	require.NotZero(t, rows[0].Cookie)
	rows[0].Cookie = 0
	require.Equal(t, []Socket{{Family: AFInet, Socket: parser.Socket{
		Local:  netip.AddrPortFrom(netip.IPv4Unspecified(), port),
		Remote: netip.AddrPortFrom(netip.IPv4Unspecified(), 0),
		State:  parser.Listen,
		Inode:  inode,
	}}}, rows, "the new namespace's one socket")

	readTable(t, tb, func(s *Socket) {
		require.NotEqual(t, inode, s.Inode, "the other namespace's listener, in ours")
	})
}

// TestOpenNetNS: OpenNetNS walks the namespace at its path, not the
// caller's, and leaves the calling thread where it was.
func TestOpenNetNS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unshare(CLONE_NEWNET) needs CAP_SYS_ADMIN: run as root")
	}
	tb := loadTable(t)
	path := testchild.NewNetNS(t)

	// A listener in it, made there with the same machinery.
	var fd int
	require.NoError(t, netns.Do(path, func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrInet6{}); err != nil {
			return err
		}
		return unix.Listen(fd, 1)
	}))
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	require.NoError(t, err)
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(fd, &st))

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, err := os.Readlink("/proc/thread-self/ns/net")
	require.NoError(t, err)
	r, err := tb.OpenNetNS(path)
	require.NoError(t, err)
	after, err := os.Readlink("/proc/thread-self/ns/net")
	require.NoError(t, err)
	require.Equal(t, before, after, "the calling thread never moved")
	var rows []Socket
	for r.Next() {
		s := *r.Socket()
		s.Cookie = 0
		rows = append(rows, s)
	}
	require.NoError(t, r.Err())
	require.NoError(t, r.Close())
	require.Equal(t, []Socket{{Family: AFInet6, Socket: parser.Socket{
		Local:  netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(sa.(*unix.SockaddrInet6).Port)),
		Remote: netip.AddrPortFrom(netip.IPv6Unspecified(), 0),
		State:  parser.Listen,
		Inode:  st.Ino,
	}}}, rows, "the namespace's one socket, and none of ours")

	_, err = tb.OpenNetNS("/proc/self/ns/uts")
	require.EqualError(t, err, `bpf table: network namespace "/proc/self/ns/uts": setns: invalid argument: not a network namespace`)
}
