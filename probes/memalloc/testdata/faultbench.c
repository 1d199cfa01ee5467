// faultbench: a page-fault-bound loop, the worst case of the page-fault
// growth probe: malloc 1 MiB (mmap'd: the threshold is pinned), write one
// byte per page, free (munmap), repeat. Every page written is a fault.
// Prints "<ns> <pages>" every 100 ms, like allocbench.
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

__attribute__((noinline)) void touch_block(size_t n) {
	volatile char *p = malloc(n);
	if (!p)
		return;
	for (size_t i = 0; i < n; i += 4096)
		p[i] = 1;
	free((void *)p);
}

int main(void) {
	uint64_t pages = 0, next = now_ns() + 100000000ull;
	setvbuf(stdout, NULL, _IOLBF, 0);
	mallopt(M_MMAP_THRESHOLD, 256 << 10);
	for (;;) {
		touch_block(1 << 20);
		pages += 256;
		uint64_t t = now_ns();
		if (t >= next) {
			printf("%llu %llu\n", (unsigned long long)t, (unsigned long long)pages);
			next = t + 100000000ull;
		}
	}
}
