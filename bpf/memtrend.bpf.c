//go:build ignore
// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What /proc sampling misses: every mmap, munmap and brk of the target
 * processes, counted per tgid from syscall tracepoints. A mapping made and
 * dropped between two samples never shows in RSS; these counters show it.
 * Only syscalls pay (a hash lookup for untargeted processes); allocations
 * served from the heap cost nothing.
 *
 * Kernel types: none (tracepoint records have a stable tracefs layout, see
 * pixie/memtrend.h), so no CO-RE and one bpfel object for every arch.
 */
#include "pixie/memtrend.h"
#include <bpf/bpf_helpers.h>

volatile const __u8 filter_all = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tgid */
	__type(value, __u8);
} px_mt_tgids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tgid */
	__type(value, struct mt_stats);
} px_mt_stats SEC(".maps");

/* Processes whose counts px_mt_stats had no room for, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} px_mt_full SEC(".maps");

/* Keep the type in BTF for bpf2go -type. */
const struct mt_stats *unused_mt_stats __attribute__((unused));

static __always_inline struct mt_stats *stats_of_current(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!filter_all && !bpf_map_lookup_elem(&px_mt_tgids, &tgid))
		return NULL;
	struct mt_stats *s = bpf_map_lookup_elem(&px_mt_stats, &tgid);
	if (s)
		return s;
	struct mt_stats zero = {};
	bpf_map_update_elem(&px_mt_stats, &tgid, &zero, BPF_NOEXIST);
	s = bpf_map_lookup_elem(&px_mt_stats, &tgid);
	if (!s) {
		__u32 k = 0;
		__u64 *full = bpf_map_lookup_elem(&px_mt_full, &k);
		if (full)
			(*full)++;
	}
	return s;
}

SEC("tracepoint/syscalls/sys_enter_mmap")
int px_mt_mmap(struct mt_sys_enter *ctx)
{
	struct mt_stats *s = stats_of_current();
	if (!s)
		return 0;
	__sync_fetch_and_add(&s->mmap_bytes, ctx->args[1]);
	__sync_fetch_and_add(&s->mmap_calls, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_munmap")
int px_mt_munmap(struct mt_sys_enter *ctx)
{
	struct mt_stats *s = stats_of_current();
	if (!s)
		return 0;
	__sync_fetch_and_add(&s->munmap_bytes, ctx->args[1]);
	__sync_fetch_and_add(&s->munmap_calls, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_brk")
int px_mt_brk(struct mt_sys_exit *ctx)
{
	struct mt_stats *s = stats_of_current();
	if (!s || ctx->ret <= 0)
		return 0;
	if (!s->brk_first)
		s->brk_first = ctx->ret;
	s->brk_last = ctx->ret;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
