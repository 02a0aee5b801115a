//go:build linux

package resolver_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// Walk a small proc tree: nginx forked a worker that inherited its listener
// (socket 1001) and accepted a connection (socket 1002), which the worker
// also dup'd. Every owner of each socket is reported, in order.
func Example() {
	root, err := os.MkdirTemp("", "proc-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(root)

	for _, p := range []struct {
		pid, comm string
		fds       [][2]string // fd, link target
	}{
		{"100", "nginx", [][2]string{{"0", "/dev/null"}, {"6", "socket:[1001]"}}},
		{"101", "nginx", [][2]string{{"6", "socket:[1001]"}, {"7", "socket:[1002]"}, {"9", "socket:[1002]"}, {"8", "pipe:[7]"}}},
		{"200", "sshd", [][2]string{{"3", "socket:[2001]"}}},
	} {
		fd := filepath.Join(root, p.pid, "fd")
		if err := os.MkdirAll(fd, 0o755); err != nil {
			fmt.Println(err)
			return
		}
		if err := os.WriteFile(filepath.Join(root, p.pid, "comm"), []byte(p.comm+"\n"), 0o644); err != nil {
			fmt.Println(err)
			return
		}
		for _, l := range p.fds {
			if err := os.Symlink(l[1], filepath.Join(fd, l[0])); err != nil {
				fmt.Println(err)
				return
			}
		}
	}

	r, err := resolver.New(resolver.Options{
		ProcRoot: root,
		Match:    func(name string) bool { return name == "nginx" },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	tab, err := r.Walk(context.Background())
	if err != nil {
		fmt.Println(err)
	}
	for _, o := range tab.Owners {
		fmt.Printf("socket %d: pid %d (%s) fd %d\n", o.Inode, o.PID, tab.Procs[o.Proc].Name, o.FD)
	}
	i, j := tab.Lookup(1002)
	fmt.Println("owners of 1002:", j-i)
	s := tab.Stats
	fmt.Printf("processes %d, skipped %d, fds %d, sockets %d\n", s.Processes, s.Skipped, s.FDs, s.Sockets)
	// Output:
	// socket 1001: pid 100 (nginx) fd 6
	// socket 1001: pid 101 (nginx) fd 6
	// socket 1002: pid 101 (nginx) fd 7
	// socket 1002: pid 101 (nginx) fd 9
	// owners of 1002: 2
	// processes 2, skipped 1, fds 6, sockets 4
}
