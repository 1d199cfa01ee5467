// churn: every PERIOD_MS allocates CHURN_MIB MiB, touches every page and
// frees it (a sawtooth faster than the sampling), and with LEAK_BPS > 0
// also keeps memory, touched, at LEAK_BPS bytes per second of the
// monotonic clock (a leak under the sawtooth, exact in time even when a
// loaded machine stretches the cycles).
// Usage: churn CHURN_MIB PERIOD_MS LEAK_BPS
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: churn CHURN_MIB PERIOD_MS LEAK_BPS\n");
		return 2;
	}
	size_t churn = (size_t)atol(argv[1]) << 20;
	long period = atol(argv[2]) * 1000000L;
	double rate = atof(argv[3]);
	double t0 = now(), kept = 0;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		char *p = malloc(churn); // above the mmap threshold: free unmaps it
		if (p == NULL) {
			return 1;
		}
		memset(p, 7, churn);
		__asm__ volatile("" : : "r"(p) : "memory"); // the pages are touched, not optimised away
		free(p);
		size_t keep = (size_t)(rate * (now() - t0) - kept);
		if (keep > 0) {
			char *k = malloc(keep);
			if (k == NULL) {
				return 1;
			}
			memset(k, 7, keep);
			__asm__ volatile("" : : "r"(k) : "memory");
			kept += (double)keep;
		}
		next.tv_nsec += period;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
}
