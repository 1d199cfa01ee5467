# http2: the HTTP/2 and gRPC parser (probes/protocols/http2). Its unit tests
# and kept fuzz corpora run in `make test`; its --local end-to-end tests
# (nginx h2c with curl, grpc-go server and client) in test-local.

.PHONY: fuzz-http2
fuzz-http2: ## short fuzz run of the HTTP/2 frame parser and HPACK handling (FUZZTIME=10s each)
	$(GO) test -run '^$$' -fuzz '^FuzzParser$$' -fuzztime $(FUZZTIME) ./probes/protocols/http2/
	$(GO) test -run '^$$' -fuzz '^FuzzHPACK$$' -fuzztime $(FUZZTIME) ./probes/protocols/http2/
	$(GO) test -run '^$$' -fuzz '^FuzzTableDecoder$$' -fuzztime $(FUZZTIME) ./probes/protocols/http2/

fuzz-protocols: fuzz-http2
