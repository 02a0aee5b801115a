//go:build linux

// Command loadgen holds N established loopback TCP connections (2N sockets)
// spread over child processes, until stdin closes or it is interrupted. It
// prints the pids of the children once every one is ready. The scale
// harness (bench/scale) uses it as the executable of its load children.
//
//	loadgen -n 100000
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tcpconn/telegraf-tcpconn/bench/loadgen"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == loadgen.ChildFlag {
		if err := loadgen.RunChild(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "loadgen child: %v\n", err)
			os.Exit(1)
		}
		return
	}
	n := flag.Int("n", 1000, "established connections to hold (2n sockets)")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
}

func run(n int) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	l, err := loadgen.Start(ctx, exe, loadgen.Plan(n))
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Printf("ready: %d connections, %d sockets in %d children %v, in %v\n",
		l.Conns(), l.Sockets(), len(l.PIDs), l.PIDs, l.Ready.Round(time.Millisecond))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	select {
	case <-stop:
	case <-eof:
	}
	return nil
}
