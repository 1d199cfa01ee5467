// allocbench: a malloc-bound loop (replace a random slot of a 4096-slot
// pool with a fresh 16..1040-byte block) that prints "<ns> <ops>" every
// 100 ms, so a benchmark can read its throughput while probes come and go.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

__attribute__((noinline)) void *alloc_block(size_t n) {
	void *p = malloc(n);
	if (p) {
		memset(p, 0, 16);
	}
	return p;
}

int main(void) {
	static void *pool[4096];
	uint64_t x = 88172645463325252ull, ops = 0, next = now_ns() + 100000000ull;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		for (int i = 0; i < 4096; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			size_t slot = x & 4095, size = 16 + ((x >> 12) & 1023);
			free(pool[slot]);
			pool[slot] = alloc_block(size);
		}
		ops += 4096;
		uint64_t t = now_ns();
		if (t >= next) {
			printf("%llu %llu\n", (unsigned long long)t, (unsigned long long)ops);
			next = t + 100000000ull;
		}
	}
}
