// cnofp: CPU burnt under a call chain that crosses glibc, built like
// distribution C (-O2, no frame pointers): main -> qsort (libc) -> cmp ->
// middle -> leaf_work. A frame-pointer profiler sees leaf_work alone; CFI
// unwinding must see the whole chain. Runs for argv[1] seconds, or see held.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile unsigned long sink;

__attribute__((noinline)) void leaf_work(int n) {
	unsigned long x = 0;
	for (int i = 0; i < n; i++)
		x += (unsigned long)i * i ^ x;
	sink = x;
}

__attribute__((noinline)) void middle(int n) {
	char buf[256];
	memset(buf, n, sizeof buf);
	leaf_work(n + buf[3]);
	sink += buf[5]; /* not a tail call: middle stays on the stack */
}

__attribute__((noinline)) int cmp(const void *a, const void *b) {
	middle(2000);
	return *(const int *)a - *(const int *)b;
}

/* inlined: the chain stays main -> qsort */
static inline __attribute__((always_inline)) void sort_once(void) {
	int v[64];
	for (int i = 0; i < 64; i++)
		v[i] = rand();
	qsort(v, 64, sizeof(int), cmp);
}

static double cpu_seconds(void) {
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* held: `cnofp held CPUSECS` burns CPUSECS of its CPU time (at most a
 * minute of wall time) for each line read on stdin, then prints "burnt" and
 * waits, idle, for the next line; it exits at EOF. A test releases it once
 * the profiler samples, so all the CPU it used is inside the window. */
static inline __attribute__((always_inline)) void held(double secs) {
	char line[64];
	while (fgets(line, sizeof line, stdin)) {
		double start = cpu_seconds();
		time_t deadline = time(NULL) + 60;
		while (cpu_seconds() - start < secs && time(NULL) < deadline)
			sort_once();
		puts("burnt");
		fflush(stdout);
	}
}

int main(int argc, char **argv) {
	if (argc > 2 && strcmp(argv[1], "held") == 0) {
		held(atof(argv[2]));
		return 0;
	}
	time_t end = time(NULL) + (argc > 1 ? atoi(argv[1]) : 10);
	while (time(NULL) < end)
		sort_once();
	return 0;
}
