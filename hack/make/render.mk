# render: bounded-memory aggregation (probes/api/stats) and the terminal
# rendering of trace (plugin/render). Pure Go: no root needed.

RENDER_PKGS := ./probes/api/... ./plugin/render/...
RENDER_FUZZTIME ?= 5s

.PHONY: test-render
test-render: ## sketch error-bound property tests, templating, aggregator, golden tables (colour on/off)
	$(GO) test -count=1 $(RENDER_PKGS)

.PHONY: render-golden
render-golden: ## rewrite plugin/render/testdata golden files after an intended output change (review the diff)
	$(GO) test -count=1 -run 'Trace|Live' ./plugin/render/ -update
	git diff --stat -- plugin/render/testdata

.PHONY: fuzz-render
fuzz-render: ## short fuzz smoke of templating, sketch decoding and escaping (RENDER_FUZZTIME each)
	$(GO) test -run '^$$' -fuzz '^FuzzTemplate$$' -fuzztime $(RENDER_FUZZTIME) ./probes/api/stats/
	$(GO) test -run '^$$' -fuzz '^FuzzSketchJSON$$' -fuzztime $(RENDER_FUZZTIME) ./probes/api/stats/
	$(GO) test -run '^$$' -fuzz '^FuzzSanitize$$' -fuzztime $(RENDER_FUZZTIME) ./plugin/render/

.PHONY: bench-render
bench-render: ## per-observation cost of the aggregator and the sketch
	mkdir -p bench-results
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./probes/api/stats/ | tee bench-results/render.txt

# Not in ci: a fuzzer that finds something new would make CI red at random; go test
# runs the kept corpora (testdata/fuzz) on every run instead.
