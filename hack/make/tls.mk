# tls: TLS plaintext for trace (OpenSSL and Go crypto/tls uprobes in probes/socktrace).

.PHONY: test-tls
test-tls: ## TLS tracing (root): symbol/offset discovery, real curl/nginx/wrk/Go HTTPS traced end to end
	$(GO) test -count=1 -v -run 'TLS|LibSSL|Decode' ./probes/socktrace/
	$(GO) test -count=1 -v -run 'TLS' ./test/local/
