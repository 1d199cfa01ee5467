// cburn is the C workload of the profile tests (clang, frame pointers):
// two leaf functions with known CPU shares, measured by the program itself
// (thread CPU time around each call) and printed as JSON at exit.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/resource.h>

static double thread_cpu(void) {
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double process_cpu(void) {
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

__attribute__((noinline)) unsigned long burn_gamma(long n) {
	volatile unsigned long x = 1;
	for (long i = 0; i < n; i++)
		x = x * 2862933555777941757UL + 3037000493UL;
	return x;
}

__attribute__((noinline)) unsigned long burn_delta(long n) {
	volatile unsigned long x = 3;
	for (long i = 0; i < n; i++)
		x ^= (x << 5) + i;
	return x;
}

#define THREADS 2 /* enough samples on a busy machine */

struct result {
	double g, d;
	unsigned long sink;
};

static struct timespec end;

static void *loop(void *arg) {
	struct result *r = arg;
	struct timespec now;
	/* Jittered work sizes: a fixed cycle could alias with the 10 ms
	 * sampling period and the scheduler's time slices. */
	unsigned int seed = (unsigned int)(unsigned long)arg;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			break;
		double t0 = thread_cpu();
		r->sink += burn_gamma(1500000 + rand_r(&seed) % 3000000);
		double t1 = thread_cpu();
		r->sink += burn_delta(750000 + rand_r(&seed) % 1500000);
		double t2 = thread_cpu();
		r->g += t1 - t0;
		r->d += t2 - t1;
	}
	return NULL;
}

int main(int argc, char **argv) {
	double secs = argc > 1 ? atof(argv[1]) : 5;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += (time_t)secs;
	double start = process_cpu(), g = 0, d = 0;
	unsigned long sink = 0;
	pthread_t th[THREADS];
	struct result res[THREADS] = {0};
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, loop, &res[i]);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		g += res[i].g;
		d += res[i].d;
		sink += res[i].sink;
	}
	printf("{\"burn_gamma\": %f, \"burn_delta\": %f, \"total\": %f, \"sink\": %lu}\n", g, d, process_cpu() - start, sink % 10);
	return 0;
}
