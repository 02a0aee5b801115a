// Package bpfwalk finds the owners of every socket on the host, as package
// resolver does, by asking the kernel instead of walking /proc.
//
// A BPF iterator over every task's open files (iter/task_file, Linux 5.8+)
// runs in the kernel when its file is read and writes, for each socket
// descriptor, the process, the descriptor and the socket's inode, plus once
// per process what the /proc walk would read from comm, status, stat,
// ns/net and cgroup. No readlink(2) per descriptor: the walk costs about
// a tenth of the /proc walk's. Where the kernel filters an iterator by
// process (Linux 6.1), workers each read the iterators of a share of the
// processes, on as many cores as Options.Workers says. The result is a
// [resolver.Table], filled as the /proc walk documents it, so that a caller
// can take either.
//
// The program is loaded and verified once, by [New]. It needs the kernel's
// BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF), CAP_BPF and
// CAP_PERFMON (or root), and a proc root that shows the processes the kernel
// names: the initial pid namespace's proc, not hidden by hidepid. [Usable]
// tells whether all that holds.
//
// The BPF object is built from task_file.bpf.c by bpf2go and committed with
// its Go binding; `make generate` rebuilds both.
//
// The package knows nothing of Telegraf.
package bpfwalk
