// sslio.h: SSL_read and SSL_write, or their _ex forms when use_ex is set,
// for the OpenSSL programs of test/local (sslclient, sslserver).
#ifndef SSLIO_H
#define SSLIO_H
#include <openssl/ssl.h>

static int use_ex;

// ssl_read reads like SSL_read, through SSL_read_ex when asked.
static int ssl_read(SSL *ssl, char *buf, int len) {
	if (!use_ex)
		return SSL_read(ssl, buf, len);
	size_t got = 0;
	return SSL_read_ex(ssl, buf, (size_t)len, &got) == 1 ? (int)got : -1;
}

static int ssl_write(SSL *ssl, const char *buf, int len) {
	if (!use_ex)
		return SSL_write(ssl, buf, len);
	size_t put = 0;
	return SSL_write_ex(ssl, buf, (size_t)len, &put) == 1 ? (int)put : -1;
}
#endif
