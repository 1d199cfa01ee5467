/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * HTTP/1 summaries in the kernel (h1_summary: the aggregated view, which
 * needs per request only its method, path, status, sizes and timing).
 *
 * On a connection seen from its connect/accept whose first call is a
 * request, the kernel reads each start line and header block, follows
 * Content-Length bodies by their size, and sends ONE struct px_h1_rec per
 * request/response pair instead of the calls' payload. Whatever it cannot
 * decide from one call's capture (a head split over calls, pipelining,
 * chunked or close-delimited bodies, Upgrade, Expect, 1xx, odd lines, a
 * target over PX_H1_PATH bytes) goes back to the payload path for the
 * rest of the connection: first the exchange in progress as a hand-off
 * record (its state before the call), then that call and all later ones
 * as payload events, so the parser in Go resumes exactly there.
 *
 * Times follow the Go parser's latency: the wire time (Chunk.WireNs: a
 * write's start, a read's return) of the request's first call and of the
 * response's last one.
 */
#ifndef PIXIE_SOCKTRACE_H1_H
#define PIXIE_SOCKTRACE_H1_H

/* px_conn.h1 */
#define PX_H1_UNDECIDED 0
#define PX_H1_KERNEL 1
#define PX_H1_PAYLOAD 2

/* Why a connection leaves the kernel path (px_counters.h1_fb_*). */
enum h1_why {
	H1_FB_CONN = 1,
	H1_FB_PIPELINED,
	H1_FB_SPLIT,
	H1_FB_FRAMING,
	H1_FB_FULL,
};

#define H1_NO_LEN (~0ULL)
#define H1_STEPS 1024 /* scan steps, a word or a line end each: heads past ~8 KiB go as payload */

/* A connection's exchange in progress. */
struct px_h1_conn {
	__u64 start_ns;
	__u64 end_ns;
	__u64 req_body;
	__u64 resp_body;
	__u64 remain;
	__u16 status;
	__u8 method;
	__u8 minor;
	__u8 state;
	__u8 path_len;
	__u8 _pad[2];
	char path[PX_H1_PATH];
};

/* Per connection (tgid << 32 | fd) in PX_H1_KERNEL mode; dropped with the
 * connection, or when it leaves the kernel path. Full: new connections
 * go as payload (h1_fb_full). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct px_h1_conn);
} px_h1s SEC(".maps");

static const struct px_h1_conn h1_conn_zero;

#define H1_ONES 0x0101010101010101ULL
#define H1_HIGHS 0x8080808080808080ULL
#define H1_LOWER 0x2020202020202020ULL /* ASCII letters to lower case */
#define H1_LOW7 0x00ffffffffffffffULL

/* Little-endian words of the strings matched. */
#define H1_W_CONTENT 0x2d746e65746e6f63ULL  /* "content-" */
#define H1_W_LENGTH 0x3a6874676e656cULL	    /* "length:" */
#define H1_W_TRANSFER 0x726566736e617274ULL /* "transfer" */
#define H1_W_UPGRADE 0x3a65646172677075ULL  /* "upgrade:" */
#define H1_W_EXPECT 0x3a746365707865ULL	    /* "expect:" */
#define H1_W_HTTP11 0x312e312f50545448ULL   /* "HTTP/1.1" */
#define H1_W_HTTP10 0x302e312f50545448ULL   /* "HTTP/1.0" */

/* Bytes equal to zero, as their high bit (exact at the lowest one). */
static __always_inline __u64 h1_zero(__u64 v)
{
	return (v - H1_ONES) & ~v & H1_HIGHS;
}

/* Index of the byte of m's lowest high bit; m != 0. */
static __always_inline __u32 h1_low(__u64 m)
{
	__u32 i = 0;

	m &= -m;
	if (!(m & 0xffffffffULL)) {
		i += 4;
		m >>= 32;
	}
	if (!(m & 0xffffULL)) {
		i += 2;
		m >>= 16;
	}
	if (!(m & 0xffULL))
		i += 1;
	return i;
}

