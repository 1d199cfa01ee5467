# memory: `kubectl pixie memory` (probes/memtrend, probes/memalloc, plugin/memview).

.PHONY: test-memory
test-memory: ## memory trend maths, /proc sampling, real leak/sawtooth/idle programs, --alloc uprobes (root for --alloc)
	$(GO) test -count=1 ./probes/api/trend/ ./probes/memtrend/ ./probes/memalloc/ ./plugin/memview/
	$(GO) test -count=1 -run Memory ./plugin/cmd/ ./probes/agent/

.PHONY: bench-memory
bench-memory: build ## overhead of memory and memory --alloc on a malloc-bound loop (root); Markdown on stdout
	mkdir -p bench-results
	PIXIE_BENCH=1 PIXIE_BIN=$(CURDIR)/$(BIN)/kubectl-pixie $(GO) test -count=1 -v -run TestBenchOverhead -timeout 10m ./probes/memalloc/ | tee bench-results/memory.txt

bench: bench-memory
