/* featnear: for each feature record of the queries, its nearest
 * neighbours among the records of an index by cosine similarity; with a
 * threshold, every pair alike enough, such as the near copies of test
 * images in a training set. Queries are read a block at a time, and for
 * each block the index is read again a block at a time, so that memory
 * is set by the two block sizes, not by the index. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "emit.h"
#include "err.h"
#include "featread.h"
#include "near.h"
#include "nn.h"
#include "outfile.h"
#include "spool.h"
#include "table.h"

enum { FMT_CSV, FMT_TSV, FMT_JSONL, FMT_MSGPACK };

/* The threshold of --leaks, measured (featnear(1)): resaved and cropped
 * copies scored 0.990 and more on random weights at block5_pool, distinct
 * images at most 0.987 at 64x64 and 0.984 at 96x96 and above. */
#define LEAK_THRESHOLD 0.985
#define DEFAULT_TOP 5
#define MAX_TOP 1000000
#define DEFAULT_BATCH 512
#define DEFAULT_BLOCK 1024
#define MAX_BLOCK 1000000

struct options {
	char **index;
	int nindex;
	uint32_t top;           /* 0: every pair above the threshold */
	int top_set, leaks, all_copies, format;
	double threshold;       /* -INFINITY: none */
	size_t batch, block;
	struct cli_common com;
	char **inputs;
	int ninputs;
};

_Noreturn static void usage(void)
{
	printf("Usage: %s --index FILE [OPTION]... [QUERY]...\n"
	       "For each feature record of the QUERY streams, its nearest neighbours among the\n"
	       "records of the --index streams by cosine similarity, one line per pair.\n"
	       "With no QUERY, or when QUERY is -, read standard input.\n"
	       "\n"
	       "  -i, --index FILE     features to search (required; repeat for more)\n"
	       "  -k, --top K          neighbours per query, best first (default %d; with\n"
	       "                       --threshold or --leaks, no limit unless given)\n"
	       "      --threshold T    only pairs of similarity T or more\n"
	       "      --leaks          near copies: --threshold %.3f, and how many queries\n"
	       "                       have one, on stderr\n"
	       "      --all-copies     every augmentation copy, not only each plain image\n"
	       "  -f, --format FORMAT  csv (default), tsv, jsonl or msgpack\n"
	       "  -b, --batch N        queries per block (default %d)\n"
	       "      --block N        index records per block (default %d)\n"
	       CLI_HELP_OUTPUT
	       CLI_HELP_THREADS
	       CLI_HELP_BASIC
	       "\n"
	       "Records of the same id on both sides (the same image) are never paired.\n"
	       "Exit status: 0 success (near copies found or not), 1 a data error,\n"
	       "2 a usage error.\n",
	       program_invocation_short_name, DEFAULT_TOP, LEAK_THRESHOLD, DEFAULT_BATCH,
	       DEFAULT_BLOCK);
	cli_close_stdout();
	exit(0);
}

