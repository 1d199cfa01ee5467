# profile: the CPU profiler (bpf/profile.bpf.c, probes/profile, plugin/flame,
# kubectl pixie profile).

CLANG_FORMAT ?= clang-format-19
PROFILE_C_FILES := bpf/profile.bpf.c bpf/include/pixie/profile.h bpf/include/pixie/profile_types.h

.PHONY: test-profile
test-profile: ## profiler: unit tests, and as root real Go/stripped Go/C/Node workloads vs perf record
	$(GO) test -count=1 ./plugin/flame/ ./plugin/cmd/ -run 'Profile|Flame|Folded|Pprof|SVG|Speedscope|Top|Terminal|Merge'
	$(GO) test -count=1 -v ./probes/profile/

.PHONY: bench-profile
bench-profile: ## profiler cost at 99 Hz (idle, busy) vs perf record, and a 1M-sample profile (root)
	mkdir -p bench-results
	$(GO) test -count=1 -run '^$$' -bench 'ProfileOverhead' -benchtime 1x -timeout 10m ./probes/profile/ | tee bench-results/profile.txt
	$(GO) test -count=1 -run '^$$' -bench 'Profile1M' -benchtime 1x -timeout 10m ./probes/profile/ | tee -a bench-results/profile.txt

.PHONY: profile-format-check
profile-format-check: ## fail if the profiler's BPF C is not clang-formatted
	$(CLANG_FORMAT) --dry-run -Werror $(PROFILE_C_FILES)

bench: bench-profile
ci: profile-format-check
