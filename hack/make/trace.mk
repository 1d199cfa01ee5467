# trace: local end-to-end tests and the overhead benchmark.

.PHONY: bench-trace
bench-trace: build ## wrk->nginx with/without trace and vs bpftrace (root); Markdown on stdout
	mkdir -p bench-results
	$(GO) run ./test/bench/trace -agent $(BIN)/pixie-agent | tee bench-results/trace.md

bench: bench-trace

.PHONY: demo
demo: deps build ## trace a demo nginx on this host for 15 s (root)
	bash hack/demo.sh

.PHONY: test-local
test-local: ## end-to-end --local trace tests against real nginx, curl, wrk (root)
	$(GO) test -count=1 -v ./test/local/
