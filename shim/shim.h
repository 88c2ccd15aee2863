/*
 * shim.h -- the internal header of the flakebox LD_PRELOAD shim.
 *
 * The shim is a fake wall clock, an event trace and seeded randomness, one job per file:
 *
 *   symbols.c   finding the real functions (dlsym/dlvsym, the vDSO, raw syscalls)
 *   clock.c     the fake clock: clock_gettime, gettimeofday, time, syscall(2)...
 *   deadline.c  absolute REALTIME deadlines converted to real time (waits, timers)
 *   trace.c     the trace file writer (FLAKEBOX_TRACE)
 *   clockset.c  clock-setting calls: traced (the sandbox refuses them)
 *   net.c       connect and name-lookup events
 *   reach.c     can the shim reach a program it is about to exec? (reach.def)
 *   entropy.c   OS randomness from a seed (FLAKEBOX_SEED), per-process streams
 *   exec.c      LD_PRELOAD and FLAKEBOX_* put back into scrubbed environments
 *   init.c      the constructor: configuration from the environment
 *   files.c     the files the command opens, traced (state left on the machine)
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
 *   FLAKEBOX_SEED             decimal 64-bit seed of OS randomness (unset: the kernel's)
 *   FLAKEBOX_RAND_ID          set by the shim at exec: this image's stream (entropy.c)
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
 *   connect         <target> <result>  target: inet:1.2.3.4:80 | inet6:[::1]:80 |
 *                                              unix:/path | unix:@abstract | unix:
 *                                      result: ok | errno name (ECONNREFUSED...) |
 *                                              pending (a non-blocking start)
 *   connect-result  <target> <result>  how a pending connect ended, when the program
 *                                      asked (getsockopt SO_ERROR, connect again)
 *   resolve         <name> <result>    getaddrinfo / gethostbyname*; result: ok |
 *                                      EAI_* name | HOST_NOT_FOUND... | fail
 *   exec            <path>             an interposed exec / posix_spawn of path
 *   warn            <message>          e.g. a child whose clock cannot be faked
 *   clock-set       <call> <result>    settimeofday, clock_settime, adjtimex,
 *                                      ntp_adjtime, clock_adjtime or adjtime asked
 *                                      to change the clock; result: ok | errno name
 *   open            <path> <result> <r|w|t>  a file the command opened (files.c): its
 *                                      absolute path; result: ok | EEXIST | EACCES |
 *                                      EISDIR (it was there); r read only, t truncated,
 *                                      w any other write
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
#ifndef FLAKEBOX_SHIM_H
#define FLAKEBOX_SHIM_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <netdb.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/timex.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

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

/* Everything below is internal to the shared object: hidden, so that the hot
 * path reads its globals PC-relative rather than through the GOT. */
#pragma GCC visibility push(hidden)

/* ---- symbols.c: the real functions --------------------------------------- */

/* The new-ABI condvar functions; dlsym alone has handed out the 2.2.5 compat
 * versions on some glibcs (a known libfaketime crash). */
#if defined(__x86_64__)
#define COND_VERSION "GLIBC_2.3.2"
#else
#define COND_VERSION NULL
#endif

/* Every function the shim forwards to, with the symbol version to ask for
 * (NULL: the default).  clock_gettime is resolved apart, last (see symbols.c). */
