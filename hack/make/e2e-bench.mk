# bench-e2e: issue 3's benchmark on the e2e cluster: time from
# `kubectl pixie trace pod/NAME` starting to its first table row, split into
# probe-pod creation, scheduling, container start, probe attach and first
# record (test/e2e/bench_test.go). Reuses a cluster from `make e2e-up`,
# otherwise brings one up and down like `make e2e`.
#   make bench-e2e [BENCH_RUNS=7]   results in bin/bench-e2e.md (see docs/benchmarks-e2e.md)

BENCH_RUNS ?= 7
BENCH_OUT := $(CURDIR)/$(BIN)/bench-e2e.md

.PHONY: bench-e2e
bench-e2e: build image ## issue 3 benchmark on the e2e cluster: start to first table row, split by phase (root)
	@if [ -f $(E2E_KUBECONFIG) ] && $(E2E_DIR)/bin/kubectl --kubeconfig $(E2E_KUBECONFIG) get --raw /readyz >/dev/null 2>&1; then \
	  echo "bench-e2e: reusing the running e2e cluster (the probe image it imported at start is used)"; \
	  KUBECONFIG=$(CURDIR)/$(E2E_KUBECONFIG) PIXIE_BIN=$(CURDIR)/$(BIN)/kubectl-pixie PIXIE_KUBECTL=$(CURDIR)/$(E2E_DIR)/bin/kubectl \
	  PIXIE_E2E_IMAGE=$(IMAGE) PIXIE_E2E_REQUIRE=1 PIXIE_BENCH=1 PIXIE_BENCH_RUNS=$(BENCH_RUNS) PIXIE_BENCH_OUT=$(BENCH_OUT) \
	  go test -tags e2e -count=1 -timeout 20m -v -run '^TestBenchFirstRow$$' ./test/e2e/; \
	else \
	  KVER=$(E2E_KVER) PROBE_IMAGE_TAR=$(CURDIR)/$(IMAGE_TAR) PROBE_IMAGE=$(IMAGE) PIXIE_BIN=$(CURDIR)/$(BIN)/kubectl-pixie \
	  PIXIE_BENCH=1 PIXIE_BENCH_RUNS=$(BENCH_RUNS) PIXIE_BENCH_OUT=$(BENCH_OUT) \
	  E2E_RUN='^TestBenchFirstRow$$' bash $(E2E_DIR)/scripts/e2e.sh; \
	fi
	@echo "bench-e2e: results in $(BENCH_OUT)"
