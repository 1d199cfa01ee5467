//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * socktrace: payload capture of TCP/UDP socket syscalls of targeted processes.
 *
 * Hooks: syscall tracepoints only (this project's nodes may have no kprobes
 * and no fentry). sys_enter_* saves the arguments keyed by pid_tgid,
 * sys_exit_* reads `ret` bytes from them. raw_tracepoint sched_process_fork
 * follows children of targeted processes, sched_process_exit drops state.
 *
 * Kernel types: minimal CO-RE definitions (include/pixie/kernel.h).
 */
#include "pixie/types.h"
#include "pixie/kernel.h"
#include "pixie/socktrace_event.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Load-time configuration (CollectionSpec.Variables). */
volatile const __u32 target_all = 0;	    /* trace every process but self_tgid */
volatile const __u32 self_tgid = 0;	    /* the loader, never traced */
volatile const __u32 max_payload = 4096;    /* power of two <= PX_MAX_PAYLOAD_CAP */
volatile const __u64 wakeup_bytes = 262144; /* wake the reader once this much is queued */
volatile const __u32 conn_bytes = 1;	    /* closes carry byte totals (conn_stats) */
volatile const __u32 pid_slots = 0;	    /* px_tslots covers tgids below this */
volatile const __u32 h1_summary = 0;	    /* summarize HTTP/1 exchanges (socktrace_h1.h) */

#define PX_MAX_IOV 16	     /* iovecs copied per call without bpf_loop (< 5.17) */
#define PX_MAX_IOV_LOOP 1024 /* UIO_MAXIOV: every iovec, with bpf_loop */
#define PX_MAX_MMSG 8	     /* messages reported per sendmmsg/recvmmsg */

struct px_args {
	__u64 start_ns;
	__u64 buf;   /* buffer, iovec array, msghdr or mmsghdr array */
	__u64 count; /* buffer length, iovcnt or vlen */
	__u64 addr;  /* sockaddr (sendto/recvfrom/connect) */
	__s32 fd;
	__u8 op;
	__u8 _pad[3];
};

/* HTTP/2 frame boundaries of one direction (see h2_frames). */
struct px_h2 {
	__u64 next;   /* stream offset of the next frame header */
	__u8 hdr[16]; /* its first hn bytes, when a call ended inside it */
	__u8 hn;
	__u8 _pad[7];
};

/* Per connection (tgid << 32 | fd) whose px_conn.h2 has bits set; an entry
 * is rewritten when a direction starts, so a stale one is never read. LRU:
 * entries of connections gone are reused. */
struct px_h2s_val {
	struct px_h2 d[2];
};

struct px_conn {
	__u64 pos[2];	  /* egress, ingress */
	__u64 tls_pos[2]; /* the same for TLS plaintext (its own stream) */
	struct px_addr local;
	struct px_addr remote;
	__u32 gen;
	__u8 role;
	__u8 transport;
	__u8 h2; /* bit d: direction d's HTTP/2 frames are walked (px_h2s) */
	__u8 h1; /* PX_H1_UNDECIDED, PX_H1_KERNEL (px_h1s) or PX_H1_PAYLOAD */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} px_targets SEC(".maps");

/* The targets again, as one byte per tgid below pid_slots (pid_max: Go sets
 * the value size): the filter runs in every process's read, write and close
 * on the host, and this lookup is inlined where a hash lookup hashes and
 * walks a bucket. Go sets and clears bytes through mmap: byte stores need no
 * atomics, and the last writer of a tgid wins as in a hash. px_targets holds
 * tgids above (pid_max raised after the start), or all of them when
 * pid_slots is 0. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[4096]);
} px_tslots SEC(".maps");

/* Command names (comm, 16 bytes, NUL-padded) whose new processes are
 * targeted the moment they exec, so short-lived ones (curl) are not missed
 * between two scans of /proc. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, char[16]);
	__type(value, __u8);
} px_comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768); /* one slot per traced thread */
	__type(key, __u64);
	__type(value, struct px_args);
} px_args SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* tgid << 32 | fd */
	__type(value, struct px_conn);
} px_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct px_h2s_val);
} px_h2s SEC(".maps");

/* Open connections per tgid, so process exit scans px_conns only when
 * there is something to drop. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u32);
} px_nconns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized from Go */
} px_events SEC(".maps");

/* State of a walk over a call's HTTP/2 frames (h2_frames). It lives in
 * the scratch map value: read from there, its fields are unknown scalars
 * to the verifier, so the states of the bpf_loop callback converge (on the
 * stack, a counter is tracked value by value, iteration after iteration). */
struct h2_walk {
	__u64 pos;  /* stream offset of the call's first byte */
	__u64 size; /* bytes of the call */
	__u64 lo;   /* captured at its start; the uncaptured middle: [lo, hi) */
	__u64 hi;
	/* user memory of the call offsets [cur_off, cur_off + cur_len) */
	__u64 iov; /* iovec array, 0 for one buffer */
	__u64 iovcnt;
	__u64 cur_i;
	__u64 cur_off;
	__u64 cur_len;
	__u64 cur_base;
	__u64 cp; /* a payload being copied: call offsets [cp, cp_end) */
	__u64 cp_end;
	__u32 at;  /* where pieces start in s->data */
	__u32 out; /* piece bytes written */
	int done;  /* the walk reached the call's end */
	int cut;   /* frames not reported */
};

/* State of the scan over an HTTP/1 header block (h1_head), in the scratch
 * map value for the same reason as h2_walk. */
struct h1_scan {
	__u64 clen;  /* Content-Length, or H1_NO_LEN */
	__u32 pos;   /* next byte to look at */
	__u32 line;  /* start of the current line */
	__u32 len;   /* bytes captured */
	__u32 end;   /* the head's end (after its empty line), once found */
	__u32 first; /* the current line is the start line */
	__u32 colon; /* the current line has a ':' */
	__u32 bad;   /* why the kernel gives up, 0 while it does not */
	__u32 cl_at; /* a Content-Length value's offset, and its line's CR */
	__u32 cl_end;
	__u32 _pad;
};

/* Event header plus payload. Twice the cap so that (offset < cap) + (len <=
 * cap) stays in bounds for the verifier. */
struct px_scratch {
	struct px_event ev;
	__u8 data[2 * PX_MAX_PAYLOAD_CAP];
	struct h2_walk h2w;
	struct h1_scan h1s;
	struct px_h1_rec h1r;
};

/* One slot per CPU. A plain ARRAY indexed by CPU, not a PERCPU_ARRAY: per-CPU
 * values are limited to 32 KiB. max_entries is set from Go (possible CPUs).
 * Syscall tracepoints run with preemption disabled, so a slot has one user. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct px_scratch);
} px_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct px_counters);
} px_counts SEC(".maps");

/* Per-CPU generation counters; the CPU number goes in the low bits. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} px_gen SEC(".maps");

static __always_inline struct px_counters *counters(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&px_counts, &zero);
}

/* tgid's byte in px_tslots, or NULL when it is not covered. */
static __always_inline __u8 *target_slot(__u32 tgid)
{
	__u32 zero = 0;

	if (tgid >= pid_slots)
		return NULL;
	__u8 *slots = bpf_map_lookup_elem(&px_tslots, &zero);
	return slots ? slots + tgid : NULL;
}

static __always_inline int targeted(__u32 tgid)
{
	if (target_all)
		return tgid != self_tgid;
	__u8 *slot = target_slot(tgid);
	if (slot)
		return *slot;
	return bpf_map_lookup_elem(&px_targets, &tgid) != NULL;
}

