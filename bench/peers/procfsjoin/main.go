// Command procfsjoin is a peer of the scale benchmark: the naive join a Go
// programmer writes with github.com/prometheus/procfs. It lists every
// process with AllProcs, reads its descriptor targets with
// FileDescriptorTargets, keeps the socket inodes in a map, reads the tables
// with NetTCP and NetTCP6, and prints the number of (socket, owner) pairs.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
)

type owner struct {
	pid int
	fd  int
}

func main() {
	fs, err := procfs.NewFS(procfs.DefaultMountPoint)
	if err != nil {
		fail(err)
	}
	procs, err := fs.AllProcs()
	if err != nil {
		fail(err)
	}
	owners := make(map[uint64][]owner)
	for _, p := range procs {
		targets, err := p.FileDescriptorTargets()
		if err != nil {
			continue // gone, or not ours to read
		}
		for fd, t := range targets {
			s, ok := strings.CutPrefix(t, "socket:[")
			if !ok {
				continue
			}
			inode, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64)
			if err != nil {
				continue
			}
			// FileDescriptorTargets gives targets in the order of the fd
			// directory; the index stands in for the fd number.
			owners[inode] = append(owners[inode], owner{pid: p.PID, fd: fd})
		}
	}
	var pairs, rows int
	for _, read := range []func() (procfs.NetTCP, error){fs.NetTCP, fs.NetTCP6} {
		tab, err := read()
		if err != nil {
			fail(err)
		}
		rows += len(tab)
		for _, line := range tab {
			pairs += len(owners[line.Inode])
		}
	}
	fmt.Printf("owned %d rows %d\n", pairs, rows)
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "procfsjoin: %v\n", err)
	os.Exit(1)
}
