package parser

import "net/netip"

// Socket is one row of /proc/net/tcp or /proc/net/tcp6.
type Socket struct {
	// Slot is the row's number, the "sl" column. It is a position in the
	// listing, not a stable identifier.
	Slot uint64
	// Local is the local address and port. For tcp rows the address is IPv4
	// (Is4); for tcp6 rows it is IPv6, including IPv4-mapped addresses such
	// as ::ffff:127.0.0.1, which are not unmapped.
	Local netip.AddrPort
	// Remote is the remote address and port, of the same family as Local.
	Remote netip.AddrPort
	// State is the TCP state.
	State State
	// TxQueue is the send queue: bytes not yet acknowledged; 0 for a
	// listening socket.
	TxQueue uint32
	// RxQueue is the receive queue: bytes not yet read, or for a listening
	// socket the accept backlog.
	RxQueue uint32
	// Timer is the kind of pending timer: 0 none, 1 retransmit or probe,
	// 2 keepalive (or another timer), 3 TIME_WAIT, 4 zero window probe.
	Timer uint8
	// TimerExpires is the time until the timer expires, as printed: clock
	// ticks (USER_HZ, usually 100 a second), which the kernel's
	// documentation calls jiffies. It is 0 when it has expired.
	TimerExpires uint64
	// Retransmits is the count of unrecovered retransmit timeouts.
	Retransmits uint32
	// UID is the owner's user id, as seen from the reader's user namespace.
	UID uint32
	// Timeout is the count of unanswered zero window probes.
	Timeout uint32
	// Inode is the socket's inode number, which links it to a file
	// descriptor (/proc/<pid>/fd/* -> "socket:[<Inode>]"). It is 0 for
	// TIME_WAIT and request (NEW_SYN_RECV) sockets, which own no file; such
	// rows are normal rows.
	Inode uint64
}