#define SHIM_REAL_SYMBOLS(X)                                                    \
	X(gettimeofday, NULL)                                                   \
	X(time, NULL)                                                           \
	X(timespec_get, NULL)                                                   \
	X(syscall, NULL)                                                        \
	X(pthread_cond_timedwait, COND_VERSION)                                 \
	X(pthread_cond_clockwait, NULL)                                         \
	X(sem_timedwait, NULL)                                                  \
	X(sem_clockwait, NULL)                                                  \
	X(pthread_mutex_timedlock, NULL)                                        \
	X(pthread_mutex_clocklock, NULL)                                        \
	X(pthread_rwlock_timedrdlock, NULL)                                     \
	X(pthread_rwlock_timedwrlock, NULL)                                     \
	X(pthread_rwlock_clockrdlock, NULL)                                     \
	X(pthread_rwlock_clockwrlock, NULL)                                     \
	X(pthread_timedjoin_np, NULL)                                           \
	X(pthread_clockjoin_np, NULL)                                           \
	X(clock_nanosleep, NULL)                                                \
	X(timer_create, NULL)                                                   \
	X(timer_delete, NULL)                                                   \
	X(timer_settime, NULL)                                                  \
	X(timerfd_create, NULL)                                                 \
	X(timerfd_settime, NULL)                                                \
	X(mq_timedsend, NULL)                                                   \
	X(mq_timedreceive, NULL)                                                \
	X(connect, NULL)                                                        \
	X(getsockopt, NULL)                                                     \
	X(getaddrinfo, NULL)                                                    \
	X(gethostbyname, NULL)                                                  \
	X(gethostbyname2, NULL)                                                 \
	X(gethostbyname_r, NULL)                                                \
	X(execve, NULL)                                                         \
	X(execvpe, NULL)                                                        \
	X(fexecve, NULL)                                                        \
	X(posix_spawn, "GLIBC_2.15")                                            \
	X(posix_spawnp, "GLIBC_2.15")                                           \
	X(getrandom, NULL)                                                      \
	X(getentropy, NULL)                                                     \
	X(arc4random, NULL)                                                     \
	X(arc4random_buf, NULL)                                                 \
	X(arc4random_uniform, NULL)                                             \
	X(open, NULL)                                                           \
	X(open64, NULL)                                                         \
	X(openat, NULL)                                                         \
	X(openat64, NULL)                                                       \
	X(fopen, NULL)                                                          \
	X(fopen64, NULL)                                                        \
	X(settimeofday, NULL)                                                   \
	X(clock_settime, NULL)                                                  \
	X(adjtimex, NULL)                                                       \
	X(ntp_adjtime, NULL)                                                    \
	X(clock_adjtime, NULL)                                                  \
	X(adjtime, NULL)

#define SHIM_DECL_REAL(name, version) extern __typeof__(name) *real_##name;
SHIM_REAL_SYMBOLS(SHIM_DECL_REAL)
extern __typeof__(clock_gettime) *real_clock_gettime;
#undef SHIM_DECL_REAL
/* Declared by glibc's headers only since 2.34. */
typedef int execveat_fn(int, const char *, char *const[], char *const[], int);
extern execveat_fn *real_execveat;

void *next_sym(const char *name, const char *version);
void resolve_all(void);

/* Before the constructor has run (another library's constructor, an allocator
 * initialising itself) symbols are resolved on first use.  The clock functions
 * never do that: dlsym may allocate, and an allocator that reads the clock while
 * initialising would recurse; they fall back to a raw system call instead. */
