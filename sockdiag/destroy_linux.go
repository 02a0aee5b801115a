package sockdiag

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Multicast groups of NETLINK_SOCK_DIAG (enum sknetlink_groups).
const (
	groupInetTCPDestroy  = 1 // SKNLGRP_INET_TCP_DESTROY
	groupInet6TCPDestroy = 3 // SKNLGRP_INET6_TCP_DESTROY
)

// DefaultReceiveBuffer is the receive buffer a [Listener] asks for when
// [ListenConfig.ReceiveBuffer] is 0: room for some thousands of
// notifications between two calls to [Listener.Receive].
const DefaultReceiveBuffer = 4 << 20

// ListenConfig holds the options of a [Listener].
type ListenConfig struct {
	// ReceiveBuffer is the size of the socket's receive buffer to ask for,
	// in bytes; 0 means DefaultReceiveBuffer. A privileged process
	// (CAP_NET_ADMIN) gets it (SO_RCVBUFFORCE); another gets at most
	// net.core.rmem_max (SO_RCVBUF). The kernel doubles the value for its
	// bookkeeping; a notification takes about 1 KiB of it.
	ReceiveBuffer int
	// NetNS, if not empty, is the path of the network namespace to listen
	// in, as for [DialNetNS]; that needs CAP_SYS_ADMIN. Empty means the
	// namespace of the calling thread.
	NetNS string
}

// A Listener receives the kernel's notifications of destroyed TCP sockets,
// what `ss -E` shows: a NETLINK_SOCK_DIAG socket that has joined the
// multicast groups SKNLGRP_INET_TCP_DESTROY and SKNLGRP_INET6_TCP_DESTROY.
// Any user may listen, and receives the notifications of every socket of
// the network namespace, other users' included.
//
// Each notification is a socket in the format of a dump, decoded by a
// [Reader]; see the package documentation for what it holds. Receive may
// be called from one goroutine at a time, and Close from any goroutine,
// which makes a pending Receive return.
type Listener struct {
	f        *os.File
	rc       syscall.RawConn
	r        *Reader
	overruns atomic.Uint64
	closed   atomic.Bool
	rcvbuf   int
	pending  error // an error that came after data, for the next Receive

	// State of one receive, for readReady.
	readFn func(fd uintptr) bool
	p      []byte
	n      int
	rerr   error
	from   unix.RawSockaddrNetlink
	fromN  uint32
}

// ListenDestroyed listens for destroy notifications in the network
// namespace of the calling thread, with the default configuration.
func ListenDestroyed() (*Listener, error) {
	var lc ListenConfig
	return lc.ListenDestroyed()
}

// ListenDestroyed listens for destroy notifications with the options of
// lc.
func (lc *ListenConfig) ListenDestroyed() (*Listener, error) {
	size := lc.ReceiveBuffer
	if size <= 0 {
		size = DefaultReceiveBuffer
	}
	open := func() (int, error) { return destroySocket(size) }
	var fd int
	var err error
	if lc.NetNS != "" {
		fd, err = socketInNetNS(lc.NetNS, open)
	} else {
		fd, err = open()
	}
	if err != nil {
		if lc.NetNS != "" {
			return nil, fmt.Errorf("sock_diag destroy notifications in network namespace %q: %w", lc.NetNS, err)
		}
		return nil, fmt.Errorf("sock_diag destroy notifications: %w", err)
	}
	rcvbuf, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	f := os.NewFile(uintptr(fd), "sock_diag destroy notifications")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("sock_diag destroy notifications: %w", err)
	}
	l := &Listener{f: f, rc: rc, r: NewReader(nil), rcvbuf: rcvbuf}
	l.readFn = l.readReady
	return l, nil
}

