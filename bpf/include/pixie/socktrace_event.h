/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Records the socket tracer shares with Go (bpf2go -type). Explicit padding,
 * natural alignment, no packed structs: Go mirrors are generated from these.
 */
#ifndef PIXIE_SOCKTRACE_EVENT_H
#define PIXIE_SOCKTRACE_EVENT_H

#include "pixie/types.h"

/* Hard cap of the per-call payload; max_payload (load-time) must be a power
 * of two <= this. */
#define PX_MAX_PAYLOAD_CAP 16384

/* Last bytes of a TCP call longer than the capture, sent after its first
 * max_payload: where a chunked body or a message ends. */
#define PX_TAIL 64

enum px_kind {
	PX_KIND_OPEN = 1,
	PX_KIND_DATA = 2,
	PX_KIND_CLOSE = 3,
	/* A targeted process forked: tgid is the child's, fd the parent's tgid
	 * (Go gives the child the parent's container and pod before any of
	 * the child's own events). */
	PX_KIND_FORK = 4,
	/* A whole HTTP/1 exchange summarized in the kernel (struct px_h1_rec). */
	PX_KIND_H1 = 5,
	/* The kernel stops summarizing a connection: the exchange in progress
	 * (struct px_h1_rec), then payload events from the positions it
	 * carries. */
	PX_KIND_H1_HANDOFF = 6,
};

enum px_role {
	PX_ROLE_UNKNOWN = 0,
	PX_ROLE_CLIENT = 1,
	PX_ROLE_SERVER = 2,
};

enum px_dir {
	PX_DIR_EGRESS = 1,
	PX_DIR_INGRESS = 2,
};

enum px_transport {
	PX_TRANSPORT_TCP = 1,
	PX_TRANSPORT_UDP = 2,
};

enum px_syscall {
	PX_SYS_READ = 1,
	PX_SYS_WRITE,
	PX_SYS_READV,
	PX_SYS_WRITEV,
	PX_SYS_SENDTO,
	PX_SYS_RECVFROM,
	PX_SYS_SENDMSG,
	PX_SYS_RECVMSG,
	PX_SYS_SENDMMSG,
	PX_SYS_RECVMMSG,
	PX_SYS_SENDFILE,
	PX_SYS_CONNECT,
	PX_SYS_ACCEPT,
	PX_SYS_ACCEPT4,
	PX_SYS_CLOSE,
	PX_SYS_EXIT, /* close synthesized at process exit */
	/* TLS plaintext (uprobes), source PX_SOURCE_TLS */
	PX_SYS_SSL_WRITE,
	PX_SYS_SSL_READ,
	PX_SYS_SSL_WRITE_EX,
	PX_SYS_SSL_READ_EX,
	PX_SYS_GO_TLS_WRITE,
	PX_SYS_GO_TLS_READ,
	PX_SYS_SPLICE, /* socket side of a splice: size, no data */
};

/* Where a data event's bytes come from (conn.Source). */
enum px_source {
	PX_SOURCE_SOCKET = 0,
	PX_SOURCE_TLS = 1,
};

/* An IPv4 or IPv6 address and port. IPv4 uses the first 4 bytes of addr. */
struct px_addr {
	__u8 addr[16];
	__u16 port;   /* host byte order */
	__u16 family; /* AF_INET or AF_INET6, 0 if unknown */
	__u32 _pad;
};

/* Header of every ring-buffer record; data_len payload bytes follow it. */
struct px_event {
	__u64 start_ns;
	__u64 end_ns;
	__u64 pos;	 /* offset of this call's first byte in the direction's stream;
			  * a close: bytes sent since tracking began */
	__u64 other_pos; /* the other direction's offset at this call (data);
			  * a close: bytes received */
	__u32 tgid;
	__u32 pid;
	__s32 fd;
	__u32 gen;
	__u32 size;	/* bytes the call moved */
	__u32 data_len; /* bytes captured after this header */
	__u8 kind;
	__u8 role;
	__u8 dir;
	__u8 transport;
	__u8 syscall;
	__u8 has_peer;
	__u8 source;   /* enum px_source */
	__u8 tail_len; /* of data_len, the call's last bytes (after a cut) */
	/* After data_len: pieces of the call's uncaptured middle, each a
	 * struct px_piece and its bytes (HTTP/2 frame headers and non-DATA
	 * frames, see h2_frames). */
	__u32 pieces_len;
	__u32 _pad2;
	char comm[16];
	struct px_addr local;
	struct px_addr remote;
	struct px_addr peer;
};

