# bpf: the eBPF socket tracer (bpf/socktrace.bpf.c, probes/socktrace) and the
# shared BPF tree (vendored libbpf headers, clang-format).

CLANG_FORMAT ?= clang-format-19
LIBBPF_INCLUDE ?= /usr/include/bpf
LIBBPF_HEADERS := bpf_helpers.h bpf_helper_defs.h bpf_core_read.h bpf_endian.h bpf_tracing.h
# All our BPF C (vendored libbpf headers excluded).
BPF_FORMAT_FILES ?= $(wildcard bpf/*.bpf.c bpf/include/pixie/*.h)

.PHONY: update-libbpf-headers
update-libbpf-headers: ## re-vendor libbpf headers from Debian's libbpf-dev into bpf/include/libbpf
	dpkg-query -W -f='$${Version}\n' libbpf-dev
	for h in $(LIBBPF_HEADERS); do cp $(LIBBPF_INCLUDE)/$$h bpf/include/libbpf/bpf/$$h || exit 1; done
	dpkg-query -W -f='$${Version}\n' libbpf-dev | sed -e 's/^[0-9]*://' -e 's/-.*//' > bpf/include/libbpf/VERSION

.PHONY: bpf-format
bpf-format: ## clang-format our BPF C in place
	$(CLANG_FORMAT) -i $(BPF_FORMAT_FILES)

.PHONY: bpf-format-check
bpf-format-check: ## fail if our BPF C is not clang-formatted
	$(CLANG_FORMAT) --dry-run -Werror $(BPF_FORMAT_FILES)

.PHONY: test-socktrace
test-socktrace: ## socket tracer: decoder unit tests, and as root load/verify plus real curl/nginx/Go traffic
	$(GO) test -count=1 -v ./probes/socktrace/

.PHONY: bench-socktrace
bench-socktrace: ## socket tracer BPF cost (root): bpf-ns/event under a Go client and under wrk
	mkdir -p bench-results
	$(GO) test -count=1 -run '^$$' -bench 'NginxGoClient' -benchtime 20000x -v ./probes/socktrace/ | tee bench-results/socktrace.txt
	PIXIE_BENCH_WRK_SECONDS=10 $(GO) test -count=1 -run '^$$' -bench 'NginxWrk' -benchtime 1x -v ./probes/socktrace/ | tee -a bench-results/socktrace.txt

ci: bpf-format-check
