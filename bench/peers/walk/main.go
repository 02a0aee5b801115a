//go:build linux

// Command walk is the owner walk of a gather alone, for the scale
// benchmark: it finds the owners of every socket on the host, as tcpconn's
// walks do, and prints what it found and, in nanoseconds, what setting the
// walk up and the walks took. With -walk procfs it reads every
// /proc/<pid>/fd (resolver, on GOMAXPROCS workers); with bpf it loads the
// BPF iterator (bpfwalk). The load, which the shim pays once at start and
// not per gather, is timed apart from the walks: a first one, which
// allocates the table, and a second, which reuses it as every later
// gather of the agent does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tcpconn/telegraf-tcpconn/bpfwalk"
	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

type walker interface {
	Walk(ctx context.Context) (*resolver.Table, error)
}

func main() {
	which := flag.String("walk", "procfs", "procfs or bpf")
	flag.Parse()
	if err := run(*which); err != nil {
		fmt.Fprintln(os.Stderr, "walk:", err)
		os.Exit(1)
	}
}

func run(which string) error {
	start := time.Now()
	var w walker
	switch which {
	case "procfs":
		r, err := resolver.New(resolver.Options{ProcRoot: "/proc"})
		if err != nil {
			return err
		}
		w = r
	case "bpf":
		b, err := bpfwalk.New(bpfwalk.Options{ProcRoot: "/proc"})
		if err != nil {
			return err
		}
		defer b.Close()
		w = b
	default:
		return fmt.Errorf("unknown -walk %q", which)
	}
	load := time.Since(start)
	// The first walk allocates the table; the agent's later walks reuse it,
	// as the second does.
	var tab *resolver.Table
	var times [2]time.Duration
	for i := range times {
		start = time.Now()
		t, err := w.Walk(context.Background())
		times[i] = time.Since(start)
		// Processes it may not read cost those processes only: pid 1 is
		// hidden from the iterators on some hosts.
		var denied *resolver.DeniedError
		if err != nil && !errors.As(err, &denied) {
			return err
		}
		tab = t
	}
	fmt.Printf("owned %d load_ns=%d first_walk_ns=%d walk_ns=%d\n", tab.Stats.Sockets, load.Nanoseconds(), times[0].Nanoseconds(), times[1].Nanoseconds())
	return nil
}
