/* classify: one prediction per feature record, in input order, as CSV,
 * TSV, JSON lines or msgpack. Records are read a batch at a time, so the
 * memory used does not grow with the input. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "emit.h"
#include "featread.h"
#include "outfile.h"
#include "model.h"
#include "modelfile.h"
#include "pass.h"
#include "table.h"

enum { FMT_CSV, FMT_TSV, FMT_JSONL, FMT_MSGPACK };

struct options {
	const char *model;
	struct cli_common com;
	int format;
	uint32_t top;
	char **inputs;
	int ninputs;
};

_Noreturn static void usage(void)
{
	printf("Usage: %s --model FILE [OPTION]... [FILE]...\n"
	       "Label feature records with a top model, one line per record, in input order.\n"
	       "With no FILE, or when FILE is -, read standard input.\n"
	       "\n"
	       "  -m, --model FILE     the model written by topfit (required)\n"
	       "  -k, --top K          also give the K most probable classes (default 0)\n"
	       "  -f, --format FORMAT  csv (default), tsv, jsonl or msgpack\n"
	       CLI_HELP_OUTPUT
	       CLI_HELP_THREADS
	       CLI_HELP_ALGO
	       CLI_HELP_BASIC
	       "\n"
	       "Exit status: 0 success, 1 a data error, 2 a usage error.\n",
	       program_invocation_short_name);
	cli_close_stdout();
	exit(0);
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const char *const formats[] = { "csv", "tsv", "jsonl", "msgpack", NULL };
	static const struct option longopts[] = {
		CLI_LONGOPTS_BASIC, CLI_LONGOPTS_RUN, CLI_LONGOPTS_ALGO,
		{ "model", required_argument, NULL, 'm' },
		{ "top", required_argument, NULL, 'k' },
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof *o);
	cli_common_init(&o->com);
	while ((c = cli_getopt(argc, argv, "m:k:f:o:t:qhV", longopts)) != -1) {
		if (cli_common_option(c, optarg, &o->com, usage))
			continue;
		switch (c) {
		case 'm': o->model = optarg; break;
		case 'k': o->top = (uint32_t)cli_opt_int("--top", optarg, 0, MODEL_MAX_CLASSES); break;
		case 'f': o->format = cli_opt_choice("--format", optarg, formats); break;
		default: cli_usage_try();
		}
	}
	if (!o->model)
		cli_usage_error("--model FILE is required");
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
}

static void text_header(FILE *f, char sep, uint32_t top)
{
	fprintf(f, "id%clabel%cprobability", sep, sep);
	for (uint32_t j = 1; j <= top; j++)
		fprintf(f, "%clabel_%" PRIu32 "%cprobability_%" PRIu32, sep, j, sep, j);
	fputc('\n', f);
}

/* best: the classes by probability, best first; the prediction, then
 * the top of them. */
static void text_row(FILE *f, int tsv, const struct model *m, const struct feat_row *row,
		     const float *prob, const uint32_t *best, uint32_t top)
{
	char sep = tsv ? '\t' : ',';

	table_field(f, tsv, row->id, row->id_len);
	for (uint32_t j = 0; j <= top; j++) {
		uint32_t c = best[j ? j - 1 : 0];

		fputc(sep, f);
		table_str(f, tsv, m->classes[c]);
		fprintf(f, "%c%.6g", sep, prob[c]);
	}
	fputc('\n', f);
}

static void structured_row(struct emit *em, const struct model *m,
			   const struct feat_row *row, const float *prob,
			   const uint32_t *best, uint32_t top)
{
	emit_map(em, top ? 4 : 3);
	emit_key(em, "id");
	emit_bytes(em, row->id, row->id_len);
	emit_key(em, "label");
	emit_str(em, m->classes[best[0]]);
	emit_key(em, "probability");
	emit_double(em, prob[best[0]]);
	if (top) {
		emit_key(em, "top");
		emit_array(em, top);
		for (uint32_t j = 0; j < top; j++) {
			emit_map(em, 2);
			emit_key(em, "label");
			emit_str(em, m->classes[best[j]]);
			emit_key(em, "probability");
			emit_double(em, prob[best[j]]);
			emit_end(em);
		}
		emit_end(em);
	}
	emit_end(em);
	if (em->json)
		fputc('\n', em->f);
}

int main(int argc, char **argv)
{
	struct options o;
	struct model m;
	struct feat_reader r;
	struct pass p;
	struct emit em;
	struct outfile out;
	struct err e;
	uint32_t *best;
	uint64_t done = 0;
	size_t rows;
	int progress;
	long n;

	parse_options(argc, argv, &o);
	progress = cli_progress_enabled(o.com.progress);
	if (modelfile_load(&m, o.model, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	if (o.top > m.nclass)
		o.top = m.nclass;
	if (outfile_open(&out, o.com.output, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	rows = model_batch_rows(&m);
	if (feat_reader_open(&r, o.inputs, o.ninputs, rows, &e) ||
	    feat_reader_expect(&r, m.provenance.set ? &m.provenance.obj : &obj_nil,
			       m.input_rank, m.input_shape, &e) ||
	    pass_init(&p, &m, rows, o.com.threads, o.com.algo, PASS_INFERENCE, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	/* The classes by probability: best[0] is the prediction. */
	best = cli_xcalloc(o.top ? o.top : 1, sizeof *best);
	emit_init(&em, out.f, o.format == FMT_JSONL);
	/* The header line once the input is known to suit the model: a
	 * refused input writes nothing. */
	n = feat_reader_fill(&r, &e);
	if (n >= 0 && (o.format == FMT_CSV || o.format == FMT_TSV))
		text_header(out.f, o.format == FMT_TSV ? '\t' : ',', o.top);
	for (; n > 0; n = feat_reader_fill(&r, &e)) {
		pass_forward(&m, &p, r.x, (size_t)n);
		for (long i = 0; i < n; i++) {
			const float *prob = p.act[m.nlayers - 1] + (size_t)i * m.nclass;

			pass_row_topk(&m, &p, (size_t)i, o.top ? o.top : 1, best);
			if (o.format == FMT_CSV || o.format == FMT_TSV)
				text_row(out.f, o.format == FMT_TSV, &m, &r.rows[i], prob, best,
					 o.top);
			else
				structured_row(&em, &m, &r.rows[i], prob, best, o.top);
		}
		done += (uint64_t)n;
		if (progress)
			cli_progress("records", done, 0, 0);
		/* A batch is short when the input paused: its predictions go
		 * out now, for whoever watches them. */
		if (outfile_check(&out, 1, &e)) {
			outfile_abort(&out);
			cli_die(CLI_EXIT_DATA, "%s", e.msg);
		}
	}
	if (n < 0)
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	if (progress)
		cli_progress("records", done, 0, 1);
	if (emit_finish(&em, &e) || outfile_commit(&out, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	free(best);
	feat_reader_close(&r);
	pass_free(&p, &m);
	model_free(&m);
	return CLI_EXIT_OK;
}
