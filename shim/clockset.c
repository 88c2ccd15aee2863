/* clockset.c -- clock-setting calls: settimeofday, clock_settime, adjtimex,
 * ntp_adjtime, clock_adjtime, adjtime, and syscall(2) for them.  Each attempt
 * is passed to the C library unchanged (the sandbox drops CAP_SYS_TIME, so the
 * kernel refuses it with EPERM) and traced as a clock-set event: a test that
 * tries to set the clock is worth knowing about.  Reading the kernel's clock
 * discipline (adjtimex with no mode bits, or only ADJ_OFFSET_SS_READ) is not an
 * attempt and is not traced. */
#include "shim.h"

void trace_clock_set(const char *call, long result, int err)
{
	struct line l;
	l_begin(&l, "clock-set");
	l_str(&l, "\t");
	l_str(&l, call);
	l_str(&l, "\t");
	l_str(&l, result < 0 ? errno_name(err) : "ok");
	l_emit(&l);
}

/* Whether a timex asks to change something (NULL: the call fails as EFAULT
 * before changing anything). */
static int timex_sets(const struct timex *tx)
{
	LAUNDER(tx);
	return tx != NULL && tx->modes != 0 && tx->modes != ADJ_OFFSET_SS_READ;
}

/* Calls the real function (errno ENOSYS if missing) and traces the attempt. */
#define CLOCK_SET_CALL(name, traced, ...)                                       \
	do {                                                                    \
		if (!REAL(name)) {                                              \
			errno = ENOSYS;                                         \
			return -1;                                              \
		}                                                               \
		int r_ = real_##name(__VA_ARGS__);                              \
		if (traced) {                                                   \
			int e_ = errno;                                         \
			trace_clock_set(#name, r_, e_);                         \
			errno = e_;                                             \
		}                                                               \
		return r_;                                                      \
	} while (0)

EXPORT int settimeofday(const struct timeval *tv, const struct timezone *tz)
{
	CLOCK_SET_CALL(settimeofday, 1, tv, tz);
}

EXPORT int clock_settime(clockid_t clk, const struct timespec *ts)
{
	CLOCK_SET_CALL(clock_settime, 1, clk, ts);
}

EXPORT int adjtimex(struct timex *tx)
{
	CLOCK_SET_CALL(adjtimex, timex_sets(tx), tx);
}

EXPORT int ntp_adjtime(struct timex *tx)
{
	CLOCK_SET_CALL(ntp_adjtime, timex_sets(tx), tx);
}

EXPORT int clock_adjtime(clockid_t clk, struct timex *tx)
{
	CLOCK_SET_CALL(clock_adjtime, timex_sets(tx), clk, tx);
}

EXPORT int adjtime(const struct timeval *delta, struct timeval *olddelta)
{
	const struct timeval *d = delta;
	LAUNDER(d);
	CLOCK_SET_CALL(adjtime, d != NULL, delta, olddelta);
}

const char *clock_set_syscall(long n, long a1, long a2)
{
	switch (n) {
	case SYS_settimeofday:
		return "settimeofday";
	case SYS_clock_settime:
		return "clock_settime";
	case SYS_adjtimex:
		return timex_sets((const struct timex *)a1) ? "adjtimex" : NULL;
	case SYS_clock_adjtime:
		return timex_sets((const struct timex *)a2) ? "clock_adjtime" : NULL;
	default:
		return NULL;
	}
}
