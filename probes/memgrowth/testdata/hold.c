// hold: makes memory resident two ways, releases part of each, and says
// how much it touched and still holds: the truth the page-fault growth
// probe is checked against.
//   touch_mapped: 4 MiB mmap'd and written page by page; 1.5 MiB from its
//                 middle released with madvise(MADV_DONTNEED);
//   touch_brk:    the program break raised by 4 MiB and written page by
//                 page; then lowered by 1 MiB (a shrinking brk).
// Pages are written at most 1000 a second, below the probe's budget, so
// every fault is recorded. stdio is not used after start-up: malloc must
// not move the break under touch_brk.
// Usage: hold; prints "ready", waits for a line on stdin, then prints
// "mapped TOUCHED HELD brk TOUCHED HELD" (bytes) and sleeps.
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MIB (1L << 20)

static long page;

static void pace(long i) {
	if (i % 10 == 9) {
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
}

__attribute__((noinline)) long touch_mapped(char *p, long n) {
	for (long i = 0; i < n / page; i++) {
		((volatile char *)p)[i * page] = 1;
		pace(i);
	}
	return n;
}

__attribute__((noinline)) long touch_brk(char *p, long n) {
	for (long i = 0; i < n / page; i++) {
		((volatile char *)p)[i * page] = 1;
		pace(i);
	}
	return n;
}

int main(void) {
	page = sysconf(_SC_PAGESIZE);
	printf("ready\n");
	fflush(stdout);
	char line[16];
	if (read(0, line, sizeof line) <= 0)
		return 1;

	char *m = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 1;
	long mapTouched = touch_mapped(m, 4 * MIB);
	if (madvise(m + MIB, 3 * MIB / 2, MADV_DONTNEED))
		return 1;
	long mapHeld = mapTouched - 3 * MIB / 2;

	char *b = sbrk(0);
	b = (char *)(((unsigned long)b + page - 1) & ~(unsigned long)(page - 1));
	if (brk(b + 4 * MIB))
		return 1;
	long brkTouched = touch_brk(b, 4 * MIB);
	if (brk(b + 3 * MIB))
		return 1;
	long brkHeld = brkTouched - MIB;

	char out[128];
	int n = snprintf(out, sizeof out, "mapped %ld %ld brk %ld %ld\n", mapTouched, mapHeld, brkTouched, brkHeld);
	if (write(1, out, n) != n)
		return 1;
	for (;;)
		pause();
}
