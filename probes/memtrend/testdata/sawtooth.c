// sawtooth: allocates and touches BLOCKS blocks of 1 MiB over PERIOD
// seconds, frees them all, and repeats: a heap that grows and collects.
// Usage: sawtooth [BLOCKS] [PERIOD_SEC]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
	int blocks = argc > 1 ? atoi(argv[1]) : 32;
	double period = argc > 2 ? atof(argv[2]) : 2;
	void *b[1024];
	if (blocks > 1024) {
		blocks = 1024;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		for (int i = 0; i < blocks; i++) {
			b[i] = malloc(1 << 20); // above the mmap threshold: free returns it to the kernel
			memset(b[i], 7, 1 << 20);
			usleep((useconds_t)(period * 1e6 / blocks));
		}
		for (int i = 0; i < blocks; i++) {
			free(b[i]);
		}
	}
}
