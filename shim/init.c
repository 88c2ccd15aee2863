/* init.c -- the constructor: configuration from the environment. */
#include "shim.h"

#include <stdlib.h>
#include <string.h>

static int parse_i64(const char *s, int64_t *out)
{
	if (!s || !*s)
		return 0;
	int neg = *s == '-';
	if (*s == '-' || *s == '+')
		s++;
	if (!*s)
		return 0;
	uint64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > (uint64_t)INT64_MAX + (uint64_t)neg)
		return 0;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 1;
}

static void warn_config(const char *what)
{
	static const char pre[] = "flakebox: warning: shim: ";
	static const char post[] = "; the clock is NOT faked\n";
	ssize_t w = write(2, pre, sizeof pre - 1);
	w = write(2, what, strlen(what));
	w = write(2, post, sizeof post - 1);
	(void)w;
}

void configure_time(void)
{
	const char *watched = getenv("FLAKEBOX_CLOCKWATCH");
	g_watched = watched && strcmp(watched, "1") == 0;
	const char *mode = getenv("FLAKEBOX_TIME_MODE");
	if (!mode || !*mode)
		return;
	int m;
	if (strcmp(mode, "frozen") == 0)
		m = M_FROZEN;
	else if (strcmp(mode, "ticking") == 0)
		m = M_TICK;
	else if (strcmp(mode, "step") == 0)
		m = M_STEP;
	else {
		warn_config("FLAKEBOX_TIME_MODE is not frozen, ticking or step");
		return;
	}
	int64_t sec, nsec = 0, step = 0;
	if (!parse_i64(getenv("FLAKEBOX_TIME_SEC"), &sec)) {
		warn_config("FLAKEBOX_TIME_SEC is missing or not an integer");
		return;
	}
	const char *ns = getenv("FLAKEBOX_TIME_NSEC");
	if (ns && (!parse_i64(ns, &nsec) || nsec < 0 || nsec >= NSEC_PER_SEC)) {
		warn_config("FLAKEBOX_TIME_NSEC is not in 0..999999999");
		return;
	}
	if (m == M_STEP && (!parse_i64(getenv("FLAKEBOX_TIME_STEP_NS"), &step) || step <= 0)) {
		warn_config("FLAKEBOX_TIME_STEP_NS is missing or not a positive integer");
		return;
	}
	struct timespec rt, tai;
	if (real_clock(CLOCK_REALTIME, &rt) != 0)
		return;
	if (real_clock(CLOCK_TAI, &tai) == 0)
		g_tai_off = (int64_t)tai.tv_sec - (int64_t)rt.tv_sec +
			    (tai.tv_nsec - rt.tv_nsec >= NSEC_PER_SEC / 2 ? 1 : 0);
	g_sec = sec;
	g_nsec = (long)nsec;
	g_step_ns = (uint64_t)step;
	if (m == M_TICK) {
		int64_t osec = rt.tv_sec, onsec = rt.tv_nsec;
		const char *os = getenv("FLAKEBOX_TIME_ORIGIN_SEC");
		if (os) {
			const char *on = getenv("FLAKEBOX_TIME_ORIGIN_NSEC");
			onsec = 0;
			if (!parse_i64(os, &osec) ||
			    (on && (!parse_i64(on, &onsec) || onsec < 0 || onsec >= NSEC_PER_SEC))) {
				warn_config("FLAKEBOX_TIME_ORIGIN_SEC/NSEC are not a valid instant");
				return;
			}
		}
		/* off = instant - origin, normalised to a non-negative nsec part. */
		g_off_sec = sec - osec;
		g_off_nsec = (long)(nsec - onsec);
		if (g_off_nsec < 0) {
			g_off_nsec += NSEC_PER_SEC;
			g_off_sec -= 1;
		}
	}
	g_mode = m;
}

__attribute__((constructor(101))) static void flakebox_init(void)
{
	save_env();
	trace_configure();
	configure_time();
	entropy_configure();
	resolve_all();
}
