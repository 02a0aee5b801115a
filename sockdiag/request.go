package sockdiag

import "github.com/tcpconn/telegraf-tcpconn/parser"

// Address families, with their Linux values, for [Request.Family] and
// [Socket.Family]. On Linux they equal unix.AF_INET and unix.AF_INET6.
const (
	AFInet  = 2
	AFInet6 = 10
)

// Request selects the sockets of a dump ([Conn.Dump], [Conn.Sockets]).
type Request struct {
	// Family is the address family to dump, [AFInet] or [AFInet6]. An
	// AF_INET6 dump includes dual-stack sockets with IPv4-mapped
	// addresses; an AF_INET dump does not.
	Family uint8
	// States is a bitmask of the states to dump, bit 1<<s for state s
	// (see [StateMask]); 0 means [AllStates], those /proc/net/tcp lists.
	// The kernel applies it while it walks its tables, so sockets in other
	// states cost nothing. It adds request sockets to a mask with
	// SYN_RECV, and matches TIME_WAIT sockets by their sub-state
	// (TIME_WAIT or FIN_WAIT2).
	States uint32
	// Info asks for each socket's struct tcp_info (INET_DIAG_INFO), which
	// makes each message about 4 times larger.
	Info bool
}

// AllStates is the mask of every state /proc/net/tcp lists: ESTABLISHED
// (1) to CLOSING (11), and NEW_SYN_RECV (12), the request sockets, which
// it prints as SYN_RECV. Not bit 13, TCP_BOUND_INACTIVE: from Linux 6.7
// that asks for the sockets that are bound and neither listen nor
// connect, which /proc/net/tcp does not list, and the kernel finds them
// by a second walk, over its bind hash, which made a dump of 200k
// sockets cost a third more.
const AllStates uint32 = 1<<13 - 1<<1

// StateMask returns the [Request.States] bitmask that selects the given
// states. States above 31 do not fit in the mask and are ignored.
func StateMask(states ...parser.State) uint32 {
	var m uint32
	for _, s := range states {
		if s < 32 {
			m |= 1 << s
		}
	}
	return m
}