/* Batched wakeups: a wakeup per event costs more than the rest of the
 * program. Wake the reader only when this record makes the queue cross
 * wakeup_bytes; a woken reader drains everything before it sleeps again,
 * and it polls every 50 ms for the rest. */
static __always_inline __u64 ring_flags(__u64 len)
{
	__u64 avail = bpf_ringbuf_query(&px_events, BPF_RB_AVAIL_DATA);

	if (avail < wakeup_bytes && avail + len >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void output(void *ev, __u64 len)
{
	struct px_counters *c = counters();
	if (bpf_ringbuf_output(&px_events, ev, len, ring_flags(len)) != 0) {
		if (c)
			c->ring_full++;
		return;
	}
	if (c)
		c->events_submitted++;
}

/* fd -> struct sock of an AF_INET/AF_INET6 TCP or UDP socket, or NULL. */
static __always_inline struct sock *inet_sock_of(int fd, __u8 *transport)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;

	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return NULL;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return NULL;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	__u16 proto = BPF_CORE_READ(sk, sk_protocol);
	if (proto == IPPROTO_TCP)
		*transport = PX_TRANSPORT_TCP;
	else if (proto == IPPROTO_UDP)
		*transport = PX_TRANSPORT_UDP;
	else
		return NULL;
	return sk;
}

static __always_inline void read_addrs(struct sock *sk, struct px_conn *c)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	c->local.family = family;
	c->remote.family = family;
	c->local.port = BPF_CORE_READ(sk, __sk_common.skc_num);
	c->remote.port = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		BPF_CORE_READ_INTO(&c->local.addr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO(&c->remote.addr, sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO(&c->local.addr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&c->remote.addr, sk, __sk_common.skc_v6_daddr);
	}
}

/* A user sockaddr (datagram peer) -> px_addr; returns 1 if it is inet. */
static __always_inline int read_sockaddr(__u64 uaddr, struct px_addr *out)
{
	struct px_sockaddr_in6 sa = {};

	if (!uaddr || bpf_probe_read_user(&sa, sizeof(struct px_sockaddr_in), (void *)uaddr))
		return 0;
	if (sa.family == AF_INET) {
		struct px_sockaddr_in *in = (struct px_sockaddr_in *)&sa;
		__builtin_memcpy(out->addr, &in->addr, 4);
	} else if (sa.family == AF_INET6) {
		if (bpf_probe_read_user(&sa, sizeof(sa), (void *)uaddr))
			return 0;
		__builtin_memcpy(out->addr, sa.addr, 16);
	} else {
		return 0;
	}
	out->family = sa.family;
	out->port = __builtin_bswap16(sa.port);
	return 1;
}

static __always_inline __u32 next_gen(void)
{
	__u32 zero = 0;
	__u32 *g = bpf_map_lookup_elem(&px_gen, &zero);
	if (!g)
		return 0;
	/* No atomic fetch-add: it needs Linux 5.12, the ring buffer only 5.8. */
	*g += 1;
	return (*g << 8) | (bpf_get_smp_processor_id() & 0xff);
}

static __always_inline void fill_header(struct px_event *ev, __u64 key, const struct px_conn *c,
					__u8 kind, __u8 op, __u64 start_ns, __u64 end_ns)
{
	ev->start_ns = start_ns;
	ev->end_ns = end_ns;
	ev->pos = 0;
	ev->tgid = key >> 32;
	ev->pid = (__u32)bpf_get_current_pid_tgid();
	ev->fd = (__s32)key;
	ev->gen = c->gen;
	ev->size = 0;
	ev->data_len = 0;
	ev->kind = kind;
	ev->role = c->role;
	ev->dir = 0;
	ev->transport = c->transport;
	ev->syscall = op;
	ev->has_peer = 0;
	ev->source = PX_SOURCE_SOCKET;
	ev->tail_len = 0;
	ev->pieces_len = 0;
	ev->_pad2 = 0;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	ev->local = c->local;
	ev->remote = c->remote;
	__builtin_memset(&ev->peer, 0, sizeof(ev->peer));
}

/* Emit an open/close event (no payload) from the stack; a close carries the
 * bytes sent (pos) and received (other_pos) since tracking began. */
static __always_inline void emit_conn_event(__u64 key, const struct px_conn *c, __u8 kind, __u8 op,
					    __u64 start_ns, __u64 end_ns)
{
	struct px_event ev;

	fill_header(&ev, key, c, kind, op, start_ns, end_ns);
	if (conn_bytes && kind == PX_KIND_CLOSE) {
		/* The connection's byte totals (conn_stats): counted here, so
		 * they hold even where no data event reached the reader. */
		ev.pos = c->pos[0];
		ev.other_pos = c->pos[1];
	}
	output(&ev, sizeof(ev));
}

#define PX_EEXIST 17

/* Set once px_nconns missed a process: from then on every exit scans
 * px_conns, so a process without a count still has its entries dropped. */
__u32 nconns_missed = 0;

static __always_inline void nconns_add(__u32 tgid, int delta)
{
	__u32 *n = bpf_map_lookup_elem(&px_nconns, &tgid);
	if (n) {
		__sync_fetch_and_add(n, delta);
		return;
	}
	if (delta > 0) {
		__u32 one = 1;
		long err = bpf_map_update_elem(&px_nconns, &tgid, &one, BPF_NOEXIST);
		if (err && err != -PX_EEXIST) { /* not added by another CPU meanwhile */
			struct px_counters *cnt = counters();
			if (cnt)
				cnt->nconns_full++;
			nconns_missed = 1;
		}
	}
}

/* Targets tgid; counts a full table. */
static __always_inline void add_target(__u32 tgid)
{
	__u8 one = 1;
	__u8 *slot = target_slot(tgid);

	if (slot) {
		*slot = 1;
		return;
	}
	if (bpf_map_update_elem(&px_targets, &tgid, &one, BPF_ANY)) {
		struct px_counters *cnt = counters();
		if (cnt)
			cnt->targets_full++;
	}
}

static const struct px_conn px_conn_zero;

/* Start tracking key's socket with role; replaces an older entry. */
static __always_inline struct px_conn *track(__u64 key, struct sock *sk, __u8 transport, __u8 role,
					     __u8 op, __u64 start_ns, __u64 end_ns)
{
	struct px_conn *old = bpf_map_lookup_elem(&px_conns, &key);

	if (old)
		/* fd reused without a close we saw (dup2, close_range, ...).
		 * Its px_h1s entry, if any, is reset by the new connection's
		 * first call (no stack is left here for a hand-off). */
		emit_conn_event(key, old, PX_KIND_CLOSE, op, start_ns, end_ns);
	/* Filled in place, not on the stack: the *mmsg exits and their
	 * bpf_loop callback share 512 bytes of it. */
	if (bpf_map_update_elem(&px_conns, &key, &px_conn_zero, BPF_ANY)) {
		struct px_counters *cnt = counters();
		if (cnt)
			cnt->conn_table_full++;
		return NULL;
	}
	struct px_conn *c = bpf_map_lookup_elem(&px_conns, &key);
	if (!c)
		return NULL;
	c->gen = next_gen();
	c->role = role;
	c->transport = transport;
	read_addrs(sk, c);
	if (!old)
		nconns_add(key >> 32, 1);
	emit_conn_event(key, c, PX_KIND_OPEN, op, start_ns, end_ns);
	return c;
}

/* The tracked connection of key, or a new role-unknown entry for a socket
 * first seen mid-stream (opened before tracing, or inherited). */
static __always_inline struct px_conn *conn_for(__u64 key, __u8 op, __u64 start_ns, __u64 end_ns)
{
	struct px_conn *c = bpf_map_lookup_elem(&px_conns, &key);
	__u8 transport = 0;

	if (c)
		return c;
	struct sock *sk = inet_sock_of((__s32)key, &transport);
	if (!sk)
		return NULL;
	return track(key, sk, transport, PX_ROLE_UNKNOWN, op, start_ns, end_ns);
}

static __always_inline struct px_scratch *scratch(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&px_scratch, &cpu);
}

