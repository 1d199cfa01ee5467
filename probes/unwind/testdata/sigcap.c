/* Test workload for probes/unwind: a SIGPROF handler samples the interrupted
 * registers at arbitrary instructions (mostly inside glibc: malloc, memset,
 * qsort, printf internals, no frame pointers, prologues and epilogues), the
 * way the page-fault probe samples a faulting instruction. Per sample it
 * keeps rip/rsp/rbp, 16 KiB of stack from rsp (or up to the stack's end),
 * a frame-pointer walk and glibc's backtrace() (libgcc's unwinder, which
 * passes through the signal frame) as the oracle. It prints the samples,
 * then sleeps until killed. */
#define _GNU_SOURCE
#include <execinfo.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

#define NSAMPLES 100
#define STACK_COPY 16384 /* more than the probe copies: the test also truncates to 4096 */
#define MAX_FP 64
#define MAX_BT 64

struct rec {
	uint64_t pc, sp, bp;
	uint32_t n;
	int nfp, nbt;
	uint64_t fp[MAX_FP][2];
	uint64_t bt[MAX_BT];
	unsigned char stack[STACK_COPY];
};

static struct rec recs[NSAMPLES];
/* The first samples also capture the handler itself, to unwind through the
 * signal frame (glibc's __restore_rt: CFI expressions, an exact pc after it). */
#define NHANDLER 10
static struct rec hrecs[NHANDLER];
static volatile int nrecs;
static uint64_t stack_lo, stack_hi;

static void find_stack(void) {
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	while (f && fgets(line, sizeof line, f)) {
		if (strstr(line, "[stack]")) sscanf(line, "%lx-%lx", &stack_lo, &stack_hi);
	}
	if (f) fclose(f);
}

static void copy_stack(struct rec *r) {
	r->n = STACK_COPY;
	if (r->sp + r->n > stack_hi) r->n = stack_hi - r->sp;
	memcpy(r->stack, (void *)r->sp, r->n);
	r->nfp = 0;
	for (uint64_t b = r->bp; r->nfp < MAX_FP && b >= r->sp && b + 16 <= stack_hi && (b & 7) == 0;) {
		uint64_t next = ((uint64_t *)b)[0];
		r->fp[r->nfp][0] = b;
		r->fp[r->nfp][1] = ((uint64_t *)b)[1];
		r->nfp++;
		if (next <= b) break;
		b = next;
	}
}

static void on_prof(int sig, siginfo_t *si, void *ctx) {
	(void)sig;
	(void)si;
	uint64_t hsp, hbp, hpc;
	__asm__ volatile("mov %%rsp, %0\n\t"
	                 "mov %%rbp, %1\n\t"
	                 "lea 1f(%%rip), %2\n"
	                 "1:"
	                 : "=r"(hsp), "=r"(hbp), "=r"(hpc));
	if (nrecs >= NSAMPLES) return;
	if (nrecs < NHANDLER) {
		struct rec *h = &hrecs[nrecs];
		h->pc = hpc;
		h->sp = hsp;
		h->bp = hbp;
		copy_stack(h);
		h->nbt = backtrace((void **)h->bt, MAX_BT);
	}
	ucontext_t *uc = ctx;
	struct rec *r = &recs[nrecs];
	r->pc = uc->uc_mcontext.gregs[REG_RIP];
	r->sp = uc->uc_mcontext.gregs[REG_RSP];
	r->bp = uc->uc_mcontext.gregs[REG_RBP];
	if (r->sp < stack_lo || r->sp >= stack_hi) return;
	copy_stack(r);
	r->nbt = backtrace((void **)r->bt, MAX_BT);
	nrecs++;
}

static int cmp(const void *a, const void *b) {
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static char text[256];

__attribute__((noinline)) static void work(int i) {
	size_t sz = 16 + ((size_t)i * 7919) % 200000;
	char *p = malloc(sz);
	memset(p, i, sz);
	int v[512];
	for (int k = 0; k < 512; k++) v[k] = (k * 7919 + i) % 1000;
	qsort(v, 512, sizeof v[0], cmp);
	char *q = realloc(p, sz * 2);
	memset(q + sz, i, sz);
	snprintf(text, sizeof text, "%d %f %s", i, i * 1.5, q + sz / 2 > q ? "a" : "b");
	free(q);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void loop(void) {
	for (int i = 0; nrecs < NSAMPLES; i++) {
		work(i);
		__asm__ volatile("" ::: "memory");
	}
}

int main(void) {
	void *warm[4];
	backtrace(warm, 4); /* load libgcc_s outside the handler */
	find_stack();
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_prof;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGPROF, &sa, NULL);
	struct itimerval it = {{0, 500}, {0, 500}};
	setitimer(ITIMER_PROF, &it, NULL);
	loop();
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_PROF, &off, NULL);

	for (int s = 0; s < nrecs + NHANDLER && s < 2 * NSAMPLES; s++) {
		struct rec *r = s < nrecs ? &recs[s] : &hrecs[s - nrecs];
		printf("sample\nkind %s\n", s < nrecs ? "interrupted" : "handler");
		printf("regs %lx %lx %lx\nstack ", r->pc, r->sp, r->bp);
		for (uint32_t i = 0; i < r->n; i++) printf("%02x", r->stack[i]);
		printf("\n");
		for (int i = 0; i < r->nfp; i++) printf("fp %lx %lx\n", r->fp[i][0], r->fp[i][1]);
		for (int i = 0; i < r->nbt; i++) printf("bt %lx\n", r->bt[i]);
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) pause();
}
