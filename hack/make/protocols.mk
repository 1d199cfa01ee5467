# protocols: the connection tracker (probes/conn) and protocol parsers
# (probes/protocols/...). Pure Go: no root needed.

PROTOCOL_PKGS := ./probes/conn/... ./probes/protocols/...
FUZZTIME ?= 10s

.PHONY: test-protocols
test-protocols: ## unit, split, recorded-stream tests and fuzz seed corpora of the tracker and parsers
	$(GO) test -count=1 $(PROTOCOL_PKGS)

.PHONY: fuzz-protocols
fuzz-protocols: ## short fuzz run of each parser/tracker target (FUZZTIME=10s each)
	$(GO) test -run '^$$' -fuzz '^FuzzParser$$' -fuzztime $(FUZZTIME) ./probes/protocols/http1/
	$(GO) test -run '^$$' -fuzz '^FuzzTracker$$' -fuzztime $(FUZZTIME) ./probes/protocols/http1/

.PHONY: bench-protocols
bench-protocols: ## per-event cost of the tracker + HTTP/1 parser (cpu-ns/op is robust on loaded machines)
	mkdir -p bench-results
	$(GO) test -run '^$$' -bench 'BenchmarkTracker' -benchtime 300000x -cpu 1 ./probes/protocols/http1/ | tee bench-results/protocols.txt

.PHONY: record-streams
record-streams: ## re-record testdata/streams from real curl <-> nginx / Go exchanges (needs nginx, curl)
	PIXIE_RECORD_STREAMS=1 $(GO) test -count=1 -run '^TestRecordStreams$$' -v ./probes/protocols/http1/

bench: bench-protocols
