/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Fixed-width types and the few UAPI constants our BPF programs use. We do
 * not include <linux/bpf.h>: it pulls in arch-specific <asm/types.h>, which
 * a -target bpf compile cannot find. Values are kernel ABI and never change.
 */
#ifndef PIXIE_TYPES_H
#define PIXIE_TYPES_H

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

#ifndef NULL
#define NULL ((void *)0)
#endif

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
};

/* bpf_map_update_elem flags */
#define BPF_ANY 0
#define BPF_NOEXIST 1

/* map_flags */
#define BPF_F_MMAPABLE (1U << 10)

/* bpf_ringbuf_submit/output flags and bpf_ringbuf_query selectors */
#define BPF_RB_NO_WAKEUP (1ULL << 0)
#define BPF_RB_FORCE_WAKEUP (1ULL << 1)
#define BPF_RB_AVAIL_DATA 0

/* errno values seen at sys_exit */
#define EINPROGRESS 115

#define MSG_PEEK 2

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define S_IFMT 00170000
#define S_IFSOCK 0140000

#endif
