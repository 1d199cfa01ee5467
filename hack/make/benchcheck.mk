# bench-check: a quick pass/fail guard on the targets of docs/benchmarks.md
# (loss at 10k req/s, attach, agent RSS, profiler CPU), widened for a loaded
# 2-core CI machine; part of `make ci`. The figures themselves: `make bench`.

.PHONY: bench-check
bench-check: build ## fail when a benchmark target is missed by a wide margin (root, about 30 s)
	$(GO) run ./test/bench/trace -agent $(BIN)/pixie-agent -check
