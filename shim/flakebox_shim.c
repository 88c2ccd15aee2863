/*
 * flakebox_shim.c -- LD_PRELOAD shim: a fake wall clock plus an event trace.
 *
 * Configuration is read once, in the constructor, from the environment:
 *
 *   FLAKEBOX_TIME_MODE        frozen | ticking | step   (unset: clock untouched)
 *   FLAKEBOX_TIME_SEC         the instant, seconds since the Unix epoch (may be < 0)
 *   FLAKEBOX_TIME_NSEC        its nanoseconds, 0..999999999
 *   FLAKEBOX_TIME_STEP_NS     step mode: nanoseconds added per read (> 0)
 *   FLAKEBOX_TIME_ORIGIN_SEC  ticking mode: the real wall time at which the fake
 *   FLAKEBOX_TIME_ORIGIN_NSEC clock read the instant (unset: this process's start),
 *                             so that every process of a tree shares one timeline
 *   FLAKEBOX_TRACE            path of a trace file to append events to
 *   FLAKEBOX_CLOCKWATCH       1: a supervisor fakes the clock of programs this shim
 *                             cannot reach (crates/clockwatch), so exec'ing one
 *                             is not warned about
 *
 * Only the REALTIME family is faked (REALTIME, REALTIME_COARSE, REALTIME_ALARM,
 * TAI).  MONOTONIC, BOOTTIME and CPU clocks are never touched: freezing them hangs
 * every runtime that measures elapsed time with them.  Absolute REALTIME deadlines
 * handed to the C library are converted as real_now + (deadline - fake_now) so that
 * "fake now + 300 ms" waits 300 ms.
 *
 * Trace format (one line per event, one write(2) per line on an O_APPEND fd, so
 * lines from concurrent processes never interleave):
 *
 *   <pid> TAB <event> TAB <field> [TAB <field>] LF
 *
 *   connect  <target> <result>   target: inet:1.2.3.4:80 | inet6:[::1]:80 |
 *                                        unix:/path | unix:@abstract | unix:
 *                                result: ok | errno name (ECONNREFUSED, EINPROGRESS...)
 *   resolve  <name> <result>     getaddrinfo / gethostbyname*; result: ok |
 *                                EAI_* name | HOST_NOT_FOUND... | fail
 *   exec     <path>              an interposed exec / posix_spawn of path
 *   warn     <message>           e.g. a child whose clock cannot be faked
 *
 * Fields escape backslash, tab, LF, CR as \\ \t \n \r and every other byte below
 * 0x20 or above 0x7e as \xHH, so the file is ASCII; unescaped fields are raw bytes.
 * The Rust parser is clock::trace::parse.  The file is opened per event, by every
 * process of the tree: it must be writable by all the uids the command runs as.
 *
 * Process tree: the exec family, fexecve, execveat and posix_spawn(p) put LD_PRELOAD
 * (this object's path appended) and the FLAKEBOX_* variables saved at start back
 * into an environment that lost them (env -i, clearenv, env={}).  When time is
 * faked, a program the shim cannot reach (static, Go, musl, setuid/setgid, file
 * capabilities; #! followed once) gets a warning on stderr and a warn trace line.
 *
 * Not covered: system()/popen() after clearenv() (glibc spawns internally without
 * a PLT call), relative timeouts (never need converting), io_uring timeouts, and
 * binaries linked against the pre-2.3.2 condvar ABI.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>

#define EXPORT __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define NSEC_PER_SEC 1000000000L
/* glibc declares some pointers nonnull that callers do pass as NULL; hide the
 * pointer from the optimiser so the NULL checks survive. */
#define LAUNDER(p) __asm__("" : "+r"(p))

#ifndef CLOCK_REALTIME_ALARM
#define CLOCK_REALTIME_ALARM 8
#endif
#ifndef CLOCK_TAI
#define CLOCK_TAI 11
#endif
#ifndef FUTEX_LOCK_PI2
#define FUTEX_LOCK_PI2 13
#endif

extern char **environ;

enum { M_OFF = 0, M_FROZEN = 1, M_TICK = 2, M_STEP = 3 };

/* Written only by the constructor, before main and before any other thread. */
static int g_mode;
static int64_t g_sec;        /* frozen instant / step base */
static long g_nsec;
static int64_t g_off_sec;    /* ticking: fake = real + off, off_nsec in [0, 1e9) */
static long g_off_nsec;
static uint64_t g_step_ns;
static int64_t g_tai_off;    /* TAI - UTC, whole seconds, for frozen/step TAI */
static _Atomic uint64_t g_step_n;
static int g_watched;        /* FLAKEBOX_CLOCKWATCH=1 */

