//go:build !linux

package sockdiag

import (
	"errors"
	"fmt"
)

// errNotLinux is returned by everything that needs a netlink socket.
var errNotLinux = fmt.Errorf("sockdiag: netlink sock_diag is only available on Linux: %w", errors.ErrUnsupported)

// A Conn is a NETLINK_SOCK_DIAG socket. On this platform it cannot be
// opened.
type Conn struct{}

// Dial returns an error: netlink exists only on Linux.
func Dial() (*Conn, error) { return nil, errNotLinux }

// DialNetNS returns an error: netlink exists only on Linux.
func DialNetNS(string) (*Conn, error) { return nil, errNotLinux }

// Close returns an error: netlink exists only on Linux.
func (*Conn) Close() error { return errNotLinux }

// Dump returns an error: netlink exists only on Linux.
func (*Conn) Dump(Request) (*Dump, error) { return nil, errNotLinux }

// Sockets returns an error: netlink exists only on Linux.
func (*Conn) Sockets(Request) (*Reader, error) { return nil, errNotLinux }

// A Dump is the reply stream of a dump request. On this platform there is
// none.
type Dump struct{}

// Read returns an error: netlink exists only on Linux.
func (*Dump) Read([]byte) (int, error) { return 0, errNotLinux }
