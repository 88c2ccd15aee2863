/* ns per call of the wall-clock reads, for bench/clock.sh.
 * Usage: clock_bench [reads-per-round]   (best of 7 rounds per function) */
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t); /* never faked */
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static volatile long sink;

#define BENCH(label, body)                                                    \
	do {                                                                  \
		double best = 1e30;                                           \
		for (int r = 0; r < 7; r++) {                                 \
			double t0 = now_ns();                                 \
			for (long i = 0; i < n; i++) {                        \
				body;                                         \
			}                                                     \
			double per = (now_ns() - t0) / (double)n;             \
			if (per < best)                                       \
				best = per;                                   \
		}                                                             \
		printf("%s %.2f\n", label, best);                             \
	} while (0)

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	struct timespec ts;
	struct timeval tv;
	BENCH("clock_gettime", (clock_gettime(CLOCK_REALTIME, &ts), sink += ts.tv_nsec));
	BENCH("gettimeofday", (gettimeofday(&tv, NULL), sink += tv.tv_usec));
	BENCH("time", sink += time(NULL));
	return 0;
}
