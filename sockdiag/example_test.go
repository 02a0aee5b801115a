package sockdiag_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/tcpconn/telegraf-tcpconn/parser"
	"github.com/tcpconn/telegraf-tcpconn/sockdiag"
)

// Decode a reply stream saved to a file: here a capture of a LISTEN-only
// dump from the package's tests.
func ExampleReader() {
	f, err := os.Open("testdata/listen4.nl")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	r := sockdiag.NewReader(f)
	for r.Next() {
		s := r.Socket() // valid until the next call to Next
		fmt.Println(s.Local, s.State, "backlog limit", s.TxQueue, "inode", s.Inode)
	}
	if err := r.Err(); err != nil {
		fmt.Println(err)
	}
	fmt.Println("whole dump:", r.Done(), "malformed:", r.Malformed())
	// Output:
	// 127.0.0.1:34363 LISTEN backlog limit 4096 inode 127237
	// whole dump: true malformed: 0
}

// Dump the IPv4 listeners of this network namespace: the kernel applies the
// states mask while it walks its tables.
func ExampleConn_Sockets() {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	port := uint16(l.Addr().(*net.TCPAddr).Port)

	c, err := sockdiag.Dial()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	r, err := c.Sockets(sockdiag.Request{
		Family: sockdiag.AFInet,
		States: sockdiag.StateMask(parser.Listen),
		Info:   true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for r.Next() {
		s := r.Socket()
		if s.Local.Port() != port {
			continue
		}
		_, hasRTT := s.Info.RTT()
		fmt.Println(s.Local.Addr(), s.State, "tcp_info:", s.Info.Len() > 0, "rtt:", hasRTT)
	}
	if err := r.Err(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 127.0.0.1 LISTEN tcp_info: true rtt: true
}

// Dump the sockets of another network namespace, falling back to this
// one without CAP_SYS_ADMIN.
func ExampleDialNetNS() {
	c, err := sockdiag.DialNetNS("/proc/1/ns/net")
	if errors.Is(err, os.ErrPermission) {
		c, err = sockdiag.Dial()
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	r, err := c.Sockets(sockdiag.Request{Family: sockdiag.AFInet6})
	if err != nil {
		fmt.Println(err)
		return
	}
	n := 0
	for r.Next() {
		n++
	}
	fmt.Println(n, "sockets", r.Err())
}

// Receive the notifications of destroyed sockets in a goroutine, and stop
// it with Close.
func ExampleListener() {
	ln, err := sockdiag.ListenDestroyed()
	if err != nil {
		fmt.Println(err)
		return
	}
	notes := make(chan sockdiag.Socket, 64)
	go func() {
		defer close(notes)
		for {
			r, err := ln.Receive()
			if errors.Is(err, sockdiag.ErrOverrun) {
				continue // some were lost: ln.Overruns() counts them
			}
			if err != nil {
				return // closed
			}
			for r.Next() {
				notes <- *r.Socket()
			}
		}
	}()

	l, _ := net.Listen("tcp4", "127.0.0.1:0")
	client, _ := net.Dial("tcp4", l.Addr().String())
	server, _ := l.Accept()
	addr := func(a net.Addr) netip.AddrPort { return a.(*net.TCPAddr).AddrPort() }
	ours := map[[2]netip.AddrPort]bool{
		{addr(client.LocalAddr()), addr(client.RemoteAddr())}:            true,
		{addr(server.LocalAddr()), addr(server.RemoteAddr())}:            true,
		{addr(l.Addr()), netip.AddrPortFrom(netip.IPv4Unspecified(), 0)}: true,
	}
	client.Close()
	server.Close()
	l.Close()

	// Both ends and the listener; other sockets of the host come too.
	timeout := time.After(10 * time.Second)
	for seen := 0; seen < 3; {
		select {
		case s := <-notes:
			if ours[[2]netip.AddrPort{s.Local, s.Remote}] {
				seen++
				fmt.Println(s.State, "inode", s.Inode, "tcp_info", s.Info.Len() > 0)
			}
		case <-timeout:
			fmt.Println("timeout")
			seen = 3
		}
	}
	ln.Close()
	for range notes {
	}
	// Output:
	// CLOSE inode 0 tcp_info true
	// CLOSE inode 0 tcp_info true
	// CLOSE inode 0 tcp_info true
}

func ExampleStateMask() {
	fmt.Printf("%#x\n", sockdiag.StateMask(parser.Listen, parser.Established))
	// Output: 0x402
}

// Read a connection's tcp_info: each accessor says whether the kernel's
// struct has the field.
func ExampleTCPInfo() {
	l, _ := net.Listen("tcp4", "127.0.0.1:0")
	defer l.Close()
	client, _ := net.Dial("tcp4", l.Addr().String())
	defer client.Close()
	server, _ := l.Accept()
	defer server.Close()
	go func() {
		_, _ = io.ReadFull(server, make([]byte, 100000))
		_, _ = server.Write([]byte{1}) // carries the ACK of every byte
	}()
	_, _ = client.Write(make([]byte, 100000))
	_, _ = io.ReadFull(client, make([]byte, 1))

	c, err := sockdiag.Dial()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	r, err := c.Sockets(sockdiag.Request{Family: sockdiag.AFInet, States: sockdiag.StateMask(parser.Established), Info: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	local := client.LocalAddr().(*net.TCPAddr).AddrPort()
	for r.Next() {
		s := r.Socket()
		if s.Local != local {
			continue
		}
		rtt, ok := s.Info.RTT()
		if !ok {
			continue // no INET_DIAG_INFO, or a struct too short for tcpi_rtt
		}
		acked, _ := s.Info.BytesAcked()
		_, known := s.Info.TotalRetrans()
		fmt.Println("rtt below 1s:", time.Duration(rtt)*time.Microsecond < time.Second,
			"acked:", acked >= 100000, "retransmissions known:", known)
	}
	// Output: rtt below 1s: true acked: true retransmissions known: true
}
