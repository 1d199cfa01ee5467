# lint: gofmt and go vet, golangci-lint (.golangci.yml: the import rules
# between plugin/, probes/ and the wire), clang-format of our BPF C.

GOLANGCI_LINT_VERSION ?= v2.15.0
# Outside the repository and keyed by version: a fresh clone (CI) reuses a
# build from an earlier run, and a new version never runs an old binary.
TOOLS_DIR ?= /var/cache/kubectl-pixie/tools
GOLANGCI_LINT := $(TOOLS_DIR)/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint
CLANG_FORMAT ?= clang-format-19
# All our BPF C (vendored libbpf headers excluded).
BPF_FORMAT_FILES ?= $(wildcard bpf/*.bpf.c bpf/include/pixie/*.h)

.PHONY: lint
lint: vet golangci-lint bpf-format-check actionlint ## every static check: gofmt, go vet, golangci-lint, clang-format, actionlint

.PHONY: vet
vet: ## gofmt and go vet
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## golangci-lint with .golangci.yml (installs the pinned version once)
	$(GOLANGCI_LINT) run --allow-serial-runners --timeout 20m ./...

# From the Go module proxy, outside our go.mod so its dependencies never
# mix with the plugin's.
$(GOLANGCI_LINT):
	GOBIN=$(@D) GOFLAGS= $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: bpf-format
bpf-format: ## clang-format our BPF C in place
	$(CLANG_FORMAT) -i $(BPF_FORMAT_FILES)

.PHONY: bpf-format-check
bpf-format-check: ## fail if our BPF C is not clang-formatted
	$(CLANG_FORMAT) --dry-run -Werror $(BPF_FORMAT_FILES)
