// Package bpftable reads the kernel's TCP table, what /proc/net/tcp and
// /proc/net/tcp6 print (Documentation/networking/proc_net_tcp.rst), with a
// BPF iterator over the TCP hash tables (iter/tcp, Linux 5.9+) instead of
// the kernel's text: a fixed-size binary record per socket, no formatting
// in the kernel and no parsing here.
//
// The program is loaded and verified once, by [New]: the fixed cost. Each
// [Table.Open] then starts a new walk of the table, read with a
// [Reader] whose [Reader.Next] and [Reader.Socket] yield the sockets one
// by one, decoded into a reused [Socket] with no allocation per row.
// [Table.Stream] gives a walk's records undecoded instead, for a reader
// ([NewReader]) that takes them through a read-ahead of the caller's, so
// that the kernel's walk and the decoding run on two cores.
//
// One walk gives both families, AF_INET and AF_INET6 sockets, in the order
// the kernel keeps them: listening sockets first, then the established
// hash, which also holds TIME_WAIT and request (SYN_RECV) sockets. The
// fields read exactly as /proc/net/tcp (AF_INET) and /proc/net/tcp6
// (AF_INET6) show them; see [Socket].
//
// The walk lists the sockets of the network namespace of the thread that
// calls [Table.Open].
//
// It needs the kernel's BTF (/sys/kernel/btf/vmlinux,
// CONFIG_DEBUG_INFO_BTF), its build configuration (/proc/config.gz or
// /boot/config-$(uname -r), for CONFIG_HZ) and CAP_BPF and CAP_PERFMON (or
// root).
//
// The BPF object is built from tcp.bpf.c by bpf2go and committed with its
// Go binding; `make generate` rebuilds both.
//
// The package knows nothing of Telegraf.
package bpftable
