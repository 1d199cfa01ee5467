//go:build linux

package profile

// The probe uses no architecture-specific registers, so one bpfel object
// serves amd64 and arm64. libbpf headers are the vendored copy.
//go:generate go tool bpf2go -tags linux -target bpfel -type profile_key -type profile_lost_reason profile ../../bpf/profile.bpf.c -- -I../../bpf/include -I../../bpf/include/libbpf
