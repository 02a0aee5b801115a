//go:build linux

package tcpconn

import (
	"net/netip"
	"time"

	"github.com/tcpconn/telegraf-tcpconn/parser"
	"github.com/tcpconn/telegraf-tcpconn/sockdiag"
)

// sock is one row of a kernel table, from any source: the fields that
// /proc/net/tcp prints, and what only some sources know. The stages read
// it without knowing which source it came from.
type sock struct {
	*parser.Socket
	// cookie is the kernel's socket cookie, 0 when the source does not
	// tell it.
	cookie uint64
	// cgroupID is the cgroup v2 of the socket's creator, 0 when the
	// source does not tell it.
	cgroupID uint64
	// info is the kernel's tcp_info, nil when the source does not tell it.
	info *sockdiag.TCPInfo
}

// owner is one process and descriptor that holds a row's socket.
type owner struct {
	pid       int32
	fd        int32
	start     uint64 // the process's start time, to tell a reused pid
	name      string
	container string
}

// row is one socket of this gather as the join hands it to the stages:
// the table row, enriched with its owners, its direction and what the
// tracker knows of its past.
type row struct {
	sock
	netns uint64   // 0 with namespaces = "host"
	table tableKey // the table the row came from
	// ports are the listeners of the row's namespace seen so far: the
	// kernel lists a table's listeners before its connections.
	ports *directions
	// owners are the socket's owners, from this gather's walk or, when
	// the walk could not read the last known owner, that owner (stale).
	// None: unowned.
	owners []owner
	stale  bool
	dir    dirCode
	// age is the time since the socket was first seen; negative when it
	// is not tracked.
	age  time.Duration
	past past
}

// past is what changed since the last gather, as the tracker saw it.
type past struct {
	change change
	from   parser.State // the previous state, for stateChanged
	first  time.Time    // first seen
	// ended is the socket the same key named before, for reopened.
	ended gone
}

type change uint8

const (
	unchanged    change = iota
	opened              // new since a gather that read its table whole
	stateChanged        // its state differs from the last gather's
	reopened            // its owner's pid now names a new process: the old socket ended, a new one began
)

// gone is a socket that ended, as the tracker last knew it.
type gone struct {
	netns         uint64
	inode         uint64
	cookie        uint64
	local, remote netip.AddrPort
	state         parser.State
	dir           dirCode
	owner         owner     // pid 0: unknown
	first         time.Time // zero: never seen by a gather
	// With the kernel's destroy notification: its last tcp_info, and
	// whether no gather had seen it (born and gone between two).
	final      *finalInfo
	notified   bool
	shortLived bool
	// glimpsed: one gather listed it, without owner, and no other did: it
	// was made after that gather's owner walk, and gone before the next.
	glimpsed bool
	// listener, for a short-lived socket accepted from a listener the
	// gather knows, is that listener's owner: which process, as far as
	// the kernel's tables tell, it served. Summaries count it there.
	listener *owner
}

// familyOf names the address family of an address, as the family tag
// does: an IPv4-mapped IPv6 address is ipv6, as the kernel lists it.
func familyOf(a netip.Addr) string {
	return family(!a.Is4())
}

func family(v6 bool) string {
	if v6 {
		return "ipv6"
	}
	return "ipv4"
}
