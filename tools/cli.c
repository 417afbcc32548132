#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "kernels.h"
#include "threads.h"

/* One write per line, so that the lines of threads do not mix. */
static void vwarn(const char *fmt, va_list ap)
{
	char line[8192]; /* a PATH_MAX path and its reason */
	int n = snprintf(line, sizeof line, "%s: ", program_invocation_short_name);

	vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	strcat(line, "\n");
	fputs(line, stderr);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void cli_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(status);
}

void *cli_xcalloc(size_t n, size_t size)
{
	struct err e;
	void *p = err_calloc(n, size, &e);

	if (!p)
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	return p;
}

void *cli_xrealloc(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		cli_die(CLI_EXIT_DATA, "allocation of %zu x %zu bytes overflows", n, size);
	p = realloc(p, n && size ? n * size : 1);
	if (!p)
		cli_die(CLI_EXIT_DATA, "out of memory allocating %zu x %zu bytes", n, size);
	return p;
}

char *cli_xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		cli_die(CLI_EXIT_DATA, "out of memory");
	return d;
}

int cli_getopt(int argc, char **argv, const char *shortopts,
	       const struct option *longopts)
{
	argv[0] = program_invocation_short_name;
	return getopt_long(argc, argv, shortopts, longopts, NULL);
}

void cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n",
		program_invocation_short_name);
	exit(CLI_EXIT_USAGE);
}

void cli_usage_try(void)
{
	fprintf(stderr, "Try '%s --help' for more information.\n",
		program_invocation_short_name);
	exit(CLI_EXIT_USAGE);
}

void cli_print_version(void)
{
	printf("%s (vggpipe) %s\n", program_invocation_short_name, CLI_VERSION);
	/* Which build of the Winograd kernel runs here, so that a figure
	 * measured on one machine says what it measured. */
	printf("Winograd kernels: %s\n", kernels_name());
	cli_close_stdout();
	exit(0);
}

long long cli_opt_int(const char *opt, const char *arg, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno || end == arg || *end)
		cli_usage_error("%s: '%s' is not an integer", opt, arg);
	if (v < min || v > max)
		cli_usage_error("%s: %lld is out of range [%lld, %lld]", opt, v, min, max);
	return v;
}

double cli_opt_double(const char *opt, const char *arg, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !isfinite(v))
		cli_usage_error("%s: '%s' is not a number", opt, arg);
	if (v < min || v > max)
		cli_usage_error("%s: %g is out of range [%g, %g]", opt, v, min, max);
	return v;
}

int cli_opt_choice(const char *opt, const char *arg, const char *const *names)
{
	char list[256] = "";

	for (int i = 0; names[i]; i++) {
		if (!strcmp(arg, names[i]))
			return i;
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
			 i ? ", " : "", names[i]);
	}
	cli_usage_error("%s: '%s' is not one of: %s", opt, arg, list);
}

static int default_threads(void)
{
	int n = threads_available();

	return n > THREADS_MAX ? THREADS_MAX : n;
}

static int opt_threads(const char *arg)
{
	return (int)cli_opt_int("--threads", arg, 1, THREADS_MAX);
}

void cli_common_init(struct cli_common *c)
{
	memset(c, 0, sizeof *c);
	c->threads = default_threads();
	c->algo = NN_AUTO;
	c->progress = CLI_PROGRESS_AUTO;
}

int cli_common_option(int opt, const char *arg, struct cli_common *c, void (*usage)(void))
{
	switch (opt) {
	case 'o': c->output = arg; return 1;
	case 't': c->threads = opt_threads(arg); return 1;
	case 'q': c->progress = CLI_PROGRESS_OFF; return 1;
	case CLI_OPT_PROGRESS: c->progress = CLI_PROGRESS_ON; return 1;
	case CLI_OPT_ALGO:
		c->algo = (enum nn_algo)cli_opt_choice("--algo", arg, nn_algo_names);
		c->algo_set = 1;
		return 1;
	case 'h': usage(); return 1;
	case 'V': cli_print_version();
	default: return 0;
	}
}

int cli_progress_enabled(enum cli_progress_mode mode)
{
	if (mode == CLI_PROGRESS_AUTO)
		return isatty(STDERR_FILENO);
	return mode == CLI_PROGRESS_ON;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_progress(const char *what, uint64_t done, uint64_t total, int final)
{
	/* Progress is a view on the terminal, not program state: a static
	 * clock keeps the call sites to one line. The clock starts at the
	 * first call; a rate needs half a second of it to mean anything. */
	static double start, last;
	double t = now_seconds(), elapsed;
	char rate[48] = "";

	if (!start)
		start = t;
	if (!final && t - last < 0.25)
		return;
	last = t;
	elapsed = t - start;
	if (elapsed >= 0.5)
		snprintf(rate, sizeof rate, ", %.1f/s", (double)done / elapsed);
	if (total)
		fprintf(stderr, "\r%s: %llu/%llu %s%s ", program_invocation_short_name,
			(unsigned long long)done, (unsigned long long)total, what, rate);
	else
		fprintf(stderr, "\r%s: %llu %s%s ", program_invocation_short_name,
			(unsigned long long)done, what, rate);
	if (final)
		fputc('\n', stderr);
}

void cli_close_stdout(void)
{
	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0)
		cli_die(CLI_EXIT_DATA, "standard output: write error: %s",
			errno ? strerror(errno) : "unknown");
}
