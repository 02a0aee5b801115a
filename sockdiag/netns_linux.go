package sockdiag

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/internal/netns"
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
	fd := -1
	err := netns.Do(path, func() error {
		var err error
		fd, err = open()
		return err
	})
	if err != nil && fd >= 0 {
		unix.Close(fd) // made, but the thread could not go back
		fd = -1
	}
	return fd, err
}
