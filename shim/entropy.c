/* entropy.c -- operating-system randomness from a seed (FLAKEBOX_SEED).
 *
 * With FLAKEBOX_SEED set (a decimal 64-bit number), getrandom, getentropy,
 * arc4random*, syscall(SYS_getrandom) and opens of /dev/urandom and /dev/random
 * are served from a deterministic stream instead of the kernel's.  Unset: all of
 * them pass through, at the cost of one branch.
 *
 * Streams.  Every process image has a 64-bit identity, and its stream is
 * SplitMix64 keyed by it (state = id, increment = an odd number derived from id:
 * different identities give different sequences, not shifts of one sequence).
 * Identities follow the place in the process tree, so the same seed gives the
 * same bytes to the same program at the same place, and no two places share one:
 *
 *   root image (no FLAKEBOX_RAND_ID):   id = mix(seed, "root")
 *   fork child (pthread_atfork):        id = mix(parent id, 'F', n)  n: the parent's nth fork
 *   exec / posix_spawn of a new image:  id = mix(caller id, 'X', n)  n: the caller's nth exec
 *
 * An exec passes the new identity in FLAKEBOX_RAND_ID=<id hex>:<kind><pid>, kind
 * x (exec: the new image has that pid) or s (spawn: its parent has).  An image
 * that finds a value not meant for it (a child started by system() or popen(),
 * which glibc spawns without a PLT call) derives a distinct identity from its pid:
 * its own stream, but not replayable.  Threads of one process share its stream
 * (an atomic counter): bytes are replayed, which thread gets which is scheduling.
 *
 * /dev/urandom and /dev/random (those paths exactly) open as a memfd holding the
 * first URANDOM_BYTES of a stream taken at open; reads past them see end of file.
 * Not covered: other paths to the devices, the RDRAND instruction, static and Go
 * programs (no LD_PRELOAD), and getrandom through a raw system call.
 *
 * Not cryptographic: this is test input, replayable by design.
 */
#include "shim.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#define URANDOM_BYTES (1u << 20)
#define GOLDEN 0x9e3779b97f4a7c15ull

int g_rand_on;
static uint64_t g_rand_id;
static uint64_t g_rand_gamma;
static _Atomic uint64_t g_rand_ctr;
static _Atomic uint64_t g_rand_forks;
static _Atomic uint64_t g_rand_execs;
static __thread uint64_t t_fork_n;

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The identity of a child: distinct for each (parent, kind, n). */
static uint64_t derive(uint64_t parent, uint64_t kind, uint64_t n)
{
	return mix64(mix64(parent ^ kind * GOLDEN) + n * GOLDEN);
}

static void set_identity(uint64_t id)
{
	g_rand_id = id;
	g_rand_gamma = mix64(id ^ 0x5851f42d4c957f2dull) | 1;
	atomic_store(&g_rand_ctr, 0);
	atomic_store(&g_rand_forks, 0);
	atomic_store(&g_rand_execs, 0);
}

void entropy_fill(void *buf, size_t n)
{
	uint64_t blocks = (n + 7) / 8;
	uint64_t i = atomic_fetch_add_explicit(&g_rand_ctr, blocks, memory_order_relaxed);
	unsigned char *p = buf;
	while (n > 0) {
		uint64_t v = mix64(g_rand_id + (i++ + 1) * g_rand_gamma);
		size_t k = n < 8 ? n : 8;
		memcpy(p, &v, k);
		p += k;
		n -= k;
	}
}

static void fork_prepare(void)
{
	t_fork_n = atomic_fetch_add(&g_rand_forks, 1) + 1;
}

static void fork_child(void)
{
	set_identity(derive(g_rand_id, 'F', t_fork_n));
}

