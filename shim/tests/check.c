/*
 * check.c -- C-level checks of the shim, for its sanitizer build.
 *
 * crates/clock/tests/shim_sanitizers.rs builds the shim with AddressSanitizer and
 * UndefinedBehaviorSanitizer, preloads it into this program (frozen at
 * FLAKEBOX_TIME_SEC/NSEC, tracing to FLAKEBOX_TRACE) and fails on any sanitizer
 * report.  Each check drives one job of the shim through its edge cases: extreme
 * and malformed deadlines, full tables, odd socket addresses, damaged ELF files,
 * scrubbed environments.  A failed check prints what and exits 1; the test then
 * reads the trace this program leaves.
 *
 * Usage: check WORKDIR LISTEN_PORT CLOSED_PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>

extern char **environ;

static int failures;

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "check.c:%d: FAILED %s: ", __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
			failures++;                                             \
		}                                                               \
	} while (0)

static struct timespec instant;
static const char *workdir;

static struct timespec plus_ms(struct timespec t, long ms)
{
	t.tv_nsec += ms * 1000000L;
	while (t.tv_nsec >= 1000000000L) {
		t.tv_nsec -= 1000000000L;
		t.tv_sec++;
	}
	return t;
}

/* ---- the fake clock ------------------------------------------------------- */

struct timeb_compat {
	time_t time;
	unsigned short millitm;
	short timezone;
	short dstflag;
};

static void check_clock(void)
{
	struct timespec ts, m0, m1;
	struct timeval tv;
	struct timezone tz;
	clock_gettime(CLOCK_MONOTONIC, &m0);
	const clockid_t rt[] = {CLOCK_REALTIME, CLOCK_REALTIME_COARSE};
	for (size_t i = 0; i < sizeof rt / sizeof rt[0]; i++) {
		CHECK(clock_gettime(rt[i], &ts) == 0 && ts.tv_sec == instant.tv_sec &&
			      ts.tv_nsec == instant.tv_nsec,
		      "clock %d read %lld.%09ld", (int)rt[i], (long long)ts.tv_sec, ts.tv_nsec);
	}
	CHECK(clock_gettime(CLOCK_TAI, &ts) == 0 && ts.tv_sec >= instant.tv_sec, "TAI %lld",
	      (long long)ts.tv_sec);
	CHECK(gettimeofday(&tv, NULL) == 0 && tv.tv_sec == instant.tv_sec &&
		      tv.tv_usec == instant.tv_nsec / 1000,
	      "gettimeofday %lld", (long long)tv.tv_sec);
	/* The obsolete timezone argument takes the C library's path. */
	CHECK(gettimeofday(&tv, &tz) == 0 && tv.tv_sec == instant.tv_sec, "gettimeofday tz");
	time_t t = 0;
	CHECK(time(&t) == instant.tv_sec && t == instant.tv_sec, "time %lld", (long long)t);
	CHECK(time(NULL) == instant.tv_sec, "time(NULL)");
	CHECK(timespec_get(&ts, TIME_UTC) == TIME_UTC && ts.tv_sec == instant.tv_sec, "timespec_get");
	CHECK(syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts) == 0 && ts.tv_sec == instant.tv_sec,
	      "syscall clock_gettime");
	CHECK(syscall(SYS_gettimeofday, &tv, NULL) == 0 && tv.tv_sec == instant.tv_sec,
	      "syscall gettimeofday");
	CHECK(syscall(SYS_time, NULL) == instant.tv_sec, "syscall time");
	int (*ftime_fn)(struct timeb_compat *) = (int (*)(struct timeb_compat *))dlsym(RTLD_DEFAULT, "ftime");
	struct timeb_compat tb;
	CHECK(ftime_fn && ftime_fn(&tb) == 0 && tb.time == instant.tv_sec, "ftime");
	/* Not a clock: the C library's error, unchanged. */
	CHECK(clock_gettime((clockid_t)12345, &ts) == -1 && errno == EINVAL, "bad clock id");
	clock_gettime(CLOCK_MONOTONIC, &m1);
	CHECK(m1.tv_sec > m0.tv_sec || (m1.tv_sec == m0.tv_sec && m1.tv_nsec >= m0.tv_nsec),
	      "MONOTONIC went back");
}

