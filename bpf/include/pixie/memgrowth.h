/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Types for bpf/memgrowth.bpf.c: the UAPI subset it needs and the records
 * Go reads from the ring buffer (bpf2go -type).
 */
#ifndef PIXIE_MEMGROWTH_H
#define PIXIE_MEMGROWTH_H

#include "pixie/types.h"

#include "pixie/user_regs.h"

/* The context of a perf_event program (UAPI struct bpf_perf_event_data). */
struct mg_perf_ctx {
	struct px_user_regs regs;
	__u64 sample_period;
	__u64 addr;
};

/* Syscall tracepoint records (tracefs events/syscalls/<name>/format). */
struct mg_sys_enter {
	__u64 common;
	__s64 nr;
	__u64 args[6];
};

struct mg_sys_exit {
	__u64 common;
	__s64 nr;
	__s64 ret;
};

enum mg_kind {
	MG_FAULT = 1,	/* a sampled page fault: mg_fault */
	MG_RELEASE = 2, /* [addr, addr+len) unmapped or discarded: mg_range */
	MG_MOVE = 3,	/* mremap: [addr, addr+len) now at new_addr: mg_range */
	MG_EXEC = 4,	/* the process replaced its address space: mg_range, no range */
};

/* A sampled page fault: where, with what weight, and what it takes to
 * unwind the user stack in Go (registers, the top of the stack, and a
 * frame-pointer walk for frames past the copy). */
struct mg_fault {
	__u32 kind;
	__u32 tgid;
	__u32 tid;
	__u32 weight; /* pages this sample stands for */
	__u64 addr;
	struct px_user_stack user;
};

struct mg_range {
	__u32 kind;
	__u32 tgid;
	__u64 addr;
	__u64 len;
	__u64 new_addr;
};

/* Per-CPU counters (px_mg_counters). */
enum mg_counter {
	MG_FAULTS = 0,	     /* page faults of targets */
	MG_SAMPLED = 1,	     /* of which sent with a stack */
	MG_LOST_RINGBUF = 2, /* sampled but the ring buffer was full */
	MG_RANGES = 3,	     /* release/move/exec records sent */
	MG_LOST_RANGES = 4,  /* ... lost to a full ring buffer */
	MG_NR_COUNTERS = 5,
};

#endif
