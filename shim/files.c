/* files.c -- the files the command opens, in the trace (FLAKEBOX_TRACE): which
 * ones a failing run read or wrote, for diagnose's evidence of state left on the
 * machine before the diagnosis. An open that found no file is not state and is
 * left out, as are the system's directories and flakebox's own. Opens relative
 * to a directory descriptor other than the working directory are not traced. */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* Not the user's state: the system's files and flakebox's private directory
 * (where the trace itself is written). */
static const char *const SYSTEM_PREFIXES[] = {
	"/proc/", "/sys/", "/dev/", "/usr/", "/lib/", "/lib32/", "/lib64/", "/libx32/", "/bin/",
	"/sbin/", "/etc/", "/run/", "/var/lib/", "/var/cache/", "/snap/", "/.flakebox/",
};

/* Installed code, not state a test keeps (a suite's node_modules alone is
 * thousands of opens); diagnose leaves these out too (stale::DEPENDENCY_DIRS). */
static const char *const DEPENDENCY_DIRS[] = {
	"/node_modules/", "/site-packages/", "/dist-packages/", "/__pycache__/", "/.git/",
};

/* Writing the trace opens a file too. */
static __thread int t_tracing;

static int is_system(const char *p)
{
	for (size_t i = 0; i < sizeof SYSTEM_PREFIXES / sizeof SYSTEM_PREFIXES[0]; i++)
		if (strncmp(p, SYSTEM_PREFIXES[i], strlen(SYSTEM_PREFIXES[i])) == 0)
			return 1;
	for (size_t i = 0; i < sizeof DEPENDENCY_DIRS / sizeof DEPENDENCY_DIRS[0]; i++)
		if (strstr(p, DEPENDENCY_DIRS[i]))
			return 1;
	return 0;
}

void trace_open(int dirfd, const char *path, int flags, int failed)
{
	int saved = errno;
	int err = failed ? saved : 0;
	/* ENOENT and the like: nothing was there. EEXIST (O_EXCL), EACCES and
	 * EISDIR: something was. */
	if (!g_trace_path[0] || !path || !*path || t_tracing || (flags & O_DIRECTORY) ||
	    (failed && err != EEXIST && err != EACCES && err != EISDIR))
		return;
	char full[4096];
	if (path[0] == '/') {
		if (strlen(path) >= sizeof full)
			return;
		strcpy(full, path);
	} else if (dirfd == AT_FDCWD) {
		if (!getcwd(full, sizeof full) || strlen(full) + 1 + strlen(path) >= sizeof full) {
			errno = saved;
			return;
		}
		if (strcmp(full, "/") != 0)
			strcat(full, "/");
		strcat(full, path);
	} else {
		return;
	}
	if (is_system(full)) {
		errno = saved;
		return;
	}
	/* r: read only; t: truncated (what was there is gone); w: any other
	 * write, or a failed one that found the file. */
	const char *how = "w";
	if ((flags & O_ACCMODE) == O_RDONLY && !(flags & O_CREAT))
		how = "r";
	else if ((flags & O_TRUNC) && !failed)
		how = "t";
	t_tracing = 1;
	struct line l;
	l_begin(&l, "open\t");
	l_esc(&l, full);
	l_str(&l, "\t");
	l_str(&l, err ? errno_name(err) : "ok");
	l_str(&l, "\t");
	l_str(&l, how);
	l_emit(&l);
	t_tracing = 0;
	errno = saved;
}
