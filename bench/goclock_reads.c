/* ns per CLOCK_REALTIME read and per CLOCK_MONOTONIC read (timed on MONOTONIC). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	struct timespec ts;
	long long sink = 0, t0 = mono_ns();
	for (long i = 0; i < n; i++) {
		clock_gettime(CLOCK_REALTIME, &ts);
		sink += ts.tv_nsec;
	}
	long long wall = ts.tv_sec;
	long long t1 = mono_ns();
	for (long i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		sink += ts.tv_nsec;
	}
	long long t2 = mono_ns();
	printf("realtime_ns_per_read %.1f\nmonotonic_ns_per_read %.1f\nlast_realtime %lld\n", (double)(t1 - t0) / n,
	       (double)(t2 - t1) / n, wall + 0 * sink);
	return 0;
}
