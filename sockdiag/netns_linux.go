package sockdiag

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// DialNetNS opens a NETLINK_SOCK_DIAG socket in the network namespace at
// path, such as "/proc/<pid>/ns/net" or "/run/netns/<name>". The socket
// keeps that namespace for its life: its dumps list the namespace's
// sockets, whatever thread later uses it.
//
// The socket is created on a thread of its own, which joins the namespace
// (setns(2)), creates it and goes back to its own namespace. Joining needs
// CAP_SYS_ADMIN; without it the error wraps EPERM ([os.ErrPermission]
// matches it) and says so, and the caller can fall back to [Dial]. If the
// thread cannot go back, it is never used again: it ends with its
// goroutine, and DialNetNS returns an error. The calling goroutine's
// thread is never moved.
func DialNetNS(path string) (*Conn, error) {
	fd, err := socketInNetNS(path, diagSocket)
	if err != nil {
		return nil, fmt.Errorf("sock_diag dial in network namespace %q: %w", path, err)
	}
	return newConn(fd), nil
}

// socketInNetNS calls open on a thread that has joined the network
// namespace at path, and returns its file descriptor.
func socketInNetNS(path string, open func() (int, error)) (int, error) {
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(target)

	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		fd, back, err := openInNetNS(target, open)
		if back {
			runtime.UnlockOSThread()
		}
		// Otherwise the thread stays locked, in the other namespace, and
		// the runtime ends it when this goroutine returns.
		done <- result{fd, err}
	}()
	res := <-done
	return res.fd, res.err
}

// openInNetNS joins the network namespace target on the current, locked
// thread, calls open, and joins the thread's own namespace again. back
// reports whether the thread is in its own namespace at the end.
func openInNetNS(target int, open func() (int, error)) (fd int, back bool, err error) {
	self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, true, &os.PathError{Op: "open", Path: "/proc/thread-self/ns/net", Err: err}
	}
	defer unix.Close(self)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return -1, true, setnsError(err)
	}
	fd, err = open()
	if err2 := unix.Setns(self, unix.CLONE_NEWNET); err2 != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return -1, false, fmt.Errorf("going back to the thread's own network namespace: %w (the thread is dropped)", os.NewSyscallError("setns", err2))
	}
	return fd, true, err
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
