package sockdiag

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role, os.Getenv(argsEnv)))
	}
	os.Exit(m.Run())
}

// runRole runs a helper process and returns its exit status.
func runRole(role, args string) int {
	var err error
	switch role {
	case "hold":
		err = holdSockets(args)
	case "dialnetns":
		err = roleDialNetNS(args)
	case "destroy":
		size, _ := strconv.Atoi(args)
		err = roleDestroy(size)
	case "churn":
		n, _ := strconv.Atoi(args)
		err = churn(n)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	return 0
}

// holdSockets opens the sockets that what names, prints "ready" and their
// ports, and holds them until stdin ends. For "fixtures", a line "close"
// on stdin closes the connections and answers "closed".
func holdSockets(what string) error {
	switch what {
	case "listen":
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer l.Close()
		fmt.Printf("ready port=%d inode=%d\n", l.Addr().(*net.TCPAddr).Port, inodeOf(l.(*net.TCPListener)))
		_, _ = io.Copy(io.Discard, os.Stdin)
		return nil
	case "fixtures":
		return holdFixtureSockets()
	}
	return fmt.Errorf("hold: unknown set %q", what)
}

// holdFixtureSockets holds the sockets of the captures in testdata: an
// IPv4, an IPv6 and a dual-stack listener, a connection to each (the IPv4
// one with 1000 unread bytes, the dual-stack one from IPv4 and so with
// IPv4-mapped addresses), and a TIME_WAIT socket.
func holdFixtureSockets() error {
	l4, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	l6, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return err
	}
	ld, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		return err
	}
	pair := func(network string, l net.Listener, addr string) (net.Conn, net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err != nil {
			return nil, nil, err
		}
		s, err := l.Accept()
		return c, s, err
	}
	c4, s4, err := pair("tcp4", l4, l4.Addr().String())
	if err != nil {
		return err
	}
	if _, err := c4.Write(make([]byte, 1000)); err != nil {
		return err
	}
	c6, s6, err := pair("tcp6", l6, l6.Addr().String())
	if err != nil {
		return err
	}
	cm, sm, err := pair("tcp4", ld, fmt.Sprintf("127.0.0.1:%d", ld.Addr().(*net.TCPAddr).Port))
	if err != nil {
		return err
	}
	ct, st, err := pair("tcp4", l4, l4.Addr().String())
	if err != nil {
		return err
	}
	ct.Close()
	time.Sleep(50 * time.Millisecond)
	st.Close()
	time.Sleep(50 * time.Millisecond)
	fmt.Printf("ready l4=%s l6=%s ld=%s\n", l4.Addr(), l6.Addr(), ld.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "close" {
			for _, c := range []net.Conn{c4, s4, c6, s6} {
				c.Close()
			}
			fmt.Println("closed")
		}
	}
	_ = []net.Conn{cm, sm}
	return nil
}

// roleDialNetNS tries DialNetNS(path) and prints the error.
func roleDialNetNS(path string) error {
	c, err := DialNetNS(path)
	if err == nil {
		c.Close()
		return fmt.Errorf("DialNetNS as uid %d succeeded", os.Getuid())
	}
	fmt.Printf("uid=%d eperm=%v err=%s\n", os.Getuid(), errors.Is(err, os.ErrPermission) && errors.Is(err, syscall.EPERM), err)
	return nil
}

// roleDestroy checks, as whoever runs it, that a Listener with a receive
// buffer of size bytes receives the notifications of connections it opens
// and closes, with the cookies a dump gave them.
func roleDestroy(size int) error {
	lc := ListenConfig{ReceiveBuffer: size}
	l, err := lc.ListenDestroyed()
	if err != nil {
		return err
	}
	defer l.Close()
	c, err := Dial()
	if err != nil {
		return err
	}
	defer c.Close()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var conns []net.Conn
	for range 5 {
		cl, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			return err
		}
		sv, err := ln.Accept()
		if err != nil {
			return err
		}
		conns = append(conns, cl, sv)
	}
	r, err := c.Sockets(Request{Family: AFInet})
	if err != nil {
		return err
	}
	// Ours by their addresses: other sockets of the host may share a port.
	ends := map[[2]netip.AddrPort]bool{}
	for _, cn := range conns {
		ends[[2]netip.AddrPort{cn.LocalAddr().(*net.TCPAddr).AddrPort(), cn.RemoteAddr().(*net.TCPAddr).AddrPort()}] = true
	}
	cookies := map[uint64]bool{}
	for r.Next() {
		if s := r.Socket(); ends[[2]netip.AddrPort{s.Local, s.Remote}] {
			cookies[s.Cookie] = false
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	if len(cookies) != len(conns) {
		return fmt.Errorf("dump found %d of our %d sockets", len(cookies), len(conns))
	}
	for _, cn := range conns {
		cn.Close()
	}
	got := 0
	deadline := time.AfterFunc(10*time.Second, func() { l.Close() })
	defer deadline.Stop()
	for got < len(conns) {
		r, err := l.Receive()
		if err != nil {
			return fmt.Errorf("after %d notifications: %w", got, err)
		}
		for r.Next() {
			s := r.Socket()
			if seen, ours := cookies[s.Cookie]; ours && !seen && s.State == 7 && s.UID == 0 && s.Inode == 0 {
				cookies[s.Cookie] = true
				got++
			}
		}
	}
	fmt.Printf("uid=%d matched=%d rcvbuf=%d\n", os.Getuid(), got, l.ReceiveBuffer())
	return nil
}

// churn opens n loopback connections and closes them, both ends, prints
// "done" and the listener's port, then waits for stdin to end.
func churn(n int) error {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	for range n {
		cl, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			return err
		}
		sv, err := ln.Accept()
		if err != nil {
			return err
		}
		_ = cl.(*net.TCPConn).SetLinger(0)
		cl.Close()
		sv.Close()
	}
	fmt.Printf("done port=%d\n", ln.Addr().(*net.TCPAddr).Port)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return ln.Close()
}
