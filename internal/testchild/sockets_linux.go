package testchild

import (
	"fmt"
	"io"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// Sock is one socket descriptor a process holds, and its socket's inode.
type Sock struct {
	FD    int32
	Inode uint64
}

// FDOf returns the descriptor behind a net.Listener or net.Conn.
func FDOf(c any) (int32, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, fmt.Errorf("%T has no SyscallConn", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var fd int32
	if err := raw.Control(func(f uintptr) { fd = int32(f) }); err != nil {
		return 0, err
	}
	return fd, nil
}

// SockOf returns the descriptor and the fstat inode of a socket descriptor.
func SockOf(fd int32) (Sock, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return Sock{}, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return Sock{}, fmt.Errorf("fd %d is not a socket", fd)
	}
	return Sock{FD: fd, Inode: st.Ino}, nil
}

// OpenLoopback opens a listener on addr ("127.0.0.1:0" or "[::1]:0"), a
// client connected to it and the accepted server end, and returns them with
// their sockets.
func OpenLoopback(network, addr string) (closers []io.Closer, socks []Sock, err error) {
	l, err := net.Listen(network, addr)
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, l)
	c, err := net.Dial(network, l.Addr().String())
	if err != nil {
		return closers, nil, err
	}
	closers = append(closers, c)
	s, err := l.Accept()
	if err != nil {
		return closers, nil, err
	}
	closers = append(closers, s)
	for _, x := range []any{l, c, s} {
		fd, err := FDOf(x)
		if err != nil {
			return closers, nil, err
		}
		so, err := SockOf(fd)
		if err != nil {
			return closers, nil, err
		}
		socks = append(socks, so)
	}
	return closers, socks, nil
}

// CloseAll closes each of cs.
func CloseAll(cs []io.Closer) {
	for _, c := range cs {
		c.Close()
	}
}