/* ---- deadlines -------------------------------------------------------------- */

static void check_deadlines(void)
{
	/* Extremes and malformed deadlines: converted without overflow, or handed
	 * on unchanged for the C library to reject. */
	const struct timespec odd[] = {
		{INT64_MAX, 999999999}, {INT64_MIN, 0}, {0, 0},      {-1, 999999999},
		{0, -1},                {0, 1000000000}, {INT64_MAX, 0},
	};
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	sem_t s;
	sem_init(&s, 0, 1);
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		int r = pthread_mutex_timedlock(&m, &odd[i]);
		if (r == 0)
			pthread_mutex_unlock(&m);
		if (sem_timedwait(&s, &odd[i]) == 0)
			sem_post(&s);
		/* Only past or malformed ones: a future one would sleep it out. */
		int bad = odd[i].tv_nsec < 0 || odd[i].tv_nsec >= 1000000000L;
		if (odd[i].tv_sec <= instant.tv_sec || bad) {
			r = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &odd[i], NULL);
			CHECK(r == (bad ? EINVAL : 0), "clock_nanosleep to a past or bad deadline: %d", r);
		}
	}

	/* A past deadline returns at once; fake now + 20 ms times out. */
	sem_wait(&s);
	struct timespec past = {instant.tv_sec - 10, 0};
	CHECK(sem_timedwait(&s, &past) == -1 && errno == ETIMEDOUT, "sem past deadline");
	struct timespec soon = plus_ms(instant, 20);
	CHECK(sem_timedwait(&s, &soon) == -1 && errno == ETIMEDOUT, "sem 20 ms");
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	pthread_mutex_lock(&m);
	soon = plus_ms(instant, 20);
	CHECK(pthread_cond_timedwait(&c, &m, &soon) == ETIMEDOUT, "cond 20 ms");
	pthread_mutex_unlock(&m);

	/* futex through syscall(2): a value mismatch, then a timeout. */
	uint32_t word = 1;
	soon = plus_ms(instant, 20);
	long r = syscall(SYS_futex, &word, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME, 0, &soon, NULL,
			 FUTEX_BITSET_MATCH_ANY);
	CHECK(r == -1 && errno == EAGAIN, "futex mismatch: %ld", r);
	r = syscall(SYS_futex, &word, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME, 1, &soon, NULL,
		    FUTEX_BITSET_MATCH_ANY);
	CHECK(r == -1 && errno == ETIMEDOUT, "futex timeout: %ld", r);

	/* More realtime timers than the shim's table holds. */
	enum { N = 300 };
	static timer_t ids[N];
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_NONE;
	int made = 0;
	for (int i = 0; i < N; i++)
		if (timer_create(CLOCK_REALTIME, &sev, &ids[made]) == 0)
			made++;
	CHECK(made == N, "timer_create: %d of %d", made, N);
	struct itimerspec far = {{0, 0}, {instant.tv_sec + 3600, 0}};
	for (int i = 0; i < made; i++)
		CHECK(timer_settime(ids[i], TIMER_ABSTIME, &far, NULL) == 0, "timer_settime %d", i);
	struct itimerspec got;
	CHECK(timer_gettime(ids[0], &got) == 0 && got.it_value.tv_sec > 3000 &&
		      got.it_value.tv_sec <= 3600,
	      "a timer an hour of fake time ahead is due in an hour: %lld", (long long)got.it_value.tv_sec);
	for (int i = 0; i < made; i++)
		timer_delete(ids[i]);

	int fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC);
	CHECK(fd >= 0, "timerfd_create");
	struct itimerspec edge = {{0, 0}, {INT64_MAX / 2, 0}};
	timerfd_settime(fd, TFD_TIMER_ABSTIME, &edge, NULL);
	CHECK(timerfd_settime(fd, TFD_TIMER_ABSTIME, &far, NULL) == 0 &&
		      timerfd_gettime(fd, &got) == 0 && got.it_value.tv_sec > 3000 &&
		      got.it_value.tv_sec <= 3600,
	      "timerfd an hour ahead: %lld", (long long)got.it_value.tv_sec);
	close(fd);
}

