//go:build linux

// Command table is the table phase of a gather alone, for the scale
// benchmark: it reads the IPv4 and IPv6 TCP tables whole, as tcpconn's
// sources do, and prints the rows it read. With -source procfs it parses
// /proc/net/tcp and tcp6 (parser); with netlink it takes a sock_diag dump
// of each family (sockdiag), with -info also each socket's tcp_info.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tcpconn/telegraf-tcpconn/parser"
	"github.com/tcpconn/telegraf-tcpconn/sockdiag"
)

func main() {
	source := flag.String("source", "procfs", "procfs or netlink")
	info := flag.Bool("info", false, "with netlink: request tcp_info")
	flag.Parse()
	var rows int
	var err error
	switch *source {
	case "procfs":
		rows, err = procfs()
	case "netlink":
		rows, err = netlink(*info)
	default:
		err = fmt.Errorf("unknown -source %q", *source)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "table:", err)
		os.Exit(1)
	}
	fmt.Printf("rows %d\n", rows)
}

func procfs() (int, error) {
	r := parser.NewReader(nil)
	rows := 0
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(name)
		if err != nil {
			return rows, err
		}
		r.Reset(f)
		for r.Next() {
			rows++
		}
		f.Close()
		if err := r.Err(); err != nil {
			return rows, fmt.Errorf("%s: %w", name, err)
		}
	}
	return rows, nil
}

func netlink(info bool) (int, error) {
	c, err := sockdiag.Dial()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	rows := 0
	for _, family := range []uint8{sockdiag.AFInet, sockdiag.AFInet6} {
		r, err := c.Sockets(sockdiag.Request{Family: family, Info: info})
		if err != nil {
			return rows, err
		}
		for r.Next() {
			rows++
		}
		if err := r.Err(); err != nil {
			return rows, err
		}
		if !r.Done() {
			return rows, fmt.Errorf("family %d: the dump ended early", family)
		}
	}
	return rows, nil
}
