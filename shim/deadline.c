/* deadline.c -- absolute deadlines on the fake realtime clock handed to the C
 * library (waits, locks, joins, sleeps, message queues, timers), converted to
 * real time so that "fake now + 300 ms" waits 300 ms. */
#include "shim.h"



/* Converts an absolute deadline on the fake realtime clock to the real one:
 * real_now + (deadline - fake_now).  Returns in unchanged (so the C library
 * reports EINVAL itself) when it is malformed or time is not faked. */
const struct timespec *real_deadline(clockid_t clk, const struct timespec *in,
					    struct timespec *out)
{
	if (g_mode == M_OFF || in == NULL || !is_realtime(clk) || in->tv_nsec < 0 ||
	    in->tv_nsec >= NSEC_PER_SEC)
		return in;
	struct timespec fake, real;
	clockid_t rc = clk == CLOCK_REALTIME_ALARM ? CLOCK_REALTIME : clk;
	if (fake_clock(rc, &fake, 0) != 0 || real_clock(rc, &real) != 0)
		return in;
	/* Differences of sane values; saturate "forever" deadlines. */
	int64_t ds;
	if (__builtin_sub_overflow((int64_t)in->tv_sec, (int64_t)fake.tv_sec, &ds) ||
	    __builtin_add_overflow(ds, (int64_t)real.tv_sec, &ds)) {
		if ((int64_t)in->tv_sec > (int64_t)fake.tv_sec) {
			out->tv_sec = INT64_MAX - 1;
			out->tv_nsec = 0;
		} else {
			out->tv_sec = 0;
			out->tv_nsec = 0;
		}
		return out;
	}
	long dn = in->tv_nsec - fake.tv_nsec + real.tv_nsec; /* in (-1e9, 2e9) */
	if (dn >= NSEC_PER_SEC) {
		dn -= NSEC_PER_SEC;
		ds += 1;
	} else if (dn < 0) {
		dn += NSEC_PER_SEC;
		ds -= 1;
	}
	if (ds < 0) { /* already past: any past instant will do */
		ds = 0;
		dn = 0;
	}
	out->tv_sec = ds;
	out->tv_nsec = dn;
	return out;
}

/* glibc keeps the condvar's clock in bit 1 of __wrefs (0 REALTIME, 1 MONOTONIC),
 * set by pthread_cond_init from the condattr. */
static int cond_is_realtime(pthread_cond_t *c)
{
#ifdef __GLIBC__
	return (c->__data.__wrefs & 2u) == 0;
#else
	(void)c;
	return 1;
#endif
}

EXPORT int pthread_cond_timedwait(pthread_cond_t *restrict c, pthread_mutex_t *restrict m,
				  const struct timespec *restrict abstime)
{
	struct timespec tmp;
	if (!real_pthread_cond_timedwait &&
	    !(real_pthread_cond_timedwait = next_sym("pthread_cond_timedwait", COND_VERSION)))
		return ENOSYS;
	if (g_mode != M_OFF && cond_is_realtime(c))
		abstime = real_deadline(CLOCK_REALTIME, abstime, &tmp);
	return real_pthread_cond_timedwait(c, m, abstime);
}

EXPORT int pthread_cond_clockwait(pthread_cond_t *restrict c, pthread_mutex_t *restrict m,
				  clockid_t clk, const struct timespec *restrict abstime)
{
	struct timespec tmp;
	if (!REAL(pthread_cond_clockwait))
		return ENOSYS;
	return real_pthread_cond_clockwait(c, m, clk, real_deadline(clk, abstime, &tmp));
}

EXPORT int sem_timedwait(sem_t *restrict s, const struct timespec *restrict abstime)
{
	struct timespec tmp;
	if (!REAL(sem_timedwait)) {
		errno = ENOSYS;
		return -1;
	}
	return real_sem_timedwait(s, real_deadline(CLOCK_REALTIME, abstime, &tmp));
}

