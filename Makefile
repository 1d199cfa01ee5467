# kubectl pixie: `make help` lists the targets, grouped by concern in
# hack/make/: build, lint, test, fuzz, bench, e2e, dist.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE ?= $(shell git log -1 --format=%cI 2>/dev/null)
PKG := github.com/kubectl-pixie/kubectl-pixie
LDFLAGS := -s -w -X $(PKG)/internal/version.Version=$(VERSION) -X $(PKG)/internal/version.Commit=$(COMMIT) -X $(PKG)/internal/version.Date=$(DATE)
BIN := bin

.PHONY: help
help: ## list targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-22s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## install what tests need (apt packages, as root)
	bash hack/deps.sh

.PHONY: demo
demo: deps build ## trace a demo nginx on this host for 15 s (root)
	bash hack/demo.sh

# The whole of CI, in one place: static checks first (cheap, fail fast),
# then the full tests, the race pass, the release checks, the cluster.
.PHONY: ci
ci: deps lint verify-generate cross-vet test test-race bench-check krew-verify e2e ## everything .ci/run runs

include hack/make/*.mk
