//go:build ignore
// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * CPU profiler: a perf_event program attached to a software cpu-clock event
 * on every CPU. Each sample of a target process records its user (and
 * optionally kernel) stack in a STACK_TRACE map and bumps a counter keyed by
 * (tgid, user stack id, kernel stack id), so only aggregates leave the
 * kernel. Maps are double-buffered: the agent flips px_prof_ctl[0] between
 * 0 and 1 and drains the idle half while the kernel fills the other.
 *
 * Frame pointers only work for code built with them; distribution C and C++
 * (glibc, nginx, PostgreSQL, ...) is not. For targets in PROFILE_MODE_CFI
 * the sample goes whole to user space instead (registers, the stack's top,
 * a frame-pointer walk, the kernel stack) and is unwound there with each
 * module's .eh_frame (probes/unwind). If the ring is full the sample falls
 * back to frame pointers, counted.
 *
 * Kernel types: none besides the UAPI register file (pixie/user_regs.h).
 */
#include "pixie/profile_types.h"
#include <bpf/bpf_helpers.h>

#include "pixie/profile.h"
#include "pixie/user_stack.h"

/* Set from Go before load. */
volatile const __u8 filter_all = 0;  /* 1: every process except the idle task */
volatile const __u8 want_kernel = 0; /* 1: also record kernel stacks */
volatile const __u8 all_mode =
    PROFILE_MODE_FP; /* with filter_all: the mode of unclassified processes */

#define PROFILE_MAX_TARGETS 16384

/* Keeps the enum in BTF so bpf2go -type can emit its Go constants. */
const enum profile_lost_reason *unused_profile_lost_reason __attribute__((unused));
const enum profile_mode *unused_profile_mode __attribute__((unused));
const struct profile_raw *unused_profile_raw __attribute__((unused));

/* Samples of PROFILE_MODE_CFI targets; sized from Go. The agent reads it
 * every interval, so records never wake it. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} px_prof_raw SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROFILE_MAX_TARGETS);
	__type(key, __u32); /* tgid */
	__type(value, __u8);
} px_prof_tgids SEC(".maps");

/* [0] = which half (0/1) the kernel writes to. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} px_prof_ctl SEC(".maps");

/* max_entries of the four maps below is sized from Go (CPUs x rate). */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 4096);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 127 * sizeof(__u64));
} px_prof_stk0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 4096);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 127 * sizeof(__u64));
} px_prof_stk1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct profile_key);
	__type(value, __u64);
} px_prof_cnt0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct profile_key);
	__type(value, __u64);
} px_prof_cnt1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROFILE_LOST_MAX);
	__type(key, __u32);
	__type(value, __u64);
} px_prof_lost SEC(".maps");

static __always_inline void bump_lost(__u32 reason)
{
	__u64 *v = bpf_map_lookup_elem(&px_prof_lost, &reason);
	if (v)
		*v += 1; /* per-CPU: no atomics needed */
}

static __always_inline void count(void *cnt, struct profile_key *key)
{
	__u64 one = 1;
	__u64 *v = bpf_map_lookup_elem(cnt, key);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return;
	}
	if (bpf_map_update_elem(cnt, key, &one, BPF_NOEXIST) == 0)
		return;
	/* Lost the race with another CPU inserting the same key, or full. */
	v = bpf_map_lookup_elem(cnt, key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bump_lost(PROFILE_LOST_COUNTS);
}

SEC("perf_event")
int px_profile(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 zero = 0;

	if (tgid == 0)
		return 0; /* idle task */
	/* With filter_all the map holds the processes classified since (Go
	 * programs go back to frame pointers); the rest use all_mode. */
	__u8 mode = all_mode;
	__u8 *m = bpf_map_lookup_elem(&px_prof_tgids, &tgid);
	if (m)
		mode = *m;
	else if (!filter_all)
		return 0;

	__u32 *half = bpf_map_lookup_elem(&px_prof_ctl, &zero);
	__u32 h = half ? *half : 0;
	void *stk = h ? (void *)&px_prof_stk1 : (void *)&px_prof_stk0;
	void *cnt = h ? (void *)&px_prof_cnt1 : (void *)&px_prof_cnt0;

	bump_lost(PROFILE_SAMPLES);

	if (mode == PROFILE_MODE_CFI) {
		struct profile_raw *r = bpf_ringbuf_reserve(&px_prof_raw, sizeof(*r), 0);
		if (r) {
			r->tgid = tgid;
			r->nk = 0;
			if (want_kernel) {
				long n = bpf_get_stack(ctx, r->kstack, sizeof(r->kstack), 0);
				if (n > 0)
					r->nk = n / 8;
			}
			px_capture_user(&r->user);
			bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
			return 0;
		}
		bump_lost(PROFILE_LOST_RAW);
	}

	struct profile_key key = {.tgid = tgid, .kernel_stack_id = -1};
	key.user_stack_id = bpf_get_stackid(ctx, stk, BPF_F_USER_STACK);
	if (key.user_stack_id < 0 && key.user_stack_id != -PROFILE_EFAULT)
		bump_lost(PROFILE_LOST_USTACK);
	if (want_kernel) {
		key.kernel_stack_id = bpf_get_stackid(ctx, stk, 0);
		if (key.kernel_stack_id < 0 && key.kernel_stack_id != -PROFILE_EFAULT)
			bump_lost(PROFILE_LOST_KSTACK);
	}
	if (key.user_stack_id < 0)
		key.user_stack_id = -1;
	if (key.kernel_stack_id < 0)
		key.kernel_stack_id = -1;
	count(cnt, &key);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