static char g_trace_path[4096];
static char g_shim_path[4096];
static char g_ld_entry[4096 + 16];   /* "LD_PRELOAD=<shim path>" */
#define MAX_SAVED 32
static char g_saved_buf[16384];      /* "FLAKEBOX_X=value" strings, NUL separated */
static char *g_saved[MAX_SAVED];
static size_t g_saved_namelen[MAX_SAVED];
static int g_nsaved;

/* ---- real functions ---------------------------------------------------- */

#define DECL_REAL(name) static __typeof__(name) *real_##name
DECL_REAL(clock_gettime);
DECL_REAL(gettimeofday);
DECL_REAL(time);
DECL_REAL(timespec_get);
DECL_REAL(syscall);
DECL_REAL(pthread_cond_timedwait);
DECL_REAL(pthread_cond_clockwait);
DECL_REAL(sem_timedwait);
DECL_REAL(sem_clockwait);
DECL_REAL(pthread_mutex_timedlock);
DECL_REAL(pthread_mutex_clocklock);
DECL_REAL(pthread_rwlock_timedrdlock);
DECL_REAL(pthread_rwlock_timedwrlock);
DECL_REAL(pthread_rwlock_clockrdlock);
DECL_REAL(pthread_rwlock_clockwrlock);
DECL_REAL(pthread_timedjoin_np);
DECL_REAL(pthread_clockjoin_np);
DECL_REAL(clock_nanosleep);
DECL_REAL(timer_create);
DECL_REAL(timer_delete);
DECL_REAL(timer_settime);
DECL_REAL(timerfd_create);
DECL_REAL(timerfd_settime);
DECL_REAL(mq_timedsend);
DECL_REAL(mq_timedreceive);
DECL_REAL(connect);
DECL_REAL(getaddrinfo);
DECL_REAL(gethostbyname);
DECL_REAL(gethostbyname2);
DECL_REAL(gethostbyname_r);
DECL_REAL(execve);
DECL_REAL(execvpe);
DECL_REAL(fexecve);
DECL_REAL(posix_spawn);
DECL_REAL(posix_spawnp);
typedef int execveat_fn(int, const char *, char *const[], char *const[], int);
static execveat_fn *real_execveat;
struct flakebox_timeb { time_t time; unsigned short millitm; short timezone; short dstflag; };

/* The new-ABI condvar functions; dlsym alone has handed out the 2.2.5 compat
 * versions on some glibcs (a known libfaketime crash). */
#if defined(__x86_64__)
#define COND_VERSION "GLIBC_2.3.2"
#else
#define COND_VERSION NULL
#endif

static void *next_sym(const char *name, const char *version)
{
	void *p = NULL;
	if (version)
		p = dlvsym(RTLD_NEXT, name, version);
	if (!p)
		p = dlsym(RTLD_NEXT, name);
	return p;
}

/* Before the constructor has run (another library's constructor, an allocator
 * initialising itself) symbols are resolved on first use.  The clock functions
 * never do that: dlsym may allocate, and an allocator that reads the clock while
 * initialising would recurse; they fall back to a raw system call instead. */
#define REAL(name)                                                              \
	(LIKELY(real_##name != NULL)                                            \
		 ? real_##name                                                  \
		 : (real_##name = (__typeof__(real_##name))next_sym(#name, NULL)))

#if defined(__x86_64__)
static long raw_syscall2(long n, long a1, long a2)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a1), "S"(a2) : "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
static long raw_syscall2(long n, long a1, long a2)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a1;
	register long x1 __asm__("x1") = a2;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1) : "memory");
	return x0;
}
#else
#error "flakebox shim: unsupported architecture (x86_64 and aarch64 only)"
#endif

static int real_clock(clockid_t clk, struct timespec *ts)
{
	if (LIKELY(real_clock_gettime != NULL))
		return real_clock_gettime(clk, ts);
	long r = raw_syscall2(SYS_clock_gettime, clk, (long)ts);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return 0;
}

/* Ticking reads go straight to the vDSO, skipping the C library's wrapper (a few
 * ns of the ~30 a read costs). The vDSO returns -errno; any failure retries
 * through the C library, which knows the fallbacks. */
typedef int vdso_clock_fn(clockid_t, struct timespec *);
static vdso_clock_fn *g_vdso_clock_gettime;

static inline int ticking_real_clock(clockid_t clk, struct timespec *ts)
{
	if (LIKELY(g_vdso_clock_gettime != NULL) && LIKELY(g_vdso_clock_gettime(clk, ts) == 0))
		return 0;
	return real_clock(clk, ts);
}

/* ---- the fake clock ---------------------------------------------------- */

static inline int is_realtime(clockid_t clk)
{
	return clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE ||
	       clk == CLOCK_REALTIME_ALARM || clk == CLOCK_TAI;
}