/* at masked for the verifier. The empty asm hides at from clang, which
 * would otherwise drop a mask it proves useless (at < the cap) and leave
 * the verifier an unbounded offset. */
static __always_inline __u32 h1_at(__u32 at)
{
	asm volatile("" : "+r"(at));
	return at & (PX_MAX_PAYLOAD_CAP - 1);
}

/* The 8 captured bytes at at (< the cap); past the capture they are stale.
 * One load, unaligned (amd64 and arm64 allow it; clang would split it into
 * eight byte loads). */
static __always_inline __u64 h1_word(struct px_scratch *s, __u32 at)
{
	const __u8 *p = &s->data[h1_at(at)];
	__u64 v;

	asm volatile("%0 = *(u64 *)(%1 + 0)" : "=r"(v) : "r"(p));
	return v;
}

static __always_inline __u8 h1_byte(struct px_scratch *s, __u32 at)
{
	return s->data[h1_at(at)];
}

/* Only the first n < 8 bytes' bits of m. */
static __always_inline __u64 h1_first(__u64 m, __u32 n)
{
	return n < 8 ? m & ((1ULL << (n * 8)) - 1) : m;
}

/* The Content-Length value h1_line found, between x->cl_at and its line's
 * CR: optional blanks, digits, optional blanks, in 19 bytes. Parsed after
 * the scan: in its callback the verifier's paths multiply. */
static __always_inline int h1_length(struct px_scratch *s, struct h1_scan *x)
{
	__u32 at = x->cl_at, cr = x->cl_end;
	__u64 v = 0;
	int phase = 0; /* 0 blanks before, 1 digits, 2 blanks after */

	if (cr < at || cr - at > 19) /* 19 digits fit a __u64 */
		return -1;
	for (int k = 0; k < 19; k++) {
		if (at + k >= cr)
			break;
		__u8 ch = h1_byte(s, at + k);
		if (ch == ' ' || ch == '\t') {
			if (phase == 1)
				phase = 2;
			continue;
		}
		if (ch < '0' || ch > '9' || phase == 2)
			return -1;
		phase = 1;
		v = v * 10 + (ch - '0');
	}
	if (!phase || v > (1ULL << 60))
		return -1;
	x->clen = v;
	return 0;
}

/* The line [x->line, q] ended at q (its '\n'). Returns 1 to end the scan. */
static __always_inline long h1_line(struct px_scratch *s, struct h1_scan *x, __u32 q)
{
	__u32 line = x->line;
	int first = x->first, colon = x->colon;

	x->line = q + 1;
	x->pos = q + 1;
	x->first = 0;
	x->colon = 0;
	if (q == line || h1_byte(s, q - 1) != '\r') {
		x->bad = H1_FB_FRAMING; /* a bare LF: the Go parser's rules */
		return 1;
	}
	if (first)
		return 0;
	if (q == line + 1) {
		x->end = q + 1; /* the empty line */
		return 1;
	}
	__u8 c0 = h1_byte(s, line) | 0x20;
	if (!colon || c0 == (' ' | 0x20) || c0 == ('\t' | 0x20)) {
		x->bad = H1_FB_FRAMING; /* no field, or obs-fold */
		return 1;
	}
	__u64 w = h1_word(s, line) | H1_LOWER;
	switch (c0) {
	case 'c':
		if (q - line >= 16 && w == H1_W_CONTENT &&
		    ((h1_word(s, line + 8) | H1_LOWER) & H1_LOW7) == H1_W_LENGTH) {
			if (x->cl_end)
				goto framing; /* a second one */
			x->cl_at = line + 15;
			x->cl_end = q - 1;
		}
		break;
	case 't':
		if (w == H1_W_TRANSFER)
			goto framing;
		break;
	case 'u':
		if (w == H1_W_UPGRADE)
			goto framing;
		break;
	case 'e':
		if ((w & H1_LOW7) == H1_W_EXPECT)
			goto framing;
		break;
	}
	return 0;
framing:
	x->bad = H1_FB_FRAMING;
	return 1;
}

/* bpf_loop's context must be on the stack; the scan's state is in s. */
struct h1_ctx {
	struct px_scratch *s;
};

