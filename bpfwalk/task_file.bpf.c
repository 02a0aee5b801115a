// SPDX-License-Identifier: (MIT OR GPL-2.0)

//go:build ignore

// task_file.bpf.c: a BPF iterator over every task's open files
// (iter/task_file, Linux 5.8+) that writes, for the Go package bpfwalk, the
// socket descriptors of every process and what /proc would tell of their
// owners. Built by bpf2go (see gen.go); the object and its Go binding are
// committed.
//
// The kernel calls the program once per (task, open file), task by task in
// tid order and, within a task, in fd order; then once more with no task
// (the "stop" call) when the iteration is over. It already skips a thread
// that shares its leader's fd table. The output is a stream of records,
// little- or big-endian as the CPU, read by bpfwalk/records.go:
//
//	task: a process whose files are read, at its first file
//	proc: what /proc tells of it, before its first socket
//	sock: one socket descriptor of the last proc record's process
//	end:  the totals, written by the stop call: the walk was whole
//
// When the records of a call do not all fit in the kernel's buffer, the
// kernel rolls back every one of them and calls the program again with the
// same file after the next read(2) (kernel/bpf/bpf_iter.c, bpf_seq_read).
// So the program changes its state once all the writes of a call have
// succeeded, or in a way that the repeated call sees as done already.
//
// The kernel structures are declared here, only the fields read, and
// relocated at load time against the running kernel's BTF (CO-RE): no
// vmlinux.h, which would be six megabytes of one kernel's headers, to be
// regenerated (and reviewed) with every kernel; a missing field fails the
// load with a clear relocation error instead of a silent misread.

// The few UAPI types and constants used, so that no architecture's
// <asm/types.h> is needed.
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

enum {
	BPF_ANY = 0,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
};

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

// ---- The kernel's structures, only what is read ----

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
} __attribute__((preserve_access_index));

struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd __attribute__((aligned(8)));
	struct file *file;
} __attribute__((preserve_access_index));

struct super_block {
	unsigned long s_magic;
} __attribute__((preserve_access_index));

struct inode {
	unsigned short i_mode;
	unsigned long i_ino;
	struct super_block *i_sb;
} __attribute__((preserve_access_index));

struct file {
	const void *f_op;
	struct inode *f_inode;
} __attribute__((preserve_access_index));

struct files_struct;

typedef struct {
	unsigned int val;
} kuid_t;

struct cred {
	kuid_t euid;
} __attribute__((preserve_access_index));

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

struct nsproxy {
	struct net *net_ns;
} __attribute__((preserve_access_index));

// Linux 6.15 renamed kernfs_node.parent to __parent (kernfs: RCU for the
// parent); kernfs_node___old is the earlier layout.
struct kernfs_node {
	struct kernfs_node *__parent;
	const char *name;
	__u64 id;
} __attribute__((preserve_access_index));

struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

struct cgroup {
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));

struct css_set {
	struct cgroup *dfl_cgrp;
} __attribute__((preserve_access_index));

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *group_leader;
	__u64 start_boottime;
	const struct cred *real_cred;
	char comm[16];
	struct files_struct *files;
	struct nsproxy *nsproxy;
	struct css_set *cgroups;
} __attribute__((preserve_access_index));

// ---- The records: keep in step with records.go ----

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define SOCKFS_MAGIC 0x534F434B

enum {
	REC_SOCK = 1,
	REC_PROC = 2,
	REC_END = 3,
	REC_TASK = 4,
};

// Flags of a proc record.
enum {
	// The leader thread has exited: the files are a live thread's.
	PROC_EXITED_LEADER = 1,
	// The files are a thread's own table (unshare(CLONE_FILES)), besides
	// the leader's, which has its own proc record.
	PROC_OWN_TABLE = 2,
	// The cgroup path goes up to the root of the cgroup v2 hierarchy.
	PROC_PATH_WHOLE = 4,
};

struct task_rec {
	__u32 kind;
	__u32 tgid;
};

struct sock_rec {
	__u32 kind;
	__u32 fd;
	__u64 ino;
};

