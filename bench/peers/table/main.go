//go:build linux

// Command table is the table phase of a gather alone, for the scale
// benchmark: it reads the IPv4 and IPv6 TCP tables whole, as tcpconn's
// sources do, and prints the rows it read. With -source procfs it parses
// /proc/net/tcp and tcp6 (parser); with netlink it takes a sock_diag dump
// of each family (sockdiag), with -info also each socket's tcp_info; with
// bpf it walks both families with the BPF iterator (bpftable), and prints
// the time of its load and of its read apart.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tcpconn/telegraf-tcpconn/bpftable"
	"github.com/tcpconn/telegraf-tcpconn/parser"
	"github.com/tcpconn/telegraf-tcpconn/sockdiag"
)

func main() {
	source := flag.String("source", "procfs", "procfs, netlink or bpf")
	info := flag.Bool("info", false, "with netlink: request tcp_info")
	flag.Parse()
	var rows int
	var err error
	switch *source {
	case "procfs":
		rows, err = procfs()
	case "netlink":
		rows, err = netlink(*info)
	case "bpf":
		var load, read time.Duration
		rows, load, read, err = bpf()
		if err == nil {
			fmt.Printf("rows %d load_ns=%d read_ns=%d\n", rows, load.Nanoseconds(), read.Nanoseconds())
			return
		}
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

func bpf() (rows int, load, read time.Duration, err error) {
	start := time.Now()
	t, err := bpftable.New()
	if err != nil {
		return 0, 0, 0, err
	}
	defer t.Close()
	load = time.Since(start)
	start = time.Now()
	r, err := t.Open()
	if err != nil {
		return 0, load, 0, err
	}
	defer r.Close()
	for r.Next() {
		rows++
	}
	return rows, load, time.Since(start), r.Err()
}
