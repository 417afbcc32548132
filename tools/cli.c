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
#include "threads.h"

int vp_getopt(int argc, char **argv, const char *shortopts,
	      const struct option *longopts)
{
	argv[0] = program_invocation_short_name;
	return getopt_long(argc, argv, shortopts, longopts, NULL);
}

void vp_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n",
		program_invocation_short_name);
	exit(VP_EXIT_USAGE);
}

void vp_usage_try(void)
{
	fprintf(stderr, "Try '%s --help' for more information.\n",
		program_invocation_short_name);
	exit(VP_EXIT_USAGE);
}

void vp_print_version(void)
{
	printf("%s (vggpipe) %s\n", program_invocation_short_name, VP_VERSION);
	vp_close_stdout();
	exit(0);
}

long long vp_opt_int(const char *opt, const char *arg, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno || end == arg || *end)
		vp_usage_error("%s: '%s' is not an integer", opt, arg);
	if (v < min || v > max)
		vp_usage_error("%s: %lld is out of range [%lld, %lld]", opt, v, min, max);
	return v;
}

double vp_opt_double(const char *opt, const char *arg, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !isfinite(v))
		vp_usage_error("%s: '%s' is not a number", opt, arg);
	if (v < min || v > max)
		vp_usage_error("%s: %g is out of range [%g, %g]", opt, v, min, max);
	return v;
}

int vp_opt_choice(const char *opt, const char *arg, const char *const *names)
{
	char list[256] = "";

	for (int i = 0; names[i]; i++) {
		if (!strcmp(arg, names[i]))
			return i;
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
			 i ? ", " : "", names[i]);
	}
	vp_usage_error("%s: '%s' is not one of: %s", opt, arg, list);
}

static int default_threads(void)
{
	int n = vp_available_cores();

	return n > VP_MAX_THREADS ? VP_MAX_THREADS : n;
}

static int opt_threads(const char *arg)
{
	return (int)vp_opt_int("--threads", arg, 1, VP_MAX_THREADS);
}

void vp_common_init(struct vp_common *c)
{
	memset(c, 0, sizeof *c);
	c->threads = default_threads();
	c->algo = VGG16_AUTO;
	c->progress = VP_PROGRESS_AUTO;
}

int vp_common_option(int opt, const char *arg, struct vp_common *c, void (*usage)(void))
{
	/* In the order of enum vgg16_algo. */
	static const char *const algos[] = { "im2col", "winograd", "auto", NULL };

	switch (opt) {
	case 'o': c->output = arg; return 1;
	case 't': c->threads = opt_threads(arg); return 1;
	case 'q': c->progress = VP_PROGRESS_OFF; return 1;
	case VP_OPT_PROGRESS: c->progress = VP_PROGRESS_ON; return 1;
	case VP_OPT_ALGO:
		c->algo = (enum vgg16_algo)vp_opt_choice("--algo", arg, algos);
		c->algo_set = 1;
		return 1;
	case 'h': usage(); return 1;
	case 'V': vp_print_version();
	default: return 0;
	}
}

enum nn_algo vp_top_algo(const struct vp_common *c)
{
	return c->algo == VGG16_IM2COL ? NN_IM2COL : NN_WINOGRAD;
}

int vp_progress_enabled(enum vp_progress_mode mode)
{
	if (mode == VP_PROGRESS_AUTO)
		return isatty(STDERR_FILENO);
	return mode == VP_PROGRESS_ON;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void vp_progress(const char *what, uint64_t done, uint64_t total, int final)
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

void vp_close_stdout(void)
{
	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0)
		vp_die(VP_EXIT_DATA, "standard output: write error: %s",
		       errno ? strerror(errno) : "unknown");
}
