#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copy in to an unnamed file in dir, ready to be read from its start. */
static int spool_copy(int in, const char *name, const char *dir, struct err *e)
{
	enum { CHUNK = 1 << 20 };
	char path[4096], *buf;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	ssize_t got;

	if (fd < 0) {
		/* A file system without O_TMPFILE: a name, removed at once. */
		snprintf(path, sizeof path, "%s/.vggpipe-spool.XXXXXX", dir);
		fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0)
			return err_fail(e, "%s: cannot make a temporary file in %s: %s", name, dir,
					strerror(errno));
		unlink(path);
	}
	if (!(buf = err_calloc(CHUNK, 1, e)))
		goto fail;
	while ((got = read(in, buf, CHUNK)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			err_fail(e, "%s: %s", name, strerror(errno));
			goto fail;
		}
		for (ssize_t done = 0; done < got;) {
			ssize_t put = write(fd, buf + done, (size_t)(got - done));

			if (put < 0 && errno == EINTR)
				continue;
			if (put < 0) {
				err_fail(e, "%s: copying to a temporary file in %s: %s", name, dir,
					 strerror(errno));
				goto fail;
			}
			done += put;
		}
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		err_fail(e, "%s: %s", name, strerror(errno));
		goto fail;
	}
	free(buf);
	return fd;
fail:
	free(buf);
	close(fd);
	return -1;
}

int spool_open(const char *path, const char *tmpdir, off_t *start, struct err *e)
{
	const char *name = strcmp(path, "-") ? path : "stdin";
	const char *env = getenv("TMPDIR");
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	struct stat st;
	int copy;

	if (fd < 0)
		return err_fail(e, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (*start = lseek(fd, 0, SEEK_CUR)) >= 0)
		return fd;
	*start = 0;
	copy = spool_copy(fd, name, tmpdir ? tmpdir : env && *env ? env : "/tmp", e);
	if (fd > STDIN_FILENO)
		close(fd);
	return copy;
}
