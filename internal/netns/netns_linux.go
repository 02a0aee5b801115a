// Package netns runs a function inside another network namespace, on a
// thread of its own, for the packages that open a kernel object there
// (sockdiag's netlink sockets, bpftable's iterators): such an object keeps
// the namespace it was made in, whatever thread uses it later.
package netns

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do calls fn on a thread that has joined the network namespace at path,
// such as "/proc/<pid>/ns/net" or "/run/netns/<name>", then takes the
// thread back to its own namespace. The calling goroutine's thread is never
// moved.
//
// Joining needs CAP_SYS_ADMIN; without it the error wraps EPERM
// ([os.ErrPermission] matches it) and says so, and fn is not called. If the
// thread cannot go back, it is never used again (it ends with its
// goroutine) and Do returns an error after fn has run: the caller must then
// release what fn made. Otherwise Do returns fn's error.
func Do(path string, fn func() error) error {
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(target)

	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back, err := doIn(target, fn)
		if back {
			runtime.UnlockOSThread()
		}
		// Otherwise the thread stays locked, in the other namespace, and
		// the runtime ends it when this goroutine returns.
		done <- err
	}()
	return <-done
}

// doIn joins the network namespace target on the current, locked thread,
// calls fn, and joins the thread's own namespace again. back reports
// whether the thread is in its own namespace at the end.
func doIn(target int, fn func() error) (back bool, err error) {
	self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true, &os.PathError{Op: "open", Path: "/proc/thread-self/ns/net", Err: err}
	}
	defer unix.Close(self)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return true, setnsError(err)
	}
	err = fn()
	if err2 := unix.Setns(self, unix.CLONE_NEWNET); err2 != nil {
		return false, fmt.Errorf("going back to the thread's own network namespace: %w (the thread is dropped)", os.NewSyscallError("setns", err2))
	}
	return true, err
}

// setnsError explains a failed setns(2) into a network namespace.
func setnsError(err error) error {
	switch {
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("%w: joining a network namespace needs CAP_SYS_ADMIN", os.NewSyscallError("setns", err))
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("%w: not a network namespace", os.NewSyscallError("setns", err))
	}
	return os.NewSyscallError("setns", err)
}
