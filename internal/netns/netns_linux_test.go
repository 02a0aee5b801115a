package netns

import (
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/internal/testchild"
)

// TestDo runs a function in a namespace of its own and finds it there,
// while the calling thread stays in its namespace.
func TestDo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unshare(CLONE_NEWNET) needs CAP_SYS_ADMIN: run as root")
	}
	path := testchild.NewNetNS(t)
	ino := netnsIno(t, path)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := netnsIno(t, "/proc/thread-self/ns/net")
	require.NotEqual(t, before, ino)

	var inside uint64
	require.NoError(t, Do(path, func() error {
		inside = netnsIno(t, "/proc/thread-self/ns/net")
		return nil
	}))
	require.Equal(t, ino, inside, "fn ran in the namespace at path")
	require.Equal(t, before, netnsIno(t, "/proc/thread-self/ns/net"), "the calling thread never moved")

	errFn := os.ErrClosed
	require.ErrorIs(t, Do(path, func() error { return errFn }), errFn, "fn's error")
}

func TestDoErrors(t *testing.T) {
	tests := []struct {
		name string
		path string
		is   error
		msg  string
	}{
		{"missing", "/nonexistent/ns/net", os.ErrNotExist, "open /nonexistent/ns/net: no such file or directory"},
		{"another kind of namespace", "/proc/self/ns/uts", unix.EINVAL, "setns: invalid argument: not a network namespace"},
		{"not a namespace", "/proc/self/status", unix.EINVAL, "setns: invalid argument: not a network namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			err := Do(tt.path, func() error { called = true; return nil })
			require.ErrorIs(t, err, tt.is)
			require.EqualError(t, err, tt.msg)
			require.False(t, called, "fn runs only inside the namespace")
		})
	}
}

func netnsIno(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	require.NoError(t, unix.Stat(path, &st))
	return st.Ino
}
