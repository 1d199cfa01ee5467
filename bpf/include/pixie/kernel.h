/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Minimal CO-RE kernel type definitions: only the fields our programs read.
 * preserve_access_index makes clang emit relocations, so cilium/ebpf fixes
 * the offsets against the running kernel's BTF at load time. Layout here is
 * irrelevant; names must match the kernel's.
 */
#ifndef PIXIE_KERNEL_H
#define PIXIE_KERNEL_H

#include "pixie/types.h"

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

typedef struct {
	int counter;
} atomic_t;

struct signal_struct {
	atomic_t live;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

struct task_struct {
	int pid;
	int tgid;
	struct files_struct *files;
	struct signal_struct *signal;
};

struct inode {
	unsigned short i_mode;
};

struct file {
	struct inode *f_inode;
	void *private_data;
};

struct in6_addr {
	__u8 s6_addr[16];
};

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
};

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
};

struct socket {
	short type;
	struct sock *sk;
};

#pragma clang attribute pop

/* User-space ABI structs (64-bit), read with bpf_probe_read_user. These are
 * fixed by the syscall ABI, so they carry no CO-RE relocations. */
struct px_iovec {
	__u64 base;
	__u64 len;
};

struct px_msghdr {
	__u64 name;
	__u32 namelen;
	__u32 _pad0;
	__u64 iov;
	__u64 iovlen;
	__u64 control;
	__u64 controllen;
	__u32 flags;
	__u32 _pad1;
};

struct px_mmsghdr {
	struct px_msghdr hdr;
	__u32 len;
	__u32 _pad;
};

struct px_sockaddr_in {
	__u16 family;
	__be16 port;
	__be32 addr;
	__u8 zero[8];
};

struct px_sockaddr_in6 {
	__u16 family;
	__be16 port;
	__u32 flowinfo;
	__u8 addr[16];
	__u32 scope_id;
};

/* Syscall tracepoint contexts (see events/syscalls/sys_{enter,exit}_* /format). */
struct px_sys_enter {
	__u64 common;
	__s32 nr;
	__u32 _pad;
	__u64 args[6];
};

struct px_sys_exit {
	__u64 common;
	__s32 nr;
	__u32 _pad;
	__s64 ret;
};

/* raw_tracepoint context: the tracepoint's arguments as u64s. */
struct bpf_raw_tracepoint_args {
	__u64 args[0];
};

#endif
