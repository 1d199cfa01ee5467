//go:build ignore
// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Allocator uprobes for `kubectl pixie memory --alloc`.
 *
 * libc: malloc/calloc/realloc entry decide whether to sample the call and
 * park the size per thread; their return probes record the address with
 * the caller's user stack in px_ma_allocs; free deletes the entry. What is
 * left at the end are the sampled allocations still outstanding.
 *
 * Go: runtime.mallocgc entry (no return probe: goroutine stacks move, and
 * the GC frees, not a call) counts sampled bytes allocated per stack.
 *
 * Sampling is by bytes, as tcmalloc does: a per-CPU countdown of random
 * length (mean sample_bytes) is decremented by each size; an allocation
 * that crosses zero is sampled and stands for sample_bytes bytes, and an
 * allocation of sample_bytes or more is always sampled at its own size.
 * This bounds the map work; the uprobe trap itself is paid per call, which
 * is why attachment is per target PID.
 *
 * Kernel types: none (the context is the UAPI register file, see
 * pixie/memalloc.h), so no CO-RE and no vmlinux.h.
 */
#include "pixie/memalloc.h"
#include <bpf/bpf_helpers.h>

volatile const __u64 sample_bytes = 65536; /* 1: sample every call */
volatile const __u8 filter_all = 0;	   /* 1: every tgid (attached system-wide) */

#define MA_MAX_ALLOCS (1 << 18)
#define MA_MAX_STACKS 16384

/* Keep the enums in BTF for bpf2go -type. */
const enum ma_counter *unused_ma_counter __attribute__((unused));
const enum ma_source *unused_ma_source __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tgid */
	__type(value, __u8);
} px_ma_tgids SEC(".maps");

/* Size parked between an allocator's entry and its return, per thread. */
struct ma_pending {
	__u64 size;
	__u64 weight;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct ma_pending);
} px_ma_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MA_MAX_ALLOCS);
	__type(key, __u64); /* address */
	__type(value, struct ma_alloc);
} px_ma_allocs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MA_MAX_STACKS);
	__type(key, struct ma_key);
	__type(value, struct ma_total);
} px_ma_totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, MA_MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 127 * sizeof(__u64));
} px_ma_stacks SEC(".maps");

/* [0]: bytes left before the next sample on this CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s64);
} px_ma_countdown SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MA_NR_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} px_ma_counters SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&px_ma_counters, &which);
	if (c)
		*c += 1;
}

static __always_inline int targeted(__u32 tgid)
{
	return filter_all || bpf_map_lookup_elem(&px_ma_tgids, &tgid) != NULL;
}

/* Returns the bytes this allocation stands for, or 0 when not sampled. */
static __always_inline __u64 sample(__u64 size)
{
	if (size == 0)
		return 0;
	if (size >= sample_bytes)
		return size;
	__u32 zero = 0;
	__s64 *left = bpf_map_lookup_elem(&px_ma_countdown, &zero);
	if (!left)
		return 0;
	*left -= (__s64)size;
	if (*left > 0)
		return 0;
	/* Next distance: uniform in [1, 2*sample_bytes), mean sample_bytes. */
	*left = 1 + (__s64)(bpf_get_prandom_u32() % (2 * sample_bytes));
	return sample_bytes;
}

static __always_inline void add_total(__u32 tgid, __s32 stack_id, __u8 source, __u64 weight)
{
	struct ma_key k = {.tgid = tgid, .stack_id = stack_id, .source = source};
	struct ma_total *t = bpf_map_lookup_elem(&px_ma_totals, &k);
	if (t) {
		__sync_fetch_and_add(&t->bytes, weight);
		__sync_fetch_and_add(&t->count, 1);
		return;
	}
	struct ma_total init = {.bytes = weight, .count = 1};
	if (!bpf_map_update_elem(&px_ma_totals, &k, &init, BPF_NOEXIST))
		return;
	/* Another CPU added it meanwhile, or the map is full. */
	t = bpf_map_lookup_elem(&px_ma_totals, &k);
	if (!t) {
		count(MA_LOST_TOTALS);
		return;
	}
	__sync_fetch_and_add(&t->bytes, weight);
	__sync_fetch_and_add(&t->count, 1);
}

static __always_inline int alloc_enter(__u64 size)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!targeted(id >> 32))
		return 0;
	count(MA_CALLS);
	__u64 w = sample(size);
	if (!w)
		return 0;
	struct ma_pending p = {.size = size, .weight = w};
	bpf_map_update_elem(&px_ma_pending, &id, &p, BPF_ANY);
	return 0;
}

static __always_inline int alloc_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ma_pending *p = bpf_map_lookup_elem(&px_ma_pending, &id);
	if (!p)
		return 0;
	struct ma_pending saved = *p;
	bpf_map_delete_elem(&px_ma_pending, &id);
	__u64 addr = MA_RC(ctx);
	if (!addr)
		return 0;
	count(MA_SAMPLED);
	/* At the return probe the user stack starts in the caller. */
	__s32 sid = bpf_get_stackid(ctx, &px_ma_stacks, BPF_F_USER_STACK);
	if (sid < 0)
		count(MA_LOST_STACK);
	struct ma_alloc a = {
	    .size = saved.size, .weight = saved.weight, .stack_id = sid, .tgid = id >> 32};
	if (bpf_map_update_elem(&px_ma_allocs, &addr, &a, BPF_ANY))
		count(MA_LOST_FULL);
	add_total(id >> 32, sid, MA_SRC_LIBC, saved.weight);
	return 0;
}

static __always_inline void forget(__u64 addr)
{
	if (!addr)
		return;
	/* Only sampled addresses are in the map: most frees miss and cost one lookup. */
	if (bpf_map_delete_elem(&px_ma_allocs, &addr) == 0)
		count(MA_FREES);
}

SEC("uprobe/malloc")
int px_ma_malloc(struct pt_regs *ctx)
{
	return alloc_enter(MA_PARM1(ctx));
}

SEC("uprobe/calloc")
int px_ma_calloc(struct pt_regs *ctx)
{
	return alloc_enter(MA_PARM1(ctx) * MA_PARM2(ctx));
}

SEC("uprobe/realloc")
int px_ma_realloc(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!targeted(id >> 32))
		return 0;
	forget(MA_PARM1(ctx));
	return alloc_enter(MA_PARM2(ctx));
}

SEC("uretprobe/alloc")
int px_ma_alloc_ret(struct pt_regs *ctx)
{
	return alloc_return(ctx);
}

SEC("uprobe/free")
int px_ma_free(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!targeted(id >> 32))
		return 0;
	forget(MA_PARM1(ctx));
	return 0;
}

SEC("uprobe/mallocgc")
int px_ma_gomalloc(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!targeted(id >> 32))
		return 0;
	count(MA_CALLS);
	__u64 w = sample(MA_GO_PARM1(ctx));
	if (!w)
		return 0;
	count(MA_SAMPLED);
	__s32 sid = bpf_get_stackid(ctx, &px_ma_stacks, BPF_F_USER_STACK);
	if (sid < 0)
		count(MA_LOST_STACK);
	add_total(id >> 32, sid, MA_SRC_GO, w);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
