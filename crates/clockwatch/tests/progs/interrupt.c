/* An absolute REALTIME sleep interrupted by a signal (the supervisor's pending
 * answer is abandoned), then one that completes: prints "key value" lines. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static void on_alarm(int sig) { (void)sig; }

static long long mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static int sleep_until_fake_plus(long sec, long nsec)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += sec;
	ts.tv_nsec += nsec;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_nsec -= 1000000000;
		ts.tv_sec++;
	}
	return clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL);
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm; /* no SA_RESTART: the sleep returns EINTR */
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 0 }, { 0, 100000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	long long m0 = mono_ms();
	int r = sleep_until_fake_plus(30, 0);
	printf("interrupted %d %lld\n", r == EINTR, mono_ms() - m0);
	m0 = mono_ms();
	r = sleep_until_fake_plus(0, 200000000);
	printf("completed %d %lld\n", r, mono_ms() - m0);
	return 0;
}
