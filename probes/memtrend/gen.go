//go:build linux

package memtrend

// Tracepoint records only: one bpfel object serves amd64 and arm64.
//go:generate go tool bpf2go -tags linux -target bpfel -type mt_stats -type mt_low memtrend ../../bpf/memtrend.bpf.c -- -I../../bpf/include -I../../bpf/include/libbpf
