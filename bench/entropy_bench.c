/* getrandom throughput (MB/s) for bench/entropy.sh, at two request sizes:
 * 16 bytes (a UUID, a hash seed) and 64 KiB (bulk reads).
 * Usage: entropy_bench [megabytes-per-round]   (best of 7 rounds per size) */
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t); /* never faked */
	return t.tv_sec + t.tv_nsec / 1e9;
}

static unsigned char buf[1 << 16];

static void bench(const char *label, size_t chunk, double mb)
{
	size_t calls = (size_t)(mb * 1e6 / chunk);
	double best = 0;
	for (int r = 0; r < 7; r++) {
		double t0 = now_s();
		for (size_t i = 0; i < calls; i++) {
			if (getrandom(buf, chunk, 0) != (ssize_t)chunk) {
				perror("getrandom");
				exit(1);
			}
		}
		double rate = calls * chunk / 1e6 / (now_s() - t0);
		if (rate > best)
			best = rate;
	}
	printf("%s %.1f\n", label, best);
}

int main(int argc, char **argv)
{
	double mb = argc > 1 ? atof(argv[1]) : 64;
	if (mb <= 0) {
		fprintf(stderr, "entropy_bench: megabytes per round must be positive\n");
		return 2;
	}
	bench("16B", 16, mb / 8);
	bench("64KiB", sizeof buf, mb);
	return 0;
}
