# e2e: a real three-node Kubernetes cluster (with kube-proxy and CoreDNS) built from the Go module proxy
# (test/e2e/cluster), the probe image pushed to the cluster's registry (nodes
# pull it by digest), and the
# tests in test/e2e (//go:build e2e). Needs root and hack/deps/e2e.apt.
#   make e2e                  build/reuse k8s (cached in /var/cache/kubectl-pixie), up, test, down
#   make e2e E2E_RUN=Doctor   only some tests
#   make e2e-up / e2e-down    keep a cluster for manual runs (KUBECONFIG below)
#   make bench-e2e [BENCH_RUNS=7]   start to first table row on the cluster (docs/benchmarks-e2e.md)

E2E_DIR := test/e2e/cluster
E2E_KVER ?= v1.34.4
E2E_KUBECONFIG := $(E2E_DIR)/state/pki/admin.kubeconfig
# The plugin image (the plugin alone, as the release's), for the in-cluster
# CronJob example (TestCronJobExample); pushed to the cluster's registry.
E2E_PLUGIN_TAR := $(BIN)/plugin-image_linux_$(IMAGE_ARCH).tar

# In ci: ~14 min for a cold Kubernetes build and ~2-4 min for CoreDNS on a
# fresh 2-core machine (then cached in /var/cache/kubectl-pixie), ~15 s to
# usable nodes, then the tests.
.PHONY: e2e
e2e: build image e2e-plugin-image ## cluster e2e tests (root): real kubelet + containerd, probe pods, streaming, cleanup (part of ci)
	KVER=$(E2E_KVER) PROBE_IMAGE_TAR=$(CURDIR)/$(IMAGE_TAR) PLUGIN_IMAGE_TAR=$(CURDIR)/$(E2E_PLUGIN_TAR) PROBE_IMAGE=$(IMAGE) PIXIE_BIN=$(CURDIR)/$(BIN)/kubectl-pixie \
	  E2E_RUN='$(E2E_RUN)' bash $(E2E_DIR)/scripts/e2e.sh

.PHONY: e2e-plugin-image
e2e-plugin-image: build ## the plugin image of this build (host arch) for the e2e cluster: bin/plugin-image_linux_ARCH.tar
	$(GO) run ./hack/ociimage -o $(E2E_PLUGIN_TAR) -name localhost/kubectl-pixie/plugin:dev -entrypoint /kubectl-pixie \
	  -title kubectl-pixie -epoch $(SOURCE_DATE_EPOCH) -bin $(IMAGE_ARCH)=$(BIN)/kubectl-pixie

.PHONY: e2e-k8s
e2e-k8s: ## build (or take from cache) the e2e cluster's Kubernetes binaries
	bash $(E2E_DIR)/scripts/build-k8s.sh $(E2E_KVER)

.PHONY: e2e-up
e2e-up: build image e2e-plugin-image ## start the e2e cluster and keep it (export KUBECONFIG=test/e2e/cluster/state/pki/admin.kubeconfig)
	bash $(E2E_DIR)/scripts/build-k8s.sh $(E2E_KVER)
	bash $(E2E_DIR)/scripts/build-tools.sh
	bash $(E2E_DIR)/scripts/build-coredns.sh
	cp $(IMAGE_TAR) $(E2E_DIR)/images/probe.tar
	cp $(E2E_PLUGIN_TAR) $(E2E_DIR)/images/plugin.tar
	bash $(E2E_DIR)/scripts/up.sh

.PHONY: e2e-down
e2e-down: ## stop the e2e cluster and delete its state
	bash $(E2E_DIR)/scripts/down.sh --purge

# bench-e2e: time from `kubectl pixie trace pod/NAME` starting to its first
# table row, split into probe-pod creation, scheduling, container start,
# probe attach and first record (test/e2e/bench_test.go). Reuses a cluster
# from `make e2e-up`, otherwise brings one up and down like `make e2e`.
BENCH_RUNS ?= 7
BENCH_OUT := $(CURDIR)/$(BIN)/bench-e2e.md

.PHONY: bench-e2e
bench-e2e: build image ## benchmark on the e2e cluster: start to first table row, split by phase (root)
	@if [ -f $(E2E_KUBECONFIG) ] && $(E2E_DIR)/bin/kubectl --kubeconfig $(E2E_KUBECONFIG) get --raw /readyz >/dev/null 2>&1; then \
	  echo "bench-e2e: reusing the running e2e cluster (the probe image it pushed at start is used)"; \
	  . $(E2E_DIR)/state/images.env; \
	  KUBECONFIG=$(CURDIR)/$(E2E_KUBECONFIG) PIXIE_BIN=$(CURDIR)/$(BIN)/kubectl-pixie PIXIE_KUBECTL=$(CURDIR)/$(E2E_DIR)/bin/kubectl \
	  PIXIE_E2E_IMAGE=$$PROBE_REF PIXIE_E2E_TESTAPP=$$TESTAPP_REF PIXIE_E2E_REQUIRE=1 PIXIE_BENCH=1 PIXIE_BENCH_RUNS=$(BENCH_RUNS) PIXIE_BENCH_OUT=$(BENCH_OUT) \
	  go test -tags e2e -count=1 -timeout 20m -v -run '^TestBenchFirstRow$$' ./test/e2e/; \
	else \
	  KVER=$(E2E_KVER) PROBE_IMAGE_TAR=$(CURDIR)/$(IMAGE_TAR) PROBE_IMAGE=$(IMAGE) PIXIE_BIN=$(CURDIR)/$(BIN)/kubectl-pixie \
	  PIXIE_BENCH=1 PIXIE_BENCH_RUNS=$(BENCH_RUNS) PIXIE_BENCH_OUT=$(BENCH_OUT) \
	  E2E_RUN='^TestBenchFirstRow$$' bash $(E2E_DIR)/scripts/e2e.sh; \
	fi
	@echo "bench-e2e: results in $(BENCH_OUT)"