/* One step of the scan: a word, and the line it ends if it ends one. */
static long h1_step(__u64 i, struct h1_ctx *ctx)
{
	struct px_scratch *s = ctx->s;
	struct h1_scan *x = &s->h1s;
	__u32 pos = x->pos;

	if (pos >= x->len || pos >= PX_MAX_PAYLOAD_CAP) {
		x->bad = H1_FB_SPLIT; /* the head goes on past the capture */
		return 1;
	}
	__u64 w = h1_word(s, pos);
	__u32 n = x->len - pos;
	__u64 nl = h1_first(h1_zero(w ^ (H1_ONES * '\n')), n);
	__u64 co = h1_first(h1_zero(w ^ (H1_ONES * ':')), n);
	if (!nl) {
		x->colon |= co != 0;
		x->pos = pos + 8;
		return 0;
	}
	__u32 b = h1_low(nl);
	if (co && h1_low(co) < b)
		x->colon = 1;
	return h1_line(s, x, pos + b);
}

/* Scan the head's lines from line (first: the start line's rest) to the
 * empty line; returns where the head ends, 0 when x->bad says why not. */
static __always_inline __u32 h1_head(struct px_scratch *s, __u32 len, __u32 line, int first)
{
	struct h1_scan *x = &s->h1s;
	struct h1_ctx ctx = {.s = s};

	x->clen = H1_NO_LEN;
	x->pos = line;
	x->line = line;
	x->len = len;
	x->end = 0;
	x->first = first;
	x->colon = 0;
	x->bad = 0;
	x->cl_end = 0;
	bpf_loop(H1_STEPS, h1_step, &ctx, 0);
	if (!x->end && !x->bad)
		x->bad = H1_FB_FRAMING; /* more lines than steps */
	if (!x->bad && x->cl_end && h1_length(s, x))
		x->bad = H1_FB_FRAMING;
	return x->bad ? 0 : x->end;
}

/* The method at the start of the capture, its length with the space. */
static __always_inline __u8 h1_method(__u64 w, __u32 *n)
{
	*n = 4;
	if ((w & 0xffffffffULL) == 0x20544547ULL)
		return PX_H1_GET;
	if ((w & 0xffffffffULL) == 0x20545550ULL)
		return PX_H1_PUT;
	*n = 5;
	if ((w & 0xffffffffffULL) == 0x2054534f50ULL)
		return PX_H1_POST;
	if ((w & 0xffffffffffULL) == 0x2044414548ULL)
		return PX_H1_HEAD;
	*n = 6;
	if ((w & 0xffffffffffffULL) == 0x204843544150ULL)
		return PX_H1_PATCH;
	*n = 7;
	if ((w & H1_LOW7) == 0x204554454c4544ULL)
		return PX_H1_DELETE;
	*n = 8;
	if (w == 0x20534e4f4954504fULL)
		return PX_H1_OPTIONS;
	return 0;
}

static __always_inline void h1_count(int why)
{
	struct px_counters *cnt = counters();

	if (!cnt)
		return;
	switch (why) {
	case H1_FB_CONN:
		cnt->h1_fb_conn++;
		break;
	case H1_FB_PIPELINED:
		cnt->h1_fb_pipelined++;
		break;
	case H1_FB_SPLIT:
		cnt->h1_fb_split++;
		break;
	case H1_FB_FRAMING:
		cnt->h1_fb_framing++;
		break;
	case H1_FB_FULL:
		cnt->h1_fb_full++;
		break;
	}
}

/* Send h's exchange as a kind record with the connection's stream offsets,
 * less back's low 63 bits in direction back >> 63 (a call not counted).
 * Inlined in its callers, which are not: a frame less for the *mmsg exits,
 * whose bpf_loop callback calls them with little stack left. */