/* ---- net trace -------------------------------------------------------------- */

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* Non-blocking connect; returns the socket once it has ended (poll). */
static int start_connect(int port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = loopback(port);
	int r = connect(s, (struct sockaddr *)&a, sizeof a);
	CHECK(r == 0 || errno == EINPROGRESS, "non-blocking connect: %s", strerror(errno));
	struct pollfd p = {s, POLLOUT, 0};
	CHECK(poll(&p, 1, 10000) == 1, "poll");
	return s;
}

static int so_error(int s)
{
	int err = -1;
	socklen_t l = sizeof err;
	CHECK(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &l) == 0, "getsockopt");
	return err;
}

static void check_net(int port, int closed)
{
	/* More connects under way at once than the pending table holds. */
	enum { N = 80 };
	int socks[N];
	for (int i = 0; i < N; i++)
		socks[i] = start_connect(port);
	for (int i = 0; i < N; i++) {
		CHECK(so_error(socks[i]) == 0, "connect %d", i);
		close(socks[i]);
	}
	int s = start_connect(closed);
	CHECK(so_error(s) == ECONNREFUSED, "refused");
	close(s);
	/* A descriptor reused by another socket before anyone asked. */
	s = start_connect(port);
	close(s);
	int u = socket(AF_UNIX, SOCK_STREAM, 0);
	so_error(u);
	close(u);

	/* Unix addresses: a full-length path with no NUL, abstract, unnamed, short. */
	struct sockaddr_un un;
	memset(&un, 'x', sizeof un);
	un.sun_family = AF_UNIX;
	u = socket(AF_UNIX, SOCK_STREAM, 0);
	connect(u, (struct sockaddr *)&un, sizeof un);
	un.sun_path[0] = '\0';
	connect(u, (struct sockaddr *)&un, sizeof un);
	connect(u, (struct sockaddr *)&un, (socklen_t)offsetof(struct sockaddr_un, sun_path));
	connect(u, (struct sockaddr *)&un, 1);
	close(u);
	/* An inet address shorter than its family's, and no address at all. */
	s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = loopback(closed);
	connect(s, (struct sockaddr *)&a, 4);
	connect(s, NULL, 0);
	close(s);
	struct sockaddr_in6 a6;
	memset(&a6, 0, sizeof a6);
	a6.sin6_family = AF_INET6;
	a6.sin6_addr = in6addr_loopback;
	a6.sin6_port = htons((unsigned short)closed);
	s = socket(AF_INET6, SOCK_STREAM, 0);
	if (s >= 0) {
		connect(s, (struct sockaddr *)&a6, sizeof a6);
		close(s);
	}

	struct addrinfo *res = NULL;
	if (getaddrinfo("localhost", "80", NULL, &res) == 0)
		freeaddrinfo(res);
	CHECK(getaddrinfo("no-such-host.invalid", NULL, NULL, &res) != 0, "invalid host resolved");
	gethostbyname("localhost");
	gethostbyname2("localhost", AF_INET);
	struct hostent he, *result = NULL;
	char tiny[8];
	int herr = 0;
	CHECK(gethostbyname_r("localhost", &he, tiny, sizeof tiny, &result, &herr) == ERANGE,
	      "gethostbyname_r with a tiny buffer");
}

