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
// The kernel produces these files with seq_file. A table larger than one
// read() is produced over several reads, and between two reads the kernel
// finds its place again by the row's index in its hash tables, not by
// the socket. If sockets are created or closed meanwhile, rows shift: the
// same socket can be printed twice, and another can be skipped. Only a
// single read() is a snapshot. Callers that need each socket once should
// de-duplicate on [Socket.Inode], which is unique per socket while it lives.
// Rows with inode 0 (TIME_WAIT and request sockets, which have no file) cannot
// be de-duplicated that way; duplicates among them are rare and harmless to
// most uses, since they own no file descriptor.
package parser
