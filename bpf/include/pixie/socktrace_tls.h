/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * TLS plaintext for the socket tracer: uprobes on OpenSSL (SSL_write,
 * SSL_read and their _ex forms) and Go crypto/tls.(*Conn).Write/Read.
 * Included by socktrace.bpf.c after emit_data_src: the plaintext is
 * reported on the socket's connection (tgid, fd, gen) with source
 * PX_SOURCE_TLS, so the consumer sees the same connection as for the
 * syscalls, and ignores its ciphertext.
 *
 * x86-64 only (register layout below); Go attaches nothing elsewhere.
 *
 * Which socket: OpenSSL's SSL* does not give the fd without per-version
 * struct offsets, so the fd is taken from the first socket syscall the
 * thread makes inside the SSL call (tls_after_sock) and kept
 * per SSL* for calls served from OpenSSL's buffer without a syscall.
 * Memory-BIO users (Node.js) make no syscall inside: see px_tls_pending. Go's
 * fd is read from the *tls.Conn: conn (a net.Conn of *net.TCPConn) ->
 * netFD -> poll.FD.Sysfd, offsets stable since Go 1.9.
 */
#ifndef PIXIE_SOCKTRACE_TLS_H
#define PIXIE_SOCKTRACE_TLS_H

/* struct pt_regs of x86-64, as uprobe programs see it. */
struct px_regs_x86 {
	__u64 r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	__u64 ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

/* Go offsets (amd64): tls.Conn.conn is the first field (an interface:
 * itab, data); net.TCPConn -> conn.fd *netFD is at 0; netFD.pfd is at 0
 * and poll.FD.Sysfd follows fdMutex (16 bytes). An itab holds its concrete
 * type's hash at 16. */
#define PX_GO_SYSFD_OFF 16
#define PX_GO_ITAB_HASH_OFF 16

/* The compiler's type hash of *net.TCPConn, set from Go: md5-based before
 * Go 1.24, sha256-based since. A net.Conn of another type gives no fd. */
volatile const __u32 go_tcpconn_hash_md5 = 0;
volatile const __u32 go_tcpconn_hash_sha = 0;

/* BPF_MAP_TYPE_LRU_HASH (pixie/types.h lists only the types others use). */
#define PX_MAP_TYPE_LRU_HASH 9

/* A TLS call in flight. */
struct px_tls_args {
	__u64 start_ns;
	__u64 ssl; /* SSL* (OpenSSL) */
	__u64 buf;
	__u64 ex_len; /* SSL_*_ex: size_t *written or *readbytes */
	__s32 fd;     /* socket of the call, -1 until known */
	__u8 op;
	__u8 _pad[3];
};

/* OpenSSL calls in flight, by thread. */
struct {
	__uint(type, PX_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u64);
	__type(value, struct px_tls_args);
} px_tls_args SEC(".maps");

struct px_ssl_key {
	__u64 ssl;
	__u32 tgid;
	__u32 _pad;
};

/* Last socket seen under each SSL*. */
struct {
	__uint(type, PX_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct px_ssl_key);
	__type(value, __s32);
} px_ssl_fds SEC(".maps");

/* Memory BIOs (Node.js's TLSWrap): SSL_write and SSL_read only fill and
 * drain buffers; the event loop thread moves the ciphertext itself, and
 * writes it to the socket right after the SSL call that made it (EncOut
 * follows ClearIn/ClearOut on the same stack, before the loop polls
 * again). An SSL* with no socket known is kept here, per thread, until the
 * thread's next socket I/O: a successful write binds the SSL* to that
 * socket in px_ssl_fds; a read, or the thread polling (epoll), drops it.
 * Every connection's handshake makes such a write before any data is
 * sent or read (ClientHello, or the ServerHello answering it), so the SSL*
 * is bound before its first plaintext; SSL_free unbinds it, as a new SSL*
 * may reuse its address. What is still unbound counts as tls_no_fd. */
struct {
	__uint(type, PX_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u64);
	__type(value, __u64);
} px_tls_pending SEC(".maps");

/* After a successful call of this thread on socket fd (not any fd: a
 * library's first call may read a file). Inside an SSL call, that is its
 * socket. After one, a write binds the pending SSL*, anything else drops
 * it. */
static __always_inline void tls_after_sock(__u64 id, __s32 fd, __u8 dir)
{
	struct px_tls_args *a = bpf_map_lookup_elem(&px_tls_args, &id);

	if (a && a->fd < 0)
		a->fd = fd;
	__u64 *p = bpf_map_lookup_elem(&px_tls_pending, &id);
	if (!p)
		return;
	struct px_ssl_key k = {.ssl = *p, .tgid = id >> 32};
	bpf_map_delete_elem(&px_tls_pending, &id);
	if (dir == PX_DIR_EGRESS)
		bpf_map_update_elem(&px_ssl_fds, &k, &fd, BPF_NOEXIST);
}

static __always_inline void tls_drop_pending(void)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (bpf_map_lookup_elem(&px_tls_pending, &id))
		bpf_map_delete_elem(&px_tls_pending, &id);
}

