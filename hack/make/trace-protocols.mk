# trace-protocols: the Redis and DNS parsers (probes/protocols/redis, dns).
# Their unit tests and kept fuzz corpora run in `make test` / test-protocols;
# their --local end-to-end tests (real redis-server, dnsmasq) in test-local.

.PHONY: fuzz-redis-dns
fuzz-redis-dns: ## short fuzz run of the Redis and DNS parsers (FUZZTIME=10s each)
	$(GO) test -run '^$$' -fuzz '^FuzzParser$$' -fuzztime $(FUZZTIME) ./probes/protocols/redis/
	$(GO) test -run '^$$' -fuzz '^FuzzParser$$' -fuzztime $(FUZZTIME) ./probes/protocols/dns/

fuzz-protocols: fuzz-redis-dns
