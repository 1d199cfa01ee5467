# trace-amqp: the AMQP 0-9-1 and Kafka parsers (probes/protocols/amqp, kafka).
# Their unit tests and kept fuzz corpora run in `make test` / test-protocols;
# their --local end-to-end tests (a real RabbitMQ from hack/deps/trace-amqp.apt,
# franz-go against kfake built from test/local/testdata/kafka) in test-local.

.PHONY: fuzz-amqp-kafka test-local-amqp-kafka
fuzz-amqp-kafka: ## short fuzz run of the AMQP and Kafka parsers (FUZZTIME=10s each)
	$(GO) test -run '^$$' -fuzz '^FuzzParser$$' -fuzztime $(FUZZTIME) ./probes/protocols/amqp/
	$(GO) test -run '^$$' -fuzz '^FuzzParser$$' -fuzztime $(FUZZTIME) ./probes/protocols/kafka/

test-local-amqp-kafka: ## the AMQP (real RabbitMQ) and Kafka (kfake) --local tests only (root)
	$(GO) test -count=1 -v -run 'AMQP|Kafka' ./test/local/

fuzz-protocols: fuzz-amqp-kafka