#include "pixie/socktrace_h1.h"

/* Copy up to n bytes of user memory at src to s->data[off:]; returns bytes copied. */
static __always_inline __u32 copy_user(struct px_scratch *s, __u32 off, __u64 src, __u64 n,
				       int *failed)
{
	__u32 cap = max_payload;

	if (cap > PX_MAX_PAYLOAD_CAP)
		cap = PX_MAX_PAYLOAD_CAP;
	if (off >= cap)
		return 0;
	if (n > cap - off)
		n = cap - off;
	off &= PX_MAX_PAYLOAD_CAP - 1;
	n &= 2 * PX_MAX_PAYLOAD_CAP - 1;
	if (n > PX_MAX_PAYLOAD_CAP)
		return 0;
	if (n == 0)
		return 0;
	if (bpf_probe_read_user(&s->data[off], n, (void *)src)) {
		*failed = 1;
		return 0;
	}
	return n;
}

/* Gather from up to PX_MAX_IOV iovecs, at most total bytes. The running offset
 * lives in map memory (data_len) and is re-read through a volatile pointer:
 * the verifier then sees an unknown scalar at each iteration and prunes the
 * paths of the previous one instead of multiplying them (40k -> few k insns).
 * *cut is set when iovecs past the bound had bytes the capture had room for. */
static __always_inline __u32 copy_iov(struct px_scratch *s, __u64 iov, __u64 iovcnt, __u64 total,
				      int *failed, int *cut)
{
	volatile __u32 *done = &s->ev.data_len;

	*done = 0;
	for (int i = 0; i < PX_MAX_IOV; i++) {
		struct px_iovec v;
		__u32 off = *done;

		if (i >= iovcnt || off >= total || off >= max_payload)
			break;
		if (bpf_probe_read_user(&v, sizeof(v), (void *)(iov + i * sizeof(v)))) {
			*failed = 1;
			break;
		}
		__u64 n = v.len;
		if (n > total - off)
			n = total - off;
		__u32 got = copy_user(s, off, v.base, n, failed);
		if (*failed)
			break;
		*done = off + got;
	}
	if (iovcnt > PX_MAX_IOV && *done < total && *done < max_payload && !*failed)
		*cut = 1;
	return *done;
}

/* State of a bpf_loop walk over an iovec array. */
struct iov_walk {
	struct px_scratch *s;
	__u64 iov;
	__u64 total;
	__u32 done;
	int failed;
};

/* One iovec of the walk; 1 stops the loop (capture full, all bytes taken,
 * or a fault). */
static long iov_step(__u64 i, struct iov_walk *w)
{
	struct px_iovec v;
	__u32 off = w->done;

	if (off >= w->total || off >= max_payload)
		return 1;
	if (bpf_probe_read_user(&v, sizeof(v), (void *)(w->iov + i * sizeof(v)))) {
		w->failed = 1;
		return 1;
	}
	__u64 n = v.len;
	if (n > w->total - off)
		n = w->total - off;
	w->done = off + copy_user(w->s, off, v.base, n, &w->failed);
	return w->failed ? 1 : 0;
}

/* Gather from every iovec (bpf_loop, Linux 5.17), at most total bytes. */
static __always_inline __u32 copy_iov_loop(struct px_scratch *s, __u64 iov, __u64 iovcnt,
					   __u64 total, int *failed)
{
	struct iov_walk w = {.s = s, .iov = iov, .total = total};

	if (iovcnt > PX_MAX_IOV_LOOP)
		iovcnt = PX_MAX_IOV_LOOP;
	bpf_loop(iovcnt, iov_step, &w, 0);
	*failed = w.failed;
	return w.done;
}

enum px_src {
	PX_SRC_NONE,
	PX_SRC_BUF,
	PX_SRC_BUF_LOOP, /* a buffer, in programs that may use bpf_loop (px_ex_*) */
	PX_SRC_IOV,	 /* at most PX_MAX_IOV iovecs (programs px_eb_*) */
	PX_SRC_IOV_LOOP, /* every iovec, with bpf_loop (programs px_ex_*) */
	PX_SRC_IOV_HEAD, /* the same without the tail of a cut call: *mmsg, whose
			  * callback frame leaves no stack for the tail's */
};

/* Copy n <= PX_TAIL bytes of user memory at src to s->data[at:], at <= the
 * cap plus PX_TAIL. The masks give the verifier unsigned bounds. */
static __always_inline __u32 copy_tail(struct px_scratch *s, __u64 at, __u64 src, __u64 n)
{
	at &= 2 * PX_MAX_PAYLOAD_CAP - 1;
	n &= 2 * PX_TAIL - 1;
	if (at > PX_MAX_PAYLOAD_CAP + PX_TAIL || n > PX_TAIL)
		return 0;
	if (bpf_probe_read_user(&s->data[at], n, (void *)src))
		return 0;
	return n;
}

/* State of a bpf_loop walk that copies the bytes [from, end) of a call
 * gathered from iovecs to s->data[at:]. */
struct tail_walk {
	struct px_scratch *s;
	__u64 iov;
	__u64 off; /* of iovec i in the call */
	__u64 from;
	__u64 end;
	__u32 at;
	__u32 got;
};

static long tail_step(__u64 i, struct tail_walk *w)
{
	struct px_iovec v;

	if (w->off >= w->end)
		return 1;
	if (bpf_probe_read_user(&v, sizeof(v), (void *)(w->iov + i * sizeof(v))))
		return 1;
	__u64 lo = w->off > w->from ? w->off : w->from;
	__u64 hi = w->off + v.len < w->end ? w->off + v.len : w->end;
	if (lo < hi) {
		__u64 d = lo - w->from;
		if (d > PX_TAIL)
			return 1;
		w->got += copy_tail(w->s, w->at + d, v.base + (lo - w->off), hi - lo);
	}
	w->off += v.len;
	return 0;
}

/* After a full capture of len bytes of a TCP call of size bytes, its last
 * bytes (at most PX_TAIL): the parsers then see where a chunked body or
 * a message ends. Returns how many were copied (all or none). */
static __always_inline __u32 copy_call_tail(struct px_scratch *s, __u32 len, __u64 size,
					    int src_kind, __u64 src, __u64 iovcnt)
{
	__u64 n = size - len;

	if (n > PX_TAIL)
		n = PX_TAIL;
	if (src_kind == PX_SRC_BUF) {
		if (size > iovcnt) /* MSG_TRUNC: the bytes past the buffer were never there */
			return 0;
		return copy_tail(s, len, src + size - n, n);
	}
	if (src_kind != PX_SRC_IOV_LOOP)
		return 0;
	struct tail_walk w = {.s = s, .iov = src, .from = size - n, .end = size, .at = len};
	bpf_loop(iovcnt > PX_MAX_IOV_LOOP ? PX_MAX_IOV_LOOP : iovcnt, tail_step, &w, 0);
	return w.got == n ? n : 0;
}