static __always_inline void h1_emit(__u64 key, const struct px_conn *c, struct px_h1_conn *h,
				    __u8 kind, __u64 back)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct px_scratch *s = bpf_map_lookup_elem(&px_scratch, &cpu);

	if (!s)
		return;
	struct px_h1_rec *r = &s->h1r;
	r->start_ns = h->start_ns;
	r->end_ns = h->end_ns;
	__u64 n = back & ~(1ULL << 63);
	r->pos = c->pos[0] - (back >> 63 ? 0 : n);
	r->other_pos = c->pos[1] - (back >> 63 ? n : 0);
	r->tgid = key >> 32;
	r->pid = (__u32)bpf_get_current_pid_tgid();
	r->fd = (__s32)key;
	r->gen = c->gen;
	r->status = h->status;
	r->method = h->method;
	r->minor = h->minor;
	r->state = h->state;
	r->path_len = h->path_len;
	r->kind = kind;
	r->role = c->role;
	r->req_body = h->req_body;
	r->resp_body = h->resp_body;
	r->remain = h->remain;
	__builtin_memcpy(r->path, h->path, PX_H1_PATH);
	output(r, sizeof(*r));
}

/* The connection leaves the kernel path before a call of size bytes in
 * direction d (back: size | d << 63): the exchange in progress (in px_h1s
 * when has_h) is handed off with the offsets before that call, which goes
 * as payload, as all later ones. A global function: one copy, checked
 * once, for the twenty places that give up. */
__noinline int h1_leave(__u64 key, __u64 back, int why, int has_h)
{
	struct px_conn *c = bpf_map_lookup_elem(&px_conns, &key);
	struct px_h1_conn *h = has_h ? bpf_map_lookup_elem(&px_h1s, &key) : NULL;

	if (!c)
		return 0;
	if (h) {
		if (h->state != PX_H1_IDLE)
			h1_emit(key, c, h, PX_KIND_H1_HANDOFF, back);
		bpf_map_delete_elem(&px_h1s, &key);
	}
	c->h1 = PX_H1_PAYLOAD;
	h1_count(why);
	return 0;
}

/* Give up on the call: h1_call's caller calls h1_leave with this (not
 * h1_call itself: the *mmsg exits' bpf_loop callback has no stack left for
 * a third frame). */
static __always_inline int h1_fallback(__u64 key, struct px_conn *c, struct px_h1_conn *h, int d,
				       __u64 size, int why)
{
	return -(why | (h ? 0x100 : 0));
}

/* A connection in the kernel path ends (close, exit, fd reused): an
 * exchange in progress is handed off, so Go counts it as unmatched. */
static __noinline void h1_end(__u64 key, struct px_conn *c)
{
	if (c->h1 != PX_H1_KERNEL)
		return;
	struct px_h1_conn *h = bpf_map_lookup_elem(&px_h1s, &key);
	if (h && h->state != PX_H1_IDLE)
		h1_emit(key, c, h, PX_KIND_H1_HANDOFF, 0);
	bpf_map_delete_elem(&px_h1s, &key);
	c->h1 = PX_H1_PAYLOAD;
}

