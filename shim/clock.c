/* clock.c -- the fake wall clock: the read functions and syscall(2). */
#include "shim.h"

#include <linux/futex.h>
#include <stdarg.h>

#ifndef FUTEX_LOCK_PI2
#define FUTEX_LOCK_PI2 13
#endif

int g_mode;
int g_watched;
int64_t g_sec;
long g_nsec;
int64_t g_off_sec;
long g_off_nsec;
uint64_t g_step_ns;
int64_t g_tai_off;
_Atomic uint64_t g_step_n;

EXPORT int clock_gettime(clockid_t clk, struct timespec *ts)
{
	if (g_mode != M_OFF && is_realtime(clk))
		return fake_clock(clk, ts, 1);
	return real_clock(clk, ts);
}

EXPORT int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	LAUNDER(tv);
	if (LIKELY(tz == NULL && tv != NULL)) {
		struct timespec ts;
		switch (g_mode) {
		case M_FROZEN:
			tv->tv_sec = g_sec;
			tv->tv_usec = g_nsec / 1000;
			return 0;
		case M_TICK:
			if (UNLIKELY(ticking_real_clock(CLOCK_REALTIME, &ts) != 0))
				return -1;
			ts_add(&ts, g_off_sec, g_off_nsec);
			tv->tv_sec = ts.tv_sec;
			tv->tv_usec = ts.tv_nsec / 1000;
			return 0;
		case M_STEP:
			fake_clock(CLOCK_REALTIME, &ts, 1);
			tv->tv_sec = ts.tv_sec;
			tv->tv_usec = ts.tv_nsec / 1000;
			return 0;
		default:
			break;
		}
	}
	/* Pass-through, or the obsolete timezone argument: ask the C library, then
	 * overwrite the time. */
	if (!REAL(gettimeofday)) {
		errno = ENOSYS;
		return -1;
	}
	int r = real_gettimeofday(tv, tz);
	if (r != 0 || g_mode == M_OFF || tv == NULL)
		return r;
	struct timespec ts;
	if (fake_clock(CLOCK_REALTIME, &ts, 1) != 0)
		return -1;
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

EXPORT time_t time(time_t *t)
{
	time_t v;
	if (LIKELY(g_mode == M_FROZEN)) {
		v = g_sec;
	} else if (g_mode == M_OFF && REAL(time)) {
		return real_time(t);
	} else if (g_mode == M_TICK) {
		/* time() is coarse in glibc too (the vDSO returns the tick's second), and
		 * the coarse clock costs a few ns where the precise one costs ~40. */
		struct timespec ts;
		if (ticking_real_clock(CLOCK_REALTIME_COARSE, &ts) != 0)
			return (time_t)-1;
		ts_add(&ts, g_off_sec, g_off_nsec);
		v = ts.tv_sec;
	} else {
		struct timespec ts;
		if (g_mode == M_OFF) {
			if (real_clock(CLOCK_REALTIME, &ts) != 0)
				return (time_t)-1;
		} else if (fake_clock(CLOCK_REALTIME, &ts, 1) != 0) {
			return (time_t)-1;
		}
		v = ts.tv_sec;
	}
	if (t)
		*t = v;
	return v;
}

EXPORT int timespec_get(struct timespec *ts, int base)
{
	if (g_mode != M_OFF && base == TIME_UTC)
		return fake_clock(CLOCK_REALTIME, ts, 1) == 0 ? base : 0;
	if (!REAL(timespec_get))
		return 0;
	return real_timespec_get(ts, base);
}

/* Removed from glibc's headers (2.33) but still in old binaries. */
EXPORT int ftime(struct flakebox_timeb *tb)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return -1;
	tb->time = ts.tv_sec;
	tb->millitm = (unsigned short)(ts.tv_nsec / 1000000);
	tb->timezone = 0;
	tb->dstflag = 0;
	return 0;
}

/* syscall(2): the clock calls, and futex waits with an absolute REALTIME timeout.
 * Everything else is forwarded with six long arguments (the ABI passes them in
 * registers, so surplus ones are harmless). */
EXPORT long syscall(long n, ...)
{
	va_list ap;
	va_start(ap, n);
	long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
	long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
	va_end(ap);
	if (UNLIKELY(n == SYS_getrandom) && g_rand_on)
		return getrandom((void *)a1, (size_t)a2, (unsigned int)a3);
	if (g_mode != M_OFF) {
		switch (n) {
		case SYS_clock_gettime:
			if (is_realtime((clockid_t)a1))
				return fake_clock((clockid_t)a1, (struct timespec *)a2, 1);
			break;
		case SYS_gettimeofday:
			return gettimeofday((struct timeval *)a1, (void *)a2);
#ifdef SYS_time
		case SYS_time:
			return (long)time((time_t *)a1);
#endif
		case SYS_futex: {
			int cmd = (int)a2 & FUTEX_CMD_MASK;
			int rt = ((int)a2 & FUTEX_CLOCK_REALTIME) != 0;
			if (a4 != 0 && ((rt && (cmd == FUTEX_WAIT_BITSET || cmd == FUTEX_WAIT_REQUEUE_PI ||
						cmd == FUTEX_LOCK_PI2)) ||
					cmd == FUTEX_LOCK_PI)) {
				struct timespec tmp;
				a4 = (long)real_deadline(CLOCK_REALTIME, (const struct timespec *)a4, &tmp);
				if (!REAL(syscall)) {
					errno = ENOSYS;
					return -1;
				}
				return real_syscall(n, a1, a2, a3, a4, a5, a6);
			}
			break;
		}
		default:
			break;
		}
	}
	if (UNLIKELY(!REAL(syscall))) {
		errno = ENOSYS;
		return -1;
	}
	const char *set = clock_set_syscall(n, a1, a2);
	if (UNLIKELY(set != NULL)) {
		long r = real_syscall(n, a1, a2, a3, a4, a5, a6);
		int e = errno;
		trace_clock_set(set, r, e);
		errno = e;
		return r;
	}
	return real_syscall(n, a1, a2, a3, a4, a5, a6);
}

