/* Errors and checked allocation.
 *
 * Library functions never print or exit: they return a status and leave a
 * message in a struct err that the caller owns. Tools decide what to print
 * and with which exit status (tools/cli.h). */
#ifndef BASE_ERR_H
#define BASE_ERR_H

#include <stddef.h>

struct err {
	char msg[1024];
};

/* Set the message; returns -1 so that callers can write
 * `return err_fail(e, ...)`. */
int err_fail(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Put context in front of an existing message ("record 3: " + msg). */
int err_context(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* calloc(n, size) that refuses products that overflow size_t; NULL and a
 * message on failure. */
void *err_calloc(size_t n, size_t size, struct err *e);

#endif