static inline void ts_add(struct timespec *ts, int64_t sec, long nsec)
{
	ts->tv_sec += sec;
	ts->tv_nsec += nsec;
	if (ts->tv_nsec >= NSEC_PER_SEC) {
		ts->tv_nsec -= NSEC_PER_SEC;
		ts->tv_sec += 1;
	}
}

/* The fake time for step mode after n reads. */
static inline void step_time(uint64_t n, struct timespec *ts)
{
	uint64_t total = n * g_step_ns;
	ts->tv_sec = g_sec + (int64_t)(total / (uint64_t)NSEC_PER_SEC);
	ts->tv_nsec = g_nsec;
	ts_add(ts, 0, (long)(total % (uint64_t)NSEC_PER_SEC));
}

/* Reads the fake clock for clk (a realtime-family clock, mode != off).
 * advance: whether a step-mode read counts as a read (deadline maths peeks). */
static inline __attribute__((always_inline)) int fake_clock(clockid_t clk, struct timespec *ts, int advance)
{
	switch (g_mode) {
	case M_FROZEN:
		ts->tv_sec = g_sec;
		ts->tv_nsec = g_nsec;
		break;
	case M_TICK: {
		/* REALTIME_ALARM reads fail on machines without an RTC alarm. */
		clockid_t rc = clk == CLOCK_REALTIME_ALARM ? CLOCK_REALTIME : clk;
		if (UNLIKELY(ticking_real_clock(rc, ts) != 0))
			return -1;
		ts_add(ts, g_off_sec, g_off_nsec);
		return 0;
	}
	default: {
		uint64_t n = advance ? atomic_fetch_add_explicit(&g_step_n, 1, memory_order_relaxed)
				     : atomic_load_explicit(&g_step_n, memory_order_relaxed);
		step_time(n, ts);
		break;
	}
	}
	if (clk == CLOCK_TAI)
		ts->tv_sec += g_tai_off;
	return 0;
}

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

/* ---- absolute deadlines -------------------------------------------------- */

/* Converts an absolute deadline on the fake realtime clock to the real one:
 * real_now + (deadline - fake_now).  Returns in unchanged (so the C library
 * reports EINVAL itself) when it is malformed or time is not faked. */
static const struct timespec *real_deadline(clockid_t clk, const struct timespec *in,
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
	return real_syscall(n, a1, a2, a3, a4, a5, a6);
}

/* ---- trace ----------------------------------------------------------------- */

struct line {
	char buf[4096];
	size_t len;
};

static void l_raw(struct line *l, const char *s, size_t n)
{
	if (n > sizeof(l->buf) - 1 - l->len)
		n = sizeof(l->buf) - 1 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void l_str(struct line *l, const char *s)
{
	l_raw(l, s, strlen(s));
}

static void l_esc(struct line *l, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[4];
		size_t n = 2;
		e[0] = '\\';
		if (c == '\\')
			e[1] = '\\';
		else if (c == '\t')
			e[1] = 't';
		else if (c == '\n')
			e[1] = 'n';
		else if (c == '\r')
			e[1] = 'r';
		else if (c < 0x20 || c >= 0x7f) { /* keeps the file ASCII */
			e[1] = 'x';
			e[2] = hex[c >> 4];
			e[3] = hex[c & 15];
			n = 4;
		} else {
			e[0] = (char)c;
			n = 1;
		}
		l_raw(l, e, n);
	}
}

static void l_ulong(struct line *l, unsigned long v)
{
	char d[24];
	int i = sizeof d;
	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	l_raw(l, d + i, sizeof d - (size_t)i);
}

static void l_begin(struct line *l, const char *event)
{
	l->len = 0;
	l_ulong(l, (unsigned long)getpid());
	l_str(l, "\t");
	l_str(l, event);
}

/* Opened per event: programs close or dup2 over "their" descriptors, and a cached
 * fd could end up pointing into someone else's file. Events are rare. */
static void l_emit(struct line *l)
{
	if (!g_trace_path[0])
		return;
	l->buf[l->len++] = '\n';
	int saved = errno;
	int fd = open(g_trace_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		ssize_t r = write(fd, l->buf, l->len);
		(void)r;
		close(fd);
	}
	errno = saved;
}

static const char *errno_name(int e)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	const char *n = strerrorname_np(e);
	if (n)
		return n;
#else
	(void)e;
#endif
	return "error";
}

EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (!REAL(connect)) {
		errno = ENOSYS;
		return -1;
	}
	int r = real_connect(fd, addr, len);
	if (!g_trace_path[0] || addr == NULL)
		return r;
	int saved = errno;
	struct line l;
	char ip[INET6_ADDRSTRLEN];
	l_begin(&l, "connect\t");
	if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
		if (!inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip))
			return r;
		l_str(&l, "inet:");
		l_str(&l, ip);
		l_str(&l, ":");
		l_ulong(&l, ntohs(a->sin_port));
	} else if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
		if (!inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip))
			return r;
		l_str(&l, "inet6:[");
		l_str(&l, ip);
		l_str(&l, "]:");
		l_ulong(&l, ntohs(a->sin6_port));
	} else if (addr->sa_family == AF_UNIX) {
		const struct sockaddr_un *a = (const struct sockaddr_un *)addr;
		size_t n = len > offsetof(struct sockaddr_un, sun_path)
				   ? len - offsetof(struct sockaddr_un, sun_path)
				   : 0;
		char p[sizeof a->sun_path + 2];
		if (n > sizeof a->sun_path)
			n = sizeof a->sun_path;
		if (n > 0 && a->sun_path[0] == '\0') { /* abstract: NUL-led, not terminated */
			p[0] = '@';
			memcpy(p + 1, a->sun_path + 1, n - 1);
			p[n] = '\0';
		} else {
			memcpy(p, a->sun_path, n);
			p[n] = '\0';
		}
		/* nscd lookups are the C library talking to itself. */
		if (strstr(p, "/nscd/socket"))
			return r;
		l_str(&l, "unix:");
		l_esc(&l, p);
	} else {
		return r;
	}
	l_str(&l, "\t");
	l_str(&l, r == 0 ? "ok" : errno_name(saved));
	l_emit(&l);
	errno = saved;
	return r;
}

static const char *eai_name(int e)
{
	switch (e) {
	case 0: return "ok";
	case EAI_AGAIN: return "EAI_AGAIN";
	case EAI_BADFLAGS: return "EAI_BADFLAGS";
	case EAI_FAIL: return "EAI_FAIL";
	case EAI_FAMILY: return "EAI_FAMILY";
	case EAI_MEMORY: return "EAI_MEMORY";
	case EAI_NONAME: return "EAI_NONAME";
	case EAI_SERVICE: return "EAI_SERVICE";
	case EAI_SOCKTYPE: return "EAI_SOCKTYPE";
	case EAI_SYSTEM: return "EAI_SYSTEM";
#ifdef EAI_NODATA
	case EAI_NODATA: return "EAI_NODATA";
#endif
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY: return "EAI_ADDRFAMILY";
#endif
	default: return "fail";
	}
}

static const char *herr_name(int e)
{
	switch (e) {
	case HOST_NOT_FOUND: return "HOST_NOT_FOUND";
	case TRY_AGAIN: return "TRY_AGAIN";
	case NO_RECOVERY: return "NO_RECOVERY";
	case NO_DATA: return "NO_DATA";
	default: return "fail";
	}
}

static void trace_resolve(const char *name, const char *result)
{
	if (!g_trace_path[0] || name == NULL)
		return;
	struct line l;
	l_begin(&l, "resolve\t");
	l_esc(&l, name);
	l_str(&l, "\t");
	l_str(&l, result);
	l_emit(&l);
}

EXPORT int getaddrinfo(const char *restrict node, const char *restrict service,
		       const struct addrinfo *restrict hints, struct addrinfo **restrict res)
{
	if (!REAL(getaddrinfo))
		return EAI_SYSTEM;
	int r = real_getaddrinfo(node, service, hints, res);
	int saved = errno;
	trace_resolve(node, eai_name(r));
	errno = saved;
	return r;
}

EXPORT struct hostent *gethostbyname(const char *name)
{
	if (!REAL(gethostbyname))
		return NULL;
	struct hostent *h = real_gethostbyname(name);
	int saved = errno;
	trace_resolve(name, h ? "ok" : herr_name(h_errno));
	errno = saved;
	return h;
}

EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
	if (!REAL(gethostbyname2))
		return NULL;
	struct hostent *h = real_gethostbyname2(name, af);
	int saved = errno;
	trace_resolve(name, h ? "ok" : herr_name(h_errno));
	errno = saved;
	return h;
}

EXPORT int gethostbyname_r(const char *restrict name, struct hostent *restrict ret, char *restrict buf,
			   size_t len, struct hostent **restrict result, int *restrict herr)
{
	if (!REAL(gethostbyname_r))
		return ENOSYS;
	int r = real_gethostbyname_r(name, ret, buf, len, result, herr);
	int saved = errno;
	/* ERANGE means "give me a bigger buffer": the caller will retry. */
	if (r != ERANGE)
		trace_resolve(name, (r == 0 && *result) ? "ok" : herr_name(herr ? *herr : 0));
	errno = saved;
	return r;
}

/* ---- reach: can the shim fake this binary's clock? ------------------------ */

