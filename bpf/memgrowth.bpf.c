//go:build ignore
// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Memory growth by call stack for `kubectl pixie memory --alloc`.
 *
 * A page fault is where memory becomes resident: the allocator, or the code
 * that first writes what it allocated, touches a new page. Sampling faults
 * (the software perf event page-faults, period 1, on every CPU) costs the
 * target nothing while it reuses memory it already has, however many
 * malloc calls it makes; uprobes on malloc trap on every call.
 *
 * Faults are sampled at random, 1 in 2^shift, the shift raised here when
 * the rate passes the budget (never lowered, so what user space holds stays
 * comparable). Not by address: programs reuse the same addresses (an mmap
 * region freed and mapped again), and a fixed subset of them would make
 * the estimate of a reused region all or nothing.
 * A sampled fault sends the user registers, the top of the user stack and a
 * frame-pointer walk: user space unwinds it with the modules' CFI, since the
 * faults happen inside libc, built without frame pointers.
 *
 * munmap, madvise(DONTNEED/FREE/REMOVE), a shrinking brk, mremap and exec
 * send the ranges that stop being resident (or move), so what is left at
 * the end is the sampled growth still mapped.
 *
 * Kernel types: none besides the UAPI register file (pixie/memgrowth.h);
 * task_pt_regs gives the user registers also for faults taken in the
 * kernel (copy_to_user), where the event's own registers are the kernel's.
 */
#include "pixie/memgrowth.h"
#include <bpf/bpf_helpers.h>

#include "pixie/user_stack.h"

volatile const __u8 filter_all = 0;
/* Stacks sent per second before the sampling halves (see throttle). */
volatile const __u64 budget = 2000;
/* Wake the reader once this much is queued; it polls every 50 ms too. */
volatile const __u64 wakeup_bytes = 65536;

/* Keep the types in BTF for bpf2go -type. */
const struct mg_fault *unused_mg_fault __attribute__((unused));
const struct mg_range *unused_mg_range __attribute__((unused));
const enum mg_kind *unused_mg_kind __attribute__((unused));
const enum mg_counter *unused_mg_counter __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tgid */
	__type(value, __u8);
} px_mg_tgids SEC(".maps");

/* [0]: sampling shift here (1 in 2^shift faults delivered), raised by
 * throttle; [1]: the perf event's period (1 in period faults delivered),
 * which user space takes over from the shift: it costs the target nothing
 * for the faults it skips, where this program costs ~100 ns each. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} px_mg_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} px_mg_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MG_NR_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} px_mg_counters SEC(".maps");

/* Program break last seen per tgid, to see brk shrink the heap. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} px_mg_brks SEC(".maps");

/* mremap arguments between its entry and exit, per thread. */
struct mg_mremap {
	__u64 old_addr, old_len, new_len;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct mg_mremap);
} px_mg_mremap SEC(".maps");

/* The current 100 ms slot and how many stacks were sent in it. */
struct mg_rate {
	__u64 start;
	__u64 n;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mg_rate);
} px_mg_rate SEC(".maps");

#define MG_SLOT_NS 100000000ULL

/* Batched wakeups: waking the reader per record (thousands of munmaps a
 * second in a fault storm) costs the target and the agent more than the
 * records themselves. */
static __always_inline __u64 ring_flags(__u64 len)
{
	__u64 avail = bpf_ringbuf_query(&px_mg_events, BPF_RB_AVAIL_DATA);
	if (avail < wakeup_bytes && avail + len >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&px_mg_counters, &which);
	if (c)
		*c += 1; /* per-CPU */
}

static __always_inline int targeted(__u32 tgid)
{
	return filter_all || bpf_map_lookup_elem(&px_mg_tgids, &tgid) != NULL;
}

static __always_inline int sampled(__u32 shift)
{
	if (shift == 0)
		return 1;
	if (shift > 30)
		shift = 30;
	return (bpf_get_prandom_u32() & ((1U << shift) - 1)) == 0;
}

/*
 * Past a tenth of the budget within a slot, raise the shift at once by as
 * many halvings as the slot's rate needs: a fault storm is throttled within
 * a slot, not after a round trip to user space. User space sees the new
 * weight on the next records and downsamples what it holds to match.
 */
static __always_inline void throttle(__u32 *cfg, __u32 shift)
{
	__u32 zero = 0;
	struct mg_rate *r = bpf_map_lookup_elem(&px_mg_rate, &zero);
	if (!r)
		return;
	__u64 now = bpf_ktime_get_ns();
	if (now - r->start > MG_SLOT_NS) {
		r->start = now;
		r->n = 0;
	}
	__u64 per_slot = budget / 10 ? budget / 10 : 1;
	__u64 n = __sync_fetch_and_add(&r->n, 1) + 1;
	if (n != per_slot)
		return;
	__u64 elapsed = now - r->start;
	if (elapsed < 1000000)
		elapsed = 1000000;
	__u64 rate = n * 1000000000ULL / elapsed;
	__u32 inc = 0;
	for (int i = 0; i < 30 && rate > budget; i++) {
		rate >>= 1;
		inc++;
	}
	if (inc && shift + inc <= 30)
		__sync_fetch_and_add(cfg, inc);
}

