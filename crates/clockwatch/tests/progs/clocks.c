/* Prints what each wall-clock API says, then checks MONOTONIC advances and
 * times an absolute REALTIME sleep to fake_now + 0.2 s against MONOTONIC.
 * Output: one "key value" per line. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

static long long mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
	struct timespec ts;
	struct timeval tv;
	clock_gettime(CLOCK_REALTIME, &ts);
	printf("clock_gettime %lld %ld\n", (long long)ts.tv_sec, ts.tv_nsec);
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	printf("coarse %lld\n", (long long)ts.tv_sec);
	gettimeofday(&tv, NULL);
	printf("gettimeofday %lld\n", (long long)tv.tv_sec);
	printf("time %lld\n", (long long)time(NULL));
	long long m0 = mono_ns();
	struct timespec d = { 0, 1000000 };
	nanosleep(&d, NULL);
	printf("monotonic_advances %d\n", mono_ns() > m0);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 200000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_nsec -= 1000000000;
		ts.tv_sec++;
	}
	m0 = mono_ns();
	int r = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL);
	printf("abs_sleep_ms %lld %d\n", (mono_ns() - m0) / 1000000, r);
	if (argc > 1) { /* a descendant: fork and exec ourselves (no argument) */
		fflush(stdout);
		pid_t p = fork();
		if (p == 0) {
			execl("/proc/self/exe", argv[0], (char *)NULL);
			_exit(127);
		}
		int st;
		waitpid(p, &st, 0);
		return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	}
	return 0;
}
