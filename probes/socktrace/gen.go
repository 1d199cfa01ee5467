//go:build linux

package socktrace

// The program uses syscall tracepoints and CO-RE reads only (no PT_REGS),
// so one little-endian object serves amd64 and arm64.
//go:generate go tool bpf2go -tags linux -target bpfel -type px_event -type px_counters -type px_addr -type px_h1_rec socktrace ../../bpf/socktrace.bpf.c -- -I../../bpf/include -I../../bpf/include/libbpf
