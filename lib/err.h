/* Errors and checked allocation.
 *
 * Library functions never print or exit: they return a status and leave a
 * message in a struct vp_err that the caller owns. Tools decide what to print
 * (vp_die, vp_warn) and with which exit status. */
#ifndef VP_ERR_H
#define VP_ERR_H

#include <stddef.h>

/* Exit statuses shared by every tool. */
enum { VP_EXIT_OK = 0, VP_EXIT_DATA = 1, VP_EXIT_USAGE = 2 };

struct vp_err {
	char msg[1024];
};

/* Set the message; returns -1 so that callers can write
 * `return vp_fail(e, ...)`. */
int vp_fail(struct vp_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Put context in front of an existing message ("record 3: " + msg). */
int vp_context(struct vp_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* calloc(n, size) that refuses products that overflow size_t; NULL and a
 * message on failure. */
void *vp_calloc(size_t n, size_t size, struct vp_err *e);

/* For tools: print "prog: message" on stderr. vp_die exits with status. */
void vp_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void vp_die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* For tools: allocation that cannot fail (dies with status 1). */
void *vp_xcalloc(size_t n, size_t size);
void *vp_xrealloc(void *p, size_t n, size_t size);
char *vp_xstrdup(const char *s);

#endif
