/* Absolute deadlines at fake_now + 0.2 s that the kernel waits on in this
 * process, each timed against MONOTONIC: a timerfd and a POSIX timer with
 * ABSTIME on REALTIME (read and sigwaitinfo), a condition variable's timed
 * wait (glibc: a futex wait on FUTEX_CLOCK_REALTIME; musl converts it itself).
 * A deadline read on the fake clock but waited for on the real one fires at
 * once (the fake instant lies in the past) or never (in the future).
 * The timer keeps its interval and the program's own itimerspec is unchanged.
 * Output: "key ms result" per line. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static long long mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static struct timespec fake_in_200ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 200000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_nsec -= 1000000000;
		ts.tv_sec++;
	}
	return ts;
}

int main(void)
{
	/* timerfd */
	int fd = timerfd_create(CLOCK_REALTIME, 0);
	struct itimerspec its = { { 0, 0 }, fake_in_200ms() };
	struct itimerspec asked = its;
	long long m0 = mono_ns();
	int r = timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
	uint64_t n = 0;
	if (r == 0 && read(fd, &n, sizeof n) != sizeof n)
		r = -1;
	printf("timerfd %lld %d\n", (mono_ns() - m0) / 1000000, r);
	printf("unchanged %d\n", memcmp(&its, &asked, sizeof its) == 0);
	close(fd);

	/* POSIX timer, signalled */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = SIGUSR1;
	timer_t t;
	r = timer_create(CLOCK_REALTIME, &ev, &t);
	its.it_value = fake_in_200ms();
	m0 = mono_ns();
	if (r == 0)
		r = timer_settime(t, TIMER_ABSTIME, &its, NULL);
	if (r == 0 && sigwaitinfo(&set, NULL) != SIGUSR1)
		r = -1;
	printf("timer %lld %d\n", (mono_ns() - m0) / 1000000, r);

	/* condition variable on REALTIME, never signalled */
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	struct timespec at = fake_in_200ms();
	pthread_mutex_lock(&mu);
	m0 = mono_ns();
	do
		r = pthread_cond_timedwait(&cv, &mu, &at);
	while (r == 0);
	printf("condwait %lld %d\n", (mono_ns() - m0) / 1000000, r == ETIMEDOUT);
	pthread_mutex_unlock(&mu);
	return 0;
}
