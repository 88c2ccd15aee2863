/* trace.c -- the trace file (FLAKEBOX_TRACE): one line per event, built on the
 * stack and written with one write(2) on an O_APPEND descriptor. */
#include "shim.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

char g_trace_path[4096];

void trace_configure(void)
{
	const char *t = getenv("FLAKEBOX_TRACE");
	if (t && *t && strlen(t) < sizeof g_trace_path)
		strcpy(g_trace_path, t);
}

void l_raw(struct line *l, const char *s, size_t n)
{
	if (n > sizeof(l->buf) - 1 - l->len)
		n = sizeof(l->buf) - 1 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

void l_str(struct line *l, const char *s)
{
	l_raw(l, s, strlen(s));
}

void l_esc(struct line *l, const char *s)
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

void l_ulong(struct line *l, unsigned long v)
{
	char d[24];
	int i = sizeof d;
	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	l_raw(l, d + i, sizeof d - (size_t)i);
}

void l_begin(struct line *l, const char *event)
{
	l->len = 0;
	l_ulong(l, (unsigned long)getpid());
	l_str(l, "\t");
	l_str(l, event);
}

/* Opened per event: programs close or dup2 over "their" descriptors, and a cached
 * fd could end up pointing into someone else's file. Events are rare. */
void l_emit(struct line *l)
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

const char *errno_name(int e)
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

