package sockdiag

import (
	"errors"
	"fmt"
	"io"
	"net"
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
// ports, and holds them until stdin ends.
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
	}
	return fmt.Errorf("hold: unknown set %q", what)
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
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
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
	cookies := map[uint64]bool{}
	for r.Next() {
		s := r.Socket()
		if s.State == 1 && (s.Local.Port() == port || s.Remote.Port() == port) {
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
