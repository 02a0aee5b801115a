// SPDX-License-Identifier: (MIT OR GPL-2.0)

//go:build ignore

// tcp.bpf.c: a BPF iterator over the kernel's TCP hash tables (iter/tcp,
// Linux 5.9+) that writes, for the Go package bpftable, one fixed-size
// binary record per socket with what /proc/net/tcp and /proc/net/tcp6 print
// of it. Built by bpf2go (see gen.go); the object and its Go binding are
// committed.
//
// The kernel calls the program once per socket of the network namespace
// the iterator was opened in, both families in one pass: the listening
// hash first, then the established hash (which also holds TIME_WAIT and
// request sockets), bucket by bucket, each bucket taken as one batch; then
// once more with no socket (the "stop" call), where the program writes an
// end record: the walk was whole. (net/ipv4/tcp_ipv4.c, bpf_iter_tcp_*.)
//
// The fields are computed as get_tcp4_sock, get_timewait4_sock and
// get_openreq4 (net/ipv4/tcp_ipv4.c) and their tcp6 twins compute them.
// The kernel gives the uid itself (ctx->uid, from_kuid_munged in the
// reader's user namespace, 0 for TIME_WAIT).
//
// Each call writes its one record with a single bpf_seq_write. When it does
// not fit the kernel's buffer, the kernel rolls it back and calls the
// program again with the same socket after the next read(2); the program
// keeps no state, so the repeated call is the same call.
//
// The kernel structures are declared here, only the fields read, and
// relocated at load time against the running kernel's BTF (CO-RE), as in
// bpfwalk/task_file.bpf.c.

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

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

// ---- The kernel's structures, only what is read ----

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
} __attribute__((preserve_access_index));

struct bpf_iter__tcp {
	struct bpf_iter_meta *meta;
	struct sock_common *sk_common;
	__u32 uid __attribute__((aligned(8)));
} __attribute__((preserve_access_index));

struct in6_addr {
	__u8 s6_addr[16];
};

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct hlist_node {
	struct hlist_node *next;
	struct hlist_node **pprev;
} __attribute__((preserve_access_index));

struct timer_list {
	struct hlist_node entry;
	unsigned long expires;
} __attribute__((preserve_access_index));

struct inode {
	unsigned long i_ino;
} __attribute__((preserve_access_index));

struct socket {
	short type;
} __attribute__((preserve_access_index));

struct socket_alloc {
	struct socket socket;
	struct inode vfs_inode;
} __attribute__((preserve_access_index));

// Recent kernels (6.18 here) keep the inode number in the sock, sk_ino,
// where sock_i_ino reads it; older ones read the socket file's inode.
struct sock {
	struct sock_common __sk_common;
	struct socket *sk_socket;
	struct timer_list sk_timer;
	__u32 sk_ack_backlog;
	unsigned long sk_ino;
} __attribute__((preserve_access_index));

struct inet_sock {
	struct sock sk;
	__be16 inet_sport;
} __attribute__((preserve_access_index));

struct inet_connection_sock {
	struct inet_sock icsk_inet;
	struct timer_list icsk_retransmit_timer;
	__u8 icsk_retransmits;
	__u8 icsk_pending;
	__u8 icsk_probes_out;
} __attribute__((preserve_access_index));

// Older kernels have icsk_timeout, which their /proc prints; recent ones
// (6.18 here) print the retransmit timer's expiry, which replaced it.
struct inet_connection_sock___old {
	unsigned long icsk_timeout;
} __attribute__((preserve_access_index));

struct tcp_sock {
	struct inet_connection_sock inet_conn;
	__u32 rcv_nxt;
	__u32 copied_seq;
	__u32 snd_una;
	__u32 write_seq;
} __attribute__((preserve_access_index));

struct inet_timewait_sock {
	struct sock_common __tw_common;
	unsigned char tw_substate;
	__be16 tw_sport;
	struct timer_list tw_timer;
} __attribute__((preserve_access_index));

struct request_sock {
	struct sock_common __req_common;
	__u8 num_timeout : 7;
	struct timer_list rsk_timer;
} __attribute__((preserve_access_index));


// ---- Constants of the kernel ----

#define AF_INET 2
#define AF_INET6 10

#define TCP_SYN_RECV 3
#define TCP_TIME_WAIT 6
#define TCP_NEW_SYN_RECV 12
#define TCP_LISTEN 10

