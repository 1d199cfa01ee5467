/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Types for bpf/memtrend.bpf.c: the UAPI subset it needs and the per-process
 * counters Go reads through bpf2go -type.
 */
#ifndef PIXIE_MEMTREND_H
#define PIXIE_MEMTREND_H

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
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
};

#define BPF_NOEXIST 1

/*
 * Syscall tracepoint records (tracefs events/syscalls/<name>/format): 8
 * bytes of common fields, the syscall number padded to 8, then each
 * argument (enter) or the return value (exit) as 8 bytes.
 */
struct mt_sys_enter {
	__u64 common;
	__s64 nr;
	__u64 args[6];
};

struct mt_sys_exit {
	__u64 common;
	__s64 nr;
	__s64 ret;
};

/* What one process did to its address space since the probe started. */
struct mt_stats {
	__u64 mmap_bytes;
	__u64 munmap_bytes;
	__u64 mmap_calls;
	__u64 munmap_calls;
	__u64 brk_first; /* program break at the first brk seen */
	__u64 brk_last;	 /* and at the latest */
};

/*
 * The lowest resident set read at the process's own munmap, madvise and
 * brk returns since Go last took it: where memory that cycles faster than
 * the sampling is released, so its floor whatever the scheduling.
 */
struct mt_low {
	__u64 pages;
	__u64 readings;
	__u64 at_ns; /* CLOCK_MONOTONIC of the lowest reading */
};

/*
 * Kernel types, CO-RE (flavours named ___mt so they stay out of the other
 * programs' kernel.h): only offsets and sizes are taken from them, fixed
 * against the running kernel's BTF. From 6.2 mm->rss_stat is an array of
 * percpu_counter, before it was struct mm_rss_stat of atomic_long_t.
 */
struct percpu_counter___mt {
	__s64 count;
} __attribute__((preserve_access_index));

struct mm_struct___mt {
	struct percpu_counter___mt rss_stat[4];
} __attribute__((preserve_access_index));

struct mm_rss_stat___mt {
	long count[4];
} __attribute__((preserve_access_index));

struct mm_struct___mt_pre62 {
	struct mm_rss_stat___mt rss_stat;
} __attribute__((preserve_access_index));

struct task_struct___mt {
	struct mm_struct___mt *mm;
} __attribute__((preserve_access_index));

/* enum mm_counter_type (stable since 4.5): resident = file + anon + shmem. */
enum {
	MT_FILEPAGES = 0,
	MT_ANONPAGES = 1,
	MT_SHMEMPAGES = 3,
};

#endif
