/* What every tool's main needs: option values checked with messages that
 * name the option, usage errors with status 2, progress on a terminal. */
#ifndef VP_CLI_H
#define VP_CLI_H

#include <getopt.h>
#include <stdint.h>

#include "nn.h"
#include "vgg16.h"

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

/* --progress / --quiet / default: whether stderr is a terminal. */
enum vp_progress_mode { VP_PROGRESS_AUTO, VP_PROGRESS_ON, VP_PROGRESS_OFF };
int vp_progress_enabled(enum vp_progress_mode mode);
/* "\rprog: 120 images, 85.3/s" on stderr, at most a few times a second;
 * final != 0 ends the line. */
void vp_progress(const char *what, uint64_t done, uint64_t total, int final);

/* The options every tool spells alike (HACKING.md, "Options"). A tool's
 * longopts start with the groups it takes; its loop hands each option to
 * vp_common_option first. Its own long-only options are numbered from
 * VP_OPT_TOOL. */
enum { VP_OPT_PROGRESS = 0x100, VP_OPT_ALGO, VP_OPT_TOOL };
#define VP_LONGOPTS_BASIC                                       \
	{ "output", required_argument, NULL, 'o' },             \
	{ "help", no_argument, NULL, 'h' },                     \
	{ "version", no_argument, NULL, 'V' }
#define VP_LONGOPTS_RUN                                         \
	{ "threads", required_argument, NULL, 't' },            \
	{ "progress", no_argument, NULL, VP_OPT_PROGRESS },     \
	{ "quiet", no_argument, NULL, 'q' }
#define VP_LONGOPTS_ALGO { "algo", required_argument, NULL, VP_OPT_ALGO }

struct vp_common {
	const char *output;          /* -o; NULL: standard output */
	int threads;                 /* -t, 1 to VP_MAX_THREADS; by default the
				      * cores the process may run on (its CPU
				      * affinity) */
	enum vgg16_algo algo;        /* --algo; auto: each tool's measured choice */
	int algo_set;
	enum vp_progress_mode progress;
};

void vp_common_init(struct vp_common *c);
/* 1 when opt is one of the shared options, stored in c (--help runs
 * usage, --version prints and exits), else 0. */
int vp_common_option(int opt, const char *arg, struct vp_common *c, void (*usage)(void));
/* A top model's convolutions for the --algo given: auto is Winograd. */
enum nn_algo vp_top_algo(const struct vp_common *c);

/* Close stdout and check that everything written reached it. */
void vp_close_stdout(void);

#endif
