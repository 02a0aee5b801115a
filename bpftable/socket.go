package bpftable

import "github.com/tcpconn/telegraf-tcpconn/parser"

// Socket is one socket of the kernel's TCP table.
//
// The embedded [parser.Socket] reads as the socket's row of /proc/net/tcp
// (Family 2) or /proc/net/tcp6 (Family 10) does, field by field, as the
// kernel computes them for its text (get_tcp4_sock, get_timewait4_sock and
// get_openreq4 in net/ipv4/tcp_ipv4.c, and their IPv6 twins):
//
//   - Local and Remote are IPv4 addresses for AF_INET sockets and IPv6
//     ones for AF_INET6 sockets, IPv4-mapped ones included, which stay
//     mapped.
//   - State is the TCP state, SYN_RECV for a request socket and TIME_WAIT
//     or FIN_WAIT2 for a TIME_WAIT socket.
//   - TimerExpires is in clock ticks (USER_HZ), computed from the kernel's
//     jiffies as /proc does.
//   - UID is from the user namespace of the reader. Inode is 0 for
//     TIME_WAIT and request sockets, and for a connection still in its
//     listener's accept queue.
//   - Slot is the row's number among the rows of its family, counted in
//     the order of the walk, which is the order of /proc: it is the "sl"
//     of /proc if the table does not change in between.
//
// Socket is not sockdiag.Socket, whose fields read as the netlink dump
// gives them (TxQueue of a listener, Retransmits that counts probes): this
// one reads as /proc, so that a caller can take either source of rows.
type Socket struct {
	parser.Socket

	// Family is the socket's address family, 2 (AF_INET) or 10
	// (AF_INET6). An AF_INET6 socket may have IPv4-mapped addresses.
	Family uint8
	// Cookie is the socket cookie, as sockdiag.Socket.Cookie and
	// SO_COOKIE give it: the walk gives every socket one if it had none
	// yet, as a sock_diag dump does. It is 0 on an older kernel whose
	// iterator programs cannot ask for it (bpf_get_socket_cookie). Of a
	// Go listener (MPTCP by default since Go 1.24) it is the cookie of
	// its TCP subflow, which sock_diag gives, not the SO_COOKIE of its
	// descriptor, the MPTCP socket's.
	Cookie uint64
}

// The address families of [Socket.Family].
const (
	AFInet  = 2
	AFInet6 = 10
)
