// Package sockdiag reads the kernel's TCP socket tables through netlink
// NETLINK_SOCK_DIAG, the binary interface `ss` uses, and receives the
// kernel's notifications of destroyed TCP sockets, what `ss -E` shows.
// It is the binary twin of package parser, which reads the same tables as
// text from /proc/net/tcp and /proc/net/tcp6.
//
// The interface is described in sock_diag(7)
// (https://man7.org/linux/man-pages/man7/sock_diag.7.html) and netlink(7),
// and defined by the kernel's include/uapi/linux/sock_diag.h,
// inet_diag.h and tcp.h (struct tcp_info); the kernel side is
// net/core/sock_diag.c, net/ipv4/inet_diag.c and net/ipv4/tcp_diag.c, and
// iproute2's misc/ss.c is its best-known user. The package uses raw
// system calls and golang.org/x/sys/unix, no netlink library.
//
// # Reading and decoding
//
// A [Conn] sends a dump request; the reply is a [Dump], an [io.Reader] of
// netlink messages; a [Reader] decodes them into a [Socket] each, and can
// equally decode a reply saved to a file. [Conn.Sockets] does both with a
// Reader the Conn owns:
//
//	c, err := sockdiag.Dial() // or DialNetNS("/proc/<pid>/ns/net")
//	...
//	r, err := c.Sockets(sockdiag.Request{Family: sockdiag.AFInet6, Info: true})
//	...
//	for r.Next() {
//		s := r.Socket() // valid until the next call to Next
//		rtt, ok := s.Info.RTT()
//		...
//	}
//	if err := r.Err(); err != nil { ... }           // the dump failed or was cut short
//	if err := r.MalformedErr(); err != nil { ... }  // messages skipped, r.Malformed() of them
//	_ = r.Done()                                    // the kernel sent NLMSG_DONE: the dump is whole
//
// Like parser's, the Reader is built for tables with hundreds of thousands
// of sockets: one reused 256 KiB buffer, no allocation per socket, and a
// [TCPInfo] that is a fixed-size copy of struct tcp_info. A malformed
// message is counted, its position kept as a [*DecodeError] (the first 8
// only) and skipped; a broken message header, which cannot be skipped,
// ends the stream with an error. A dump costs less than reading
// /proc/net/tcp: on the development machine, with tables of 8,000 to
// 220,000 sockets, 0.35 to 0.45 of its CPU time per socket, and 0.3 to
// 0.65 with tcp_info, which TIME_WAIT sockets do not get
// (BenchmarkTable). Almost all of it is the kernel's: the decoding takes
// 15 to 45 ns a socket.
//
// # Dumps
//
// A dump lists the sockets of one address family in the network namespace
// of the netlink socket: the namespace of the thread that opened it
// ([Dial]) or the one [DialNetNS] joined. [Request.States] filters by
// state in the kernel. Any user may dump; the kernel sends
// INET_DIAG_MARK (not decoded) only to CAP_NET_ADMIN.
//
// A dump is not a snapshot. The kernel fills a datagram of about 32 KiB
// at a time, and finds its place again at each by position in its hash
// tables, like /proc/net/tcp: a socket created or closed meanwhile can make
// another one be listed twice or missed, and a socket can change state
// while the walk goes on. inet_diag does not flag such dumps
// (NLM_F_DUMP_INTR, [Reader.Interrupted], is for other netlink families).
// Callers that need each socket once should de-duplicate on
// [Socket.Cookie], which, unlike the inode, also tells TIME_WAIT and
// request sockets apart.
//
// # Compared with /proc/net/tcp
//
// The fields of the embedded [parser.Socket] are those of /proc/net/tcp,
// with a few differences, documented on [Socket]: a listener's TxQueue is
// its backlog limit, not 0; Retransmits holds the probe count when the
// timer is a keepalive or zero window probe; TimerExpires is converted from
// milliseconds; Slot and Timeout are 0; and the inode is the kernel's
// 32-bit idiag_inode. A TIME_WAIT socket is listed with its sub-state
// (TIME_WAIT or FIN_WAIT2) and a request socket as SYN_RECV, both without
// inode or uid, as in /proc/net/tcp.
//
// The cookie ([Socket.Cookie]) is what `ss -e` prints after "sk:", in
// lower-case hex without "0x": cookie 4829 is "sk:12dd". It equals
// getsockopt(SO_COOKIE) on the socket, with one exception: a Go program
// (since Go 1.24) listens with MPTCP by default where the kernel has it,
// and the TCP table then holds the MPTCP listener's first subflow, which
// has the listener's inode but a cookie of its own (`ss` shows
// "tcp-ulp-mptcp" on it).
//
// # Destroy notifications
//
// A [Listener] receives a notification each time the kernel frees a full
// TCP socket that user space created, in the Listener's network namespace.
// Any user may listen, and receives the notifications of every user's
// sockets. The kernel sends them from a workqueue, so they arrive shortly
// after the socket goes, in no guaranteed order. If the receive buffer
// fills up the kernel drops them and [Listener.Receive] returns
// [ErrOverrun]. A notification is the message of a dump, decoded by the
// same Reader; what it holds was found by experiment on Linux 6.18 (see
// destroy_linux_test.go and testdata/destroy.golden):
//
//   - State is CLOSE, and Info is the socket's last struct tcp_info
//     (tcpi_state CLOSE), always sent.
//   - Inode and UID are 0, as are Timer and TimerExpires; CgroupID and
//     Shutdown are absent. The queues are what was left: RxQueue counts a
//     FIN received and not read as 1.
//   - Cookie is the socket's cookie. The kernel gives a socket its cookie
//     the first time it is asked for it, so a notification matches a dump
//     only for sockets dumped (or asked for SO_COOKIE) before they closed;
//     for others the cookie is new.
//   - Local and Remote are the socket's addresses, except after a reset
//     sent by the socket (SO_LINGER 0, an abort): the kernel has cleared
//     the local address (0.0.0.0 or ::, the port stays) and the remote port
//     by then.
//   - The two ends of a loopback connection give one notification each,
//     and a listener one when it closes.
//   - A socket that enters TIME_WAIT (or the FIN_WAIT2 state of an orphan)
//     is replaced by a TIME_WAIT socket, which inherits its cookie: the full
//     socket is notified then, right after close for the side that closes
//     first. The TIME_WAIT socket itself is never notified, not even when
//     it expires 60 seconds later.
//   - A request socket, the server's half of a connection not yet
//     established (SYN_RECV), is never notified.
//   - A socket reset by its peer leaves the tables (state CLOSE, so dumps no
//     longer list it) while its file descriptor is open; it is notified
//     only when the last descriptor closes.
//   - A Go program creates and closes a few sockets the first time it uses
//     the network, to probe what the kernel supports (AF_INET6 sockets
//     bound to ::1 and ::ffff:127.0.0.1, and an MPTCP socket, whose first
//     subflow is a TCP socket): their notifications come too.
//
// # Errors
//
// An error the kernel sends is a [*KernelError], which wraps the
// [syscall.Errno]: for example EINVAL for a family the kernel does not
// know, or, in NLMSG_DONE, ENOENT when it has no sock_diag handler for the
// family and protocol (a kernel built without CONFIG_INET_DIAG, or
// without the tcp_diag module). Errors name what failed, as in
// "sock_diag dump of AF_INET6: netlink error: invalid argument".
//
// # Tests
//
// The tests that need root (network namespaces, helpers run as uid 65534,
// SO_RCVBUFFORCE) fail, rather than skip, without it; so do those that
// need iproute2's ip and ss. FuzzReader fuzzes the Reader. The captures in
// testdata are real dumps and notifications taken in a network namespace
// of their own; `go test -run 'TestFixtures$' -update ./sockdiag/`, as
// root, takes them again and rewrites their golden files (ExampleReader's
// output then changes with them).
package sockdiag
