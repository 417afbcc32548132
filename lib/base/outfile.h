/* Output that never leaves a half-written file under the target's name.
 *
 * A regular-file target is written to an unnamed O_TMPFILE in the target's
 * directory and linked into place by outfile_commit; where the filesystem
 * has no O_TMPFILE (NFS, CIFS, vfat), a hidden named temporary is used and
 * removed on failure, on exit, and when a signal that ends the process by
 * default (SIGINT, SIGTERM, SIGHUP, SIGQUIT) kills it. A target that exists
 * and is not a regular file (a FIFO, a device such as /dev/full) is written
 * directly, and stdout is used for "-". */
#ifndef BASE_OUTFILE_H
#define BASE_OUTFILE_H

#include <stdio.h>

#include "err.h"

struct outfile {
	FILE *f;
	char *target;   /* NULL for stdout */
	char *tmpname;  /* named temporary, when O_TMPFILE was not available */
	int direct;     /* writing the target itself (non-regular) or stdout */
	int fd;
};

/* path NULL or "-" is stdout. */
int outfile_open(struct outfile *o, const char *path, struct err *e);
/* -1 with a message naming the output when a write so far has failed,
 * after writing out what is buffered when flush is nonzero: a filter
 * flushes when its input would block, so that records flow as they come,
 * and a long run stops at a full disk instead of at its end. The caller
 * then gives up with outfile_abort. */
int outfile_check(struct outfile *o, int flush, struct err *e);
/* Flush, check every write, and put the file in place. On failure nothing
 * is left under the target name and the previous file is untouched. */
int outfile_commit(struct outfile *o, struct err *e);
/* Give up: remove the temporary, close. */
void outfile_abort(struct outfile *o);

#endif