SEC("perf_event")
int px_mg_fault(struct mg_perf_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (tgid == 0 || !targeted(tgid))
		return 0;
	count(MG_FAULTS);
	__u64 addr = ctx->addr;
	__u32 zero = 0;
	__u32 *cfg = bpf_map_lookup_elem(&px_mg_config, &zero);
	__u32 shift = cfg ? *cfg : 0;
	if (!sampled(shift))
		return 0;
	if (cfg)
		throttle(cfg, shift);
	struct mg_fault *e = bpf_ringbuf_reserve(&px_mg_events, sizeof(*e), 0);
	if (!e) {
		count(MG_LOST_RINGBUF);
		return 0;
	}
	count(MG_SAMPLED);
	e->kind = MG_FAULT;
	e->tgid = tgid;
	e->tid = (__u32)id;
	__u32 one = 1;
	__u32 *period = bpf_map_lookup_elem(&px_mg_config, &one);
	__u64 w = (period && *period ? *period : 1) << (shift > 30 ? 30 : shift);
	e->weight = w > 0xffffffffULL ? 0xffffffff : w;
	e->addr = addr;
	px_capture_user(&e->user); /* pc 0: no user registers, no stack */
	bpf_ringbuf_submit(e, ring_flags(sizeof(*e)));
	return 0;
}

static __always_inline void send_range(__u32 tgid, __u32 kind, __u64 addr, __u64 len,
				       __u64 new_addr)
{
	struct mg_range *r = bpf_ringbuf_reserve(&px_mg_events, sizeof(*r), 0);
	if (!r) {
		count(MG_LOST_RANGES);
		return;
	}
	count(MG_RANGES);
	r->kind = kind;
	r->tgid = tgid;
	r->addr = addr;
	r->len = len;
	r->new_addr = new_addr;
	bpf_ringbuf_submit(r, ring_flags(sizeof(*r)));
}

SEC("tracepoint/syscalls/sys_enter_munmap")
int px_mg_munmap(struct mg_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (targeted(tgid))
		send_range(tgid, MG_RELEASE, ctx->args[0], ctx->args[1], 0);
	return 0;
}

#define MG_MADV_DONTNEED 4
#define MG_MADV_FREE 8
#define MG_MADV_REMOVE 9
#define MG_MADV_DONTNEED_LOCKED 24

SEC("tracepoint/syscalls/sys_enter_madvise")
int px_mg_madvise(struct mg_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 advice = ctx->args[2];
	if (advice != MG_MADV_DONTNEED && advice != MG_MADV_FREE && advice != MG_MADV_REMOVE &&
	    advice != MG_MADV_DONTNEED_LOCKED)
		return 0;
	if (targeted(tgid))
		send_range(tgid, MG_RELEASE, ctx->args[0], ctx->args[1], 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_brk")
int px_mg_brk(struct mg_sys_exit *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!targeted(tgid) || ctx->ret <= 0)
		return 0;
	__u64 now = ctx->ret;
	__u64 *last = bpf_map_lookup_elem(&px_mg_brks, &tgid);
	if (last && now < *last)
		send_range(tgid, MG_RELEASE, now, *last - now, 0);
	bpf_map_update_elem(&px_mg_brks, &tgid, &now, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_mremap")
int px_mg_mremap_enter(struct mg_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!targeted(id >> 32))
		return 0;
	struct mg_mremap m = {
	    .old_addr = ctx->args[0], .old_len = ctx->args[1], .new_len = ctx->args[2]};
	bpf_map_update_elem(&px_mg_mremap, &id, &m, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mremap")
int px_mg_mremap_exit(struct mg_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mg_mremap *m = bpf_map_lookup_elem(&px_mg_mremap, &id);
	if (!m)
		return 0;
	struct mg_mremap saved = *m;
	bpf_map_delete_elem(&px_mg_mremap, &id);
	if (ctx->ret < 0)
		return 0;
	__u64 moved = saved.old_len < saved.new_len ? saved.old_len : saved.new_len;
	if ((__u64)ctx->ret != saved.old_addr)
		send_range(id >> 32, MG_MOVE, saved.old_addr, moved, ctx->ret);
	if (saved.new_len < saved.old_len) /* shrunk in place or moved: the tail is gone */
		send_range(id >> 32, MG_RELEASE, saved.old_addr + saved.new_len,
			   saved.old_len - saved.new_len, 0);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int px_mg_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (targeted(tgid))
		send_range(tgid, MG_EXEC, 0, 0, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