// The cgroup path, leaf first: each component NUL-terminated, the root's
// (empty) name left out. At most PATH_DEPTH components and PATH_MAX_USED
// bytes; a component is cut to NAME_SLOT-1 bytes.
#define PATH_DEPTH 12
#define PATH_MAX_USED 1024
#define NAME_SLOT 256

struct proc_rec {
	__u32 kind;
	__u32 tgid;
	__u32 tid; // the task whose files follow
	__u32 euid;
	__u64 start_ns; // the leader's start_boottime
	__u64 netns;
	__u64 cgroup_id;
	char comm[16];
	__u16 path_len;
	__u8 depth;
	__u8 flags;
	__u32 _pad;
	char path[PATH_MAX_USED + NAME_SLOT];
};

#define PROC_REC_HEAD (sizeof(struct proc_rec) - PATH_MAX_USED - NAME_SLOT)

struct end_rec {
	__u32 kind;
	__u32 _pad;
	__u64 processes;
	__u64 fds;
	__u64 exited_leaders;
};

// ---- State ----

// Set by the loader: whether to write the cgroup path.
volatile const __u8 want_path = 0;

// The walk in progress. The program of one Walker runs one iteration at a
// time (bpfwalk serialises its walks), so plain globals will do.
static struct {
	__u64 task;    // the task of the previous call
	__u32 tid;     // and its tid: a freed task_struct may come back
	__u32 gen;     // which walk this is: see seen
	__u8 skip;     // its files are read through another task
	__u8 announced; // its task record is out
	__u8 emitted;  // its proc record is out
	__u8 flags;    // PROC_* of its proc record
	__u64 processes;
	__u64 fds;
	__u64 exited_leaders;
} state;

// The processes whose leader has exited and whose files were read through
// one of their threads, in this walk (value == state.gen): the other
// threads, which share that table, are skipped.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} seen SEC(".maps");

// Room for a proc record, too big for the 512-byte stack.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct proc_rec);
} scratch SEC(".maps");

// ---- The program ----

// start decides, at the first file of a task, whether to read its files.
// /proc/<pid>/fd shows the leader's table; when the leader has exited (its
// files are gone), the first live thread's, as the /proc walk reads
// task/<tid>/fd.
static void start(struct task_struct *task)
{
	struct task_struct *leader = task->group_leader;
	struct files_struct *lfiles = BPF_CORE_READ(leader, files);

	state.task = (__u64)task;
	state.tid = task->pid;
	state.skip = 0;
	state.announced = 0;
	state.emitted = 0;
	state.flags = 0;

	if (task == leader) {
		state.processes++;
		return;
	}
	if (lfiles == task->files) {
		// The kernel skips these already.
		state.skip = 1;
		return;
	}
	if (lfiles) {
		state.flags = PROC_OWN_TABLE;
		return;
	}
	__u32 tgid = task->tgid;
	__u32 *gen = bpf_map_lookup_elem(&seen, &tgid);
	if (gen && *gen == state.gen) {
		state.skip = 1;
		return;
	}
	bpf_map_update_elem(&seen, &tgid, &state.gen, BPF_ANY);
	state.flags = PROC_EXITED_LEADER;
	state.processes++;
	state.exited_leaders++;
}

static struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

// cgroup_path writes the path of kn into r, leaf first.
static void cgroup_path(struct proc_rec *r, struct kernfs_node *kn)
{
	__u32 off = 0;

	for (int i = 0; i < PATH_DEPTH && kn; i++) {
		struct kernfs_node *parent = kn_parent(kn);
		if (!parent) {
			r->flags |= PROC_PATH_WHOLE;
			break;
		}
		if (off >= PATH_MAX_USED)
			break;
		long n = bpf_probe_read_kernel_str(&r->path[off], NAME_SLOT, BPF_CORE_READ(kn, name));
		if (n <= 0)
			break;
		off += n;
		r->depth++;
		kn = parent;
	}
	r->path_len = off;
}