// include/net/inet_connection_sock.h
#define ICSK_TIME_RETRANS 1
#define ICSK_TIME_PROBE0 3
#define ICSK_TIME_LOSS_PROBE 5
#define ICSK_TIME_REO_TIMEOUT 6

// The kernel's tick rate, from its config: /proc prints timer expiries
// in USER_HZ clock ticks.
extern unsigned CONFIG_HZ __kconfig;

#define USER_HZ 100
#define NSEC_PER_SEC 1000000000ULL

// ---- The record: keep in step with records.go ----

// Kinds of record.
enum {
	REC_END = 0,  // the stop call's: the walk was whole
	REC_FULL = 1, // a full socket: get_tcp4_sock
	REC_TW = 2,   // a TIME_WAIT socket: get_timewait4_sock
	REC_REQ = 3,  // a request socket (NEW_SYN_RECV): get_openreq4
};

struct tcp_rec {
	__u8 kind;
	__u8 family; // AF_INET or AF_INET6
	__u8 state;  // as /proc prints it
	__u8 timer;
	__u16 lport; // host order
	__u16 rport;
	__u8 laddr[16]; // network order; the first 4 bytes for AF_INET
	__u8 raddr[16];
	__u32 tx_queue;
	__u32 rx_queue;
	__u32 retransmits;
	__u32 uid;
	__u32 timeout;
	__u32 _pad;
	__u64 expires; // clock ticks (USER_HZ)
	__u64 inode;
	__u64 cookie; // 0 without want_cookie
};

// Set by the loader: whether to ask for the socket cookie. Tracing
// programs, iterators among them, got bpf_get_socket_cookie after iter/tcp
// came (bpf_get_socket_ptr_cookie_proto); on a kernel without it the
// loader sets 0, and the verifier then skips the call as dead code.
volatile const __u8 want_cookie = 0;

// ---- The program ----

// jiffies_delta_to_clock_t is the kernel's (kernel/time/time.c): a delta
// in jiffies, 0 if negative, in USER_HZ clock ticks.
static __u64 jiffies_delta_to_clock_t(long delta)
{
	if (delta <= 0)
		return 0;
	__u64 x = delta;
	__u64 tick_nsec = (NSEC_PER_SEC + CONFIG_HZ / 2) / CONFIG_HZ;
	__u64 user_hz_nsec = NSEC_PER_SEC / USER_HZ;

	if (tick_nsec % user_hz_nsec == 0) {
		if (CONFIG_HZ < USER_HZ)
			return x * (USER_HZ / CONFIG_HZ);
		return x / (CONFIG_HZ / USER_HZ);
	}
	return x * tick_nsec / user_hz_nsec;
}

static int timer_pending(const struct timer_list *t)
{
	return t->entry.pprev != 0;
}

// addrs copies the addresses and family of a sock_common into r.
static void addrs(struct tcp_rec *r, const struct sock_common *skc)
{
	r->family = skc->skc_family;
	if (r->family == AF_INET6) {
		__builtin_memcpy(r->laddr, skc->skc_v6_rcv_saddr.s6_addr, 16);
		__builtin_memcpy(r->raddr, skc->skc_v6_daddr.s6_addr, 16);
		return;
	}
	__builtin_memcpy(r->laddr, &skc->skc_rcv_saddr, 4);
	__builtin_memcpy(r->raddr, &skc->skc_daddr, 4);
}

static __u64 sock_i_ino(const struct sock *sk)
{
	if (bpf_core_field_exists(sk->sk_ino))
		return sk->sk_ino;
	struct socket *sock = sk->sk_socket;
	if (!sock)
		return 0;
	struct socket_alloc *sa = (void *)sock - bpf_core_field_offset(struct socket_alloc, socket);
	return BPF_CORE_READ(sa, vfs_inode.i_ino);
}

static unsigned long icsk_timeout(const struct inet_connection_sock *icsk)
{
	const struct inet_connection_sock___old *old = (void *)icsk;

	if (bpf_core_field_exists(old->icsk_timeout))
		return BPF_CORE_READ(old, icsk_timeout);
	return icsk->icsk_retransmit_timer.expires;
}

