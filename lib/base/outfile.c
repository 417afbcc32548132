#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A named temporary must go however the tool ends before committing: by
 * exit (cli_die), through an atexit handler, or killed by a signal (Ctrl-C,
 * kill, a hang-up), through a signal handler. Neither takes an argument,
 * so the names live here: the one piece of process-wide state, forced by
 * those interfaces. A slot holds a name from just before its file exists
 * until it is renamed or removed; a handler reads the slots only. */
#define PENDING_MAX 8
static char *volatile pending[PENDING_MAX];

static void remove_pending(void)
{
	for (int i = 0; i < PENDING_MAX; i++)
		if (pending[i])
			unlink(pending[i]);
}

/* unlink and raise are async-signal-safe. The signal is raised again with
 * its default action, so that the exit status still says the tool was
 * killed. */
static void remove_pending_and_die(int sig)
{
	remove_pending();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The signals that end a process by default; one the program handles or
 * ignores itself is left alone. */
static void watch_pending(void)
{
	static const int fatal[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	static int watching;
	struct sigaction old, sa = { .sa_handler = remove_pending_and_die };

	if (watching++)
		return;
	atexit(remove_pending);
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof fatal / sizeof *fatal; i++)
		if (sigaction(fatal[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)
			sigaction(fatal[i], &sa, NULL);
}

static int pending_add(char *name)
{
	for (int i = 0; i < PENDING_MAX; i++)
		if (!pending[i]) {
			pending[i] = name;
			return 0;
		}
	return -1;
}

static void pending_drop(const char *name)
{
	for (int i = 0; i < PENDING_MAX; i++)
		if (pending[i] == name)
			pending[i] = NULL;
}

static char *dir_of(const char *path)
{
	char *copy = strdup(path), *d, *r;

	if (!copy)
		return NULL;
	d = dirname(copy);
	r = strdup(d);
	free(copy);
	return r;
}

/* "dir/.base.tmpXXXXXX" beside the target. */
static char *temp_template(const char *path)
{
	char *copy = strdup(path), *dir = dir_of(path), *t = NULL;

	if (copy && dir) {
		size_t n = strlen(dir) + strlen(path) + 16;

		t = malloc(n);
		if (t)
			snprintf(t, n, "%s/.%s.tmpXXXXXX", dir, basename(copy));
	}
	free(copy);
	free(dir);
	return t;
}

int outfile_open(struct outfile *o, const char *path, struct err *e)
{
	struct stat st;
	char *dir;

	memset(o, 0, sizeof *o);
	o->fd = -1;
	if (!path || !strcmp(path, "-")) {
		o->f = stdout;
		o->direct = 1;
		return 0;
	}
	o->target = strdup(path);
	if (!o->target)
		return err_fail(e, "out of memory");
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		o->direct = 1;
		o->fd = open(path, O_WRONLY | O_CLOEXEC);
	} else {
		dir = dir_of(path);
		if (!dir)
			return err_fail(e, "out of memory");
		o->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
		free(dir);
		if (o->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR ||
				  errno == EINVAL)) {
			o->tmpname = temp_template(path);
			if (!o->tmpname)
				return err_fail(e, "out of memory");
			watch_pending();
			if (pending_add(o->tmpname))
				return err_fail(e, "%s: more than %d outputs at once", path,
						PENDING_MAX);
			o->fd = mkstemp(o->tmpname);
			if (o->fd >= 0) {
				mode_t mask = umask(0);

				umask(mask);
				fchmod(o->fd, 0666 & ~mask);
			}
		}
	}
	if (o->fd < 0) {
		int err = errno;

		outfile_abort(o);
		return err_fail(e, "%s: %s", path, strerror(err));
	}
	o->f = fdopen(o->fd, "w");
	if (!o->f) {
		outfile_abort(o);
		return err_fail(e, "%s: %s", path, strerror(errno));
	}
	o->fd = -1; /* owned by f now */
	return 0;
}

void outfile_abort(struct outfile *o)
{
	if (o->f && o->f != stdout)
		fclose(o->f);
	else if (o->fd >= 0)
		close(o->fd);
	if (o->tmpname) {
		unlink(o->tmpname);
		pending_drop(o->tmpname);
		free(o->tmpname);
	}
	free(o->target);
	memset(o, 0, sizeof *o);
	o->fd = -1;
}

/* Give the unnamed file a temporary name beside the target; rename then
 * replaces the target atomically. */
static int link_tmpfile(int fd, const char *target, char **linked, struct err *e)
{
	char proc[64], *name = temp_template(target);
	size_t n;

	if (!name)
		return err_fail(e, "out of memory");
	n = strlen(name);
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	for (unsigned attempt = 0; attempt < 100; attempt++) {
		snprintf(name + n - 6, 7, "%06u", (unsigned)(getpid() + attempt * 7919u) % 1000000u);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW) == 0 ||
		    linkat(fd, "", AT_FDCWD, name, AT_EMPTY_PATH) == 0) {
			*linked = name;
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	err_fail(e, "%s: cannot link the finished file: %s", target, strerror(errno));
	free(name);
	return -1;
}

int outfile_check(struct outfile *o, int flush, struct err *e)
{
	/* errno of the write that failed, when it is the last call that
	 * touched errno; stdio keeps no record of it. */
	int saved = errno;

	if ((flush && fflush(o->f) != 0) || ferror(o->f)) {
		err_fail(e, "%s: write error: %s", o->target ? o->target : "standard output",
			 errno ? strerror(errno) : saved ? strerror(saved) : "unknown");
		return -1;
	}
	return 0;
}

int outfile_commit(struct outfile *o, struct err *e)
{
	const char *name = o->target ? o->target : "standard output";
	char *linked = NULL;

	errno = 0;
	if (outfile_check(o, 1, e)) {
		outfile_abort(o);
		return -1;
	}
	if (!o->direct && !o->tmpname &&
	    link_tmpfile(fileno(o->f), o->target, &linked, e)) {
		outfile_abort(o);
		return -1;
	}
	if (fclose(o->f) != 0) {
		o->f = NULL;
		err_fail(e, "%s: write error: %s", name, strerror(errno));
		if (linked)
			unlink(linked);
		free(linked);
		outfile_abort(o);
		return -1;
	}
	o->f = NULL;
	if (!o->direct) {
		const char *from = linked ? linked : o->tmpname;

		if (rename(from, o->target) != 0) {
			err_fail(e, "%s: cannot rename into place: %s", o->target, strerror(errno));
			unlink(from);
			free(linked);
			outfile_abort(o);
			return -1;
		}
		pending_drop(o->tmpname);
		free(o->tmpname);
		o->tmpname = NULL;
	}
	free(linked);
	free(o->target);
	o->target = NULL;
	return 0;
}