static int read_at(int fd, void *buf, size_t n, off_t off)
{
	ssize_t r = pread(fd, buf, n, off);
	return r == (ssize_t)n;
}

/* Mirrors clock::reach (Rust). Returns a reason, or NULL when the shim reaches it. */
static const char *elf_reason(int fd)
{
	unsigned char id[EI_NIDENT];
	if (!read_at(fd, id, sizeof id, 0) || memcmp(id, ELFMAG, SELFMAG) != 0)
		return NULL;
	int is64 = id[EI_CLASS] == ELFCLASS64;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (id[EI_DATA] != ELFDATA2LSB)
		return NULL;
#else
	if (id[EI_DATA] != ELFDATA2MSB)
		return NULL;
#endif
	uint64_t phoff, shoff;
	unsigned phnum, phentsize, shnum, shentsize, shstrndx;
	if (is64) {
		Elf64_Ehdr e;
		if (!read_at(fd, &e, sizeof e, 0))
			return NULL;
		phoff = e.e_phoff; phnum = e.e_phnum; phentsize = e.e_phentsize;
		shoff = e.e_shoff; shnum = e.e_shnum; shentsize = e.e_shentsize; shstrndx = e.e_shstrndx;
	} else {
		Elf32_Ehdr e;
		if (!read_at(fd, &e, sizeof e, 0))
			return NULL;
		phoff = e.e_phoff; phnum = e.e_phnum; phentsize = e.e_phentsize;
		shoff = e.e_shoff; shnum = e.e_shnum; shentsize = e.e_shentsize; shstrndx = e.e_shstrndx;
	}
	int has_interp = 0, musl = 0, go = 0;
	for (unsigned i = 0; i < phnum && i < 4096; i++) {
		uint64_t type, off, size;
		if (is64) {
			Elf64_Phdr p;
			if (!read_at(fd, &p, sizeof p, (off_t)(phoff + (uint64_t)i * phentsize)))
				break;
			type = p.p_type; off = p.p_offset; size = p.p_filesz;
		} else {
			Elf32_Phdr p;
			if (!read_at(fd, &p, sizeof p, (off_t)(phoff + (uint64_t)i * phentsize)))
				break;
			type = p.p_type; off = p.p_offset; size = p.p_filesz;
		}
		if (type == PT_INTERP) {
			char path[256] = {0};
			size_t n = size < sizeof path - 1 ? size : sizeof path - 1;
			has_interp = 1;
			if (read_at(fd, path, n, (off_t)off) && strstr(path, "ld-musl"))
				musl = 1;
		} else if (type == PT_NOTE && !go) {
			unsigned char nb[4096];
			size_t n = size < sizeof nb ? size : sizeof nb;
			if (!read_at(fd, nb, n, (off_t)off))
				continue;
			/* Note headers have 32-bit fields in both classes; 4-byte alignment. */
			size_t p = 0;
			while (p + 12 <= n) {
				uint32_t namesz, descsz, ntype;
				memcpy(&namesz, nb + p, 4);
				memcpy(&descsz, nb + p + 4, 4);
				memcpy(&ntype, nb + p + 8, 4);
				if (namesz == 3 && ntype == 4 && p + 15 <= n && memcmp(nb + p + 12, "Go", 3) == 0)
					go = 1;
				size_t step = 12 + (((size_t)namesz + 3) & ~(size_t)3) + (((size_t)descsz + 3) & ~(size_t)3);
				if (step > n)
					break;
				p += step;
			}
		}
	}
	if (!go && shstrndx < shnum && shnum < 65280) {
		uint64_t stroff = 0;
		if (is64) {
			Elf64_Shdr s;
			if (read_at(fd, &s, sizeof s, (off_t)(shoff + (uint64_t)shstrndx * shentsize)))
				stroff = s.sh_offset;
		} else {
			Elf32_Shdr s;
			if (read_at(fd, &s, sizeof s, (off_t)(shoff + (uint64_t)shstrndx * shentsize)))
				stroff = s.sh_offset;
		}
		for (unsigned i = 0; stroff && i < shnum && i < 4096 && !go; i++) {
			uint64_t name;
			if (is64) {
				Elf64_Shdr s;
				if (!read_at(fd, &s, sizeof s, (off_t)(shoff + (uint64_t)i * shentsize)))
					break;
				name = s.sh_name;
			} else {
				Elf32_Shdr s;
				if (!read_at(fd, &s, sizeof s, (off_t)(shoff + (uint64_t)i * shentsize)))
					break;
				name = s.sh_name;
			}
			char nm[20] = {0};
			if (pread(fd, nm, sizeof nm - 1, (off_t)(stroff + name)) <= 0)
				continue;
			if (strcmp(nm, ".go.buildinfo") == 0 || strcmp(nm, ".note.go.buildid") == 0)
				go = 1;
		}
	}
	if (go)
		return "Go binary (reads the vDSO clock directly)";
	if (!has_interp)
		return "statically linked (LD_PRELOAD does not apply)";
	if (musl)
		return "linked against musl (the glibc shim cannot load)";
	return "";
}