/* A request starts the call (len bytes captured of size). */
static __always_inline int h1_request(struct px_scratch *s, __u64 key, struct px_conn *c,
				      struct px_h1_conn *h, int d, __u64 size, __u32 len,
				      __u64 wire)
{
	__u32 mlen = 0;

	if (len < 16)
		return h1_fallback(key, c, h, d, size, H1_FB_SPLIT);
	__u8 method = h1_method(h1_word(s, 0), &mlen);
	if (!method)
		return h1_fallback(key, c, h, d, size, H1_FB_CONN);
	/* The target: up to the first byte <= ' ' or DEL, which must be a
	 * space, within PX_H1_PATH bytes. Its offsets go through the scan's
	 * map memory: read back, they are unknown to the verifier, so the
	 * paths of the seven methods and of each word merge. */
	struct h1_scan *x = &s->h1s;
	volatile __u32 *vp = &x->pos, *vstop = &x->end, *vm = &x->line;
	*vm = mlen;
	*vp = mlen;
	*vstop = 0;
	for (int k = 0; k < PX_H1_PATH / 8 + 1; k++) {
		__u32 p = *vp;
		if (p >= len)
			break;
		__u64 w = h1_word(s, p);
		__u64 m = ((w - H1_ONES * 0x21) & ~w & H1_HIGHS) | h1_zero(w ^ (H1_ONES * 0x7f));
		m = h1_first(m, len - p);
		if (m) {
			*vstop = p + h1_low(m);
			break;
		}
		*vp = p + 8;
	}
	__u32 stop = *vstop;
	mlen = *vm;
	if (!stop)
		return h1_fallback(key, c, h, d, size, *vp >= len ? H1_FB_SPLIT : H1_FB_FRAMING);
	__u32 plen = stop - mlen;
	if (plen == 0 || plen > PX_H1_PATH || h1_byte(s, stop) != ' ')
		return h1_fallback(key, c, h, d, size, H1_FB_FRAMING);
	if (stop + 11 > len)
		return h1_fallback(key, c, h, d, size, H1_FB_SPLIT);
	__u64 v = h1_word(s, stop + 1);
	if ((v != H1_W_HTTP11 && v != H1_W_HTTP10) || h1_byte(s, stop + 9) != '\r' ||
	    h1_byte(s, stop + 10) != '\n')
		return h1_fallback(key, c, h, d, size, H1_FB_FRAMING);
	__u32 end = h1_head(s, len, stop + 11, 0);
	if (!end)
		return h1_fallback(key, c, h, d, size, s->h1s.bad);
	__u64 clen = s->h1s.clen == H1_NO_LEN ? 0 : s->h1s.clen;
	if (size - end > clen) /* the next request in the same call */
		return h1_fallback(key, c, h, d, size, H1_FB_PIPELINED);
	h->start_ns = wire;
	h->end_ns = wire;
	h->req_body = clen;
	h->resp_body = 0;
	h->status = 0;
	h->method = method;
	h->minor = v == H1_W_HTTP11 ? 1 : 0;
	h->path_len = plen;
	__builtin_memcpy(h->path, &s->data[mlen & 15], PX_H1_PATH);
	h->remain = clen - (size - end);
	h->state = h->remain ? PX_H1_REQ_BODY : PX_H1_WAIT;
	return 1;
}

/* The response's head starts the call. */
static __always_inline int h1_response(struct px_scratch *s, __u64 key, struct px_conn *c,
				       struct px_h1_conn *h, int d, __u64 size, __u32 len,
				       __u64 wire)
{
	if (len < 13)
		return h1_fallback(key, c, h, d, size, H1_FB_SPLIT);
	__u64 v = h1_word(s, 0);
	__u8 d0 = h1_byte(s, 9) - '0', d1 = h1_byte(s, 10) - '0', d2 = h1_byte(s, 11) - '0';
	__u8 sp = h1_byte(s, 12);
	if ((v != H1_W_HTTP11 && v != H1_W_HTTP10) || h1_byte(s, 8) != ' ' || d0 > 9 || d1 > 9 ||
	    d2 > 9 || (sp != ' ' && sp != '\r'))
		return h1_fallback(key, c, h, d, size, H1_FB_FRAMING);
	__u16 status = d0 * 100 + d1 * 10 + d2;
	if (status < 200) /* interim, or 101 Switching Protocols */
		return h1_fallback(key, c, h, d, size, H1_FB_FRAMING);
	__u32 end = h1_head(s, len, 12, 1);
	if (!end)
		return h1_fallback(key, c, h, d, size, s->h1s.bad);
	__u64 body = s->h1s.clen;
	if (h->method == PX_H1_HEAD || status == 204 || status == 304)
		body = 0;
	else if (body == H1_NO_LEN) /* delimited by the close */
		return h1_fallback(key, c, h, d, size, H1_FB_FRAMING);
	if (size - end > body)
		return h1_fallback(key, c, h, d, size, H1_FB_FRAMING);
	h->status = status;
	h->resp_body = body;
	h->end_ns = wire;
	h->remain = body - (size - end);
	h->state = PX_H1_RESP_BODY;
	return 1;
}

