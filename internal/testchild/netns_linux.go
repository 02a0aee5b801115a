package testchild

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// NewNetNS makes a network namespace with nothing in it, held by a bind
// mount of its file in a directory of the test's, unmounted when the test
// ends, and returns the file's path, for setns. It needs CAP_SYS_ADMIN.
func NewNetNS(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "net")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		// The thread goes back to its namespace: a locked goroutine that
		// ended in another one would leave its thread there, and if that
		// is the main thread, which the runtime never ends, the
		// process's /proc/self/net with it (every later read of
		// /proc/net/tcp in the test binary would list the empty
		// namespace: seen with -count 3).
		runtime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(self)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		err = unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, "")
		if back := unix.Setns(self, unix.CLONE_NEWNET); back != nil {
			errc <- errors.Join(err, back) // stays locked: the runtime ends the thread, if it can
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("a network namespace of the test's: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(path, unix.MNT_DETACH) })
	return path
}
