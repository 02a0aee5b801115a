package sockdiag

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/parser"
)

// TestDialNetNS dumps a network namespace that holds one listener, of a
// helper process, and finds that listener and nothing of the host's.
func TestDialNetNS(t *testing.T) {
	name, path := newNetNS(t)
	_, out := startHelper(t, netnsHelperCmd(t, name, "hold", "listen"))
	ready := fields(readLine(t, out))
	port, err := strconv.Atoi(ready["port"])
	require.NoError(t, err)
	inode, err := strconv.ParseUint(ready["inode"], 10, 64)
	require.NoError(t, err)

	host := listen(t, families[0], nil)
	hostPort := addrPort(host.Addr()).Port()

	// The calling thread stays in its namespace.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, err := os.Readlink("/proc/thread-self/ns/net")
	require.NoError(t, err)
	c, err := DialNetNS(path)
	require.NoError(t, err)
	defer c.Close()
	after, err := os.Readlink("/proc/thread-self/ns/net")
	require.NoError(t, err)
	require.Equal(t, before, after)
	self, err := os.Readlink("/proc/self/ns/net")
	require.NoError(t, err)
	require.Equal(t, before, self)

	sockets := dumpAll(t, c, Request{Family: AFInet})
	require.Len(t, sockets, 1, "the namespace's only socket")
	s := sockets[0]
	require.Equal(t, parser.Listen, s.State)
	require.Equal(t, "127.0.0.1:"+strconv.Itoa(port), s.Local.String())
	require.Equal(t, inode, s.Inode)
	require.NotEqual(t, hostPort, s.Local.Port())
	require.Empty(t, dumpAll(t, c, Request{Family: AFInet6}))

	// A Conn from Dial sees the host's listener and not the namespace's.
	hc, err := Dial()
	require.NoError(t, err)
	defer hc.Close()
	var hostSeen, nsSeen bool
	for _, s := range dumpAll(t, hc, Request{Family: AFInet, States: StateMask(parser.Listen)}) {
		hostSeen = hostSeen || s.Inode == inodeOf(host)
		nsSeen = nsSeen || s.Inode == inode
	}
	require.True(t, hostSeen)
	require.False(t, nsSeen)
}

func TestDialNetNSErrors(t *testing.T) {
	tests := []struct {
		name string
		path string
		is   error
		msg  string
	}{
		{"missing", "/nonexistent/ns/net", os.ErrNotExist, `sock_diag dial in network namespace "/nonexistent/ns/net": open /nonexistent/ns/net: no such file or directory`},
		{"another kind of namespace", "/proc/self/ns/uts", unix.EINVAL, "setns: invalid argument: not a network namespace"},
		{"not a namespace", "/proc/self/status", unix.EINVAL, "setns: invalid argument: not a network namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DialNetNS(tt.path)
			require.Nil(t, c)
			require.ErrorIs(t, err, tt.is)
			require.ErrorContains(t, err, tt.msg)
		})
	}
}

// TestDialNetNSUnprivileged runs DialNetNS as uid 65534, without
// CAP_SYS_ADMIN: setns fails with EPERM, and the error says what is
// missing.
func TestDialNetNSUnprivileged(t *testing.T) {
	_, out := startHelper(t, nobodyCmd(t, "dialnetns", "/proc/self/ns/net"))
	line := readLine(t, out)
	f := fields(line)
	require.Equal(t, "65534", f["uid"], line)
	require.Equal(t, "true", f["eperm"], "errors.Is(err, os.ErrPermission): %s", line)
	require.True(t, strings.HasSuffix(line, `err=sock_diag dial in network namespace "/proc/self/ns/net": setns: operation not permitted: joining a network namespace needs CAP_SYS_ADMIN`), line)
}
