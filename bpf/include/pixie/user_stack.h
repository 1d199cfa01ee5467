/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * px_capture_user fills a px_user_stack for a user-space unwinder: the
 * user registers (task_pt_regs, right also when the sample hit the
 * kernel), the top of the user stack in chunks (the copy ends where the
 * stack does) and a frame-pointer walk for frames past the copy (Go, and C
 * built with frame pointers). Include after <bpf/bpf_helpers.h>.
 * Returns 0, or -1 when the task has no user registers to read.
 */
#ifndef PIXIE_USER_STACK_H
#define PIXIE_USER_STACK_H

#include "pixie/user_regs.h"

static __always_inline int px_capture_user(struct px_user_stack *u)
{
	u->pc = u->sp = u->bp = 0;
	u->stack_len = 0;
	u->nfp = 0;
	struct px_user_regs regs = {};
	struct task_struct *task = bpf_get_current_task_btf();
	void *uregs = (void *)bpf_task_pt_regs(task);
	if (!uregs || bpf_probe_read_kernel(&regs, sizeof(regs), uregs))
		return -1;
	u->pc = PX_UREG_PC(&regs);
	u->sp = PX_UREG_SP(&regs);
	u->bp = PX_UREG_FP(&regs);

	__u64 sp = u->sp;
	for (int i = 0; i < PX_STACK_BYTES / PX_STACK_CHUNK; i++) {
		if (bpf_probe_read_user(&u->stack[i * PX_STACK_CHUNK], PX_STACK_CHUNK,
					(void *)(sp + i * PX_STACK_CHUNK)))
			break;
		u->stack_len = (i + 1) * PX_STACK_CHUNK;
	}

	__u64 bp = u->bp;
	for (int i = 0; i < PX_MAX_FP; i++) {
		struct px_fp f = {.bp = bp};
		__u64 pair[2];
		if (bp == 0 || bp & 7 || bpf_probe_read_user(pair, sizeof(pair), (void *)bp))
			break;
		f.ra = pair[1];
		u->fp[i] = f;
		u->nfp = i + 1;
		if (pair[0] <= bp || f.ra == 0)
			break;
		bp = pair[0];
	}
	return 0;
}

#endif
