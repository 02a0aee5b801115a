package bpfwalk

import "github.com/cilium/ebpf/btf"

// Options configure a Walker.
type Options struct {
	// ProcRoot is the proc file system that a /proc walk would read, such
	// as "/proc". Required. New refuses one whose processes are not the
	// kernel's (see [Usable]). A walk lists its pids, to account for the
	// processes the iterator does not show.
	ProcRoot string

	// Cgroup fills Process.Cgroup with the process's cgroup v2 path as the
	// "0::" line of /proc/<pid>/cgroup shows it to a reader in the initial
	// cgroup namespace ("0::/system.slice/x.scope\n"), for callers that
	// name containers. A path deeper than 12 levels or 1 KiB starts with
	// "/..." in place of its top. The v1 hierarchies are not given.
	// Process.CgroupID is filled either way.
	Cgroup bool

	// Match, when non-nil, is called with each process's name, as
	// resolver.Options.Match is: the sockets of a process it rejects are
	// dropped, and the process is counted in Stats.Skipped, not in
	// Stats.Processes. The kernel still visits its files; only processes
	// with a socket, or that the iterator does not show, are asked about.
	Match func(name string) bool

	// Workers is how many processes are walked at once, each by an
	// iterator of its own files (Linux 6.1's task filter); 0 means
	// GOMAXPROCS. With 1, or on an older kernel, one iterator walks
	// every task. Each worker past the first loads the program again.
	Workers int

	// BTF, when non-nil, holds the kernel's BTF for the loads, parsed
	// once for every program that shares it (about half of a load's
	// 25 ms); nil: New parses its own.
	BTF *btf.Cache
}
