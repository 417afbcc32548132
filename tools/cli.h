/* What every tool's main needs: option values checked with messages that
 * name the option, usage errors with status 2, progress on a terminal. */
#ifndef TOOLS_CLI_H
#define TOOLS_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "nn.h"
#include "vgg16.h"

#define CLI_VERSION "0.1.0"

/* Exit statuses shared by every tool. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_DATA = 1, CLI_EXIT_USAGE = 2 };

/* Print "prog: message" on stderr; cli_die then exits with status. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void cli_die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Allocation that cannot fail: it dies with status 1. */
void *cli_xcalloc(size_t n, size_t size);
void *cli_xrealloc(void *p, size_t n, size_t size);
char *cli_xstrdup(const char *s);

/* getopt_long, with getopt's own messages naming the program as ours do
 * (by its short name, not the path it was run by). */
int cli_getopt(int argc, char **argv, const char *shortopts,
	       const struct option *longopts);

_Noreturn void cli_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
_Noreturn void cli_print_version(void);
/* After getopt has printed its own complaint. */
_Noreturn void cli_usage_try(void);

/* Integers and reals in [min, max]; anything else is a usage error that
 * names the option. */
long long cli_opt_int(const char *opt, const char *arg, long long min, long long max);
double cli_opt_double(const char *opt, const char *arg, double min, double max);
/* One of a NULL-terminated list of names; returns its index. */
int cli_opt_choice(const char *opt, const char *arg, const char *const *names);

/* --progress / --quiet / default: whether stderr is a terminal. */
enum cli_progress_mode { CLI_PROGRESS_AUTO, CLI_PROGRESS_ON, CLI_PROGRESS_OFF };
int cli_progress_enabled(enum cli_progress_mode mode);
/* "\rprog: 120 images, 85.3/s" on stderr, at most a few times a second;
 * final != 0 ends the line. */
void cli_progress(const char *what, uint64_t done, uint64_t total, int final);

/* The options every tool spells alike (HACKING.md, "Options"). A tool's
 * longopts start with the groups it takes; its loop hands each option to
 * cli_common_option first. Its own long-only options are numbered from
 * CLI_OPT_TOOL. */
enum { CLI_OPT_PROGRESS = 0x100, CLI_OPT_ALGO, CLI_OPT_TOOL };
#define CLI_LONGOPTS_BASIC                                       \
	{ "output", required_argument, NULL, 'o' },             \
	{ "help", no_argument, NULL, 'h' },                     \
	{ "version", no_argument, NULL, 'V' }
#define CLI_LONGOPTS_RUN                                         \
	{ "threads", required_argument, NULL, 't' },            \
	{ "progress", no_argument, NULL, CLI_OPT_PROGRESS },     \
	{ "quiet", no_argument, NULL, 'q' }
#define CLI_LONGOPTS_ALGO { "algo", required_argument, NULL, CLI_OPT_ALGO }
/* --help's lines for those groups, in the tools whose options' text
 * starts at column 23. */
#define CLI_HELP_OUTPUT \
	"  -o, --output FILE    write to FILE (atomically) instead of stdout\n"
#define CLI_HELP_THREADS \
	"  -t, --threads N      threads (default: every available core)\n"
#define CLI_HELP_ALGO \
	"      --algo ALGO      convolutions of a fine-tuned model: im2col, winograd\n" \
	"                       or auto (default: winograd on maps of 3x3 and more)\n"
#define CLI_HELP_BASIC \
	"      --progress       show progress on stderr even when not a terminal\n" \
	"  -q, --quiet          no progress, even on a terminal\n"                 \
	"  -h, --help           show this help and exit\n"                         \
	"  -V, --version        show the version and exit\n"

struct cli_common {
	const char *output;          /* -o; NULL: standard output */
	int threads;                 /* -t, 1 to THREADS_MAX; by default the
				      * cores the process may run on (its CPU
				      * affinity) */
	enum nn_algo algo;        /* --algo; auto: each tool's measured choice */
	int algo_set;
	enum cli_progress_mode progress;
};

void cli_common_init(struct cli_common *c);
/* 1 when opt is one of the shared options, stored in c (--help runs
 * usage, --version prints and exits), else 0. */
int cli_common_option(int opt, const char *arg, struct cli_common *c, void (*usage)(void));
/* Close stdout and check that everything written reached it. */
void cli_close_stdout(void);

#endif
