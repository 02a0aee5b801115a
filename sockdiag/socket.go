package sockdiag

import "github.com/tcpconn/telegraf-tcpconn/parser"

// Socket is one socket of a dump or of a destroy notification: the kernel's
// struct inet_diag_msg and the attributes that follow it.
//
// The embedded [parser.Socket] holds what /proc/net/tcp prints, decoded the
// way the parser gives it:
//
//   - Local and Remote are IPv4 addresses for AF_INET sockets, and IPv6
//     addresses for AF_INET6 sockets, IPv4-mapped ones (::ffff:127.0.0.1)
//     included, which stay mapped.
//   - State is idiag_state. A request socket (NEW_SYN_RECV in the kernel's
//     hash tables) is reported as SYN_RECV, and a TIME_WAIT socket with its
//     sub-state, TIME_WAIT or FIN_WAIT2, as /proc/net/tcp does.
//   - TxQueue and RxQueue are idiag_wqueue and idiag_rqueue: bytes not yet
//     acknowledged and bytes not yet read. For a listening socket RxQueue is
//     the accept backlog and TxQueue its limit (the backlog passed to
//     listen, capped by net.core.somaxconn), where /proc/net/tcp prints 0.
//   - Timer is idiag_timer, with the codes of /proc/net/tcp's "tr" column:
//     0 none, 1 retransmit (or loss probe), 2 keepalive, 3 TIME_WAIT,
//     4 zero window probe.
//   - TimerExpires is idiag_expires, which the kernel gives in
//     milliseconds, converted to the clock ticks (USER_HZ, 100 a second)
//     that /proc/net/tcp prints: milliseconds / 10, rounded down.
//   - Retransmits is idiag_retrans: the count of retransmit timeouts when
//     Timer is 1, but the count of unanswered probes (what /proc/net/tcp
//     prints in its "timeout" column) when Timer is 2 or 4, and 0 otherwise.
//   - UID is the owner's user id, as seen from the user namespace of the
//     process that opened the netlink socket; Inode is the socket's inode.
//     Both are 0 for TIME_WAIT and request sockets and in destroy
//     notifications. A connection waiting in a listener's accept queue
//     has no file yet: Inode 0, and the listener's UID.
//   - Slot and Timeout are always 0: Slot is the row number of the
//     /proc/net/tcp listing, which a netlink dump does not have, and the
//     kernel sends no separate probe count (see Retransmits).
type Socket struct {
	parser.Socket

	// Family is the socket's address family, 2 (AF_INET) or 10 (AF_INET6).
	// An AF_INET6 socket may have IPv4-mapped addresses.
	Family uint8
	// Shutdown is INET_DIAG_SHUTDOWN: bit 0 (1) is set when the socket
	// will receive no more data, bit 1 (2) when it will send no more
	// (shutdown(2), or a FIN sent or received). It is 0 when absent: the
	// kernel sends it for full sockets, not for TIME_WAIT or request
	// sockets, nor in destroy notifications.
	Shutdown uint8
	// Interface is idiag_if, the index of the network interface the socket
	// is bound to (SO_BINDTODEVICE), or 0.
	Interface uint32
	// Cookie is the socket cookie, idiag_cookie[0] | idiag_cookie[1]<<32:
	// a number the kernel gives a socket the first time it is asked for
	// it (by a dump, SO_COOKIE, BPF) and keeps until the socket is freed,
	// never reused. It is what `ss -e` prints, in lower-case hex without
	// 0x, as "sk:2b". A TIME_WAIT socket inherits the cookie of the
	// socket it replaces if that one had been given one already.
	Cookie uint64
	// CgroupID is INET_DIAG_CGROUP_ID, the id of the socket's cgroup v2
	// (the inode number of its directory in the cgroup2 file system, which
	// `ss --cgroup` resolves to a path), or 0 when absent. Recent kernels
	// (5.7 and later) send it for every full socket.
	CgroupID uint64
	// Info is INET_DIAG_INFO, the kernel's struct tcp_info, when the dump
	// asked for it (Request.Info) and always in destroy notifications.
	// Info.Len() is 0 when absent, as for TIME_WAIT and request sockets.
	Info TCPInfo
}
