//go:build linux

package profile

// The user register file differs per architecture (pixie/user_regs.h),
// hence two targets. libbpf headers are the vendored copy.
//go:generate go tool bpf2go -tags linux -target amd64,arm64 -type profile_key -type profile_lost_reason -type profile_mode -type profile_raw profile ../../bpf/profile.bpf.c -- -I../../bpf/include -I../../bpf/include/libbpf
