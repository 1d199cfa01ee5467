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
};

#endif
