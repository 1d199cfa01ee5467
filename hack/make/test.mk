# test: `make test` is every tier-1 and tier-2 test (privileged ones as
# root, with real servers started by the tests); `make test-race` the unit
# tests under the race detector. The others are slices of `make test` for
# working on one area.

# -timeout: test/local alone takes about 12 minutes here, over go test's
# default of 10. test/local runs last and alone: its latency and count
# checks time real servers on 2 cores, and go test ran other packages
# beside it (test/release's builds among them); CI failed a Go TLS p99 so.
.PHONY: test
test: otelcol ## tier 1 and 2: unit tests, and privileged probe tests when root (otelcol: built before, outside go test's timeout)
	$(GO) test -count=1 -timeout 30m $$($(GO) list ./... | grep -v '/test/local$$')
	$(GO) test -count=1 -timeout 30m ./test/local/

# -short skips every test that needs root or real programs (loudly, see
# probes/internal/probetest): under -race they would be slow, and `make
# test` has just run them.
.PHONY: test-race
test-race: ## unit tests of plugin/ and probes/ under the race detector (-short)
	@echo "test-race: tests that need root or real programs skip under -short (go test -v names them); make test runs them"
	$(GO) test -race -short -count=1 ./plugin/... ./probes/...

.PHONY: test-local
test-local: ## end-to-end --local trace tests against real nginx, curl, wrk (root)
	$(GO) test -count=1 -v ./test/local/

.PHONY: test-local-amqp-kafka
test-local-amqp-kafka: ## the AMQP (real RabbitMQ) and Kafka (kfake) --local tests only (root)
	$(GO) test -count=1 -v -run 'AMQP|Kafka' ./test/local/

.PHONY: test-protocols
test-protocols: ## connection tracker and protocol parsers: unit, split, recorded-stream tests and fuzz corpora
	$(GO) test -count=1 ./probes/conn/... ./probes/protocols/...

.PHONY: test-render
test-render: ## sketch error bounds, templating, aggregator, golden tables (colour on/off)
	$(GO) test -count=1 ./probes/api/... ./plugin/render/...

.PHONY: test-socktrace
test-socktrace: ## socket tracer: decoder unit tests, and as root load/verify plus real curl/nginx/Go traffic
	$(GO) test -count=1 -v ./probes/socktrace/

.PHONY: test-tls
test-tls: ## TLS tracing (root): symbol/offset discovery, real curl/nginx/wrk/Go HTTPS traced end to end
	$(GO) test -count=1 -v -run 'TLS|LibSSL|Decode' ./probes/socktrace/
	$(GO) test -count=1 -v -run 'TLS' ./test/local/

.PHONY: test-profile
test-profile: ## profiler: unit tests, and as root real Go/stripped Go/C/Node workloads vs perf record
	$(GO) test -count=1 ./plugin/flame/ ./plugin/cmd/ -run 'Profile|Flame|Folded|Pprof|SVG|Speedscope|Top|Terminal|Merge'
	$(GO) test -count=1 -v ./probes/profile/

.PHONY: test-memory
test-memory: ## memory trend maths, /proc sampling, real leak/sawtooth/idle programs, --alloc uprobes (root for --alloc)
	$(GO) test -count=1 ./probes/api/trend/ ./probes/memtrend/ ./probes/memalloc/ ./plugin/memview/
	$(GO) test -count=1 -run Memory ./plugin/cmd/ ./probes/agent/

.PHONY: render-golden
render-golden: ## rewrite plugin/render/testdata golden files after an intended output change (review the diff)
	$(GO) test -count=1 -run 'Trace|Live' ./plugin/render/ -update
	git diff --stat -- plugin/render/testdata

.PHONY: record-streams
record-streams: ## re-record testdata/streams from real curl <-> nginx / Go exchanges (needs nginx, curl)
	PIXIE_RECORD_STREAMS=1 $(GO) test -count=1 -run '^TestRecordStreams$$' -v ./probes/protocols/http1/