/* The call of s->ev (len bytes captured in s->data): 1 when the kernel
 * accounted for it, 0 when it goes as a payload event, < 0 when it goes
 * so and the connection leaves the kernel path (h1_fallback). heads (a constant) is 0 in programs
 * that may not use bpf_loop (their calls carry no bytes to read: sendfile,
 * splice; or every program on kernels < 5.17, where Go leaves h1_summary
 * off): a head there goes as payload. */
static __always_inline int h1_call(struct px_scratch *s, __u64 key, struct px_conn *c, __u32 len,
				   const int heads)
{
	int d = s->ev.dir == PX_DIR_EGRESS ? 0 : 1;
	__u64 pos = s->ev.pos, size = s->ev.size, start_ns = s->ev.start_ns, end_ns = s->ev.end_ns;
	int reqd = c->role == PX_ROLE_CLIENT ? 0 : 1;
	__u64 wire = d ? end_ns : start_ns;
	struct px_h1_conn *h;

	if (len > PX_MAX_PAYLOAD_CAP)
		return 0;
	if (c->h1 == PX_H1_UNDECIDED) {
		/* Only a connection seen from its start, and a request first. */
		if (c->role == PX_ROLE_UNKNOWN || pos != 0 || c->pos[1 - d] != 0 || d != reqd)
			return h1_fallback(key, c, NULL, d, size, H1_FB_CONN);
		if (bpf_map_update_elem(&px_h1s, &key, &h1_conn_zero, BPF_ANY))
			return h1_fallback(key, c, NULL, d, size, H1_FB_FULL);
		c->h1 = PX_H1_KERNEL;
	}
	h = bpf_map_lookup_elem(&px_h1s, &key);
	if (!h)
		return h1_fallback(key, c, NULL, d, size, H1_FB_FULL);
	if (d == reqd) {
		if (h->state == PX_H1_IDLE) {
			if (!heads)
				return h1_fallback(key, c, h, d, size, H1_FB_SPLIT);
			return h1_request(s, key, c, h, d, size, len, wire);
		}
		if (h->state == PX_H1_REQ_BODY && size <= h->remain) {
			h->remain -= size;
			if (!h->remain)
				h->state = PX_H1_WAIT;
			return 1;
		}
		/* A request before the last response ended, or past the body. */
		return h1_fallback(key, c, h, d, size, H1_FB_PIPELINED);
	}
	if (h->state == PX_H1_WAIT) {
		if (!heads)
			return h1_fallback(key, c, h, d, size, H1_FB_SPLIT);
		int r = h1_response(s, key, c, h, d, size, len, wire);
		if (r <= 0)
			return r;
	} else if (h->state == PX_H1_RESP_BODY && size <= h->remain) {
		h->remain -= size;
		h->end_ns = wire;
	} else {
		/* An answer before its request ended, or past its body. */
		return h1_fallback(key, c, h, d, size, H1_FB_FRAMING);
	}
	if (h->remain)
		return 1;
	h1_emit(key, c, h, PX_KIND_H1, 0);
	h->state = PX_H1_IDLE;
	struct px_counters *cnt = counters();
	if (cnt)
		cnt->h1_summaries++;
	return 1;
}

/* Global functions (not static): the verifier checks each once per
 * program, in a state of its own, instead of once per call site in every
 * state the exit reaches it with; inlined, the parser multiplied the
 * exits' states past the 1M-instruction limit. Two variants so that
 * programs loaded on kernels without bpf_loop never reference it. Their
 * arguments are scalars, as global functions on Linux < 5.12 need (the
 * object loads there with summaries off): the scratch slot and the
 * connection are looked up again. */
__noinline int h1_call_heads(__u64 key, __u32 len)
{
	struct px_scratch *s = scratch();
	struct px_conn *c = bpf_map_lookup_elem(&px_conns, &key);

	if (!s || !c)
		return 0;
	return h1_call(s, key, c, len, 1);
}

__noinline int h1_call_body(__u64 key, __u32 len)
{
	struct px_scratch *s = scratch();
	struct px_conn *c = bpf_map_lookup_elem(&px_conns, &key);

	if (!s || !c)
		return 0;
	return h1_call(s, key, c, len, 0);
}

#endif
