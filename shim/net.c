/* net.c -- connect and name-lookup events for the trace. */
#include "shim.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

/* Appends the trace's name for the address; 0 when it has none worth tracing. */
static int put_target(struct line *l, const struct sockaddr *addr, socklen_t len)
{
	char ip[INET6_ADDRSTRLEN];
	if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
		if (!inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip))
			return 0;
		l_str(l, "inet:");
		l_str(l, ip);
		l_str(l, ":");
		l_ulong(l, ntohs(a->sin_port));
	} else if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
		if (!inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip))
			return 0;
		l_str(l, "inet6:[");
		l_str(l, ip);
		l_str(l, "]:");
		l_ulong(l, ntohs(a->sin6_port));
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
			return 0;
		l_str(l, "unix:");
		l_esc(l, p);
	} else {
		return 0;
	}
	return 1;
}

/* event: "connect\t" or "connect-result\t"; result: "ok", "pending" or an errno name. */
static void trace_connect(const char *event, const struct sockaddr *addr, socklen_t len,
			  const char *result)
{
	struct line l;
	l_begin(&l, event);
	if (!put_target(&l, addr, len))
		return;
	l_str(&l, "\t");
	l_str(&l, result);
	l_emit(&l);
}

/* Connects started without waiting (EINPROGRESS) whose end the program has not
 * asked about yet: a small lock-free table, so that the end can be traced as
 * connect-result when the program learns it.  Keyed by descriptor and socket
 * inode, since a descriptor closed without asking may be reused.  Full: the
 * start line stays unresolved ("pending"). */
#ifndef SHIM_MAX_PENDING /* the sanitizer build makes it small, to fill it */
#define SHIM_MAX_PENDING 256
#endif
#define MAX_PENDING SHIM_MAX_PENDING
struct pending {
	_Atomic int state; /* 0 free, 1 busy, 2 pending */
	int fd;
	ino_t ino;
	socklen_t len;
	struct sockaddr_storage addr;
};
static struct pending g_pending[MAX_PENDING];
static _Atomic int g_npending;

static int socket_ino(int fd, ino_t *ino)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return 0;
	*ino = st.st_ino;
	return 1;
}

static void pending_add(int fd, ino_t ino, const struct sockaddr *addr, socklen_t len)
{
	if (len > sizeof(struct sockaddr_storage))
		return;
	for (int i = 0; i < MAX_PENDING; i++) {
		int expect = 0;
		if (atomic_compare_exchange_strong(&g_pending[i].state, &expect, 1)) {
			g_pending[i].fd = fd;
			g_pending[i].ino = ino;
			g_pending[i].len = len;
			memcpy(&g_pending[i].addr, addr, len);
			atomic_fetch_add(&g_npending, 1);
			atomic_store_explicit(&g_pending[i].state, 2, memory_order_release);
			return;
		}
	}
}

/* Removes fd's pending connect into out; 1 if there was one.  Entries of a
 * socket that is gone (the descriptor now names another) are dropped. */
static int pending_take(int fd, ino_t ino, struct pending *out)
{
	int found = 0;
	for (int i = 0; i < MAX_PENDING && atomic_load(&g_npending) > 0; i++) {
		struct pending *p = &g_pending[i];
		if (atomic_load_explicit(&p->state, memory_order_acquire) != 2 || p->fd != fd)
			continue;
		int expect = 2;
		if (!atomic_compare_exchange_strong(&p->state, &expect, 1))
			continue;
		if (!found && p->ino == ino) {
			out->fd = p->fd;
			out->ino = p->ino;
			out->len = p->len;
			memcpy(&out->addr, &p->addr, p->len);
			found = 1;
		}
		atomic_fetch_sub(&g_npending, 1);
		atomic_store_explicit(&p->state, 0, memory_order_release);
	}
	return found;
}

/* Still connecting: a started connect does not fail with these, the kernel
 * carries on (EINTR: interrupted by a signal, the handshake continues). */
static int under_way(int e)
{
	return e == EINPROGRESS || e == EALREADY || e == EINTR;
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
	int err = r == 0 ? 0 : saved;
	ino_t ino = 0;
	struct pending p;
	int had = atomic_load(&g_npending) > 0 && socket_ino(fd, &ino) && pending_take(fd, ino, &p);
	if (err != 0 && under_way(err)) {
		if (had) { /* asked again while still connecting: nothing new */
			pending_add(fd, ino, (const struct sockaddr *)&p.addr, p.len);
		} else {
			if (ino == 0 && !socket_ino(fd, &ino))
				ino = 0;
			pending_add(fd, ino, addr, len);
			trace_connect("connect\t", addr, len, "pending");
		}
	} else {
		/* EISCONN: connected already (a program asking again after a
		 * non-blocking start). */
		const char *result = err == 0 || err == EISCONN ? "ok" : errno_name(err);
		if (had)
			trace_connect("connect-result\t", (const struct sockaddr *)&p.addr, p.len, result);
		else
			trace_connect("connect\t", addr, len, result);
	}
	errno = saved;
	return r;
}

/* SO_ERROR is how most programs learn how a non-blocking connect ended (libpq,
 * CPython, libuv, the JVM, Rust's std): trace the end of a pending one. */
EXPORT int getsockopt(int fd, int level, int name, void *restrict val, socklen_t *restrict len)
{
	if (!REAL(getsockopt)) {
		errno = ENOSYS;
		return -1;
	}
	int r = real_getsockopt(fd, level, name, val, len);
	if (LIKELY(atomic_load_explicit(&g_npending, memory_order_relaxed) == 0) || r != 0 ||
	    level != SOL_SOCKET || name != SO_ERROR || val == NULL || len == NULL || *len < sizeof(int))
		return r;
	int saved = errno;
	ino_t ino;
	struct pending p;
	if (socket_ino(fd, &ino) && pending_take(fd, ino, &p)) {
		int err;
		memcpy(&err, val, sizeof err);
		struct sockaddr_storage peer;
		socklen_t pl = sizeof peer;
		if (err == 0 && getpeername(fd, (struct sockaddr *)&peer, &pl) != 0 && errno == ENOTCONN)
			pending_add(fd, ino, (const struct sockaddr *)&p.addr, p.len); /* asked too early */
		else
			trace_connect("connect-result\t", (const struct sockaddr *)&p.addr, p.len,
				      err == 0 ? "ok" : errno_name(err));
	}
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

