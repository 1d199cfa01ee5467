/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef PIXIE_USER_REGS_H
#define PIXIE_USER_REGS_H

/*
 * The user register file saved at kernel entry (task_pt_regs): the
 * kernel's struct pt_regs on x86-64 and its leading struct user_pt_regs
 * on arm64. Both layouts are UAPI.
 */
#if defined(__TARGET_ARCH_x86)
struct px_user_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};
#define PX_UREG_PC(r) ((r)->ip)
#define PX_UREG_SP(r) ((r)->sp)
#define PX_UREG_FP(r) ((r)->bp)
#elif defined(__TARGET_ARCH_arm64)
struct px_user_regs {
	__u64 regs[31];
	__u64 sp, pc, pstate;
};
#define PX_UREG_PC(r) ((r)->pc)
#define PX_UREG_SP(r) ((r)->sp)
#define PX_UREG_FP(r) ((r)->regs[29])
#else
#error "build with bpf2go -target amd64 or arm64"
#endif

/* What a user-space unwinder needs of one sample (probes/unwind): the
 * registers, the top of the stack and a frame-pointer walk past it. */
#define PX_STACK_BYTES 4096
#define PX_STACK_CHUNK 512
#define PX_MAX_FP 48

struct px_fp {
	__u64 bp, ra;
};

struct px_user_stack {
	__u64 pc, sp, bp;
	__u32 stack_len; /* bytes of stack copied from sp */
	__u32 nfp;	 /* entries of fp */
	struct px_fp fp[PX_MAX_FP];
	__u8 stack[PX_STACK_BYTES];
};

#endif
