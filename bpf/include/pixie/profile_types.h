/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The few UAPI definitions bpf/profile.bpf.c needs, so it builds with
 * -target bpfel on any host without the multiarch <asm/types.h> that
 * <linux/bpf.h> pulls in. Values are the kernel's stable UAPI.
 */
#ifndef PIXIE_PROFILE_TYPES_H
#define PIXIE_PROFILE_TYPES_H

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
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_STACK_TRACE = 7,
	BPF_MAP_TYPE_RINGBUF = 27,
};

#define BPF_RB_NO_WAKEUP 1

#define BPF_NOEXIST 1
#define BPF_F_USER_STACK (1ULL << 8)
#define PROFILE_EFAULT 14

#endif
