// grow: three kinds of memory use at once, built like distribution C code
// (-O2, no frame pointers), for the page-fault growth probe.
//   leak_small: RATE bytes/s in CHUNK-byte mallocs, written and kept (a leak
//               through glibc's brk heap);
//   sawtooth:   a 1 MiB block touched and freed every 50 ms; glibc maps
//               it with mmap and unmaps it on free (the threshold is
//               pinned with mallopt, as servers often do): lots of
//               faults, nothing kept;
//   churn:      malloc/free of small blocks, memory reused: no faults.
// Usage: grow RATE_BYTES_PER_SEC [CHUNK_BYTES]; prints "ready" then runs.
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *kept[1 << 22];
static long nkept;
static void *volatile sink;

__attribute__((noinline)) void *leak_small(size_t n) {
	char *p = malloc(n);
	if (p)
		memset(p, 0x5a, n);
	return p;
}

__attribute__((noinline)) void sawtooth(void) {
	size_t n = 1 << 20;
	char *p = malloc(n);
	if (p) {
		for (size_t i = 0; i < n; i += 4096) /* volatile: memset before free would be elided */
			((volatile char *)p)[i] = 1;
		free(p);
	}
}

__attribute__((noinline)) void churn(void) {
	for (int i = 0; i < 1000; i++) {
		sink = malloc(16 + (i & 255));
		free(sink);
	}
}

int main(int argc, char **argv) {
	double rate = argc > 1 ? atof(argv[1]) : 1 << 20;
	size_t chunk = argc > 2 ? (size_t)atol(argv[2]) : 512;
	mallopt(M_MMAP_THRESHOLD, 256 << 10);
	double t0 = now(), done = 0, saw = t0;
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		double t = now();
		double want = (t - t0) * rate;
		while (done + chunk <= want && nkept < (1 << 22)) {
			kept[nkept++] = leak_small(chunk);
			done += chunk;
		}
		if (t - saw >= 0.05) {
			sawtooth();
			saw = t;
		}
		churn();
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
}