/* Go (*Conn).Read calls in flight, by goroutine: goroutines move between
 * threads, so the thread id is no key. */
struct px_go_key {
	__u64 g;
	__u32 tgid;
	__u32 _pad;
};

struct {
	__uint(type, PX_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct px_go_key);
	__type(value, struct px_tls_args);
} px_go_args SEC(".maps");

/* Report n plaintext bytes at buf on tgid's socket fd. */
static __always_inline void tls_emit(__u32 tgid, __s32 fd, __u8 op, __u8 dir, __u64 buf, __u64 n,
				     __u64 start_ns)
{
	__u64 end = bpf_ktime_get_ns();
	__u64 key = ((__u64)tgid << 32) | (__u32)fd;
	struct px_conn *c = conn_for(key, op, start_ns, end);

	if (!c)
		return;
	emit_data_src(key, c, op, dir, n, PX_SRC_BUF, buf, n, 0, start_ns, end, PX_SOURCE_TLS);
}

static __always_inline void count_no_fd(void)
{
	struct px_counters *c = counters();
	if (c)
		c->tls_no_fd++;
}

static __always_inline int ssl_enter(struct px_regs_x86 *ctx, __u8 op, int ex)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (!targeted(id >> 32))
		return 0;
	struct px_tls_args a = {
	    .start_ns = bpf_ktime_get_ns(),
	    .ssl = ctx->di,
	    .buf = ctx->si,
	    .ex_len = ex ? ctx->cx : 0,
	    .fd = -1,
	    .op = op,
	};
	bpf_map_update_elem(&px_tls_args, &id, &a, BPF_ANY);
	return 0;
}

static __always_inline int ssl_exit(struct px_regs_x86 *ctx, __u8 op, __u8 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct px_tls_args *p = bpf_map_lookup_elem(&px_tls_args, &id);
	struct px_tls_args a;

	if (!p || p->op != op)
		return 0;
	a = *p;
	bpf_map_delete_elem(&px_tls_args, &id);

	struct px_ssl_key k = {.ssl = a.ssl, .tgid = id >> 32};
	if (a.fd >= 0) {
		bpf_map_update_elem(&px_ssl_fds, &k, &a.fd, BPF_ANY);
	} else {
		__s32 *fd = bpf_map_lookup_elem(&px_ssl_fds, &k);
		if (fd)
			a.fd = *fd;
		else
			bpf_map_update_elem(&px_tls_pending, &id, &a.ssl, BPF_ANY);
	}

	long ret = (long)ctx->ax;
	__u64 n = 0;
	if (a.ex_len) {
		/* 1 on success, the byte count in *written / *readbytes */
		if ((int)ret != 1 || bpf_probe_read_user(&n, sizeof(n), (void *)a.ex_len))
			return 0;
	} else {
		if ((int)ret <= 0)
			return 0;
		n = (__u32)(int)ret;
	}
	if (n == 0)
		return 0;
	if (a.fd < 0) {
		count_no_fd();
		return 0;
	}
	tls_emit(id >> 32, a.fd, op, dir, a.buf, n, a.start_ns);
	return 0;
}