/* Writes the reason `path` escapes the fake clock into why (empty: it does not).
 * Follows a #! script to its interpreter once. */
static void reach_reason(const char *path, char *why, size_t cap, int depth)
{
	why[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	char head[256];
	ssize_t n = pread(fd, head, sizeof head - 1, 0);
	const char *r = NULL;
	if (n >= 2 && head[0] == '#' && head[1] == '!') {
		close(fd);
		if (depth > 0)
			return;
		head[n] = '\0';
		char *p = head + 2;
		while (*p == ' ' || *p == '\t')
			p++;
		char *e = p;
		while (*e && *e != ' ' && *e != '\t' && *e != '\n')
			e++;
		*e = '\0';
		if (!*p)
			return;
		char sub[512];
		reach_reason(p, sub, sizeof sub, depth + 1);
		if (sub[0]) {
			size_t k = 0;
			const char *parts[] = {"its interpreter ", p, " is ", sub};
			for (size_t i = 0; i < 4; i++)
				for (const char *c = parts[i]; *c && k + 1 < cap; c++)
					why[k++] = *c;
			why[k] = '\0';
		}
		return;
	}
	r = elf_reason(fd);
	if (r && !r[0] && fstat(fd, &st) == 0) {
		char cap_buf[64];
		if (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
		    ((st.st_mode & S_ISGID) && st.st_gid != getegid()))
			r = "setuid/setgid (the loader ignores LD_PRELOAD)";
		else if (fgetxattr(fd, "security.capability", cap_buf, sizeof cap_buf) > 0)
			r = "has file capabilities (the loader ignores LD_PRELOAD)";
	}
	close(fd);
	if (r) {
		size_t k = strlen(r) < cap - 1 ? strlen(r) : cap - 1;
		memcpy(why, r, k);
		why[k] = '\0';
	}
}

static void check_reach(const char *path)
{
	if (g_trace_path[0]) {
		struct line l;
		l_begin(&l, "exec\t");
		l_esc(&l, path);
		l_emit(&l);
	}
	if (g_mode == M_OFF || g_watched || path == NULL)
		return;
	char why[600];
	reach_reason(path, why, sizeof why, 0);
	if (!why[0])
		return;
	struct line l;
	l.len = 0;
	l_str(&l, "flakebox: warning: ");
	l_str(&l, path);
	l_str(&l, ": ");
	l_str(&l, why);
	l_str(&l, "; its clock is NOT frozen\n");
	int saved = errno;
	ssize_t w = write(2, l.buf, l.len);
	(void)w;
	l_begin(&l, "warn\t");
	struct line m;
	m.len = 0;
	l_str(&m, path);
	l_str(&m, ": ");
	l_str(&m, why);
	l_str(&m, "; its clock is NOT frozen");
	m.buf[m.len] = '\0';
	l_esc(&l, m.buf);
	l_emit(&l);
	errno = saved;
}

/* PATH search for the check only (the real execvp does the real search). */
static void check_reach_path(const char *file, const char *pathenv)
{
	if (g_mode == M_OFF && !g_trace_path[0])
		return;
	if (file == NULL || strchr(file, '/')) {
		check_reach(file);
		return;
	}
	const char *p = pathenv ? pathenv : "/bin:/usr/bin";
	char buf[4096];
	while (1) {
		const char *e = strchr(p, ':');
		size_t dl = e ? (size_t)(e - p) : strlen(p);
		size_t fl = strlen(file);
		if (dl + fl + 2 < sizeof buf) {
			memcpy(buf, dl ? p : ".", dl ? dl : 1);
			size_t k = dl ? dl : 1;
			buf[k++] = '/';
			memcpy(buf + k, file, fl + 1);
			if (access(buf, X_OK) == 0) {
				check_reach(buf);
				return;
			}
		}
		if (!e)
			return;
		p = e + 1;
	}
}

/* ---- exec: keep the shim and its variables in scrubbed environments -------- */

static int has_token(const char *list, const char *tok)
{
	size_t tl = strlen(tok);
	const char *p = list;
	while (*p) {
		while (*p == ' ' || *p == ':')
			p++;
		const char *e = p;
		while (*e && *e != ' ' && *e != ':')
			e++;
		if ((size_t)(e - p) == tl && memcmp(p, tok, tl) == 0)
			return 1;
		p = e;
	}
	return 0;
}

static size_t env_count(char *const *envp)
{
	size_t n = 0;
	if (envp)
		while (envp[n])
			n++;
	return n;
}

/* Bytes needed for the rewritten LD_PRELOAD entry of envp (0 if none needed). */
static size_t ld_need(char *const *envp)
{
	if (!g_shim_path[0])
		return 0;
	for (size_t i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], "LD_PRELOAD=", 11) == 0)
			return strlen(envp[i]) + strlen(g_shim_path) + 2;
	return 0;
}

