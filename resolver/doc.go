// Package resolver maps socket inodes to the processes and file descriptors
// that hold them.
//
// It walks <proc_root>/<pid>/fd and reads each link. A socket descriptor reads
// back exactly as "socket:[<inode>]" (proc_pid_fd(5),
// https://man7.org/linux/man-pages/man5/proc_pid_fd.5.html); anything else that
// starts with "socket:" is counted as a bad link and skipped. The inode is the
// one in the "inode" column of /proc/net/tcp and /proc/net/tcp6
// (Documentation/networking/proc_net_tcp.rst), which is how the caller joins a
// connection to its owners.
//
// A socket shared after fork(2) or dup(2) has several owners; all of them are
// reported, in a deterministic order. A process whose leader thread has
// exited (pthread_exit) while other threads run is walked through one of
// them, task/<tid>/fd, as its own fd directory is then empty. Per process
// the resolver reads only a little: the name from /proc/<pid>/comm, the
// effective uid from /proc/<pid>/status, the start time from
// /proc/<pid>/stat, the network namespace inode of /proc/<pid>/ns/net and,
// only when asked, the cgroup.
//
// A walk is a fact about each process: walked (its sockets are exactly its
// owners in the [Table]), gone (it exited, or was never there), or not walked
// ([Table.Unwalked]: denied, failed, or not reached before the deadline). A
// process that was not walked is no evidence that it holds no socket.
//
// The walk is made of raw openat, getdents64 and readlinkat system calls with
// reused buffers, on a bounded pool of workers, one process at a time per
// worker. It never hard-codes /proc: the caller passes the proc root, which
// may be a fixture tree.
//
// The package knows nothing of Telegraf.
package resolver
