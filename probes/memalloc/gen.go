//go:build linux

package memalloc

// Registers differ per architecture (pixie/memalloc.h), hence two targets.
//go:generate go tool bpf2go -tags linux -target amd64,arm64 -type ma_alloc -type ma_key -type ma_total -type ma_counter -type ma_source memalloc ../../bpf/memalloc.bpf.c -- -I../../bpf/include -I../../bpf/include/libbpf