// destroySocket opens a non-blocking NETLINK_SOCK_DIAG socket with a
// receive buffer of size bytes, joined to the TCP destroy groups.
func destroySocket(size int) (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, size); err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError("setsockopt SO_RCVBUF", err)
		}
	}
	for _, g := range [...]struct {
		id   int
		name string
	}{
		{groupInetTCPDestroy, "SKNLGRP_INET_TCP_DESTROY"},
		{groupInet6TCPDestroy, "SKNLGRP_INET6_TCP_DESTROY"},
	} {
		if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, g.id); err != nil {
			unix.Close(fd)
			err = os.NewSyscallError("setsockopt NETLINK_ADD_MEMBERSHIP", err)
			if errors.Is(err, unix.EINVAL) {
				return -1, fmt.Errorf("joining multicast group %s (%d): %w (a kernel without destroy notifications?)", g.name, g.id, err)
			}
			return -1, fmt.Errorf("joining multicast group %s (%d): %w", g.name, g.id, err)
		}
	}
	return fd, nil
}

// Receive waits for destroy notifications and returns a Reader over those
// that have arrived: at least one datagram, and all that are queued and
// fit in the Reader's buffer. The Reader is owned by l and valid until the
// next call to Receive.
//
// When the kernel dropped notifications because the receive buffer was
// full, Receive returns [ErrOverrun] (after the notifications received
// before it, if any) and counts it in [Listener.Overruns]; the Listener
// stays usable. After Close, Receive returns an error matching
// [os.ErrClosed].
func (l *Listener) Receive() (*Reader, error) {
	if err := l.pending; err != nil {
		l.pending = nil
		return nil, err
	}
	buf := l.r.buf
	l.p, l.n, l.rerr = buf, 0, nil
	err := l.rc.Read(l.readFn)
	n, rerr := l.n, l.rerr
	l.p = nil
	if err != nil {
		if l.closed.Load() {
			err = os.ErrClosed
		}
		return nil, fmt.Errorf("sock_diag destroy notifications: %w", err)
	}
	if rerr != nil {
		if !errors.Is(rerr, ErrOverrun) {
			rerr = fmt.Errorf("sock_diag destroy notifications: %w", rerr)
		}
		if n == 0 {
			return nil, rerr
		}
		l.pending = rerr
	}
	l.r.resetBuffered(n)
	return l.r, nil
}

// resetBuffered makes r decode r.buf[:n], data put there by the caller,
// and nothing more.
func (r *Reader) resetBuffered(n int) {
	r.Reset(nil)
	r.end = n
	r.eof = true
}

// readReady receives the datagrams queued on fd into l.p. It returns false
// to wait for the socket to become readable, true when done.
func (l *Listener) readReady(fd uintptr) bool {
	for {
		q := l.p[l.n:]
		m, err := recvfrom(int(fd), q, unix.MSG_TRUNC|unix.MSG_DONTWAIT, &l.from, &l.fromN)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return l.n > 0
		case errors.Is(err, unix.ENOBUFS):
			l.overruns.Add(1)
			l.rerr = ErrOverrun
			return true
		case err != nil:
			l.rerr = os.NewSyscallError("recvfrom", err)
			return true
		case m > len(q):
			l.rerr = fmt.Errorf("%w: %d bytes into %d", ErrTruncated, m, len(q))
			return true
		}
		if l.from.Pid == 0 {
			l.n += m
		}
		if len(l.p)-l.n < minFree {
			return true
		}
	}
}

// Overruns returns how many times the kernel reported lost notifications
// (ENOBUFS) so far. It is safe to call from any goroutine.
func (l *Listener) Overruns() uint64 {
	return l.overruns.Load()
}

// ReceiveBuffer returns the size of the socket's receive buffer, as the
// kernel reports it (SO_RCVBUF): twice the size it granted.
func (l *Listener) ReceiveBuffer() int {
	return l.rcvbuf
}

// Close closes the socket. A pending Receive returns.
func (l *Listener) Close() error {
	l.closed.Store(true)
	return l.f.Close()
}
