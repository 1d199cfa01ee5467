# e2e: a real single-node Kubernetes cluster built from the Go module proxy
# (test/e2e/cluster), the probe image imported into its containerd, and the
# tests in test/e2e (//go:build e2e). Needs root and hack/deps/e2e.apt.
#   make e2e                  build/reuse k8s (cached in /var/cache/kubectl-pixie), up, test, down
#   make e2e E2E_RUN=Doctor   only some tests
#   make e2e-up / e2e-down    keep a cluster for manual runs (KUBECONFIG below)

E2E_DIR := test/e2e/cluster
E2E_KVER ?= v1.34.4
E2E_KUBECONFIG := $(E2E_DIR)/state/pki/admin.kubeconfig

.PHONY: e2e
e2e: build image ## cluster e2e tests (root): real kubelet + containerd, probe pods, streaming, cleanup (part of ci)
	KVER=$(E2E_KVER) PROBE_IMAGE_TAR=$(CURDIR)/$(IMAGE_TAR) PROBE_IMAGE=$(IMAGE) PIXIE_BIN=$(CURDIR)/$(BIN)/kubectl-pixie \
	  E2E_RUN='$(E2E_RUN)' bash $(E2E_DIR)/scripts/e2e.sh

.PHONY: e2e-k8s
e2e-k8s: ## build (or take from cache) the e2e cluster's Kubernetes binaries
	bash $(E2E_DIR)/scripts/build-k8s.sh $(E2E_KVER)

.PHONY: e2e-up
e2e-up: build image ## start the e2e cluster and keep it (export KUBECONFIG=test/e2e/cluster/state/pki/admin.kubeconfig)
	bash $(E2E_DIR)/scripts/build-k8s.sh $(E2E_KVER)
	bash $(E2E_DIR)/scripts/build-tools.sh
	cp $(IMAGE_TAR) $(E2E_DIR)/images/probe.tar
	bash $(E2E_DIR)/scripts/up.sh

.PHONY: e2e-down
e2e-down: ## stop the e2e cluster and delete its state
	bash $(E2E_DIR)/scripts/down.sh --purge

# CI runs the cluster tests too: ~14 min for a cold Kubernetes build on a
# fresh 2-core machine (then cached in /var/cache/kubectl-pixie), ~15 s to a
# usable node, ~2 min of tests.
ci: e2e
