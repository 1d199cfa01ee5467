# fuzz: every Fuzz* function in the tree, found by hack/fuzz.sh (none is
# listed by hand). Not in ci: a fuzzer that finds something new would turn
# CI red at random; `go test` (make test) replays the seeds and the kept
# corpora (testdata/fuzz) of every target on every run instead.

FUZZTIME ?= 10s

.PHONY: fuzz
fuzz: ## run each Fuzz* target for FUZZTIME (10s); FUZZ_PKGS=REGEX picks packages
	FUZZTIME=$(FUZZTIME) bash hack/fuzz.sh

.PHONY: fuzz-list
fuzz-list: ## list the Fuzz* targets `make fuzz` runs
	@bash hack/fuzz.sh -list
