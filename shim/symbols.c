/* symbols.c -- finding the real functions the shim forwards to. */
#include "shim.h"

#define SHIM_DEF_REAL(name, version) __typeof__(name) *real_##name;
SHIM_REAL_SYMBOLS(SHIM_DEF_REAL)
#undef SHIM_DEF_REAL
__typeof__(clock_gettime) *real_clock_gettime;
execveat_fn *real_execveat;
vdso_clock_fn *g_vdso_clock_gettime;

void *next_sym(const char *name, const char *version)
{
	void *p = NULL;
	if (version)
		p = dlvsym(RTLD_NEXT, name, version);
	if (!p)
		p = dlsym(RTLD_NEXT, name);
	return p;
}

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

int raw_clock_gettime(clockid_t clk, struct timespec *ts)
{
	long r = raw_syscall2(SYS_clock_gettime, clk, (long)ts);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return 0;
}

void resolve_all(void)
{
#define SHIM_RESOLVE(name, version) real_##name = (__typeof__(real_##name))next_sym(#name, version);
	SHIM_REAL_SYMBOLS(SHIM_RESOLVE)
#undef SHIM_RESOLVE
	real_execveat = (execveat_fn *)next_sym("execveat", NULL);
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
