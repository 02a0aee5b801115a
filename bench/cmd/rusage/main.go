//go:build linux

// Command rusage runs a command and writes its wall time and its rusage from
// wait4 to descriptor 3, as "wall_ns user_ns sys_ns maxrss_kib exit_code".
//
// The scale harness runs every peer through it because of how Linux counts
// ru_maxrss: execve(2) folds the high-water RSS of the memory it replaces
// into the new program's, and Go starts children with vfork, whose memory
// is the parent's. A peer started straight from the harness would report at
// least the harness's own peak (tens of MiB after it has read 200k lines of
// output). This wrapper is small, so the floor it sets on ru_maxrss is its
// own few MiB, and the harness prints that floor.
//
//	rusage ss -tanp 3>usage.txt
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: rusage command [args...] 3>file")
		os.Exit(2)
	}
	report := os.NewFile(3, "report")
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if cmd.ProcessState == nil {
		fmt.Fprintf(os.Stderr, "rusage: %v\n", err)
		os.Exit(127)
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if ru == nil {
		ru = new(syscall.Rusage)
	}
	code := cmd.ProcessState.ExitCode()
	if _, err := fmt.Fprintf(report, "%d %d %d %d %d\n", wall.Nanoseconds(),
		ru.Utime.Nano(), ru.Stime.Nano(), ru.Maxrss, code); err != nil {
		fmt.Fprintf(os.Stderr, "rusage: writing the report to fd 3: %v\n", err)
		os.Exit(126)
	}
	os.Exit(code)
}
