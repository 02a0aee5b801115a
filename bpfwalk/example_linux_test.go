//go:build linux

package bpfwalk_test

import (
	"context"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/tcpconn/telegraf-tcpconn/bpfwalk"
	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// Find the owners of a listener with the bpf walk where it can run (root,
// or CAP_BPF and CAP_PERFMON, and /proc the initial pid namespace's), else
// with the /proc walk: both fill the same Table.
func Example() {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	dup, err := l.(*net.TCPListener).File() // a second descriptor of it
	if err != nil {
		fmt.Println(err)
		return
	}
	defer dup.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(dup.Fd()), &st); err != nil {
		fmt.Println(err)
		return
	}

	var walk func(context.Context) (*resolver.Table, error)
	if w, err := bpfwalk.New(bpfwalk.Options{ProcRoot: "/proc"}); err == nil {
		defer w.Close()
		walk = w.Walk
	} else {
		// The reason is in err: say, "bpf walk: loading the task_file
		// iterator needs CAP_BPF and CAP_PERFMON (or root): ...".
		r, err := resolver.New(resolver.Options{ProcRoot: "/proc"})
		if err != nil {
			fmt.Println(err)
			return
		}
		walk = r.Walk
	}
	// An error tells of processes not walked, which Table.Unwalked
	// lists; this one is walked.
	tab, _ := walk(context.Background())

	i, j := tab.Lookup(st.Ino)
	for _, o := range tab.Owners[i:j] {
		p := tab.Procs[o.Proc]
		fmt.Println("held by this process:", p.PID == int32(os.Getpid()))
	}
	// Output:
	// held by this process: true
	// held by this process: true
}