/* HTTP/2 in cut calls. A gRPC message larger than the capture leaves its
 * call's middle unseen, and with it the frame headers there: the parser
 * would lose the frame boundaries, and the trailers (grpc-status) after
 * them. So on connections that start as HTTP/2 (the client preface, or a
 * first SETTINGS frame) the kernel follows each direction's frames over
 * every call, and reports from a cut call's middle the frame headers and
 * the payloads of frames other than DATA (HEADERS, CONTINUATION, ...) as
 * pieces: the parser skips DATA payloads by their length. Cost: one
 * bpf_loop step per frame (9 bytes read, from the capture when it holds
 * them), one per iovec crossed and one per piece copied. */

#define PX_H2_STEPS 4096 /* bpf_loop steps per call; past them the walk stops */

/* Callback context of the walk: its state is in the scratch map value. */
struct h2_ctx {
	struct px_scratch *s;
	struct px_h2 *h;
};

/* Append n <= PX_PIECES_CAP bytes of memory at src (user or kernel) to the
 * pieces; the masks give the verifier its bounds. */
static __always_inline int put_piece(struct px_scratch *s, const void *src, __u64 n, int user)
{
	struct h2_walk *w = &s->h2w;
	__u64 at = w->at + w->out;

	at &= 2 * PX_MAX_PAYLOAD_CAP - 1;
	n &= 2 * PX_PIECES_CAP - 1;
	if (at > PX_MAX_PAYLOAD_CAP + PX_TAIL + PX_PIECES_CAP || n > PX_PIECES_CAP || n == 0)
		return -1;
	long err = user ? bpf_probe_read_user(&s->data[at], n, src)
			: bpf_probe_read_kernel(&s->data[at], n, src);
	if (err)
		return -1;
	w->out += n;
	return 0;
}

/* Start a piece of len bytes at call offset off if it fits. */
static __always_inline int open_piece(struct px_scratch *s, __u64 off, __u64 len)
{
	struct px_piece pc = {.off = off, .len = len};

	if (s->h2w.out + sizeof(pc) + len > PX_PIECES_CAP)
		return -1;
	return put_piece(s, &pc, sizeof(pc), 0);
}

/* A whole frame header is in h->hdr: report what lies in the middle, and
 * move to the next frame. */
static __always_inline void h2_frame(struct px_scratch *s, struct px_h2 *h)
{
	struct h2_walk *w = &s->h2w;
	__u64 len = (__u64)h->hdr[0] << 16 | (__u64)h->hdr[1] << 8 | h->hdr[2];
	__s64 start = (__s64)(h->next - w->pos); /* may be < 0: began in an earlier call */
	__s64 lo = w->lo, hi = w->hi;
	__s64 a = start > lo ? start : lo;
	__s64 b = start + 9 < hi ? start + 9 : hi;

	if (a < b) {
		__u64 k = a - start;
		if (k > 8 || open_piece(s, a, b - a) ||
		    put_piece(s, &h->hdr[k & 7], (b - a) & 15, 0))
			w->cut = 1;
	}
	if (h->hdr[3] != 0 && len > 0) { /* not DATA: its payload too */
		a = start + 9 > lo ? start + 9 : lo;
		b = start + 9 + (__s64)len < hi ? start + 9 + (__s64)len : hi;
		if (a < b) {
			if (open_piece(s, a, b - a))
				w->cut = 1;
			else
				w->cp = a, w->cp_end = b;
		}
	}
	h->next += 9 + len;
	h->hn = 0;
}

/* Read the header byte(s) at call offset o from the capture, else from
 * the user memory at src (avail bytes there). */
static __always_inline int h2_hdr_bytes(struct px_scratch *s, struct px_h2 *h, __u64 o, __u64 src,
					__u64 avail)
{
	__u32 hn = h->hn;

	if (hn == 0 && avail >= 9) {
		if (o + 9 <= s->h2w.lo) {
			if (bpf_probe_read_kernel(h->hdr, 9,
						  &s->data[o & (PX_MAX_PAYLOAD_CAP - 1)]))
				return -1;
		} else if (bpf_probe_read_user(h->hdr, 9, (void *)src)) {
			return -1;
		}
		h->hn = 9;
		return 0;
	}
	/* A header split over iovecs or calls: a byte at a time. */
	if (hn > 8 || bpf_probe_read_user(&h->hdr[hn & 15], 1, (void *)src))
		return -1;
	h->hn = hn + 1;
	return 0;
}

static long h2_step(__u64 i, struct h2_ctx *x)
{
	struct px_scratch *s = x->s;
	struct px_h2 *h = x->h;
	struct h2_walk *w = &s->h2w;
	int copying = w->cp < w->cp_end;
	__u64 o = copying ? w->cp : h->next + h->hn - w->pos;

	if (o >= w->size) {
		w->done = 1;
		return 1;
	}
	if (o < w->cur_off)
		return 1;
	if (o >= w->cur_off + w->cur_len) { /* the next iovec */
		struct px_iovec v;
		if (!w->iov || w->cur_i + 1 >= w->iovcnt ||
		    bpf_probe_read_user(&v, sizeof(v),
					(void *)(w->iov + (w->cur_i + 1) * sizeof(v))))
			return 1;
		w->cur_i++;
		w->cur_off += w->cur_len;
		w->cur_len = v.len;
		w->cur_base = v.base;
		return 0;
	}
	__u64 avail = w->cur_off + w->cur_len - o;
	__u64 src = w->cur_base + (o - w->cur_off);
	if (copying) {
		__u64 n = w->cp_end - w->cp;
		if (n > avail)
			n = avail;
		if (put_piece(s, (void *)src, n, 1))
			return 1;
		w->cp += n;
		return 0;
	}
	if (h2_hdr_bytes(s, h, o, src, avail))
		return 1;
	if (h->hn == 9)
		h2_frame(s, h);
	return 0;
}

/* "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" as three little-endian words. */
#define H2_PRE0 0x5448202a20495250ULL
#define H2_PRE1 0x0a0d302e322f5054ULL
#define H2_PRE2 0x0a0d0a0d4d530a0dULL
static const struct px_h2s_val h2_zero;

/* The first bytes of a direction (pos 0) start HTTP/2: the client preface
 * (then the other direction starts with frames too, if it has not moved
 * yet), or a SETTINGS frame that is no ACK on stream 0, as a server's
 * first write and a client's first read are. Returns the bits of
 * px_conn.h2 to set, and where the first frame is. */
static __always_inline __u8 h2_start(struct px_scratch *s, struct px_conn *c, int d, __u32 len,
				     __u64 *next)
{
	__u8 *b = s->data;
	__u64 *p = (__u64 *)b;

	/* The preface as three little-endian words. */
	if (len >= 24 && p[0] == H2_PRE0 && p[1] == H2_PRE1 && p[2] == H2_PRE2) {
		*next = 24;
		if (c->pos[1 - d] == 0 && !(c->h2 & (1 << (1 - d))))
			return 3;
		return 1 << d;
	}
	__u32 flen = (__u32)b[0] << 16 | (__u32)b[1] << 8 | b[2];
	if (len >= 9 && c->role != PX_ROLE_UNKNOWN && b[3] == 4 && b[4] == 0 && !b[5] && !b[6] &&
	    !b[7] && !b[8] && flen % 6 == 0 && flen <= 16384) {
		*next = 0;
		return 1 << d;
	}
	return 0;
}