/* ---- reach: damaged programs ----------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	CHECK(fd >= 0, "create %s", path);
	if (fd < 0)
		return;
	CHECK(write(fd, data, n) == (ssize_t)n, "write %s", path);
	close(fd);
}

static void exec_in_child(const char *path)
{
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[] = {(char *)path, NULL};
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 1);
		execve(path, argv, environ);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
}

static void check_reach(void)
{
	/* This program's own image, damaged field by field. */
	static unsigned char img[1 << 16];
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	ssize_t n = read(fd, img, sizeof img);
	close(fd);
	CHECK(n > 64, "reading /proc/self/exe");
	if (n <= 64)
		return;
	struct {
		size_t off, len;
		uint64_t value;
	} damage[] = {
		{4, 1, 3},                  /* EI_CLASS: neither 32 nor 64 */
		{32, 8, UINT64_MAX - 8},    /* e_phoff */
		{32, 8, (uint64_t)n - 10},  /* e_phoff near the end */
		{40, 8, UINT64_MAX / 2},    /* e_shoff */
		{54, 2, 0},                 /* e_phentsize */
		{56, 2, 0xffff},            /* e_phnum */
		{60, 2, 0xffff},            /* e_shnum */
		{62, 2, 0xfffe},            /* e_shstrndx */
		{58, 2, 1},                 /* e_shentsize */
	};
	char path[PATH_MAX];
	for (size_t i = 0; i < sizeof damage / sizeof damage[0]; i++) {
		static unsigned char bad[1 << 16];
		memcpy(bad, img, (size_t)n);
		memcpy(bad + damage[i].off, &damage[i].value, damage[i].len);
		snprintf(path, sizeof path, "%s/damaged-%zu", workdir, i);
		write_file(path, bad, (size_t)n);
		exec_in_child(path);
	}
	/* Truncated at every length of the ELF header. */
	for (size_t len = 0; len <= 64; len += 3) {
		snprintf(path, sizeof path, "%s/truncated-%zu", workdir, len);
		write_file(path, img, len);
		exec_in_child(path);
	}
	/* Scripts: no interpreter, an over-long one, one that is missing. */
	static char longline[400];
	memset(longline, 'a', sizeof longline);
	memcpy(longline, "#!/", 3);
	const char *scripts[] = {"#!", "#!\n", "#!   \t\n", "#!/no/such/interpreter\n", longline};
	const size_t lens[] = {2, 3, 7, 23, sizeof longline};
	for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
		snprintf(path, sizeof path, "%s/script-%zu", workdir, i);
		write_file(path, scripts[i], lens[i]);
		exec_in_child(path);
	}
	exec_in_child("/no/such/program");
}

/* ---- entropy (FLAKEBOX_SEED) ---------------------------------------------------- */

static void check_entropy(void)
{
	unsigned char a[64], b[64];
	CHECK(getrandom(a, sizeof a, GRND_NONBLOCK) == (ssize_t)sizeof a, "getrandom");
	CHECK(getrandom(b, sizeof b, 0) == (ssize_t)sizeof b && memcmp(a, b, sizeof a) != 0,
	      "getrandom repeated itself");
	CHECK(getrandom(a, 0, 0) == 0, "getrandom of nothing");
	static unsigned char big[300];
	CHECK(getentropy(big, 257) == -1 && errno == EIO, "getentropy over 256 bytes");
	CHECK(getentropy(a, 3) == 0, "getentropy of 3 bytes");
	CHECK(arc4random_uniform(0) == 0 && arc4random_uniform(1) == 0, "arc4random_uniform(0/1)");
	for (int i = 0; i < 1000; i++)
		CHECK(arc4random_uniform(7) < 7, "arc4random_uniform(7)");
	arc4random_buf(a, 13);
	int fd = open("/dev/urandom", O_RDONLY);
	CHECK(fd >= 0 && read(fd, a, sizeof a) == (ssize_t)sizeof a, "/dev/urandom");
	/* Past the memfd's end: end of file, not an error. */
	CHECK(lseek(fd, 0, SEEK_END) > 0 && read(fd, a, sizeof a) == 0, "/dev/urandom end");
	close(fd);
	fd = openat(AT_FDCWD, "/dev/random", O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0 && read(fd, b, sizeof b) == (ssize_t)sizeof b, "/dev/random");
	close(fd);
	/* Written to, or created: the real device or file. */
	fd = open("/dev/urandom", O_WRONLY);
	CHECK(fd >= 0, "/dev/urandom for writing");
	close(fd);
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/created", workdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0, "open with O_CREAT");
	close(fd);
	FILE *f = fopen("/dev/urandom", "rb");
	CHECK(f && fread(a, 1, sizeof a, f) == sizeof a, "fopen /dev/urandom");
	if (f)
		fclose(f);
	f = fopen(path, "w");
	CHECK(f != NULL, "fopen for writing");
	if (f)
		fclose(f);
}

/* ---- exec: scrubbed environments ----------------------------------------------- */

