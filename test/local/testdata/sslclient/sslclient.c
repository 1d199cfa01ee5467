// sslclient: n keep-alive HTTPS GETs of one path over one OpenSSL
// connection, each timed with CLOCK_MONOTONIC right around its SSL_write
// and the SSL_read that completes the response. It waits for a line on
// stdin before connecting (so a trace can attach first), prints its local
// port, then per request its latency in ns and 1 if the kernel preempted
// the client during it (an involuntary context switch), else 0. With "ex" it calls
// SSL_write_ex and SSL_read_ex instead (OpenSSL 1.1.1+).
// Usage: sslclient HOST PORT PATH N [ex]
#define _GNU_SOURCE // strcasestr
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../sslio/sslio.h"

static void die(const char *what) {
	fprintf(stderr, "sslclient: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static long preemptions(void) {
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nivcsw;
}

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// read_response reads one response with a Content-Length body to its end.
static void read_response(SSL *ssl) {
	static char buf[65536];
	int have = 0;
	char *end = NULL;
	while (!end) {
		if (have == (int)sizeof(buf) - 1)
			die("headers too long");
		int n = ssl_read(ssl, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			die("SSL_read");
		have += n;
		buf[have] = 0;
		end = strstr(buf, "\r\n\r\n");
	}
	char *cl = strcasestr(buf, "\r\nContent-Length:");
	if (!cl || cl > end)
		die("no Content-Length");
	long body = strtol(cl + 17, NULL, 10);
	long left = body - (have - (end + 4 - buf));
	while (left > 0) {
		int n = ssl_read(ssl, buf, left < (long)sizeof(buf) ? (int)left : (int)sizeof(buf));
		if (n <= 0)
			die("SSL_read body");
		left -= n;
	}
}

int main(int argc, char **argv) {
	if (argc != 5 && argc != 6)
		die("usage: sslclient HOST PORT PATH N [ex]");
	use_ex = argc == 6 && strcmp(argv[5], "ex") == 0;
	int n = atoi(argv[4]);
	char line[16];
	if (!fgets(line, sizeof(line), stdin))
		die("no go line on stdin");
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("connect");
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1)
		die("SSL_connect");
	struct sockaddr_in local;
	socklen_t len = sizeof(local);
	getsockname(fd, (struct sockaddr *)&local, &len);
	printf("%d\n", ntohs(local.sin_port));
	char req[512];
	int reqlen = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", argv[3], argv[1]);
	for (int i = 0; i < n; i++) {
		long before = preemptions();
		long long start = now_ns();
		if (ssl_write(ssl, req, reqlen) != reqlen)
			die("SSL_write");
		read_response(ssl);
		long long lat = now_ns() - start;
		printf("%lld %d\n", lat, preemptions() != before);
	}
	fflush(stdout);
	// Stay connected until told, so the trace reads everything first.
	fgets(line, sizeof(line), stdin);
	SSL_shutdown(ssl);
	close(fd);
	return 0;
}