/* Direction d's frame state, started at the call of stream offset pos
 * when that is the first of an HTTP/2 direction; NULL when not walked. */
static __always_inline struct px_h2 *h2_state(struct px_scratch *s, __u64 key, struct px_conn *c,
					      int d, __u64 pos, __u32 cap)
{
	struct px_h2s_val *v;
	__u64 next = 0;

	if (pos == 0 && !(c->h2 & (1 << d))) {
		__u8 bits = h2_start(s, c, d, cap, &next);
		if (!bits)
			return NULL;
		v = bpf_map_lookup_elem(&px_h2s, &key);
		if (!v) {
			if (bpf_map_update_elem(&px_h2s, &key, &h2_zero, BPF_ANY))
				return NULL;
			v = bpf_map_lookup_elem(&px_h2s, &key);
			if (!v)
				return NULL;
		}
		if (bits & 1 << (1 - d)) {
			v->d[(1 - d) & 1].next = 0;
			v->d[(1 - d) & 1].hn = 0;
		}
		v->d[d & 1].next = next;
		v->d[d & 1].hn = 0;
		c->h2 |= bits;
		return &v->d[d & 1];
	}
	if (!(c->h2 & (1 << d)))
		return NULL;
	v = bpf_map_lookup_elem(&px_h2s, &key);
	if (!v) {
		c->h2 &= ~(1 << d);
		return NULL;
	}
	return &v->d[d & 1];
}

/* Walk the HTTP/2 frames of a call of size bytes at stream offset pos, of
 * which the first cap were captured and the last tail too; returns the
 * bytes of pieces written after them. */
static __always_inline __u32 h2_frames(struct px_scratch *s, __u64 key, struct px_conn *c, int d,
				       __u64 pos, __u64 size, __u32 cap, __u32 tail, int src_kind,
				       __u64 src, __u64 count)
{
	struct px_h2 *h = h2_state(s, key, c, d, pos, cap);

	if (!h)
		return 0;
	if (h->next + h->hn < pos) { /* calls not walked (sendfile, a fault) */
		c->h2 &= ~(1 << d);
		return 0;
	}
	struct h2_walk *w = &s->h2w;
	struct h2_ctx x = {.s = s, .h = h};
	w->pos = pos;
	w->size = size;
	w->lo = cap;
	w->hi = size - tail;
	w->at = cap + tail;
	w->out = 0;
	w->cp = w->cp_end = 0;
	w->cur_off = w->cur_i = 0;
	w->done = w->cut = 0;
	if (src_kind == PX_SRC_BUF) {
		w->iov = w->iovcnt = 0;
		w->cur_base = src;
		w->cur_len = size < count ? size : count;
	} else {
		struct px_iovec v;
		if (!count || bpf_probe_read_user(&v, sizeof(v), (void *)src)) {
			c->h2 &= ~(1 << d);
			return 0;
		}
		w->iov = src;
		w->iovcnt = count > PX_MAX_IOV_LOOP ? PX_MAX_IOV_LOOP : count;
		w->cur_base = v.base;
		w->cur_len = v.len;
	}
	bpf_loop(PX_H2_STEPS, h2_step, &x, 0);
	if (!w->done)
		c->h2 &= ~(1 << d); /* the boundaries are lost: stop walking */
	if (w->cut || (!w->done && w->hi > w->lo)) {
		struct px_counters *cnt = counters();
		if (cnt)
			cnt->h2_cut++;
	}
	__u32 out = w->out;
	return out > PX_PIECES_CAP ? 0 : out;
}

/* Emit one data event: size bytes moved in dir, payload from src (a buffer
 * of iovcnt bytes, or an array of iovcnt iovecs). TLS plaintext counts its
 * own positions: it is another stream than the socket's ciphertext. */
static __always_inline void emit_data_src(__u64 key, struct px_conn *c, __u8 op, __u8 dir,
					  __u64 size, int src_kind, __u64 src, __u64 iovcnt,
					  __u64 peer_addr, __u64 start_ns, __u64 end_ns,
					  __u8 source)
{
	struct px_scratch *s = scratch();
	struct px_counters *cnt;
	int failed = 0, cut = 0;
	int loop = src_kind == PX_SRC_BUF_LOOP || src_kind == PX_SRC_IOV_LOOP;
	__u32 len = 0;

	if (!s)
		return;
	if (src_kind == PX_SRC_BUF_LOOP)
		src_kind = PX_SRC_BUF;
	fill_header(&s->ev, key, c, PX_KIND_DATA, op, start_ns, end_ns);
	s->ev.dir = dir;
	s->ev.size = size;
	/* Not atomic (see next_gen): threads racing on one socket's direction
	 * interleave their bytes anyway. */
	int d = dir == PX_DIR_EGRESS ? 0 : 1;
	__u64 *pos = source == PX_SOURCE_TLS ? c->tls_pos : c->pos;
	s->ev.source = source;
	s->ev.pos = pos[d];
	s->ev.other_pos = pos[1 - d];
	pos[d] += size;
	if (peer_addr && read_sockaddr(peer_addr, &s->ev.peer))
		s->ev.has_peer = 1;

	/* A buffer's length bounds the copy: with MSG_TRUNC, recv returns
	 * the datagram's full length, which can exceed the buffer. */
	if (src_kind == PX_SRC_BUF)
		len = copy_user(s, 0, src, size < iovcnt ? size : iovcnt, &failed);
	else if (src_kind == PX_SRC_IOV)
		len = copy_iov(s, src, iovcnt, size, &failed, &cut);
	else if (src_kind == PX_SRC_IOV_LOOP || src_kind == PX_SRC_IOV_HEAD)
		len = copy_iov_loop(s, src, iovcnt, size, &failed);
	__u32 tail = 0;
	if (src_kind != PX_SRC_IOV_HEAD && !failed && !cut && c->transport == PX_TRANSPORT_TCP &&
	    len >= max_payload && len < size)
		tail = copy_call_tail(s, len, size, src_kind, src, iovcnt);
	s->ev.tail_len = tail;
	s->ev.data_len = len + tail;
	if (h1_summary && source == PX_SOURCE_SOCKET && c->transport == PX_TRANSPORT_TCP &&
	    src_kind != PX_SRC_IOV_HEAD && c->h1 != PX_H1_PAYLOAD && !c->h2) {
		__u32 n = failed ? 0 : len;
		int r = loop ? h1_call_heads(key, n) : h1_call_body(key, n);
		if (r > 0)
			return; /* accounted for in the kernel */
		if (r < 0)
			h1_leave(key, size | (__u64)d << 63, -r & 0xff, -r >> 8);
	}
	__u32 pieces = 0;
	if (loop && !failed && source == PX_SOURCE_SOCKET && c->transport == PX_TRANSPORT_TCP)
		pieces = h2_frames(s, key, c, d, s->ev.pos, size, len, tail, src_kind, src, iovcnt);
	s->ev.pieces_len = pieces;

	cnt = counters();
	if (cnt) {
		if (failed)
			cnt->read_failed++;
		else if (cut)
			cnt->iov_cut++;
		else if (src_kind != PX_SRC_NONE && len + tail < size) {
			cnt->truncated++;
			cnt->truncated_bytes += size - len - tail;
		}
	}
	len += tail + pieces;
	len &= 2 * PX_MAX_PAYLOAD_CAP - 1;
	output(&s->ev, sizeof(s->ev) + len);
}