/* Fills out (room for env_count + MAX_SAVED + 2 pointers) with envp plus whatever
 * of LD_PRELOAD and the saved FLAKEBOX_* variables it lacks.  ld has ld_need bytes.
 * No allocation: this runs in children of threaded parents and vfork children. */
static char *const *fix_env(char *const *envp, char **out, char *ld)
{
	size_t k = 0;
	int have_ld = 0;
	for (size_t i = 0; envp && envp[i]; i++) {
		char *e = envp[i];
		if (g_shim_path[0] && strncmp(e, "LD_PRELOAD=", 11) == 0 && !have_ld) {
			have_ld = 1;
			if (!has_token(e + 11, g_shim_path)) {
				size_t n = strlen(e);
				memcpy(ld, e, n);
				size_t j = n;
				if (n > 11)
					ld[j++] = ':';
				strcpy(ld + j, g_shim_path);
				e = ld;
			}
		}
		out[k++] = e;
	}
	if (g_shim_path[0] && !have_ld)
		out[k++] = g_ld_entry;
	for (int s = 0; s < g_nsaved; s++) {
		int found = 0;
		for (size_t i = 0; envp && envp[i]; i++)
			if (strncmp(envp[i], g_saved[s], g_saved_namelen[s] + 1) == 0) {
				found = 1;
				break;
			}
		if (!found)
			out[k++] = g_saved[s];
	}
	out[k] = NULL;
	return out;
}

/* Stack storage for fix_env in the caller's frame; a monstrous environment
 * (over 64k entries) is passed through unchanged rather than risk the stack. */
#define FIXED_ENV(envp_in, result)                                                   \
	do {                                                                         \
		size_t n_ = env_count(envp_in);                                      \
		if (n_ > 65536) {                                                    \
			result = (envp_in);                                          \
			break;                                                       \
		}                                                                    \
		char **arr_ = __builtin_alloca((n_ + MAX_SAVED + 2) * sizeof(char *)); \
		size_t ln_ = ld_need(envp_in);                                       \
		char *ld_ = ln_ ? __builtin_alloca(ln_) : NULL;                      \
		result = fix_env(envp_in, arr_, ld_);                                \
	} while (0)

static const char *env_path(void)
{
	return getenv("PATH");
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	char *const *env;
	if (!REAL(execve)) {
		errno = ENOSYS;
		return -1;
	}
	check_reach(path);
	FIXED_ENV(envp, env);
	return real_execve(path, argv, env);
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	char *const *env;
	if (!real_execveat && !(real_execveat = (execveat_fn *)next_sym("execveat", NULL))) {
		errno = ENOSYS;
		return -1;
	}
	LAUNDER(path);
	if (path && path[0] == '/')
		check_reach(path);
	FIXED_ENV(envp, env);
	return real_execveat(dirfd, path, argv, env, flags);
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	char *const *env;
	if (!REAL(fexecve)) {
		errno = ENOSYS;
		return -1;
	}
	FIXED_ENV(envp, env);
	return real_fexecve(fd, argv, env);
}

EXPORT int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	char *const *env;
	if (!REAL(execvpe)) {
		errno = ENOSYS;
		return -1;
	}
	check_reach_path(file, env_path());
	FIXED_ENV(envp, env);
	return real_execvpe(file, argv, env);
}

EXPORT int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

/* execl*: collect the variadic argv on the stack. */
#define COLLECT_ARGS(first, ap, argv)                                    \
	do {                                                                        \
		va_list cp_;                                                        \
		size_t n_ = 1;                                                      \
		va_copy(cp_, ap);                                                   \
		while (va_arg(cp_, char *) != NULL)                                 \
			n_++;                                                       \
		va_end(cp_);                                                        \
		argv = __builtin_alloca((n_ + 1) * sizeof(char *));                 \
		argv[0] = (char *)(first);                                          \
		for (size_t i_ = 1; i_ <= n_; i_++)                                 \
			argv[i_] = va_arg(ap, char *);                              \
	} while (0)

