/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Types shared by bpf/profile.bpf.c and probes/profile (through bpf2go -type). */
#ifndef PIXIE_PROFILE_H
#define PIXIE_PROFILE_H

#include "pixie/user_regs.h"

/* Key of the in-kernel sample counts: one entry per distinct
 * (process, user stack, kernel stack). A stack id < 0 means that stack
 * was not collected (kernel thread, --kernel off) or could not be. */
struct profile_key {
	__u32 tgid;
	__s32 user_stack_id;
	__s32 kernel_stack_id;
	__u32 _pad;
};

/* Indexes of the per-CPU drop counters (px_prof_lost). */
enum profile_lost_reason {
	PROFILE_LOST_USTACK = 0, /* bpf_get_stackid(user) failed: collision or fault */
	PROFILE_LOST_KSTACK = 1, /* bpf_get_stackid(kernel) failed */
	PROFILE_LOST_COUNTS = 2, /* counts map full: the sample is dropped */
	PROFILE_SAMPLES = 3,	 /* every sample of a target, kept or not */
	PROFILE_LOST_RAW = 4,	 /* raw ring full: unwound by frame pointers instead */
	PROFILE_LOST_MAX = 5,
};

/* How a target's user stacks are walked (the value in px_prof_tgids). */
enum profile_mode {
	PROFILE_MODE_FP = 1,  /* frame pointers, in the kernel; counted there */
	PROFILE_MODE_CFI = 2, /* stack copied to user space, unwound with CFI */
};

/* A sample of a PROFILE_MODE_CFI target, sent whole through px_prof_raw:
 * the kernel stack (if wanted) and what the user-space unwinder needs. */
struct profile_raw {
	__u32 tgid;
	__u32 nk; /* addresses in kstack */
	__u64 kstack[127];
	struct px_user_stack user;
};

#endif