EXPORT int sem_clockwait(sem_t *restrict s, clockid_t clk, const struct timespec *restrict abstime)
{
	struct timespec tmp;
	if (!REAL(sem_clockwait)) {
		errno = ENOSYS;
		return -1;
	}
	return real_sem_clockwait(s, clk, real_deadline(clk, abstime, &tmp));
}

EXPORT int pthread_mutex_timedlock(pthread_mutex_t *restrict m, const struct timespec *restrict abstime)
{
	struct timespec tmp;
	if (!REAL(pthread_mutex_timedlock))
		return ENOSYS;
	return real_pthread_mutex_timedlock(m, real_deadline(CLOCK_REALTIME, abstime, &tmp));
}

EXPORT int pthread_mutex_clocklock(pthread_mutex_t *restrict m, clockid_t clk,
				   const struct timespec *restrict abstime)
{
	struct timespec tmp;
	if (!REAL(pthread_mutex_clocklock))
		return ENOSYS;
	return real_pthread_mutex_clocklock(m, clk, real_deadline(clk, abstime, &tmp));
}

EXPORT int pthread_rwlock_timedrdlock(pthread_rwlock_t *restrict l, const struct timespec *restrict abstime)
{
	struct timespec tmp;
	if (!REAL(pthread_rwlock_timedrdlock))
		return ENOSYS;
	return real_pthread_rwlock_timedrdlock(l, real_deadline(CLOCK_REALTIME, abstime, &tmp));
}

EXPORT int pthread_rwlock_timedwrlock(pthread_rwlock_t *restrict l, const struct timespec *restrict abstime)
{
	struct timespec tmp;
	if (!REAL(pthread_rwlock_timedwrlock))
		return ENOSYS;
	return real_pthread_rwlock_timedwrlock(l, real_deadline(CLOCK_REALTIME, abstime, &tmp));
}

EXPORT int pthread_rwlock_clockrdlock(pthread_rwlock_t *restrict l, clockid_t clk,
				      const struct timespec *restrict abstime)
{
	struct timespec tmp;
	if (!REAL(pthread_rwlock_clockrdlock))
		return ENOSYS;
	return real_pthread_rwlock_clockrdlock(l, clk, real_deadline(clk, abstime, &tmp));
}

EXPORT int pthread_rwlock_clockwrlock(pthread_rwlock_t *restrict l, clockid_t clk,
				      const struct timespec *restrict abstime)
{
	struct timespec tmp;
	if (!REAL(pthread_rwlock_clockwrlock))
		return ENOSYS;
	return real_pthread_rwlock_clockwrlock(l, clk, real_deadline(clk, abstime, &tmp));
}

EXPORT int pthread_timedjoin_np(pthread_t th, void **ret, const struct timespec *abstime)
{
	struct timespec tmp;
	if (!REAL(pthread_timedjoin_np))
		return ENOSYS;
	return real_pthread_timedjoin_np(th, ret, real_deadline(CLOCK_REALTIME, abstime, &tmp));
}

EXPORT int pthread_clockjoin_np(pthread_t th, void **ret, clockid_t clk, const struct timespec *abstime)
{
	struct timespec tmp;
	if (!REAL(pthread_clockjoin_np))
		return ENOSYS;
	return real_pthread_clockjoin_np(th, ret, clk, real_deadline(clk, abstime, &tmp));
}

EXPORT int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req, struct timespec *rem)
{
	struct timespec tmp;
	if (!REAL(clock_nanosleep))
		return ENOSYS;
	if (flags & TIMER_ABSTIME)
		req = real_deadline(clk, req, &tmp);
	return real_clock_nanosleep(clk, flags, req, rem);
}

EXPORT int mq_timedsend(mqd_t q, const char *msg, size_t len, unsigned prio,
			const struct timespec *abstime)
{
	struct timespec tmp;
	if (!REAL(mq_timedsend)) {
		errno = ENOSYS;
		return -1;
	}
	return real_mq_timedsend(q, msg, len, prio, real_deadline(CLOCK_REALTIME, abstime, &tmp));
}

