// sslserver: a one-connection-at-a-time HTTPS/1.1 server on OpenSSL, to be
// linked statically and stripped by test/local. It listens on 127.0.0.1:0,
// prints its port, then serves keep-alive GETs: /hello (200, a short
// body), /big (200, 64 KiB), anything else 404. Connections alternate
// between SSL_read/SSL_write and SSL_read_ex/SSL_write_ex. After each
// response it prints "PATH STATUS".
// Usage: sslserver CERT KEY
#define _GNU_SOURCE // memmem
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../sslio/sslio.h"

static char big[64 * 1024];

// respond answers the request whose first line starts req.
static int respond(SSL *ssl, const char *req) {
	char path[256] = "";
	if (sscanf(req, "GET %255s HTTP/1.1", path) != 1)
		return -1;
	const char *body = "not found\n";
	int status = 404, n = 10;
	if (strcmp(path, "/hello") == 0) {
		body = "hello from a stripped static OpenSSL\n", status = 200, n = (int)strlen(body);
	} else if (strcmp(path, "/big") == 0) {
		body = big, status = 200, n = sizeof(big);
	}
	char head[256];
	int h = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Length: %d\r\n\r\n", status,
			 status == 200 ? "OK" : "Not Found", n);
	if (ssl_write(ssl, head, h) != h || ssl_write(ssl, body, n) != n)
		return -1;
	printf("%s %d\n", path, status);
	fflush(stdout);
	return 0;
}

static void serve(SSL *ssl) {
	char buf[8192];
	int have = 0;
	for (;;) {
		char *end;
		while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
			if (have == sizeof(buf))
				return;
			int n = ssl_read(ssl, buf + have, sizeof(buf) - have);
			if (n <= 0)
				return;
			have += n;
		}
		*end = 0;
		if (respond(ssl, buf))
			return;
		int used = (int)(end + 4 - buf);
		memmove(buf, buf + used, have - used);
		have -= used;
	}
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: sslserver CERT KEY\n");
		return 2;
	}
	memset(big, 'b', sizeof(big));
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || SSL_CTX_use_certificate_file(ctx, argv[1], SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 16) ||
	    getsockname(ls, (struct sockaddr *)&a, &alen)) {
		perror("sslserver: listen");
		return 1;
	}
	printf("%d\n", ntohs(a.sin_port));
	fflush(stdout);
	for (int i = 0;; i++) {
		int c = accept(ls, NULL, NULL);
		if (c < 0)
			continue;
		use_ex = i & 1;
		SSL *ssl = SSL_new(ctx);
		SSL_set_fd(ssl, c);
		if (SSL_accept(ssl) == 1)
			serve(ssl);
		SSL_shutdown(ssl);
		SSL_free(ssl);
		close(c);
	}
}
