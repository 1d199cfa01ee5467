//go:build linux

package memgrowth

// Registers differ per architecture (pixie/memgrowth.h), hence two targets.
//go:generate go tool bpf2go -tags linux -target amd64,arm64 -type mg_fault -type mg_range -type mg_kind -type mg_counter memgrowth ../../bpf/memgrowth.bpf.c -- -I../../bpf/include -I../../bpf/include/libbpf
