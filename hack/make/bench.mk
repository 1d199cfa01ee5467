# bench: overhead and cost benchmarks (most need root); results go to
# bench-results/ and the figures we publish to docs/benchmarks*.md.

.PHONY: bench
bench: bench-trace bench-uprobe bench-socktrace bench-protocols bench-render bench-profile bench-memory ## every benchmark on this host (root)

.PHONY: bench-trace
bench-trace: build ## wrk->nginx with/without trace and vs bpftrace, CPU per request by mode, Redis (root); Markdown on stdout
	mkdir -p bench-results
	$(GO) run ./test/bench/trace -agent $(BIN)/pixie-agent -profile bench-results/agent-cpu.pprof | tee bench-results/trace.md
	$(GO) tool pprof -top -nodecount=25 bench-results/agent-cpu.pprof 2>/dev/null | tee bench-results/agent-cpu.txt

.PHONY: bench-uprobe
bench-uprobe: ## what one uprobe hit costs on this host by the probed instruction (the TLS probes' share; root)
	mkdir -p bench-results
	$(GO) build -o bench-results/uprobe-bench ./test/bench/uprobe # not go run: it strips the symbols probed
	bench-results/uprobe-bench | tee bench-results/uprobe.md

.PHONY: bench-socktrace
bench-socktrace: ## socket tracer BPF cost (root): bpf-ns/event under a Go client and under wrk; conn_stats on/off
	mkdir -p bench-results
	$(GO) test -count=1 -run '^$$' -bench 'NginxGoClient' -benchtime 20000x -v ./probes/socktrace/ | tee bench-results/socktrace.txt
	PIXIE_BENCH_WRK_SECONDS=10 $(GO) test -count=1 -run '^$$' -bench 'NginxWrk' -benchtime 1x -v ./probes/socktrace/ | tee -a bench-results/socktrace.txt
	$(GO) test -count=1 -run '^$$' -bench 'ConnStatsWrk' -benchtime 1x -v ./probes/socktrace/ | tee -a bench-results/socktrace.txt

.PHONY: bench-protocols
bench-protocols: ## per-event cost of the tracker + HTTP/1 (and cut chunked bodies), DNS (TCP), NATS and CQL parsers, the h2c upgrade and cut gRPC calls (cpu-ns/op is robust on loaded machines)
	mkdir -p bench-results
	$(GO) test -run '^$$' -bench 'BenchmarkTracker' -benchtime 300000x -cpu 1 ./probes/protocols/http1/ | tee bench-results/protocols.txt
	$(GO) test -run '^$$' -bench 'BenchmarkTracker' -benchtime 300000x -cpu 1 ./probes/protocols/dns/ | tee -a bench-results/protocols.txt
	$(GO) test -run '^$$' -bench 'BenchmarkUpgrade' -benchtime 100000x -cpu 1 ./probes/protocols/http2/ | tee -a bench-results/protocols.txt
	$(GO) test -run '^$$' -bench 'BenchmarkTrackerCut' -benchtime 2000x -cpu 1 ./probes/protocols/http2/ | tee -a bench-results/protocols.txt
	$(GO) test -run '^$$' -bench 'BenchmarkTracker' -benchtime 300000x -cpu 1 ./probes/protocols/nats/ | tee -a bench-results/protocols.txt
	$(GO) test -run '^$$' -bench 'BenchmarkTracker' -benchtime 300000x -cpu 1 ./probes/protocols/cql/ | tee -a bench-results/protocols.txt

.PHONY: bench-render
bench-render: ## per-observation cost of the aggregator and the sketch
	mkdir -p bench-results
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./probes/api/stats/ | tee bench-results/render.txt

.PHONY: bench-profile
bench-profile: ## profiler cost at 99 Hz (idle, busy) vs perf record, and a 1M-sample profile (root)
	mkdir -p bench-results
	$(GO) test -count=1 -run '^$$' -bench 'ProfileOverhead' -benchtime 1x -timeout 10m ./probes/profile/ | tee bench-results/profile.txt
	$(GO) test -count=1 -run '^$$' -bench 'Profile1M' -benchtime 1x -timeout 10m ./probes/profile/ | tee -a bench-results/profile.txt

.PHONY: bench-memory
bench-memory: build ## overhead of memory and memory --alloc on a malloc-bound loop (root); Markdown on stdout
	mkdir -p bench-results
	PIXIE_BENCH=1 PIXIE_BIN=$(CURDIR)/$(BIN)/kubectl-pixie $(GO) test -count=1 -v -run TestBenchOverhead -timeout 10m ./probes/memalloc/ | tee bench-results/memory.txt