static void full(struct tcp_rec *r, const struct tcp_sock *tp)
{
	const struct inet_connection_sock *icsk = &tp->inet_conn;
	const struct sock *sk = &icsk->icsk_inet.sk;
	unsigned long expires;
	__u64 now = bpf_jiffies64();
	__u8 pending = icsk->icsk_pending;

	r->kind = REC_FULL;
	addrs(r, &sk->__sk_common);
	r->lport = bpf_ntohs(icsk->icsk_inet.inet_sport);
	r->rport = bpf_ntohs(sk->__sk_common.skc_dport);
	if (pending == ICSK_TIME_RETRANS || pending == ICSK_TIME_REO_TIMEOUT ||
	    pending == ICSK_TIME_LOSS_PROBE) {
		r->timer = 1;
		expires = icsk_timeout(icsk);
	} else if (pending == ICSK_TIME_PROBE0) {
		r->timer = 4;
		expires = icsk_timeout(icsk);
	} else if (timer_pending(&sk->sk_timer)) {
		// The keepalive timer (icsk_keepalive_timer is sk_timer).
		r->timer = 2;
		expires = sk->sk_timer.expires;
	} else {
		r->timer = 0;
		expires = now;
	}
	r->expires = jiffies_delta_to_clock_t((long)(expires - now));

	r->state = sk->__sk_common.skc_state;
	if (r->state == TCP_LISTEN) {
		r->rx_queue = sk->sk_ack_backlog;
	} else {
		// Negative while the socket changes under us: 0.
		int rx = tp->rcv_nxt - tp->copied_seq;
		r->rx_queue = rx < 0 ? 0 : rx;
	}
	r->tx_queue = tp->write_seq - tp->snd_una;
	r->retransmits = icsk->icsk_retransmits;
	r->timeout = icsk->icsk_probes_out;
	r->inode = sock_i_ino(sk);
}

// timewait fills r for a TIME_WAIT socket. Like request below, it knows
// the socket by its state and reads what lies beyond its sock_common with
// bpf_probe_read_kernel. bpf_skc_to_tcp_timewait_sock and
// bpf_skc_to_tcp_request_sock, which would give a pointer to read
// directly, also require sk_prot to be tcp_prot or tcpv6_prot: they return
// NULL for the TIME_WAIT and request sockets of an MPTCP listener's TCP
// subflows, whose sk_prot is MPTCP's tcp_prot_override (Go listens with
// MPTCP by default since Go 1.24). /proc prints those as any other.
static void timewait(struct tcp_rec *r, const struct sock_common *skc)
{
	const struct inet_timewait_sock *tw = (const void *)skc;

	r->kind = REC_TW;
	addrs(r, skc);
	r->lport = bpf_ntohs(BPF_CORE_READ(tw, tw_sport));
	r->rport = bpf_ntohs(skc->skc_dport);
	// TIME_WAIT or FIN_WAIT2.
	r->state = BPF_CORE_READ(tw, tw_substate);
	r->timer = 3;
	unsigned long expires = BPF_CORE_READ(tw, tw_timer.expires);
	r->expires = jiffies_delta_to_clock_t((long)(expires - bpf_jiffies64()));
}

// request fills r for a request socket, known by its state (see
// timewait).
static void request(struct tcp_rec *r, const struct sock_common *skc)
{
	const struct request_sock *req = (const void *)skc;

	r->kind = REC_REQ;
	addrs(r, skc);
	r->lport = skc->skc_num;
	r->rport = bpf_ntohs(skc->skc_dport);
	r->state = TCP_SYN_RECV;
	r->timer = 1;
	unsigned long expires = BPF_CORE_READ(req, rsk_timer.expires);
	r->expires = jiffies_delta_to_clock_t((long)(expires - bpf_jiffies64()));
	r->retransmits = BPF_CORE_READ_BITFIELD_PROBED(req, num_timeout);
}

SEC("iter/tcp")
int tcp(struct bpf_iter__tcp *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct sock_common *skc = ctx->sk_common;
	struct tcp_rec r = {};

	if (!skc) {
		// The stop call, once the walk is over.
		r.kind = REC_END;
		bpf_seq_write(seq, &r, sizeof(r));
		return 0;
	}

	// What get_tcp4_sock prints, tcp4_seq_show tells by the state; so do
	// we, but for a full socket the helper's pointer is one the verifier
	// lets us read directly.
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);
	if (tp) {
		full(&r, tp);
	} else if (skc->skc_state == TCP_TIME_WAIT) {
		timewait(&r, skc);
	} else if (skc->skc_state == TCP_NEW_SYN_RECV) {
		request(&r, skc);
	} else {
		return 0;
	}
	r.uid = ctx->uid;
	if (want_cookie)
		// Gives the socket a cookie if it had none yet, as a
		// sock_diag dump or SO_COOKIE does: the same number.
		r.cookie = bpf_get_socket_cookie(skc);
	bpf_seq_write(seq, &r, sizeof(r));
	return 0;
}