/* The data is still in the caller's buffer at return, and the fd is known
 * then: both directions are reported from the return probe. */
SEC("uprobe/SSL_write")
int px_ssl_wr(struct px_regs_x86 *ctx)
{
	return ssl_enter(ctx, PX_SYS_SSL_WRITE, 0);
}

SEC("uretprobe/SSL_write")
int px_ssl_wr_ret(struct px_regs_x86 *ctx)
{
	return ssl_exit(ctx, PX_SYS_SSL_WRITE, PX_DIR_EGRESS);
}

SEC("uprobe/SSL_read")
int px_ssl_rd(struct px_regs_x86 *ctx)
{
	return ssl_enter(ctx, PX_SYS_SSL_READ, 0);
}

SEC("uretprobe/SSL_read")
int px_ssl_rd_ret(struct px_regs_x86 *ctx)
{
	return ssl_exit(ctx, PX_SYS_SSL_READ, PX_DIR_INGRESS);
}

SEC("uprobe/SSL_write_ex")
int px_ssl_wrex(struct px_regs_x86 *ctx)
{
	return ssl_enter(ctx, PX_SYS_SSL_WRITE_EX, 1);
}

SEC("uretprobe/SSL_write_ex")
int px_ssl_wrex_ret(struct px_regs_x86 *ctx)
{
	return ssl_exit(ctx, PX_SYS_SSL_WRITE_EX, PX_DIR_EGRESS);
}

SEC("uprobe/SSL_read_ex")
int px_ssl_rdex(struct px_regs_x86 *ctx)
{
	return ssl_enter(ctx, PX_SYS_SSL_READ_EX, 1);
}

SEC("uretprobe/SSL_read_ex")
int px_ssl_rdex_ret(struct px_regs_x86 *ctx)
{
	return ssl_exit(ctx, PX_SYS_SSL_READ_EX, PX_DIR_INGRESS);
}

/* void SSL_free(SSL *s): its address may come back for another
 * connection. */
SEC("uprobe/SSL_free")
int px_ssl_free(struct px_regs_x86 *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (!targeted(id >> 32))
		return 0;
	struct px_ssl_key k = {.ssl = ctx->di, .tgid = id >> 32};
	bpf_map_delete_elem(&px_ssl_fds, &k);
	return 0;
}

static __always_inline int go_is_tcpconn(__u64 itab)
{
	__u32 h = 0;

	if (!itab || bpf_probe_read_user(&h, sizeof(h), (void *)(itab + PX_GO_ITAB_HASH_OFF)))
		return 0;
	return h == go_tcpconn_hash_md5 || h == go_tcpconn_hash_sha;
}

/* *tls.Conn -> its socket's fd, or -1. The net.Conn must be a
 * *net.TCPConn, or a struct whose first field is one (a wrapper embedding
 * net.Conn, like cmux's); else the offsets would read another type. */
static __always_inline __s32 go_conn_fd(__u64 tlsconn)
{
	__u64 iface[2] = {}; /* itab, data */
	__u64 netfd = 0;
	__s64 fd = -1;

	if (bpf_probe_read_user(iface, sizeof(iface), (void *)tlsconn))
		return -1;
	if (!go_is_tcpconn(iface[0])) {
		if (!iface[1] || bpf_probe_read_user(iface, sizeof(iface), (void *)iface[1]) ||
		    !go_is_tcpconn(iface[0]))
			return -1;
	}
	if (!iface[1] || bpf_probe_read_user(&netfd, sizeof(netfd), (void *)iface[1]) || !netfd)
		return -1;
	if (bpf_probe_read_user(&fd, sizeof(fd), (void *)(netfd + PX_GO_SYSFD_OFF)))
		return -1;
	if (fd < 0 || fd > 0x7fffffff)
		return -1;
	return (__s32)fd;
}

