//go:build ignore
// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What /proc sampling misses: every mmap, munmap and brk of the target
 * processes, counted per tgid from syscall tracepoints. A mapping made and
 * dropped between two samples never shows in RSS; these counters show it.
 * Only syscalls pay (a hash lookup for untargeted processes); allocations
 * served from the heap cost nothing.
 *
 * At the same calls' returns it reads the resident set (px_mt_low): the
 * floor under memory that cycles faster than /proc can be sampled.
 *
 * Kernel types: tracepoint records have a stable tracefs layout (see
 * pixie/memtrend.h); the resident set is read through CO-RE offsets only,
 * with no registers, so one bpfel object serves every arch.
 */
#include "pixie/memtrend.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tgid */
	__type(value, struct mt_low);
} px_mt_low SEC(".maps");

/* Keep the types in BTF for bpf2go -type. */
const struct mt_stats *unused_mt_stats __attribute__((unused));
const struct mt_low *unused_mt_low __attribute__((unused));

static __always_inline int targeted(__u32 tgid)
{
	return filter_all || bpf_map_lookup_elem(&px_mt_tgids, &tgid);
}

static __always_inline __s64 counter_at(void *mm, __u32 off)
{
	__s64 v = 0;
	bpf_probe_read_kernel(&v, sizeof(v), mm + off);
	return v;
}

/*
 * The current process's resident pages as /proc/PID/statm counts them,
 * from the counters' shared totals (each CPU may still hold a batch of
 * pages, as in the kernel's own fast reads).
 */
static __always_inline __u64 resident_pages(void)
{
	struct task_struct___mt *task = (void *)bpf_get_current_task();
	void *mm = BPF_CORE_READ(task, mm);
	if (!mm)
		return 0;
	__s64 pages = 0;
	if (bpf_core_type_exists(struct mm_rss_stat___mt)) {
		__u32 off = bpf_core_field_offset(struct mm_struct___mt_pre62, rss_stat);
		pages = counter_at(mm, off + MT_FILEPAGES * 8) +
			counter_at(mm, off + MT_ANONPAGES * 8) +
			counter_at(mm, off + MT_SHMEMPAGES * 8);
	} else {
		__u32 off = bpf_core_field_offset(struct mm_struct___mt, rss_stat) +
			    bpf_core_field_offset(struct percpu_counter___mt, count);
		__u32 size = bpf_core_type_size(struct percpu_counter___mt);
		pages = counter_at(mm, off + MT_FILEPAGES * size) +
			counter_at(mm, off + MT_ANONPAGES * size) +
			counter_at(mm, off + MT_SHMEMPAGES * size);
	}
	return pages > 0 ? pages : 0;
}

/* Lowers the current process's low to its resident set now. */
static __always_inline void read_low(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!targeted(tgid))
		return;
	__u64 pages = resident_pages();
	if (!pages)
		return;
	struct mt_low *l = bpf_map_lookup_elem(&px_mt_low, &tgid);
	if (!l) {
		struct mt_low first = {.pages = pages, .readings = 1, .at_ns = bpf_ktime_get_ns()};
		bpf_map_update_elem(&px_mt_low, &tgid, &first, BPF_NOEXIST);
		return;
	}
	if (pages < l->pages) { /* threads racing here each leave a true reading */
		l->pages = pages;
		l->at_ns = bpf_ktime_get_ns();
	}
	__sync_fetch_and_add(&l->readings, 1);
}

static __always_inline struct mt_stats *stats_of_current(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!targeted(tgid))
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

SEC("tracepoint/syscalls/sys_exit_munmap")
int px_mt_munmap_exit(struct mt_sys_exit *ctx)
{
	read_low();
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_madvise")
int px_mt_madvise_exit(struct mt_sys_exit *ctx)
{
	read_low();
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_brk")
int px_mt_brk(struct mt_sys_exit *ctx)
{
	read_low();
	struct mt_stats *s = stats_of_current();
	if (!s || ctx->ret <= 0)
		return 0;
	if (!s->brk_first)
		s->brk_first = ctx->ret;
	s->brk_last = ctx->ret;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
