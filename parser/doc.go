// Package parser reads the kernel's TCP socket tables, /proc/net/tcp and
// /proc/net/tcp6, as a stream of rows.
//
// The file format is described in the kernel's
// Documentation/networking/proc_net_tcp.rst
// (https://docs.kernel.org/networking/proc_net_tcp.html) and printed by
// get_tcp4_sock in net/ipv4/tcp_ipv4.c and get_tcp6_sock in
// net/ipv6/tcp_ipv6.c. One [Reader] handles both layouts: the header line is
// skipped, and each address is decoded from its width (8 hex digits for IPv4,
// 32 for IPv6). Addresses are printed as 32-bit words in host byte order;
// [Reader.ByteOrder] selects the order, the host's by default. IPv4-mapped
// IPv6 addresses stay IPv6, as the kernel reports them.
//
// The reader is built for tables with hundreds of thousands of rows: it holds
// one reused buffer, never the table, and decodes a row without allocating.
//
//	r := parser.NewReader(f)
//	for r.Next() {
//		s := r.Socket() // valid until the next call to Next
//		...
//	}
//	if err := r.Err(); err != nil { ... }           // I/O error: iteration stopped
//	if err := r.MalformedErr(); err != nil { ... }  // rows skipped, r.Malformed() of them
//
// A malformed row does not stop the reader: it is counted, its position is
// kept as a [*ParseError] (the first few only, so memory stays bounded), and
// the reader goes on with the next row.
//
// # Duplicate and missing rows
//
// The kernel produces these files with seq_file, and the table is not a
// snapshot. Each read() returns at most a page of rows (about 27), however
// large the buffer, and at each read the kernel finds its place again by the
// row's position in its hash tables, not by the socket: a table of 200,000
// rows is produced over about 7,500 reads. If sockets are created or closed
// in between, rows shift: a socket can be printed twice, and another can be
// skipped; and a socket can change state while the walk goes on. The reader
// reports what the kernel printed.
//
// Callers that need each socket once should de-duplicate on [Socket.Inode],
// which is unique per open socket, keeping the first row. Rows with inode 0
// (TIME_WAIT and request sockets, which own no file) cannot be de-duplicated
// that way; they are rarely duplicated and own no file descriptor, so they
// join no process. The slot ([Socket.Slot]) is a position in the listing and
// is no key.
//
// # Format
//
// Fields are separated by spaces (tabs are accepted), and each row ends with a
// newline. Addresses are 8 or 32 hex digits and ports 4; the other numbers are
// hex or decimal as the kernel prints them, and must fit their field. Rows may
// have more fields after the inode (the kernel prints a reference count, a
// pointer and congestion details); they are ignored. A line longer than
// [MaxLineLength], a last line without its newline, and anything else that
// is not a row are malformed rows: see [ParseError].
package parser