/* How many of the paths are standard input. */
static int stdin_readers(char *const *paths, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		k += !strcmp(paths[i], "-");
	return k;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_THRESHOLD = CLI_OPT_TOOL, OPT_LEAKS, OPT_ALL_COPIES, OPT_BLOCK };
	static const char *const formats[] = { "csv", "tsv", "jsonl", "msgpack", NULL };
	static const struct option longopts[] = {
		CLI_LONGOPTS_BASIC, CLI_LONGOPTS_RUN,
		{ "index", required_argument, NULL, 'i' },
		{ "top", required_argument, NULL, 'k' },
		{ "threshold", required_argument, NULL, OPT_THRESHOLD },
		{ "leaks", no_argument, NULL, OPT_LEAKS },
		{ "all-copies", no_argument, NULL, OPT_ALL_COPIES },
		{ "format", required_argument, NULL, 'f' },
		{ "batch", required_argument, NULL, 'b' },
		{ "block", required_argument, NULL, OPT_BLOCK },
		{ NULL, 0, NULL, 0 },
	};
	int c, threshold_set = 0, queries_stdin, index_stdin;

	memset(o, 0, sizeof *o);
	cli_common_init(&o->com);
	o->threshold = -INFINITY;
	o->batch = DEFAULT_BATCH;
	o->block = DEFAULT_BLOCK;
	o->index = cli_xcalloc((size_t)argc, sizeof *o->index);
	while ((c = cli_getopt(argc, argv, "i:k:f:b:o:t:qhV", longopts)) != -1) {
		if (cli_common_option(c, optarg, &o->com, usage))
			continue;
		switch (c) {
		case 'i': o->index[o->nindex++] = optarg; break;
		case 'k':
			o->top = (uint32_t)cli_opt_int("--top", optarg, 1, MAX_TOP);
			o->top_set = 1;
			break;
		case OPT_THRESHOLD:
			o->threshold = cli_opt_double("--threshold", optarg, -1, 1);
			threshold_set = 1;
			break;
		case OPT_LEAKS: o->leaks = 1; break;
		case OPT_ALL_COPIES: o->all_copies = 1; break;
		case 'f': o->format = cli_opt_choice("--format", optarg, formats); break;
		case 'b': o->batch = (size_t)cli_opt_int("--batch", optarg, 1, MAX_BLOCK); break;
		case OPT_BLOCK: o->block = (size_t)cli_opt_int("--block", optarg, 1, MAX_BLOCK); break;
		default: cli_usage_try();
		}
	}
	if (!o->nindex)
		cli_usage_error("--index FILE is required");
	if (o->leaks && threshold_set)
		cli_usage_error("--leaks and --threshold exclude each other");
	if (o->leaks)
		o->threshold = LEAK_THRESHOLD;
	/* A threshold alone keeps every pair above it. */
	if (!o->top_set && !o->leaks && !threshold_set)
		o->top = DEFAULT_TOP;
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
	queries_stdin = o->ninputs ? stdin_readers(o->inputs, o->ninputs) : 1;
	index_stdin = stdin_readers(o->index, o->nindex);
	if (index_stdin && index_stdin + queries_stdin > 1)
		cli_usage_error("standard input can be read once: give the queries as files "
				"when an --index is -");
}

/* The text columns: the pair, then what is known of each side. */
static void text_header(FILE *f, char sep, int copies)
{
	fprintf(f, "query%cneighbour%crank%csimilarity%cquery_label%cneighbour_label", sep, sep,
		sep, sep, sep);
	if (copies)
		fprintf(f, "%cquery_copy%cneighbour_copy", sep, sep);
	fputc('\n', f);
}

/* An absent copy number is an empty field. */
static void text_copy(FILE *f, char sep, int64_t copy)
{
	fputc(sep, f);
	if (copy >= 0)
		fprintf(f, "%" PRId64, copy);
}

static void text_row(FILE *f, int tsv, int copies, const struct feat_row *q,
		     const struct near_hit *h, size_t rank)
{
	char sep = tsv ? '\t' : ',';

	table_field(f, tsv, q->id, q->id_len);
	fputc(sep, f);
	table_field(f, tsv, h->id, h->id_len);
	fprintf(f, "%c%zu%c%.6f%c", sep, rank, sep, h->similarity, sep);
	table_field(f, tsv, q->label, q->has_label ? q->label_len : 0);
	fputc(sep, f);
	table_field(f, tsv, h->label ? h->label : "", h->label ? h->label_len : 0);
	if (copies) {
		text_copy(f, sep, q->copy);
		text_copy(f, sep, h->copy);
	}
	fputc('\n', f);
}

/* The same keys as the text columns; an absent label or copy is left out. */
static void structured_row(struct emit *em, int copies, const struct feat_row *q,
			   const struct near_hit *h, size_t rank)
{
	int qcopy = copies && q->copy >= 0, hcopy = copies && h->copy >= 0;

	emit_map(em, 4 + (uint32_t)q->has_label + (h->label != NULL) + (uint32_t)qcopy +
		 (uint32_t)hcopy);
	emit_key(em, "query");
	emit_bytes(em, q->id, q->id_len);
	emit_key(em, "neighbour");
	emit_bytes(em, h->id, h->id_len);
	emit_key(em, "rank");
	emit_uint(em, rank);
	emit_key(em, "similarity");
	emit_float(em, h->similarity);
	if (q->has_label) {
		emit_key(em, "query_label");
		emit_bytes(em, q->label, q->label_len);
	}
	if (h->label) {
		emit_key(em, "neighbour_label");
		emit_bytes(em, h->label, h->label_len);
	}
	if (qcopy) {
		emit_key(em, "query_copy");
		emit_int(em, q->copy);
	}
	if (hcopy) {
		emit_key(em, "neighbour_copy");
		emit_int(em, h->copy);
	}
	emit_end(em);
	if (em->json)
		fputc('\n', em->f);
}

/* The index streams opened once, each able to be read again for every
 * block of queries: a pipe is spooled to an unnamed temporary file. */
