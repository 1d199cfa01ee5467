# otelcol: a minimal OpenTelemetry Collector (OTLP receiver, file exporter)
# built from the Go module proxy (hack/otelcol, its own module), for the
# OTLP export test (test/local/otlp_test.go, which runs this target).
# Cached in /var/cache/kubectl-pixie/otelcol/<version>-<hash of its
# sources>: about 4.5 minutes cold on a busy 2-core machine, then nothing.

OTELCOL_VERSION := $(shell awk '$$1 == "go.opentelemetry.io/collector/otelcol" {print $$2}' hack/otelcol/go.mod)
OTELCOL_HASH := $(shell cat hack/otelcol/go.mod hack/otelcol/go.sum hack/otelcol/main.go | sha256sum | cut -c1-12)
OTELCOL := /var/cache/kubectl-pixie/otelcol/$(OTELCOL_VERSION)-$(OTELCOL_HASH)/otelcol

.PHONY: otelcol
otelcol: ## build (or take from cache) the test collector; prints its path
	@if [ ! -x $(OTELCOL) ]; then \
	  mkdir -p $(dir $(OTELCOL)) && \
	  (cd hack/otelcol && GOFLAGS= CGO_ENABLED=0 $(GO) build -trimpath -o $(OTELCOL).tmp .) >&2 && \
	  mv $(OTELCOL).tmp $(OTELCOL); \
	fi
	@echo $(OTELCOL)