static __always_inline void emit_data(__u64 key, struct px_conn *c, __u8 op, __u8 dir, __u64 size,
				      int src_kind, __u64 src, __u64 iovcnt, __u64 peer_addr,
				      __u64 start_ns, __u64 end_ns)
{
	emit_data_src(key, c, op, dir, size, src_kind, src, iovcnt, peer_addr, start_ns, end_ns,
		      PX_SOURCE_SOCKET);
}

#include "pixie/socktrace_tls.h"

static __always_inline int on_enter(__u8 op, __s32 fd, __u64 buf, __u64 count, __u64 addr)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (!targeted(id >> 32))
		return 0;
	/* The thread's slot is reused in place: an update allocates and frees
	 * a hash element each call, which costs more than the rest of enter. */
	struct px_args *a = bpf_map_lookup_elem(&px_args, &id);
	if (a) {
		a->start_ns = bpf_ktime_get_ns();
		a->buf = buf;
		a->count = count;
		a->addr = addr;
		a->fd = fd;
		a->op = op;
		return 0;
	}
	struct px_args n = {
	    .start_ns = bpf_ktime_get_ns(),
	    .buf = buf,
	    .count = count,
	    .addr = addr,
	    .fd = fd,
	    .op = op,
	};
	if (bpf_map_update_elem(&px_args, &id, &n, BPF_ANY)) {
		struct px_counters *cnt = counters();
		if (cnt)
			cnt->args_full++;
	}
	return 0;
}

/* This thread's saved args of a call op (or op2), consumed. Checking op
 * guards against pairing an exit with another syscall's enter. The slot is
 * freed when the thread exits (px_exit), or untargeted (RemovePID). The
 * filter comes first: it is cheaper than the lookup that would find nothing
 * in every other process of the host. */
static __always_inline int take_args(struct px_args *out, __u8 op, __u8 op2)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (!targeted(id >> 32))
		return 0;
	struct px_args *a = bpf_map_lookup_elem(&px_args, &id);

	if (!a || (a->op != op && a->op != op2))
		return 0;
	*out = *a;
	a->op = 0;
	return 1;
}

static __always_inline __u64 conn_key(__s32 fd)
{
	return (bpf_get_current_pid_tgid() & 0xffffffff00000000ULL) | (__u32)fd;
}

/* on_exit_buf's dir of a call whose direction is only known at entry,
 * which saves it in the buf slot (splice). */
#define PX_DIR_SAVED 0xff

/* read/write/sendto/recvfrom/sendfile/splice: one buffer (or none). */
static __always_inline int on_exit_buf(struct px_sys_exit *ctx, __u8 op, __u8 dir, int src_kind)
{
	struct px_args a;

	if (!take_args(&a, op, op))
		return 0;
	if (dir == PX_DIR_SAVED) {
		dir = a.buf;
		a.buf = 0;
	}
	if (ctx->ret <= 0)
		return 0;
	__u64 end = bpf_ktime_get_ns();
	__u64 key = conn_key(a.fd);
	struct px_conn *c = conn_for(key, a.op, a.start_ns, end);
	if (!c)
		return 0;
	tls_after_sock(bpf_get_current_pid_tgid(), a.fd, dir);
	emit_data(key, c, a.op, dir, ctx->ret, src_kind, a.buf, a.count, a.addr, a.start_ns, end);
	return 0;
}

/* sendmsg/recvmsg: a msghdr with an iovec array and an optional peer. */
static __always_inline int on_exit_msg(struct px_sys_exit *ctx, __u8 op, __u8 dir, int src_kind)
{
	struct px_args a;
	struct px_msghdr m;

	if (!take_args(&a, op, op))
		return 0;
	if (ctx->ret <= 0)
		return 0;
	__u64 end = bpf_ktime_get_ns();
	__u64 key = conn_key(a.fd);
	struct px_conn *c = conn_for(key, a.op, a.start_ns, end);
	if (!c)
		return 0;
	tls_after_sock(bpf_get_current_pid_tgid(), a.fd, dir);
	if (bpf_probe_read_user(&m, sizeof(m), (void *)a.buf)) {
		struct px_counters *cnt = counters();
		if (cnt)
			cnt->read_failed++;
		emit_data(key, c, a.op, dir, ctx->ret, PX_SRC_NONE, 0, 0, 0, a.start_ns, end);
		return 0;
	}
	emit_data(key, c, a.op, dir, ctx->ret, src_kind, m.iov, m.iovlen, m.namelen ? m.name : 0,
		  a.start_ns, end);
	return 0;
}

/* State of a bpf_loop walk over an mmsghdr array. */
struct mmsg_walk {
	__u64 key;
	struct px_conn *c;
	__u64 vec;
	__u64 start_ns;
	__u64 end_ns;
	__u8 op;
	__u8 dir;
};

/* One message of the walk: one event, every iovec copied. */
static long mmsg_step(__u64 i, struct mmsg_walk *w)
{
	struct px_mmsghdr mm;

	if (bpf_probe_read_user(&mm, sizeof(mm), (void *)(w->vec + i * sizeof(mm)))) {
		struct px_counters *cnt = counters();
		if (cnt)
			cnt->read_failed++;
		return 1;
	}
	emit_data(w->key, w->c, w->op, w->dir, mm.len, PX_SRC_IOV_HEAD, mm.hdr.iov, mm.hdr.iovlen,
		  mm.hdr.namelen ? mm.hdr.name : 0, w->start_ns, w->end_ns);
	return 0;
}

/* sendmmsg/recvmmsg: ret messages, one event each; every message with
 * bpf_loop, else the first PX_MAX_MMSG and the rest counted in mmsg_cut. */
static __always_inline int on_exit_mmsg(struct px_sys_exit *ctx, __u8 op, __u8 dir, int src_kind)
{
	struct px_args a;

	if (!take_args(&a, op, op))
		return 0;
	if (ctx->ret <= 0)
		return 0;
	__u64 end = bpf_ktime_get_ns();
	__u64 key = conn_key(a.fd);
	struct px_conn *c = conn_for(key, a.op, a.start_ns, end);
	if (!c)
		return 0;
	/* A TCP connection's *mmsg call goes as payload, and so does the rest
	 * of it: in the bpf_loop callback below no stack is left for the
	 * HTTP/1 parser's frames. Handed off before the call (nothing of it is
	 * counted yet). */
	if (h1_summary && c->transport == PX_TRANSPORT_TCP && c->h1 != PX_H1_PAYLOAD && !c->h2)
		h1_leave(key, 0, H1_FB_CONN, c->h1 == PX_H1_KERNEL);
	if (src_kind == PX_SRC_IOV_LOOP) {
		struct mmsg_walk w = {.key = key,
				      .c = c,
				      .vec = a.buf,
				      .start_ns = a.start_ns,
				      .end_ns = end,
				      .op = a.op,
				      .dir = dir};
		/* ret <= vlen <= UIO_MAXIOV */
		bpf_loop(ctx->ret > PX_MAX_IOV_LOOP ? PX_MAX_IOV_LOOP : ctx->ret, mmsg_step, &w, 0);
		return 0;
	}
	for (int i = 0; i < PX_MAX_MMSG; i++) {
		struct px_mmsghdr mm;

		if (i >= ctx->ret)
			break;
		if (bpf_probe_read_user(&mm, sizeof(mm), (void *)(a.buf + i * sizeof(mm)))) {
			struct px_counters *cnt = counters();
			if (cnt)
				cnt->read_failed++;
			break;
		}
		emit_data(key, c, a.op, dir, mm.len, src_kind, mm.hdr.iov, mm.hdr.iovlen,
			  mm.hdr.namelen ? mm.hdr.name : 0, a.start_ns, end);
	}
	if (ctx->ret > PX_MAX_MMSG) {
		struct px_counters *cnt = counters();
		if (cnt)
			cnt->mmsg_cut += ctx->ret - PX_MAX_MMSG;
	}
	return 0;
}

