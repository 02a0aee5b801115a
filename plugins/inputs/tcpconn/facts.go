//go:build linux

package tcpconn

import (
	"slices"

	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// tableKey names one kernel table: the IPv4 or the IPv6 table of one
// network namespace.
type tableKey struct {
	netns uint64
	v6    bool
}

// tableRead says how much of a table a gather read.
type tableRead uint8

const (
	readNone    tableRead = iota // could not be opened, or absent
	readPartial                  // stopped by the deadline, an I/O error or malformed rows
	readWhole                    // every row, each one parsed
)

// facts are what one gather proved, from which events, ages and summaries
// are decided: which tables it read whole, and what the walk found. A table
// read whole proves which sockets it lists and which it does not. A table
// read partly, or not at all, proves nothing about a socket it does not
// list. A process the walk could not read (resolver.Table.Unwalked) proves
// nothing about the sockets it owns.
type facts struct {
	// tables holds every table the gather tried, and how much of it was
	// read.
	tables map[tableKey]tableRead
	walk   *resolver.Table
}

func (f *facts) reset(walk *resolver.Table) {
	if f.tables == nil {
		f.tables = make(map[tableKey]tableRead)
	}
	clear(f.tables)
	f.walk = walk
}

// held reports whether a process walked this gather holds the socket.
func (f *facts) held(inode uint64) bool {
	i, j := f.walk.Lookup(inode)
	return i < j
}

// unwalked reports whether pid, last known to have started at start (0:
// unknown), is there but could not be walked this gather: then it may
// still own what it owned. A new start time on the same pid is a new
// process, which owns none of the old one's sockets.
func (f *facts) unwalked(pid int32, start uint64) bool {
	u, ok := f.walk.FindUnwalked(pid)
	return ok && (u.StartTime == 0 || start == 0 || u.StartTime == start)
}

// walked reports whether pid was walked this gather and owns a socket.
func (f *facts) walked(pid int32) bool {
	_, ok := slices.BinarySearchFunc(f.walk.Procs, pid, func(p resolver.Process, pid int32) int { return int(p.PID - pid) })
	return ok
}