EXPORT int execl(const char *path, const char *arg, ...)
{
	char **argv;
	va_list ap;
	va_start(ap, arg);
	COLLECT_ARGS(arg, ap, argv);
	va_end(ap);
	return execve(path, argv, environ);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
	char **argv;
	va_list ap;
	va_start(ap, arg);
	COLLECT_ARGS(arg, ap, argv);
	va_end(ap);
	return execvpe(file, argv, environ);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
	char **argv;
	char **envp = NULL;
	va_list ap;
	va_start(ap, arg);
	COLLECT_ARGS(arg, ap, argv);
	envp = va_arg(ap, char **); /* after the NULL that ends argv */
	va_end(ap);
	return execve(path, argv, envp);
}

EXPORT int posix_spawn(pid_t *restrict pid, const char *restrict path,
		       const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *restrict attr,
		       char *const argv[restrict], char *const envp[restrict])
{
	char *const *env;
	if (!REAL(posix_spawn))
		return ENOSYS;
	check_reach(path);
	FIXED_ENV(envp, env);
	return real_posix_spawn(pid, path, fa, attr, argv, env);
}

EXPORT int posix_spawnp(pid_t *restrict pid, const char *restrict file,
			const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *restrict attr,
			char *const argv[restrict], char *const envp[restrict])
{
	char *const *env;
	if (!REAL(posix_spawnp))
		return ENOSYS;
	check_reach_path(file, env_path());
	FIXED_ENV(envp, env);
	return real_posix_spawnp(pid, file, fa, attr, argv, env);
}

/* ---- initialisation ------------------------------------------------------------ */

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

static void resolve_all(void)
{
#define R(name) real_##name = (__typeof__(real_##name))next_sym(#name, NULL)
	real_pthread_cond_timedwait = next_sym("pthread_cond_timedwait", COND_VERSION);
	R(gettimeofday); R(time); R(timespec_get); R(syscall);
	R(pthread_cond_clockwait); R(sem_timedwait); R(sem_clockwait);
	R(pthread_mutex_timedlock); R(pthread_mutex_clocklock);
	R(pthread_rwlock_timedrdlock); R(pthread_rwlock_timedwrlock);
	R(pthread_rwlock_clockrdlock); R(pthread_rwlock_clockwrlock);
	R(pthread_timedjoin_np); R(pthread_clockjoin_np); R(clock_nanosleep);
	R(timer_create); R(timer_delete); R(timer_settime);
	R(timerfd_create); R(timerfd_settime); R(mq_timedsend); R(mq_timedreceive);
	R(connect); R(getaddrinfo); R(gethostbyname); R(gethostbyname2); R(gethostbyname_r);
	R(execve); R(execvpe); R(fexecve);
	real_posix_spawn = next_sym("posix_spawn", "GLIBC_2.15");
	real_posix_spawnp = next_sym("posix_spawnp", "GLIBC_2.15");
	real_execveat = (execveat_fn *)next_sym("execveat", NULL);
#undef R
	void *vdso = dlopen("linux-vdso.so.1", RTLD_LAZY | RTLD_NOLOAD);
	if (vdso) {
		/* The symbol's name differs by architecture. */
		g_vdso_clock_gettime = (vdso_clock_fn *)dlsym(vdso, "__vdso_clock_gettime");
		if (!g_vdso_clock_gettime)
			g_vdso_clock_gettime = (vdso_clock_fn *)dlsym(vdso, "__kernel_clock_gettime");
	}
	/* Last: until it is set, clock reads use the raw system call. */
	__typeof__(real_clock_gettime) cg = (__typeof__(real_clock_gettime))next_sym("clock_gettime", NULL);
	__atomic_store_n(&real_clock_gettime, cg, __ATOMIC_RELEASE);
}

static void save_env(void)
{
	size_t used = 0;
	for (char **e = environ; e && *e && g_nsaved < MAX_SAVED; e++) {
		if (strncmp(*e, "FLAKEBOX_", 9) != 0)
			continue;
		size_t n = strlen(*e);
		const char *eq = strchr(*e, '=');
		if (!eq || used + n + 1 > sizeof g_saved_buf)
			continue;
		memcpy(g_saved_buf + used, *e, n + 1);
		g_saved[g_nsaved] = g_saved_buf + used;
		g_saved_namelen[g_nsaved] = (size_t)(eq - *e);
		g_nsaved++;
		used += n + 1;
	}
	Dl_info info;
	if (dladdr((void *)&clock_gettime, &info) && info.dli_fname &&
	    strlen(info.dli_fname) < sizeof g_shim_path && info.dli_fname[0] == '/') {
		strcpy(g_shim_path, info.dli_fname);
		strcpy(g_ld_entry, "LD_PRELOAD=");
		strcat(g_ld_entry, g_shim_path);
	}
	const char *t = getenv("FLAKEBOX_TRACE");
	if (t && *t && strlen(t) < sizeof g_trace_path)
		strcpy(g_trace_path, t);
}

static void configure_time(void)
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
	configure_time();
	resolve_all();
}
