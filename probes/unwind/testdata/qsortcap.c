/* Test workload for probes/unwind: a qsort comparator, reached through
 * glibc's qsort internals (built without frame pointers), goes through three
 * noinline functions and captures what the page-fault probe would: its
 * registers, 4096 bytes of stack from rsp (or up to the stack's end) and a
 * frame-pointer walk. glibc's backtrace() (libgcc's unwinder) is the oracle.
 * It prints everything, then sleeps so the test can read /proc/<pid>/maps. */
#define _GNU_SOURCE
#include <execinfo.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STACK_COPY 4096
#define MAX_FP 64

int main(void);
static uint64_t stack_lo, stack_hi;
static unsigned char copy[STACK_COPY];
static int captured;

static void find_stack(void) {
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	while (f && fgets(line, sizeof line, f)) {
		if (strstr(line, "[stack]")) {
			sscanf(line, "%lx-%lx", &stack_lo, &stack_hi);
		}
	}
	if (f) fclose(f);
}

__attribute__((noinline)) static void capture(void) {
	uint64_t sp, bp, pc;
	__asm__ volatile("mov %%rsp, %0\n\t"
	                 "mov %%rbp, %1\n\t"
	                 "lea 1f(%%rip), %2\n"
	                 "1:"
	                 : "=r"(sp), "=r"(bp), "=r"(pc));
	size_t n = STACK_COPY;
	if (sp + n > stack_hi) n = stack_hi - sp;
	memcpy(copy, (void *)sp, n);

	/* What the BPF side does: pairs (BP, RA) while BP looks like a stack address. */
	/* static: keep this frame small so 4096 bytes reach _start */
	static uint64_t fpbp[MAX_FP], fpra[MAX_FP];
	int nfp = 0;
	uint64_t b = bp;
	while (nfp < MAX_FP && b >= stack_lo && b + 16 <= stack_hi && (b & 7) == 0) {
		fpbp[nfp] = b;
		fpra[nfp] = ((uint64_t *)b)[1];
		nfp++;
		uint64_t next = ((uint64_t *)b)[0];
		if (next <= b) break;
		b = next;
	}

	static void *bt[128];
	int nbt = backtrace(bt, 128);

	printf("main %lx\n", (uint64_t)(uintptr_t)&main);
	printf("regs %lx %lx %lx\n", pc, sp, bp);
	printf("stack ");
	for (size_t i = 0; i < n; i++) printf("%02x", copy[i]);
	printf("\n");
	for (int i = 0; i < nfp; i++) printf("fp %lx %lx\n", fpbp[i], fpra[i]);
	for (int i = 0; i < nbt; i++) printf("bt %lx\n", (uint64_t)(uintptr_t)bt[i]);
	printf("ready\n");
	fflush(stdout);
}

/* The asm barrier after each call keeps gcc from turning them into tail calls. */
__attribute__((noinline)) static int chain3(int x) {
	capture();
	__asm__ volatile("" ::: "memory");
	return x + 3;
}

__attribute__((noinline)) static int chain2(int x) {
	int r = chain3(x + 1);
	__asm__ volatile("" ::: "memory");
	return r * 2;
}

__attribute__((noinline)) static int chain1(int x) {
	int r = chain2(x + 1);
	__asm__ volatile("" ::: "memory");
	return r - 1;
}

static int cmp(const void *a, const void *b) {
	if (!captured) {
		captured = 1;
		volatile int sink = chain1(*(const int *)a);
		(void)sink;
	}
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

int main(void) {
	void *warm[4];
	backtrace(warm, 4); /* loads libgcc_s before the capture */
	find_stack();
	int v[64];
	for (int i = 0; i < 64; i++) v[i] = (i * 37) % 64;
	qsort(v, 64, sizeof v[0], cmp);
	for (;;) pause();
}