#define REAL(name)                                                              \
	(LIKELY(real_##name != NULL)                                            \
		 ? real_##name                                                  \
		 : (real_##name = (__typeof__(real_##name))next_sym(#name, NULL)))

/* clock_gettime through the raw system call, for before the C library's is known. */
int raw_clock_gettime(clockid_t clk, struct timespec *ts);

static inline int real_clock(clockid_t clk, struct timespec *ts)
{
	if (LIKELY(real_clock_gettime != NULL))
		return real_clock_gettime(clk, ts);
	return raw_clock_gettime(clk, ts);
}

/* Ticking reads go straight to the vDSO, skipping the C library's wrapper (a few
 * ns of a read). The vDSO returns -errno; any failure retries through the C
 * library, which knows the fallbacks. */
typedef int vdso_clock_fn(clockid_t, struct timespec *);
extern vdso_clock_fn *g_vdso_clock_gettime;

static inline int ticking_real_clock(clockid_t clk, struct timespec *ts)
{
	if (LIKELY(g_vdso_clock_gettime != NULL) && LIKELY(g_vdso_clock_gettime(clk, ts) == 0))
		return 0;
	return real_clock(clk, ts);
}

/* ---- clock.c: the fake clock ---------------------------------------------- */

enum { M_OFF = 0, M_FROZEN = 1, M_TICK = 2, M_STEP = 3 };

/* Written only by the constructor, before main and before any other thread. */
extern int g_mode;
extern int g_watched; /* FLAKEBOX_CLOCKWATCH=1 */
extern int64_t g_sec;     /* frozen instant / step base */
extern long g_nsec;
extern int64_t g_off_sec; /* ticking: fake = real + off, off_nsec in [0, 1e9) */
extern long g_off_nsec;
extern uint64_t g_step_ns;
extern int64_t g_tai_off; /* TAI - UTC, whole seconds, for frozen/step TAI */
extern _Atomic uint64_t g_step_n;

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
static inline __attribute__((always_inline)) int fake_clock(clockid_t clk, struct timespec *ts,
							    int advance)
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

/* Reads FLAKEBOX_TIME_*; on a bad value warns and leaves the clock alone. */
void configure_time(void);

/* ---- deadline.c --------------------------------------------------------------- */

/* Converts an absolute deadline on the fake realtime clock to the real one:
 * real_now + (deadline - fake_now).  Returns in unchanged (so the C library
 * reports EINVAL itself) when it is malformed or time is not faked. */
const struct timespec *real_deadline(clockid_t clk, const struct timespec *in,
				     struct timespec *out);

/* ---- trace.c: one trace line ---------------------------------------------- */

extern char g_trace_path[4096];

struct line {
	char buf[4096];
	size_t len;
};

void l_raw(struct line *l, const char *s, size_t n);
void l_str(struct line *l, const char *s);
/* Appends s escaped (see the format above). */
void l_esc(struct line *l, const char *s);
void l_ulong(struct line *l, unsigned long v);
/* Starts a line: "<pid> TAB <event>". */
void l_begin(struct line *l, const char *event);
/* Appends LF and writes the line to the trace file; keeps errno. */
void l_emit(struct line *l);
/* The errno's name (ECONNREFUSED), or "error". */
const char *errno_name(int e);
void trace_configure(void);
/* Traces an open of path (relative to dirfd) with these flags, which failed
 * or not (errno is the failure's, and is kept). */
void trace_open(int dirfd, const char *path, int flags, int failed);

/* ---- clockset.c ---------------------------------------------------------------- */

/* Traces a clock-setting call that returned result (errno err when < 0). */
void trace_clock_set(const char *call, long result, int err);
/* The name of syscall(2) number n with arguments a1, a2 when it asks to change
 * the clock, else NULL. */
const char *clock_set_syscall(long n, long a1, long a2);

/* ---- reach.c ------------------------------------------------------------------- */

/* Why the shim cannot reach a program (reach.def), REACH_OK when it can. */
enum reach_code {
	REACH_OK = 0,
#define REACH_REASON(code, rust, text) REACH_##code,
#define REACH_TEXT(name, text)
#include "reach.def"
#undef REACH_REASON
#undef REACH_TEXT
};

struct reach {
	enum reach_code code;
	/* For a #! script whose interpreter is unreachable: the interpreter's path
	 * (code is then the interpreter's reason); empty otherwise. */
	char interpreter[256];
};

/* Inspects the program at path; follows a #! line to its interpreter once.
 * A file that cannot be opened or read is REACH_OK (nothing to say). */
void reach_inspect(const char *path, struct reach *out);
/* reason text of code ("" for REACH_OK). */
const char *reach_text(enum reach_code code);
/* Writes "<path>: <reason>; its clock is NOT frozen" (no prefix, no LF). */
void reach_message(struct line *l, const char *path, const struct reach *r);
/* At an exec of path: an exec trace event, and when time is faked and path is
 * unreachable, a warning on stderr and a warn event. */
void check_reach(const char *path);
/* The same for a PATH search of file (the real exec does the real search). */
void check_reach_path(const char *file, const char *pathenv);

/* ---- net.c ---------------------------------------------------------------------- */

/* ---- entropy.c: randomness from FLAKEBOX_SEED ------------------------------- */

extern int g_rand_on;
/* Reads FLAKEBOX_SEED and FLAKEBOX_RAND_ID. */
void entropy_configure(void);
/* n bytes of this process's stream (g_rand_on only). */
void entropy_fill(void *buf, size_t n);
/* Writes "FLAKEBOX_RAND_ID=..." for a new image about to be exec'd (kind 'x') or
 * spawned (kind 's') into out; 0 when randomness is not seeded. */
int entropy_child_env(char *out, size_t cap, char kind);

/* ---- exec.c --------------------------------------------------------------------- */

/* Saves the FLAKEBOX_* variables and the shim's own path for exec.c. */
void save_env(void);

#pragma GCC visibility pop

/* Removed from glibc's headers (2.33) but still in old binaries. */
struct flakebox_timeb {
	time_t time;
	unsigned short millitm;
	short timezone;
	short dstflag;
};
EXPORT int ftime(struct flakebox_timeb *tb);

#endif
