// exact: allocates through malloc, calloc and realloc (small blocks from
// the heap and large ones glibc maps), frees a quarter, and says exactly
// what it still holds per function: the truth --alloc-mode uprobes with
// sampling off must equal.
// Usage: exact; prints "ready", waits for a line on stdin, then prints
// "malloc BYTES N calloc BYTES N realloc BYTES N" and sleeps.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define N 3000

static void *slot[N];
static size_t size[N];

__attribute__((noinline)) void keep_malloc(int i, size_t n) {
	slot[i] = malloc(n);
	size[i] = n;
}

__attribute__((noinline)) void keep_calloc(int i, size_t k, size_t n) {
	slot[i] = calloc(k, n);
	size[i] = k * n;
}

__attribute__((noinline)) void keep_realloc(int i, size_t n) {
	slot[i] = realloc(slot[i], n);
	size[i] = n;
}

int main(void) {
	printf("ready\n");
	fflush(stdout);
	char line[16];
	if (read(0, line, sizeof line) <= 0)
		return 1;
	size_t bytes[3] = {0}, count[3] = {0};
	for (int i = 0; i < N; i++) {
		size_t n = 16 + (size_t)(i * 37 % 4000);
		if (i % 100 == 7)
			n = 300000 + (size_t)i; // above the mmap threshold
		int kind = i % 3;
		if (kind == 0) {
			keep_malloc(i, n);
		} else if (kind == 1) {
			keep_calloc(i, 1 + i % 5, n / 5 + 1);
		} else {
			keep_malloc(i, 64); // replaced by realloc: not held by keep_malloc
			keep_realloc(i, n);
		}
		if (slot[i] == NULL)
			return 1;
		if (i % 4 == 3) { // a quarter freed again
			free(slot[i]);
			continue;
		}
		bytes[kind] += size[i];
		count[kind]++;
	}
	char out[160];
	int len = snprintf(out, sizeof out, "malloc %zu %zu calloc %zu %zu realloc %zu %zu\n",
			   bytes[0], count[0], bytes[1], count[1], bytes[2], count[2]);
	if (write(1, out, len) != len)
		return 1;
	for (;;)
		pause();
}