// write_proc writes the proc record of the task's process.
static long write_proc(struct seq_file *seq, struct task_struct *task)
{
	__u32 zero = 0;
	struct proc_rec *r = bpf_map_lookup_elem(&scratch, &zero);
	if (!r)
		return -1;

	// What /proc/<pid> shows is the leader's: comm, status, stat and
	// cgroup. Only ns/net is gone with an exited leader's nsproxy; the
	// /proc walk reads the live thread's then.
	struct task_struct *leader = task->group_leader;
	struct nsproxy *nsp = BPF_CORE_READ(leader, nsproxy);
	if (!nsp)
		nsp = BPF_CORE_READ(task, nsproxy);

	r->kind = REC_PROC;
	r->tgid = task->tgid;
	r->tid = task->pid;
	// /proc/<pid>/status reads the objective credentials, real_cred.
	r->euid = BPF_CORE_READ(leader, real_cred, euid.val);
	r->start_ns = BPF_CORE_READ(leader, start_boottime);
	r->netns = BPF_CORE_READ(nsp, net_ns, ns.inum);
	bpf_probe_read_kernel(r->comm, sizeof(r->comm), &leader->comm);
	r->flags = state.flags;
	r->depth = 0;
	r->path_len = 0;
	r->_pad = 0;
	struct kernfs_node *kn = BPF_CORE_READ(leader, cgroups, dfl_cgrp, kn);
	r->cgroup_id = BPF_CORE_READ(kn, id);
	if (want_path)
		cgroup_path(r, kn);

	__u32 len = PROC_REC_HEAD + r->path_len;
	if (len > sizeof(*r))
		return -1;
	return bpf_seq_write(seq, r, len);
}

// The file operations of sockets, socket_file_ops (net/socket.c), learned
// from the first file proven to be a socket. Once known, telling a socket
// costs no read of its inode, which is one cache miss per file on a host
// with many. It is a constant of the running kernel: kept from walk to walk.
static const void *socket_fops;

// is_socket tells whether file is a socket, one whose /proc link reads
// "socket:[<i_ino>]": an inode of sockfs, all of whose files have
// socket_file_ops, and only they (sock_from_file() relies on it). S_IFSOCK
// alone would also take an O_PATH descriptor of a named Unix socket, which
// /proc shows as its path. The ksym socket_file_ops would need its address
// from /proc/kallsyms, which hides it without CAP_SYSLOG.
static int is_socket(struct file *file)
{
	const void *fop = file->f_op;

	if (socket_fops)
		return fop == socket_fops;
	struct inode *inode = file->f_inode;
	if ((inode->i_mode & S_IFMT) != S_IFSOCK || inode->i_sb->s_magic != SOCKFS_MAGIC)
		return 0;
	socket_fops = fop;
	return 1;
}

SEC("iter/task_file")
int task_file(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;

	if (ctx->meta->seq_num == 0) {
		// The first call of a walk. (A call is repeated only after a
		// read, so never this one.)
		__u32 gen = state.gen + 1;
		__builtin_memset(&state, 0, sizeof(state));
		state.gen = gen;
	}
	if (!task) {
		// The stop call, once the walk is over; repeated if its
		// record did not fit.
		struct end_rec e = {
			.kind = REC_END,
			.processes = state.processes,
			.fds = state.fds,
			.exited_leaders = state.exited_leaders,
		};
		bpf_seq_write(seq, &e, sizeof(e));
		return 0;
	}
	if (!file)
		return 0;

	if ((__u64)task != state.task || task->pid != state.tid)
		start(task);
	if (state.skip)
		return 0;
	// Every write of this call is rolled back if one does not fit, and
	// the call repeated: the state changes once all are out.
	if (!state.announced) {
		struct task_rec r = {.kind = REC_TASK, .tgid = task->tgid};
		if (bpf_seq_write(seq, &r, sizeof(r)))
			return 0;
	}

	if (!is_socket(file)) {
		state.announced = 1;
		state.fds++;
		return 0;
	}
	struct inode *inode = file->f_inode;
	if (!state.emitted && write_proc(seq, task))
		return 0;
	struct sock_rec s = {.kind = REC_SOCK, .fd = ctx->fd, .ino = inode->i_ino};
	if (bpf_seq_write(seq, &s, sizeof(s)))
		return 0;
	state.announced = 1;
	state.emitted = 1;
	state.fds++;
	return 0;
}