/* Go functions start with a stack check: CMPQ SP, 16(R14) (SP against the
 * goroutine's stack guard; a large frame compares R12 = SP - frame), then
 * JBE morestack, which grows the stack (or yields to a preemption request)
 * and runs the function again from its entry. The agent probes a call at
 * that JBE when the function has one: the kernel emulates a jump but
 * single-steps the compare, a second trap. There the flags tell whether
 * the jump is taken (CF or ZF set): such a run is not the call's last, so
 * the programs below ignore it; a probe on the entry would fire twice
 * and send a Write's data twice. */
#define PX_X86_CF 0x1
#define PX_X86_ZF 0x40

static __always_inline int go_to_morestack(struct px_regs_x86 *ctx)
{
	return (ctx->flags & (PX_X86_CF | PX_X86_ZF)) != 0;
}

/* func (c *Conn) Write(b []byte) (int, error): c = RAX, b = RBX (ptr), RCX
 * (len). Reported at entry: Write sends all of b or fails the connection. */
static __always_inline int go_write(struct px_regs_x86 *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (!targeted(tgid) || (__s64)ctx->cx <= 0)
		return 0;
	__s32 fd = go_conn_fd(ctx->ax);
	if (fd < 0) {
		count_no_fd();
		return 0;
	}
	tls_emit(tgid, fd, PX_SYS_GO_TLS_WRITE, PX_DIR_EGRESS, ctx->bx, ctx->cx,
		 bpf_ktime_get_ns());
	return 0;
}

/* On the entry of a Write without a stack check. */
SEC("uprobe/go_tls_write")
int px_go_write(struct px_regs_x86 *ctx)
{
	return go_write(ctx);
}

/* On the JBE of Write's stack check. */
SEC("uprobe/go_tls_write_chk")
int px_go_write_chk(struct px_regs_x86 *ctx)
{
	if (go_to_morestack(ctx))
		return 0;
	return go_write(ctx);
}

/* func (c *Conn) Read(b []byte) (int, error), entry: saved by goroutine
 * (R14 holds g in Go's register ABI). */
static __always_inline int go_read(struct px_regs_x86 *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (!targeted(tgid))
		return 0;
	struct px_go_key k = {.g = ctx->r14, .tgid = tgid};
	struct px_tls_args a = {
	    .start_ns = bpf_ktime_get_ns(),
	    .buf = ctx->bx,
	    .fd = go_conn_fd(ctx->ax),
	    .op = PX_SYS_GO_TLS_READ,
	};
	bpf_map_update_elem(&px_go_args, &k, &a, BPF_ANY);
	return 0;
}

SEC("uprobe/go_tls_read")
int px_go_read(struct px_regs_x86 *ctx)
{
	return go_read(ctx);
}

/* On the JBE of Read's stack check: as for Write, the run that goes to
 * morestack is not the call's (the next one saves it). */
SEC("uprobe/go_tls_read_chk")
int px_go_read_chk(struct px_regs_x86 *ctx)
{
	if (go_to_morestack(ctx))
		return 0;
	return go_read(ctx);
}

/* At each RET of (*Conn).Read (no uretprobes on Go: its stacks move):
 * n = RAX. */
SEC("uprobe/go_tls_read_ret")
int px_go_read_ret(struct px_regs_x86 *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct px_go_key k = {.g = ctx->r14, .tgid = tgid};
	struct px_tls_args *p = bpf_map_lookup_elem(&px_go_args, &k);
	struct px_tls_args a;

	if (!p)
		return 0;
	a = *p;
	bpf_map_delete_elem(&px_go_args, &k);
	__s64 n = (__s64)ctx->ax;
	if (n <= 0)
		return 0;
	if (a.fd < 0) {
		count_no_fd();
		return 0;
	}
	tls_emit(tgid, a.fd, PX_SYS_GO_TLS_READ, PX_DIR_INGRESS, a.buf, n, a.start_ns);
	return 0;
}

#endif
