/* exec.c -- the exec family and posix_spawn(p): LD_PRELOAD and the FLAKEBOX_*
 * variables saved at start put back into environments that lost them. */
#include "shim.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static char g_shim_path[4096];
static char g_ld_entry[4096 + 16]; /* "LD_PRELOAD=<shim path>" */
#define MAX_SAVED 32
static char g_saved_buf[16384]; /* "FLAKEBOX_X=value" strings, NUL separated */
static char *g_saved[MAX_SAVED];
static size_t g_saved_namelen[MAX_SAVED];
static int g_nsaved;

void save_env(void)
{
	size_t used = 0;
	for (char **e = environ; e && *e && g_nsaved < MAX_SAVED; e++) {
		/* FLAKEBOX_RAND_ID names one image: each exec gets its own. */
		if (strncmp(*e, "FLAKEBOX_", 9) != 0 || strncmp(*e, "FLAKEBOX_RAND_ID=", 17) == 0)
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
	/* The address of a hidden function: an exported one such as clock_gettime
	 * may resolve to an earlier preloaded library's (the sanitizer runtime's). */
	Dl_info info;
	if (dladdr((void *)&save_env, &info) && info.dli_fname &&
	    strlen(info.dli_fname) < sizeof g_shim_path && info.dli_fname[0] == '/') {
		strcpy(g_shim_path, info.dli_fname);
		strcpy(g_ld_entry, "LD_PRELOAD=");
		strcat(g_ld_entry, g_shim_path);
	}
}

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

/* Fills out (room for env_count + MAX_SAVED + 3 pointers) with envp plus whatever
 * of LD_PRELOAD and the saved FLAKEBOX_* variables it lacks, and rid (when not
 * NULL) in place of any FLAKEBOX_RAND_ID.  ld has ld_need bytes.
 * No allocation: this runs in children of threaded parents and vfork children. */
static char *const *fix_env(char *const *envp, char **out, char *ld, char *rid)
{
	size_t k = 0;
	int have_ld = 0;
	for (size_t i = 0; envp && envp[i]; i++) {
		char *e = envp[i];
		if (rid && strncmp(e, "FLAKEBOX_RAND_ID=", 17) == 0)
			continue;
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
	if (rid)
		out[k++] = rid;
	out[k] = NULL;
	return out;
}

/* Stack storage for fix_env in the caller's frame; a monstrous environment
 * (over 64k entries) is passed through unchanged rather than risk the stack. */
#define FIXED_ENV(envp_in, result, kind)                                             \
	do {                                                                         \
		size_t n_ = env_count(envp_in);                                      \
		if (n_ > 65536) {                                                    \
			result = (envp_in);                                          \
			break;                                                       \
		}                                                                    \
		char **arr_ = __builtin_alloca((n_ + MAX_SAVED + 3) * sizeof(char *)); \
		char rid_[64];                                                       \
		int has_rid_ = entropy_child_env(rid_, sizeof rid_, kind);           \
		size_t ln_ = ld_need(envp_in);                                       \
		char *ld_ = ln_ ? __builtin_alloca(ln_) : NULL;                      \
		result = fix_env(envp_in, arr_, ld_, has_rid_ ? rid_ : NULL);        \
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
	FIXED_ENV(envp, env, 'x');
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
	FIXED_ENV(envp, env, 'x');
	return real_execveat(dirfd, path, argv, env, flags);
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	char *const *env;
	if (!REAL(fexecve)) {
		errno = ENOSYS;
		return -1;
	}
	FIXED_ENV(envp, env, 'x');
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
	FIXED_ENV(envp, env, 'x');
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
	FIXED_ENV(envp, env, 's');
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
	FIXED_ENV(envp, env, 's');
	return real_posix_spawnp(pid, file, fa, attr, argv, env);
}

