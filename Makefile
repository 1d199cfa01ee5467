# kubectl pixie: `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE ?= $(shell git log -1 --format=%cI 2>/dev/null)
PKG := github.com/kubectl-pixie/kubectl-pixie
LDFLAGS := -s -w -X $(PKG)/plugin/version.Version=$(VERSION) -X $(PKG)/plugin/version.Commit=$(COMMIT) -X $(PKG)/plugin/version.Date=$(DATE)
BIN := bin

# Pinned BPF toolchain: object bytes depend on the clang version and CI
# compares them (verify-generate).
export BPF2GO_CC ?= clang-19
export BPF2GO_STRIP ?= llvm-strip-19
export BPF2GO_CFLAGS ?= -O2 -g -Wall -Werror

.PHONY: help
help: ## list targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## install what tests need (apt packages, as root)
	bash hack/deps.sh

.PHONY: build
build: ## build the plugin and the agent into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/kubectl-pixie ./cmd/kubectl-pixie
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/pixie-agent ./cmd/pixie-agent

.PHONY: cross
cross: ## compile the plugin for linux, darwin and windows
	for p in linux/amd64 darwin/arm64 windows/amd64; do os=$${p%/*} arch=$${p#*/}; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -o /dev/null ./cmd/kubectl-pixie || exit 1; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) vet ./plugin/... ./probes/api/... || exit 1; \
	done

.PHONY: generate
generate: ## regenerate bpf2go output (needs clang-19)
	$(GO) generate ./probes/...

.PHONY: verify-generate
verify-generate: generate ## fail if committed bpf2go output is stale
	git diff --exit-code -- probes/ bpf/

.PHONY: vet
vet: ## go vet and gofmt
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

.PHONY: test
test: ## tier 1 and 2: unit tests, and privileged probe tests when root
	$(GO) test -count=1 ./...

.PHONY: bench
bench: build ## overhead benchmarks (root); writes results under bench-results/

.PHONY: ci
ci: deps vet verify-generate cross test ## everything .ci/run runs

# Each area adds its own targets and hooks here, so parallel work touches
# no shared lines.
-include hack/make/*.mk