static void open_index(const struct options *o, int *fds, off_t *starts)
{
	struct err e;

	for (int i = 0; i < o->nindex; i++)
		if ((fds[i] = spool_open(o->index[i], NULL, &starts[i], &e)) < 0)
			cli_die(CLI_EXIT_DATA, "--index: %s", e.msg);
}

/* The next records of a reader: how many were read (0 at the end), and in
 * *kept how many of them are searched, at the front of its rows: every
 * one with --all-copies, else each image's plain copy. */
static long fill(struct feat_reader *r, int all_copies, size_t *kept, struct outfile *out)
{
	struct err e;
	long n = feat_reader_fill(r, &e);

	if (n < 0) {
		outfile_abort(out);
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	}
	*kept = all_copies ? (size_t)n : feat_reader_keep_plain(r, (size_t)n);
	return n;
}

int main(int argc, char **argv)
{
	struct options o;
	struct feat_reader q, x;
	struct near_search ns;
	struct outfile out;
	struct emit em;
	struct err e;
	int *fds, progress, text, header = 0, like = 0;
	off_t *starts;
	uint64_t queries = 0, matched = 0;
	size_t nq;

	parse_options(argc, argv, &o);
	progress = cli_progress_enabled(o.com.progress);
	text = o.format == FMT_CSV || o.format == FMT_TSV;
	fds = cli_xcalloc((size_t)o.nindex, sizeof *fds);
	starts = cli_xcalloc((size_t)o.nindex, sizeof *starts);
	open_index(&o, fds, starts);
	if (outfile_open(&out, o.com.output, &e) ||
	    feat_reader_open(&q, o.inputs, o.ninputs, o.batch, &e) ||
	    feat_reader_open_fds(&x, o.index, fds, starts, o.nindex, o.block, &e) ||
	    near_init(&ns, o.batch, o.block, o.top, o.threshold, o.com.threads, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	emit_init(&em, out.f, o.format == FMT_JSONL);
	while (fill(&q, o.all_copies, &nq, &out) > 0) {
		uint64_t at = 0;
		size_t nx;

		/* The index must be made like the queries: the first block
		 * fixed their provenance and shape. */
		if (!like++ && feat_reader_like(&x, &q, &e))
			cli_die(CLI_EXIT_DATA, "%s", e.msg);
		nn_normalize_forward(q.x, nq, q.dim);
		if (near_start(&ns, q.x, nq, q.dim, &e) || feat_reader_rewind(&x, &e))
			cli_die(CLI_EXIT_DATA, "%s", e.msg);
		while (fill(&x, o.all_copies, &nx, &out) > 0) {
			nn_normalize_forward(x.x, nx, x.dim);
			if (near_compare(&ns, q.rows, x.x, x.rows, nx, at, &e)) {
				outfile_abort(&out);
				cli_die(CLI_EXIT_DATA, "%s", e.msg);
			}
			at += nx;
		}
		near_finish(&ns);
		if (text && !header++)
			text_header(out.f, o.format == FMT_TSV ? '\t' : ',', o.all_copies);
		for (size_t i = 0; i < nq; i++) {
			const struct near_list *l = &ns.lists[i];

			matched += l->n > 0;
			for (size_t j = 0; j < l->n; j++)
				if (text)
					text_row(out.f, o.format == FMT_TSV, o.all_copies, &q.rows[i],
						 &l->hit[j], j + 1);
				else
					structured_row(&em, o.all_copies, &q.rows[i], &l->hit[j], j + 1);
		}
		queries += nq;
		if (progress)
			cli_progress("queries", queries, 0, 0);
		/* A block is short when the queries paused: its neighbours go
		 * out now. */
		if (outfile_check(&out, 1, &e)) {
			outfile_abort(&out);
			cli_die(CLI_EXIT_DATA, "%s", e.msg);
		}
	}
	if (progress)
		cli_progress("queries", queries, 0, 1);
	if (text && !header++)
		text_header(out.f, o.format == FMT_TSV ? '\t' : ',', o.all_copies);
	if (emit_finish(&em, &e) || outfile_commit(&out, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	if (o.leaks)
		cli_warn("%" PRIu64 " of %" PRIu64 " queries have a near copy in the index "
			 "(similarity %.3f or more)", matched, queries, o.threshold);
	near_free(&ns);
	feat_reader_close(&q);
	feat_reader_close(&x);
	for (int i = 0; i < o.nindex; i++)
		if (fds[i] > STDIN_FILENO)
			close(fds[i]);
	free(fds);
	free(starts);
	free(o.index);
	return CLI_EXIT_OK;
}