/* Bytes of a call's uncaptured middle at call offset off, in the pieces
 * after an event's data. */
struct px_piece {
	__u32 off;
	__u32 len;
};

/* Room for pieces per event. */
#define PX_PIECES_CAP 4096

/* Methods of px_h1_rec (the kernel knows no others). */
enum px_h1_method {
	PX_H1_GET = 1,
	PX_H1_POST,
	PX_H1_PUT,
	PX_H1_DELETE,
	PX_H1_HEAD,
	PX_H1_PATCH,
	PX_H1_OPTIONS,
};

/* Where an exchange summarized in the kernel stands. */
enum px_h1_state {
	PX_H1_IDLE = 0,	     /* both directions at a message start */
	PX_H1_REQ_BODY = 1,  /* remain request body bytes to come */
	PX_H1_WAIT = 2,	     /* the request is complete; no response yet */
	PX_H1_RESP_BODY = 3, /* remain response body bytes to come */
};

#define PX_H1_PATH 128 /* request targets longer than this go as payload */

/* A PX_KIND_H1 or PX_KIND_H1_HANDOFF record. kind and role sit where they
 * sit in struct px_event, so the reader tells them apart by that byte. */
struct px_h1_rec {
	__u64 start_ns;	 /* the request's first byte (its call's wire time) */
	__u64 end_ns;	 /* the response's last byte, so far */
	__u64 pos;	 /* egress offset after the exchange (hand-off: before the call) */
	__u64 other_pos; /* the same, ingress */
	__u32 tgid;
	__u32 pid;
	__s32 fd;
	__u32 gen;
	__u16 status;
	__u8 method; /* enum px_h1_method */
	__u8 minor;  /* HTTP/1.minor of the request */
	__u8 state;  /* hand-off: enum px_h1_state */
	__u8 path_len;
	__u8 _pad[2];
	__u8 kind;
	__u8 role;
	__u8 _pad2[6];
	__u64 req_body;	 /* request body bytes (Content-Length) */
	__u64 resp_body; /* response body bytes (Content-Length) */
	__u64 remain;	 /* hand-off: body bytes of the message in progress to come */
	char path[PX_H1_PATH];
};

/* Per-CPU counters, summed by Go. */
struct px_counters {
	__u64 events_submitted;
	__u64 ring_full;       /* bpf_ringbuf_output failed: event lost */
	__u64 truncated;       /* data events cut by max_payload */
	__u64 truncated_bytes; /* bytes those events did not capture */
	__u64 read_failed;     /* bpf_probe_read_user failed: payload missing */
	__u64 conn_table_full; /* px_conns full: connection not tracked */
	__u64 tls_no_fd;       /* TLS calls whose socket was not found: plaintext lost */
	__u64 targets_full;    /* px_targets full: a forked or exec'd process not targeted */
	__u64 args_full;       /* px_args full: a call's arguments not saved, call lost */
	__u64 nconns_full;     /* px_nconns full: the exit scan covers every process */
	__u64 mmsg_cut; /* sendmmsg/recvmmsg messages not reported (kernels without bpf_loop) */
	__u64 iov_cut;	/* calls cut at PX_MAX_IOV iovecs (kernels without bpf_loop) */
	__u64 h2_cut;	/* HTTP/2 frames of cut calls not reported (no room, walk over budget) */
	/* HTTP/1 exchanges summarized in the kernel (h1_summary), and the
	 * times it gave a connection to the payload path, by reason. */
	__u64 h1_summaries;
	__u64 h1_fb_conn;      /* not fresh, not HTTP/1 first, or another protocol */
	__u64 h1_fb_pipelined; /* a message before the previous exchange ended */
	__u64 h1_fb_split;     /* a head not whole in one call's capture */
	__u64 h1_fb_framing;   /* chunked, no length, Upgrade, Expect, 1xx, odd lines */
	__u64 h1_fb_full;      /* px_h1s full */
};

#endif