EXPORT ssize_t mq_timedreceive(mqd_t q, char *restrict msg, size_t len, unsigned *restrict prio,
			       const struct timespec *restrict abstime)
{
	struct timespec tmp;
	if (!REAL(mq_timedreceive)) {
		errno = ENOSYS;
		return -1;
	}
	return real_mq_timedreceive(q, msg, len, prio, real_deadline(CLOCK_REALTIME, abstime, &tmp));
}

/* Timers: an ABSTIME expiry is only a realtime deadline if the timer was created on
 * a realtime clock, so remember which ones were (lock-free fixed tables). */
#define MAX_TIMERS 256
static _Atomic int g_timer_state[MAX_TIMERS]; /* 0 free, 1 claimed, 2 realtime timer */
static timer_t g_timer_id[MAX_TIMERS];
#define MAX_TIMERFD 4096
static _Atomic unsigned char g_timerfd_rt[MAX_TIMERFD];

static int timer_slot(timer_t id)
{
	for (int i = 0; i < MAX_TIMERS; i++)
		if (atomic_load_explicit(&g_timer_state[i], memory_order_acquire) == 2 &&
		    g_timer_id[i] == id)
			return i;
	return -1;
}

EXPORT int timer_create(clockid_t clk, struct sigevent *restrict sev, timer_t *restrict id)
{
	if (!REAL(timer_create)) {
		errno = ENOSYS;
		return -1;
	}
	int r = real_timer_create(clk, sev, id);
	if (r == 0 && is_realtime(clk)) {
		for (int i = 0; i < MAX_TIMERS; i++) {
			int expect = 0;
			if (atomic_compare_exchange_strong(&g_timer_state[i], &expect, 1)) {
				g_timer_id[i] = *id;
				atomic_store_explicit(&g_timer_state[i], 2, memory_order_release);
				break;
			}
		}
	}
	return r;
}

EXPORT int timer_delete(timer_t id)
{
	if (!REAL(timer_delete)) {
		errno = ENOSYS;
		return -1;
	}
	int i = timer_slot(id);
	if (i >= 0)
		atomic_store_explicit(&g_timer_state[i], 0, memory_order_release);
	return real_timer_delete(id);
}

EXPORT int timer_settime(timer_t id, int flags, const struct itimerspec *restrict nv,
			 struct itimerspec *restrict ov)
{
	if (!REAL(timer_settime)) {
		errno = ENOSYS;
		return -1;
	}
	struct itimerspec tmp;
	if (g_mode != M_OFF && (flags & TIMER_ABSTIME) && nv && timer_slot(id) >= 0 &&
	    (nv->it_value.tv_sec != 0 || nv->it_value.tv_nsec != 0)) {
		tmp = *nv;
		tmp.it_value = *real_deadline(CLOCK_REALTIME, &nv->it_value, &tmp.it_value);
		nv = &tmp;
	}
	return real_timer_settime(id, flags, nv, ov);
}

EXPORT int timerfd_create(int clk, int flags)
{
	if (!REAL(timerfd_create)) {
		errno = ENOSYS;
		return -1;
	}
	int fd = real_timerfd_create(clk, flags);
	if (fd >= 0 && fd < MAX_TIMERFD)
		atomic_store_explicit(&g_timerfd_rt[fd], (unsigned char)is_realtime(clk),
				      memory_order_relaxed);
	return fd;
}

EXPORT int timerfd_settime(int fd, int flags, const struct itimerspec *nv, struct itimerspec *ov)
{
	if (!REAL(timerfd_settime)) {
		errno = ENOSYS;
		return -1;
	}
	struct itimerspec tmp;
	if (g_mode != M_OFF && (flags & TFD_TIMER_ABSTIME) && nv && fd >= 0 && fd < MAX_TIMERFD &&
	    atomic_load_explicit(&g_timerfd_rt[fd], memory_order_relaxed) &&
	    (nv->it_value.tv_sec != 0 || nv->it_value.tv_nsec != 0)) {
		tmp = *nv;
		tmp.it_value = *real_deadline(CLOCK_REALTIME, &nv->it_value, &tmp.it_value);
		nv = &tmp;
	}
	return real_timerfd_settime(fd, flags, nv, ov);
}