/* Runs argv[0] through how ("execve", "execle", "execvp", "spawnp") with env,
 * and returns what it printed (env's output). */
static void run_env(const char *how, char *const env[], char *out, size_t cap)
{
	int p[2];
	CHECK(pipe(p) == 0, "pipe");
	char *argv[] = {"env", NULL};
	pid_t pid;
	if (strcmp(how, "spawnp") == 0) {
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, p[1], 1);
		CHECK(posix_spawnp(&pid, "env", &fa, NULL, argv, env) == 0, "posix_spawnp");
		posix_spawn_file_actions_destroy(&fa);
	} else {
		pid = fork();
		if (pid == 0) {
			dup2(p[1], 1);
			if (strcmp(how, "execve") == 0)
				execve("/usr/bin/env", argv, env);
			else if (strcmp(how, "execle") == 0)
				execle("/usr/bin/env", "env", (char *)NULL, env);
			else {
				environ = (char **)env;
				unsetenv("PATH"); /* the shim's own PATH default */
				execvp("env", argv);
			}
			_exit(127);
		}
	}
	close(p[1]);
	size_t got = 0;
	ssize_t r;
	while (got + 1 < cap && (r = read(p[0], out + got, cap - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: env exited %d", how, st);
}

static void check_exec(void)
{
	/* The children get the sanitizer runtime first, as this process did; the
	 * shim must add itself and the FLAKEBOX_* variables. */
	const char *pre = getenv("LD_PRELOAD");
	static char ld[4096], asan_opts[1024], ubsan_opts[1024];
	snprintf(ld, sizeof ld, "LD_PRELOAD=%.*s", (int)strcspn(pre ? pre : "", " :"), pre ? pre : "");
	snprintf(asan_opts, sizeof asan_opts, "ASAN_OPTIONS=%s", getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "");
	snprintf(ubsan_opts, sizeof ubsan_opts, "UBSAN_OPTIONS=%s", getenv("UBSAN_OPTIONS") ? getenv("UBSAN_OPTIONS") : "");
	char *env[] = {ld, asan_opts, ubsan_opts, "FLAKEBOX_TIME_MODE=frozen", "FLAKEBOX_RAND_ID=0:x1", NULL};
	const char *hows[] = {"execve", "execle", "execvp", "spawnp"};
	static char out[65536];
	for (size_t i = 0; i < sizeof hows / sizeof hows[0]; i++) {
		run_env(hows[i], env, out, sizeof out);
		CHECK(strstr(out, "FLAKEBOX_TIME_SEC=") != NULL, "%s: FLAKEBOX_TIME_SEC not restored:\n%s", hows[i], out);
		CHECK(strstr(out, "libflakebox_shim") != NULL, "%s: the shim not in LD_PRELOAD:\n%s", hows[i], out);
		const char *mode = strstr(out, "FLAKEBOX_TIME_MODE=");
		CHECK(mode && !strstr(mode + 1, "FLAKEBOX_TIME_MODE="), "%s: FLAKEBOX_TIME_MODE twice", hows[i]);
		const char *rid = strstr(out, "FLAKEBOX_RAND_ID=");
		CHECK(rid && !strstr(rid + 1, "FLAKEBOX_RAND_ID="), "%s: FLAKEBOX_RAND_ID not once:\n%s", hows[i], out);
	}
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: check WORKDIR LISTEN_PORT CLOSED_PORT\n");
		return 2;
	}
	workdir = argv[1];
	const char *sec = getenv("FLAKEBOX_TIME_SEC"), *nsec = getenv("FLAKEBOX_TIME_NSEC");
	if (!sec) {
		fprintf(stderr, "check: FLAKEBOX_TIME_SEC is not set\n");
		return 2;
	}
	instant.tv_sec = strtoll(sec, NULL, 10);
	instant.tv_nsec = nsec ? strtol(nsec, NULL, 10) : 0;
	check_clock();
	check_deadlines();
	check_net(atoi(argv[2]), atoi(argv[3]));
	check_reach();
	check_entropy();
	check_exec();
	if (failures) {
		fprintf(stderr, "check: %d failed\n", failures);
		return 1;
	}
	printf("check: all passed\n");
	return 0;
}
