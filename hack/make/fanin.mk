# bench-fanin: what the plugin costs as the node count grows (#12 §2). A real
# kube-apiserver and etcd of its own (ports 17443, 24379/24380; not the e2e
# cluster's), 50/200/500 simulated nodes whose one simulated kubelet
# (127.0.0.1:17250) replays, through the API server's log API, what a real
# agent wrote under load on this host, at its pace; the real plugin binary is
# measured from outside. Root (the recordings attach the probes), about 10
# minutes; not part of `make ci` (its quick guard, -check, is in bench-check).
# Figures in docs/benchmarks.md.
#   make bench-fanin FANIN_ARGS='-sizes 50,200,500,1000 -only trace'
FANIN_DIR := bench-results/fanin
FANIN_ARGS ?=
FANIN_RUN = $(FANIN_DIR)/bin/fanin -plugin $(BIN)/kubectl-pixie -agent $(BIN)/pixie-agent \
  -apiserver $(FANIN_DIR)/bin/kube-apiserver -mkpki $(FANIN_DIR)/bin/mkpki

.PHONY: bench-fanin fanin-bins
bench-fanin: build fanin-bins ## plugin CPU, RSS, latency and drops at 50/200/500 simulated nodes on a real API server (root, ~10 min; not in ci)
	$(FANIN_RUN) -dir $(FANIN_DIR) $(FANIN_ARGS) | tee $(FANIN_DIR)/fanin.md

# kube-apiserver from the e2e cluster's cached Kubernetes build (its stamp names
# every component: asking for fewer would rebuild the shared cache), mkpki, fanin
fanin-bins:
	mkdir -p $(FANIN_DIR)/bin
	BIN_DIR=$(CURDIR)/$(FANIN_DIR)/bin bash $(E2E_DIR)/scripts/build-k8s.sh $(E2E_KVER)
	cd $(E2E_DIR)/tools && $(GO) build -o $(CURDIR)/$(FANIN_DIR)/bin/mkpki ./mkpki
	$(GO) build -o $(FANIN_DIR)/bin/fanin ./test/bench/fanin
