/* Inputs that are read more than once: a regular file is read again from
 * where it started; anything else (a pipe, a terminal, a socket) is first
 * copied to an unnamed temporary file, which goes away however the process
 * ends. */
#ifndef BASE_SPOOL_H
#define BASE_SPOOL_H

#include <sys/types.h>

#include "err.h"

/* A descriptor from which path ("-": standard input) reads again and
 * again from *start: the file itself, or its spooled copy in tmpdir (NULL:
 * $TMPDIR, else /tmp). The caller closes it unless it is STDIN_FILENO.
 * Returns the descriptor, or -1 with a message naming the input. */
int spool_open(const char *path, const char *tmpdir, off_t *start, struct err *e);

#endif
