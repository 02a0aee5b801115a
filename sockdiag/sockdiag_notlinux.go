//go:build !linux

package sockdiag

import (
	"errors"
	"fmt"
)

// errNotLinux is returned by everything that needs a netlink socket.
var errNotLinux = fmt.Errorf("sockdiag: netlink sock_diag is only available on Linux: %w", errors.ErrUnsupported)

// DefaultReceiveBuffer is the receive buffer a [Listener] asks for when
// [ListenConfig.ReceiveBuffer] is 0.
const DefaultReceiveBuffer = 4 << 20

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

// ListenConfig holds the options of a [Listener].
type ListenConfig struct {
	// ReceiveBuffer is the size of the socket's receive buffer to ask for.
	ReceiveBuffer int
	// NetNS is the path of the network namespace to listen in.
	NetNS string
}

// A Listener receives the kernel's notifications of destroyed TCP
// sockets. On this platform it cannot be opened.
type Listener struct{}

// ListenDestroyed returns an error: netlink exists only on Linux.
func ListenDestroyed() (*Listener, error) { return nil, errNotLinux }

// ListenDestroyed returns an error: netlink exists only on Linux.
func (*ListenConfig) ListenDestroyed() (*Listener, error) { return nil, errNotLinux }

// Receive returns an error: netlink exists only on Linux.
func (*Listener) Receive() (*Reader, error) { return nil, errNotLinux }

// Overruns returns 0.
func (*Listener) Overruns() uint64 { return 0 }

// ReceiveBuffer returns 0.
func (*Listener) ReceiveBuffer() int { return 0 }

// Close returns an error: netlink exists only on Linux.
func (*Listener) Close() error { return errNotLinux }