static int parse_u64(const char *s, int base, uint64_t *out, const char **end)
{
	if (!s || !*s)
		return 0;
	uint64_t v = 0;
	const char *p = s;
	for (; *p; p++) {
		int d;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else
			break;
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return 0;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	if (p == s)
		return 0;
	*out = v;
	if (end)
		*end = p;
	else if (*p)
		return 0;
	return 1;
}

/* FLAKEBOX_RAND_ID=<hex>:<x|s><pid>: the identity, if it was meant for this image. */
static int inherited_identity(uint64_t *id)
{
	const char *v = getenv("FLAKEBOX_RAND_ID");
	const char *p;
	uint64_t pid;
	if (!parse_u64(v, 16, id, &p) || p[0] != ':' || (p[1] != 'x' && p[1] != 's') ||
	    !parse_u64(p + 2, 10, &pid, NULL))
		return -1;
	pid_t want = p[1] == 'x' ? getpid() : getppid();
	return (uint64_t)want == pid;
}

void entropy_configure(void)
{
	uint64_t seed, id;
	const char *s = getenv("FLAKEBOX_SEED");
	if (!s)
		return;
	if (!parse_u64(s, 10, &seed, NULL)) {
		static const char msg[] = "flakebox: warning: shim: FLAKEBOX_SEED is not a decimal "
					  "64-bit number; randomness is NOT seeded\n";
		ssize_t w = write(2, msg, sizeof msg - 1);
		(void)w;
		return;
	}
	int inherited = inherited_identity(&id);
	if (inherited < 0)
		id = derive(seed, 0x726f6f74, 0); /* the root of the tree */
	else if (inherited == 0)
		id = derive(id, 'P', (uint64_t)getpid()); /* not meant for us: see above */
	set_identity(id);
	pthread_atfork(fork_prepare, NULL, fork_child);
	g_rand_on = 1;
}

/* Runs in children of threaded parents (between fork and exec): no stdio, no locks. */
int entropy_child_env(char *out, size_t cap, char kind)
{
	static const char hex[] = "0123456789abcdef";
	static const char name[] = "FLAKEBOX_RAND_ID=";
	if (!g_rand_on || cap < sizeof name + 16 + 2 + 21)
		return 0;
	uint64_t id = derive(g_rand_id, 'X', atomic_fetch_add(&g_rand_execs, 1) + 1);
	size_t k = sizeof name - 1;
	memcpy(out, name, k);
	for (int sh = 60; sh >= 0; sh -= 4)
		out[k++] = hex[(id >> sh) & 15];
	out[k++] = ':';
	out[k++] = kind;
	char d[21];
	size_t nd = 0;
	uint64_t pid = (uint64_t)getpid();
	do {
		d[nd++] = (char)('0' + pid % 10);
		pid /= 10;
	} while (pid);
	while (nd)
		out[k++] = d[--nd];
	out[k] = '\0';
	return 1;
}

/* ---- the interposed calls ---------------------------------------------------- */

EXPORT ssize_t getrandom(void *buf, size_t n, unsigned int flags)
{
	if (!g_rand_on) {
		if (!REAL(getrandom)) {
			errno = ENOSYS;
			return -1;
		}
		return real_getrandom(buf, n, flags);
	}
	if (n > INT32_MAX)
		n = INT32_MAX; /* the kernel's own limit on one call */
	entropy_fill(buf, n);
	return (ssize_t)n;
}

EXPORT int getentropy(void *buf, size_t n)
{
	if (!g_rand_on) {
		if (!REAL(getentropy)) {
			errno = ENOSYS;
			return -1;
		}
		return real_getentropy(buf, n);
	}
	if (n > 256) {
		errno = EIO;
		return -1;
	}
	entropy_fill(buf, n);
	return 0;
}

/* Unseeded, and the C library has no arc4random: what getrandom gives (arc4random
 * cannot fail, so neither may this). */
static void os_random(void *buf, size_t n)
{
	unsigned char *p = buf;
	while (n > 0 && REAL(getrandom)) {
		ssize_t r = real_getrandom(p, n, 0);
		if (r <= 0 && errno != EINTR)
			break;
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		}
	}
	if (n > 0)
		abort();
}

EXPORT uint32_t arc4random(void)
{
	uint32_t v;
	if (g_rand_on)
		entropy_fill(&v, sizeof v);
	else if (REAL(arc4random))
		return real_arc4random();
	else
		os_random(&v, sizeof v);
	return v;
}

EXPORT void arc4random_buf(void *buf, size_t n)
{
	if (g_rand_on)
		entropy_fill(buf, n);
	else if (REAL(arc4random_buf))
		real_arc4random_buf(buf, n);
	else
		os_random(buf, n);
}

