// leak: allocates and touches RATE bytes per second in CHUNK-sized blocks
// and never frees them. Usage: leak RATE_BYTES_PER_SEC [CHUNK_BYTES]
// The allocations go through leak_bytes, the name --alloc must report.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *kept[1 << 20];
static long nkept;

__attribute__((noinline)) void *leak_bytes(size_t n) {
	void *p = malloc(n);
	if (p) {
		memset(p, 0xab, n); // touch every page so RSS counts it
	}
	return p;
}

// churn allocates and frees at once: noise that --alloc must not report
// as outstanding.
// (The volatile sink stops the compiler from eliding the malloc/free pair.)
static void *volatile sink;

__attribute__((noinline)) void churn(size_t n) {
	sink = malloc(n);
	if (sink) {
		memset(sink, 1, 64);
	}
	free(sink);
}

int main(int argc, char **argv) {
	double rate = argc > 1 ? atof(argv[1]) : 1 << 20;
	size_t chunk = argc > 2 ? (size_t)atol(argv[2]) : 32 << 10;
	double t0 = now(), done = 0;
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		double want = (now() - t0) * rate;
		while (done + chunk <= want && nkept < (1 << 20)) {
			kept[nkept++] = leak_bytes(chunk);
			done += chunk;
		}
		for (int i = 0; i < 8; i++) {
			churn(4096);
		}
		usleep(5000);
	}
}