#define SYS_ENTER(name) SEC("tracepoint/syscalls/sys_enter_" #name)
#define SYS_EXIT(name) SEC("tracepoint/syscalls/sys_exit_" #name)

/* The exits of the vector calls come twice: px_ex_NAME copies every iovec
 * with bpf_loop, px_eb_NAME at most PX_MAX_IOV (kernels < 5.17, where Go
 * loads these instead). */
#define VEC_EXIT(name, fn, ...)                                                                    \
	SYS_EXIT(name) int px_ex_##name(struct px_sys_exit *ctx)                                   \
	{                                                                                          \
		return fn(ctx, __VA_ARGS__, PX_SRC_IOV_LOOP);                                      \
	}                                                                                          \
	SYS_EXIT(name) int px_eb_##name(struct px_sys_exit *ctx)                                   \
	{                                                                                          \
		return fn(ctx, __VA_ARGS__, PX_SRC_IOV);                                           \
	}

/* The same for calls of one buffer: px_ex_NAME follows HTTP/2 frames
 * (h2_frames, with bpf_loop), px_eb_NAME does not. */
#define BUF_EXIT(name, op, dir)                                                                    \
	SYS_EXIT(name) int px_ex_##name(struct px_sys_exit *ctx)                                   \
	{                                                                                          \
		return on_exit_buf(ctx, op, dir, PX_SRC_BUF_LOOP);                                 \
	}                                                                                          \
	SYS_EXIT(name) int px_eb_##name(struct px_sys_exit *ctx)                                   \
	{                                                                                          \
		return on_exit_buf(ctx, op, dir, PX_SRC_BUF);                                      \
	}

/* The event loop polls: an SSL* that its callback did not write for
 * stays unbound (px_tls_pending). */
SYS_ENTER(epoll_wait) int px_en_ep_wait(struct px_sys_enter *ctx)
{
	tls_drop_pending();
	return 0;
}

SYS_ENTER(epoll_pwait) int px_en_ep_pwait(struct px_sys_enter *ctx)
{
	tls_drop_pending();
	return 0;
}

SYS_ENTER(epoll_pwait2) int px_en_ep_pwait2(struct px_sys_enter *ctx)
{
	tls_drop_pending();
	return 0;
}

SYS_ENTER(read) int px_en_read(struct px_sys_enter *ctx)
{
	return on_enter(PX_SYS_READ, ctx->args[0], ctx->args[1], ctx->args[2], 0);
}

BUF_EXIT(read, PX_SYS_READ, PX_DIR_INGRESS)

SYS_ENTER(write) int px_en_write(struct px_sys_enter *ctx)
{
	return on_enter(PX_SYS_WRITE, ctx->args[0], ctx->args[1], ctx->args[2], 0);
}

BUF_EXIT(write, PX_SYS_WRITE, PX_DIR_EGRESS)

SYS_ENTER(readv) int px_en_readv(struct px_sys_enter *ctx)
{
	return on_enter(PX_SYS_READV, ctx->args[0], ctx->args[1], ctx->args[2], 0);
}

VEC_EXIT(readv, on_exit_buf, PX_SYS_READV, PX_DIR_INGRESS)

SYS_ENTER(writev) int px_en_writev(struct px_sys_enter *ctx)
{
	return on_enter(PX_SYS_WRITEV, ctx->args[0], ctx->args[1], ctx->args[2], 0);
}

VEC_EXIT(writev, on_exit_buf, PX_SYS_WRITEV, PX_DIR_EGRESS)

SYS_ENTER(sendto) int px_en_sendto(struct px_sys_enter *ctx)
{
	return on_enter(PX_SYS_SENDTO, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[4]);
}

BUF_EXIT(sendto, PX_SYS_SENDTO, PX_DIR_EGRESS)

SYS_ENTER(recvfrom) int px_en_recvfrom(struct px_sys_enter *ctx)
{
	/* MSG_PEEK leaves the bytes queued: the next read reports them. */
	if (ctx->args[3] & MSG_PEEK)
		return 0;
	return on_enter(PX_SYS_RECVFROM, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[4]);
}

BUF_EXIT(recvfrom, PX_SYS_RECVFROM, PX_DIR_INGRESS)

SYS_ENTER(sendmsg) int px_en_sendmsg(struct px_sys_enter *ctx)
{
	return on_enter(PX_SYS_SENDMSG, ctx->args[0], ctx->args[1], 0, 0);
}

VEC_EXIT(sendmsg, on_exit_msg, PX_SYS_SENDMSG, PX_DIR_EGRESS)

SYS_ENTER(recvmsg) int px_en_recvmsg(struct px_sys_enter *ctx)
{
	if (ctx->args[2] & MSG_PEEK)
		return 0;
	return on_enter(PX_SYS_RECVMSG, ctx->args[0], ctx->args[1], 0, 0);
}

VEC_EXIT(recvmsg, on_exit_msg, PX_SYS_RECVMSG, PX_DIR_INGRESS)

SYS_ENTER(sendmmsg) int px_en_sendmmsg(struct px_sys_enter *ctx)
{
	return on_enter(PX_SYS_SENDMMSG, ctx->args[0], ctx->args[1], ctx->args[2], 0);
}

VEC_EXIT(sendmmsg, on_exit_mmsg, PX_SYS_SENDMMSG, PX_DIR_EGRESS)

SYS_ENTER(recvmmsg) int px_en_recvmmsg(struct px_sys_enter *ctx)
{
	return on_enter(PX_SYS_RECVMMSG, ctx->args[0], ctx->args[1], ctx->args[2], 0);
}

VEC_EXIT(recvmmsg, on_exit_mmsg, PX_SYS_RECVMMSG, PX_DIR_INGRESS)

/* sendfile64(out_fd, in_fd, offset, count): the bytes never pass a user
 * buffer, so the event carries Size and no data. */
SYS_ENTER(sendfile64) int px_en_sendfile(struct px_sys_enter *ctx)
{
	return on_enter(PX_SYS_SENDFILE, ctx->args[0], 0, 0, 0);
}

SYS_EXIT(sendfile64) int px_ex_sendfile(struct px_sys_exit *ctx)
{
	return on_exit_buf(ctx, PX_SYS_SENDFILE, PX_DIR_EGRESS, PX_SRC_NONE);
}

/* splice(fd_in, off_in, fd_out, off_out, len, flags): one side is a pipe.
 * Like sendfile, the bytes pass no user buffer: Size and no data. The side
 * that is an inet socket is saved, with its direction in the buf slot. */
