#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int err_fail(struct err *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int err_context(struct err *e, const char *fmt, ...)
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

void *err_calloc(size_t n, size_t size, struct err *e)
{
	void *p;

	if (size && n > SIZE_MAX / size) {
		err_fail(e, "allocation of %zu x %zu bytes overflows", n, size);
		return NULL;
	}
	p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		err_fail(e, "out of memory allocating %zu x %zu bytes", n, size);
	return p;
}
