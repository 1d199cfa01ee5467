# build: the plugin and the agent, cross-compile checks, and the bpf2go
# output (the generated .go and .o files are committed).

# Pinned BPF toolchain: object bytes depend on the clang version and CI
# compares them (verify-generate).
export BPF2GO_CC ?= clang-19
export BPF2GO_STRIP ?= llvm-strip-19
export BPF2GO_CFLAGS ?= -O2 -g -Wall -Werror

LIBBPF_INCLUDE ?= /usr/include/bpf
LIBBPF_HEADERS := bpf_helpers.h bpf_helper_defs.h bpf_core_read.h bpf_endian.h bpf_tracing.h

.PHONY: build
build: ## build the plugin and the agent into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/kubectl-pixie ./cmd/kubectl-pixie
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/pixie-agent ./cmd/pixie-agent

.PHONY: cross
cross: cross-vet ## compile the plugin for linux, darwin and windows
	for p in $(CROSS_PLATFORMS); do os=$${p%/*} arch=$${p#*/}; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -o /dev/null ./cmd/kubectl-pixie || exit 1; \
	done

# make ci vets each OS but does not link it here: krew-verify builds the
# release archives of every platform anyway. vet compiles the dependencies it
# type-checks against; -trimpath, as the release builds use, lets krew-verify
# reuse those compiles: on a cold machine each compile of the plugin's
# Kubernetes dependencies for one OS costs minutes.
CROSS_PLATFORMS := linux/amd64 darwin/arm64 windows/amd64
.PHONY: cross-vet
cross-vet: ## vet the plugin for linux, darwin and windows (type-checks each OS's files)
	for p in $(CROSS_PLATFORMS); do os=$${p%/*} arch=$${p#*/}; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) vet -trimpath ./plugin/... ./probes/api/... || exit 1; \
	done

.PHONY: generate
generate: ## regenerate bpf2go output (needs clang-19)
	$(GO) generate ./probes/...

.PHONY: verify-generate
verify-generate: generate ## fail if committed bpf2go output is stale
	git diff --exit-code -- probes/ bpf/

.PHONY: update-libbpf-headers
update-libbpf-headers: ## re-vendor libbpf headers from Debian's libbpf-dev into bpf/include/libbpf
	dpkg-query -W -f='$${Version}\n' libbpf-dev
	for h in $(LIBBPF_HEADERS); do cp $(LIBBPF_INCLUDE)/$$h bpf/include/libbpf/bpf/$$h || exit 1; done
	dpkg-query -W -f='$${Version}\n' libbpf-dev | sed -e 's/^[0-9]*://' -e 's/-.*//' > bpf/include/libbpf/VERSION
