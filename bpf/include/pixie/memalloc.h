/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Types for bpf/memalloc.bpf.c: the UAPI subset it needs (no <linux/bpf.h>,
 * which wants the multiarch <asm/types.h>), the uprobe register file per
 * architecture, and the records Go reads through bpf2go -type.
 */
#ifndef PIXIE_MEMALLOC_H
#define PIXIE_MEMALLOC_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

enum {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_STACK_TRACE = 7,
};

#define BPF_ANY 0
#define BPF_NOEXIST 1
#define BPF_F_USER_STACK (1ULL << 8)

/*
 * The register file a uprobe program receives (bpf_user_pt_regs_t): the
 * kernel's struct pt_regs on x86-64, struct user_pt_regs on arm64. These
 * layouts are UAPI. The Go register ABI passes the first integer argument
 * in RAX (amd64) or R0 (arm64); C passes it in RDI or X0.
 */
#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};
#define MA_PARM1(x) ((x)->di)
#define MA_PARM2(x) ((x)->si)
#define MA_RC(x) ((x)->ax)
#define MA_GO_PARM1(x) ((x)->ax)
#elif defined(__TARGET_ARCH_arm64)
struct pt_regs {
	__u64 regs[31];
	__u64 sp, pc, pstate;
};
#define MA_PARM1(x) ((x)->regs[0])
#define MA_PARM2(x) ((x)->regs[1])
#define MA_RC(x) ((x)->regs[0])
#define MA_GO_PARM1(x) ((x)->regs[0])
#else
#error "memalloc: build with bpf2go -target amd64 or arm64"
#endif

/* One outstanding sampled allocation, keyed by its address. */
struct ma_alloc {
	__u64 size;   /* bytes requested */
	__u64 weight; /* bytes it stands for (>= size): the sampling scale */
	__s32 stack_id;
	__u32 tgid;
};

/* Allocated (freed or not) by a stack: keyed totals. */
struct ma_key {
	__u32 tgid;
	__s32 stack_id;
	__u8 source; /* MA_SRC_* */
	__u8 _pad[7];
};

struct ma_total {
	__u64 bytes; /* scaled */
	__u64 count; /* sampled calls */
};

enum ma_source {
	MA_SRC_LIBC = 0,
	MA_SRC_GO = 1,
};

enum ma_counter {
	MA_CALLS = 0,	    /* allocator calls by targets */
	MA_SAMPLED = 1,	    /* of which sampled */
	MA_FREES = 2,	    /* frees of a sampled allocation */
	MA_LOST_FULL = 3,   /* sampled, but the allocs map was full */
	MA_LOST_STACK = 4,  /* no stack (stack map full or unwind failed) */
	MA_LOST_TOTALS = 5, /* sampled, but the per-stack totals map was full */
	MA_NR_COUNTERS = 6,
};

#endif
