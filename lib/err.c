#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vp_fail(struct vp_err *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int vp_context(struct vp_err *e, const char *fmt, ...)
{
	char old[sizeof e->msg];
	size_t n;
	va_list ap;

	memcpy(old, e->msg, sizeof old);
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	if (n < sizeof e->msg - 1)
		memcpy(e->msg + n, old, strnlen(old, sizeof e->msg - 1 - n)),
		e->msg[n + strnlen(old, sizeof e->msg - 1 - n)] = 0;
	return -1;
}

void *vp_calloc(size_t n, size_t size, struct vp_err *e)
{
	void *p;

	if (size && n > SIZE_MAX / size) {
		vp_fail(e, "allocation of %zu x %zu bytes overflows", n, size);
		return NULL;
	}
	p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		vp_fail(e, "out of memory allocating %zu x %zu bytes", n, size);
	return p;
}

static void vwarn(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", program_invocation_short_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void vp_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void vp_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(status);
}

void *vp_xcalloc(size_t n, size_t size)
{
	struct vp_err e;
	void *p = vp_calloc(n, size, &e);

	if (!p)
		vp_die(VP_EXIT_DATA, "%s", e.msg);
	return p;
}

void *vp_xrealloc(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		vp_die(VP_EXIT_DATA, "allocation of %zu x %zu bytes overflows", n, size);
	p = realloc(p, n && size ? n * size : 1);
	if (!p)
		vp_die(VP_EXIT_DATA, "out of memory allocating %zu x %zu bytes", n, size);
	return p;
}

char *vp_xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		vp_die(VP_EXIT_DATA, "out of memory");
	return d;
}
