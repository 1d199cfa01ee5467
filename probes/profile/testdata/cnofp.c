// cnofp: CPU burnt under a call chain that crosses glibc, built like
// distribution C (-O2, no frame pointers): main -> qsort (libc) -> cmp ->
// middle -> leaf_work. A frame-pointer profiler sees leaf_work alone; CFI
// unwinding must see the whole chain. Runs for argv[1] seconds.
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

int main(int argc, char **argv) {
	time_t end = time(NULL) + (argc > 1 ? atoi(argv[1]) : 10);
	int v[64];
	while (time(NULL) < end) {
		for (int i = 0; i < 64; i++)
			v[i] = rand();
		qsort(v, 64, sizeof(int), cmp);
	}
	return 0;
}