SYS_ENTER(splice) int px_en_splice(struct px_sys_enter *ctx)
{
	__u8 transport = 0;

	if (!targeted(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (inet_sock_of(ctx->args[2], &transport))
		return on_enter(PX_SYS_SPLICE, ctx->args[2], PX_DIR_EGRESS, 0, 0);
	if (inet_sock_of(ctx->args[0], &transport))
		return on_enter(PX_SYS_SPLICE, ctx->args[0], PX_DIR_INGRESS, 0, 0);
	return 0;
}

SYS_EXIT(splice) int px_ex_splice(struct px_sys_exit *ctx)
{
	return on_exit_buf(ctx, PX_SYS_SPLICE, PX_DIR_SAVED, PX_SRC_NONE);
}

SYS_ENTER(connect) int px_en_connect(struct px_sys_enter *ctx)
{
	return on_enter(PX_SYS_CONNECT, ctx->args[0], 0, 0, 0);
}

SYS_EXIT(connect) int px_ex_connect(struct px_sys_exit *ctx)
{
	struct px_args a;
	__u8 transport = 0;

	if (!take_args(&a, PX_SYS_CONNECT, PX_SYS_CONNECT))
		return 0;
	if (ctx->ret != 0 && ctx->ret != -EINPROGRESS)
		return 0;
	struct sock *sk = inet_sock_of(a.fd, &transport);
	if (!sk)
		return 0;
	track(conn_key(a.fd), sk, transport, PX_ROLE_CLIENT, a.op, a.start_ns, bpf_ktime_get_ns());
	return 0;
}

static __always_inline int on_exit_accept(struct px_sys_exit *ctx)
{
	struct px_args a;
	__u8 transport = 0;

	if (!take_args(&a, PX_SYS_ACCEPT, PX_SYS_ACCEPT4))
		return 0;
	if (ctx->ret < 0)
		return 0;
	__s32 fd = ctx->ret;
	struct sock *sk = inet_sock_of(fd, &transport);
	if (!sk)
		return 0;
	track(conn_key(fd), sk, transport, PX_ROLE_SERVER, a.op, a.start_ns, bpf_ktime_get_ns());
	return 0;
}

SYS_ENTER(accept) int px_en_accept(struct px_sys_enter *ctx)
{
	return on_enter(PX_SYS_ACCEPT, ctx->args[0], 0, 0, 0);
}

SYS_EXIT(accept) int px_ex_accept(struct px_sys_exit *ctx)
{
	return on_exit_accept(ctx);
}

SYS_ENTER(accept4) int px_en_accept4(struct px_sys_enter *ctx)
{
	return on_enter(PX_SYS_ACCEPT4, ctx->args[0], 0, 0, 0);
}

SYS_EXIT(accept4) int px_ex_accept4(struct px_sys_exit *ctx)
{
	return on_exit_accept(ctx);
}

SYS_ENTER(close) int px_en_close(struct px_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (!targeted(id >> 32))
		return 0;
	/* Only tracked sockets need the exit half. */
	__u64 key = conn_key(ctx->args[0]);
	struct px_conn *c = bpf_map_lookup_elem(&px_conns, &key);
	if (!c)
		return 0;
	/* The connection's generation: close(2) frees the fd number before it
	 * returns, so another thread may open a socket on it meanwhile; the
	 * exit must not end that one. */
	return on_enter(PX_SYS_CLOSE, ctx->args[0], c->gen, 0, 0);
}

SYS_EXIT(close) int px_ex_close(struct px_sys_exit *ctx)
{
	struct px_args a;

	if (!take_args(&a, PX_SYS_CLOSE, PX_SYS_CLOSE))
		return 0;
	if (ctx->ret != 0)
		return 0;
	__u64 key = conn_key(a.fd);
	struct px_conn *c = bpf_map_lookup_elem(&px_conns, &key);
	if (!c || c->gen != a.buf) /* a.buf: the generation at entry */
		return 0;	   /* gone, or a new socket took the fd: its open closed ours */
	h1_end(key, c);
	emit_conn_event(key, c, PX_KIND_CLOSE, PX_SYS_CLOSE, a.start_ns, bpf_ktime_get_ns());
	bpf_map_delete_elem(&px_conns, &key);
	nconns_add(key >> 32, -1);
	return 0;
}

/* sched_process_fork(parent, child), in the parent's context: a new process
 * forked by a targeted one is targeted too (threads share the tgid), and
 * reported before the child runs, so before any event of its own: a server
 * forking a process per connection (PostgreSQL) has it named by its pod. */
SEC("raw_tracepoint/sched_process_fork")
int px_fork(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (target_all || !targeted(tgid))
		return 0;
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	if (ctgid == tgid)
		return 0;
	add_target(ctgid);
	struct px_conn none = {};
	__u64 now = bpf_ktime_get_ns();
	emit_conn_event(((__u64)ctgid << 32) | tgid, &none, PX_KIND_FORK, 0, now, now);
	return 0;
}

/* sched_process_exec(task, old_pid, bprm), in the new program's context,
 * after the comm was set from the file name: a process that runs a
 * targeted command name is targeted before its first syscall returns. */
SEC("raw_tracepoint/sched_process_exec")
int px_exec(struct bpf_raw_tracepoint_args *ctx)
{
	char comm[16] = {};

	if (target_all)
		return 0;
	bpf_get_current_comm(comm, sizeof(comm));
	if (!bpf_map_lookup_elem(&px_comms, comm))
		return 0;
	add_target(bpf_get_current_pid_tgid() >> 32);
	return 0;
}

struct exit_scan {
	__u32 tgid;
	__u32 _pad;
	__u64 now;
};

static long drop_conn(void *map, __u64 *key, struct px_conn *c, struct exit_scan *x)
{
	if ((*key >> 32) != x->tgid)
		return 0;
	h1_end(*key, c);
	emit_conn_event(*key, c, PX_KIND_CLOSE, PX_SYS_EXIT, x->now, x->now);
	bpf_map_delete_elem(map, key);
	return 0;
}

/* sched_process_exit(task), in the exiting thread's context. When the
 * whole group is gone, its sockets were closed without close(2): report
 * and drop them, and forget the tgid (pids get reused). Returns the tgid
 * when the caller must drop the process's connections, else 0. */
static __always_inline __u32 on_process_exit(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	/* Unconditional: the thread may have been untargeted since. */
	bpf_map_delete_elem(&px_args, &id);
	if (!targeted(tgid))
		return 0;

	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	__u8 *slot = target_slot(tgid);
	if (slot)
		*slot = 0;
	else
		bpf_map_delete_elem(&px_targets, &tgid);
	__u32 *n = bpf_map_lookup_elem(&px_nconns, &tgid);
	if (!n)
		return nconns_missed ? tgid : 0; /* its connections were not counted */
	__u32 open = *n;
	bpf_map_delete_elem(&px_nconns, &tgid);
	return open > 0 || nconns_missed ? tgid : 0;
}

SEC("raw_tracepoint/sched_process_exit")
int px_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tgid = on_process_exit();

	if (tgid) {
		struct exit_scan x = {.tgid = tgid, .now = bpf_ktime_get_ns()};
		bpf_for_each_map_elem(&px_conns, drop_conn, &x, 0);
	}
	return 0;
}

/* For kernels without bpf_for_each_map_elem (< 5.13); Go loads one of the
 * two. It reports the exit once, with fd -1, and Go drops the process's
 * px_conns entries and reports their closes. */
SEC("raw_tracepoint/sched_process_exit")
int px_exit_old(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tgid = on_process_exit();

	if (tgid) {
		struct px_conn none = {};
		__u64 now = bpf_ktime_get_ns();
		emit_conn_event(((__u64)tgid << 32) | 0xffffffff, &none, PX_KIND_CLOSE, PX_SYS_EXIT,
				now, now);
	}
	return 0;
}
