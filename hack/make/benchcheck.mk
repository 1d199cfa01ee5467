# bench-check: a quick pass/fail guard on the targets of docs/benchmarks.md
# (loss at 10k req/s, attach, agent RSS, profiler CPU; the plugin's fan-in
# on 100 simulated nodes), widened for a loaded 2-core CI machine; part of
# `make ci`. The figures themselves: `make bench`, `make bench-fanin`.

.PHONY: bench-check
bench-check: build fanin-bins ## fail when a benchmark target is missed by a wide margin (root, about 2 min)
	$(GO) run ./test/bench/trace -agent $(BIN)/pixie-agent -check
	$(FANIN_RUN) -check -dir bench-results/fanin-check
