package testchild

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

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

// HoldSockets is the body of a child that holds sockets for a walk to find:
// a v4 loopback listener, client and server end, the same on v6 where the
// host has ::1, a dup of the listener on highFD and, with shared, the
// socket its parent passed on fd 3 (ExtraFiles[0]), which it then must
// have. It prints each as "sock <fd> <inode>", then "ready", and holds them
// until its stdin closes. ReadSocks is the parent's side.
func HoldSockets(highFD int, shared bool) error {
	closers, socks, err := OpenLoopback("tcp4", "127.0.0.1:0")
	defer CloseAll(closers)
	if err != nil {
		return err
	}
	if c6, s6, err := OpenLoopback("tcp6", "[::1]:0"); err == nil {
		defer CloseAll(c6)
		socks = append(socks, s6...)
	}
	if err := unix.Dup3(int(socks[0].FD), highFD, unix.O_CLOEXEC); err != nil {
		return err
	}
	socks = append(socks, Sock{FD: int32(highFD), Inode: socks[0].Inode})
	s3, err := SockOf(3)
	switch {
	case err == nil:
		socks = append(socks, s3)
	case shared:
		return err
	}
	for _, s := range socks {
		fmt.Printf("sock %d %d\n", s.FD, s.Inode)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// ReadSocks reads what HoldSockets prints, up to "ready".
func ReadSocks(t testing.TB, stdout *bufio.Reader) []Sock {
	t.Helper()
	var socks []Sock
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 1 && f[0] == "ready" {
			return socks
		}
		if len(f) != 3 || f[0] != "sock" {
			t.Fatalf("child said %q", sc.Text())
		}
		fd, err1 := strconv.ParseInt(f[1], 10, 32)
		ino, err2 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("child said %q", sc.Text())
		}
		socks = append(socks, Sock{FD: int32(fd), Inode: ino})
	}
	t.Fatalf("child ended before it was ready: %v", sc.Err())
	return nil
}