EXPORT uint32_t arc4random_uniform(uint32_t bound)
{
	if (!g_rand_on && REAL(arc4random_uniform))
		return real_arc4random_uniform(bound);
	if (!g_rand_on) {
		/* No C library one: the same rejection sampling over getrandom. */
		uint32_t min = bound < 2 ? 0 : (uint32_t)(-bound) % bound, v;
		if (bound < 2)
			return 0;
		do
			os_random(&v, sizeof v);
		while (v < min);
		return v % bound;
	}
	if (bound < 2)
		return 0;
	/* Rejection sampling: no modulo bias. */
	uint32_t min = (uint32_t)(-bound) % bound, v;
	do
		entropy_fill(&v, sizeof v);
	while (v < min);
	return v % bound;
}

/* ---- /dev/urandom and /dev/random ------------------------------------------------ */

static int is_entropy_device(const char *path)
{
	return path && path[0] == '/' && path[1] == 'd' &&
	       (strcmp(path, "/dev/urandom") == 0 || strcmp(path, "/dev/random") == 0);
}

/* A memfd holding the start of this process's stream; -1 to fall back. */
static int entropy_memfd(int flags)
{
	int saved = errno;
	int fd = memfd_create("flakebox-urandom", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
	if (fd < 0) {
		errno = saved;
		return -1;
	}
	unsigned char chunk[4096];
	for (size_t done = 0; done < URANDOM_BYTES; done += sizeof chunk) {
		entropy_fill(chunk, sizeof chunk);
		if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk) {
			close(fd);
			errno = saved;
			return -1;
		}
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		errno = saved;
		return -1;
	}
	errno = saved;
	return fd;
}

static mode_t open_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN_LIKE(name, at, ...)                                                     \
	do {                                                                         \
		if (UNLIKELY(g_rand_on) && is_entropy_device(path) &&                \
		    (flags & O_ACCMODE) == O_RDONLY) {                               \
			int fd_ = entropy_memfd(flags);                              \
			if (fd_ >= 0)                                                \
				return fd_;                                          \
		}                                                                    \
		if (!REAL(name)) {                                                   \
			errno = ENOSYS;                                              \
			return -1;                                                   \
		}                                                                    \
		int fd_r_ = real_##name(__VA_ARGS__);                                \
		trace_open(at, path, flags, fd_r_ < 0);                              \
		return fd_r_;                                                        \
	} while (0)

EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = open_mode(flags, ap);
	va_end(ap);
	OPEN_LIKE(open, AT_FDCWD, path, flags, mode);
}

EXPORT int open64(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = open_mode(flags, ap);
	va_end(ap);
	OPEN_LIKE(open64, AT_FDCWD, path, flags, mode);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = open_mode(flags, ap);
	va_end(ap);
	OPEN_LIKE(openat, dirfd, dirfd, path, flags, mode);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = open_mode(flags, ap);
	va_end(ap);
	OPEN_LIKE(openat64, dirfd, dirfd, path, flags, mode);
}

/* glibc's fopen opens without a PLT call. */
static FILE *fopen_like(FILE *(*real)(const char *, const char *), const char *path, const char *mode)
{
	if (UNLIKELY(g_rand_on) && is_entropy_device(path) && mode && mode[0] == 'r' &&
	    !strchr(mode, '+')) {
		int fd = entropy_memfd(strchr(mode, 'e') ? O_CLOEXEC : 0);
		if (fd >= 0) {
			FILE *f = fdopen(fd, mode);
			if (f)
				return f;
			close(fd);
		}
	}
	if (!real) {
		errno = ENOSYS;
		return NULL;
	}
	FILE *f = real(path, mode);
	int flags = O_RDONLY;
	if (mode && mode[0] != 'r')
		flags = O_WRONLY | O_CREAT | (mode[0] == 'w' ? O_TRUNC : O_APPEND);
	if (mode && strchr(mode, '+'))
		flags = (flags & ~O_ACCMODE) | O_RDWR;
	if (mode && strchr(mode, 'x'))
		flags |= O_EXCL;
	trace_open(AT_FDCWD, path, flags, f == NULL);
	return f;
}

EXPORT FILE *fopen(const char *restrict path, const char *restrict mode)
{
	return fopen_like(REAL(fopen), path, mode);
}

EXPORT FILE *fopen64(const char *restrict path, const char *restrict mode)
{
	return fopen_like(REAL(fopen64), path, mode);
}
