/* What every tool's main needs: option values checked with messages that
 * name the option, usage errors with status 2, progress on a terminal. */
#ifndef VP_CLI_H
#define VP_CLI_H

#include <getopt.h>
#include <stdint.h>

#include "nn.h"

#define VP_VERSION "0.1.0"

/* getopt_long, with getopt's own messages naming the program as ours do
 * (by its short name, not the path it was run by). */
int vp_getopt(int argc, char **argv, const char *shortopts,
	      const struct option *longopts);

_Noreturn void vp_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
_Noreturn void vp_print_version(void);
/* After getopt has printed its own complaint. */
_Noreturn void vp_usage_try(void);

/* Integers and reals in [min, max]; anything else is a usage error that
 * names the option. */
long long vp_opt_int(const char *opt, const char *arg, long long min, long long max);
double vp_opt_double(const char *opt, const char *arg, double min, double max);
/* One of a NULL-terminated list of names; returns its index. */
int vp_opt_choice(const char *opt, const char *arg, const char *const *names);

/* -t/--threads: every tool's default is the cores it may run on (its CPU
 * affinity), at most VP_MAX_THREADS; the option takes 1 to that. */
int vp_default_threads(void);
int vp_opt_threads(const char *arg);
/* --algo, for the tools that run convolutions: im2col, winograd or auto
 * (in this order, vgg16.h's enum vgg16_algo's), where auto is each tool's
 * measured choice. vp_opt_top_algo is the choice for a top model's: auto
 * is Winograd. */
int vp_opt_algo(const char *arg);
enum nn_algo vp_opt_top_algo(const char *arg);

/* --progress / --quiet / default: whether stderr is a terminal. */
enum vp_progress_mode { VP_PROGRESS_AUTO, VP_PROGRESS_ON, VP_PROGRESS_OFF };
int vp_progress_enabled(enum vp_progress_mode mode);
/* "\rprog: 120 images, 85.3/s" on stderr, at most a few times a second;
 * final != 0 ends the line. */
void vp_progress(const char *what, uint64_t done, uint64_t total, int final);

/* Close stdout and check that everything written reached it. */
void vp_close_stdout(void);

#endif
