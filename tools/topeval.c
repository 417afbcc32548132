/* topeval: how good a top model is on labelled features: loss, accuracy,
 * per-class precision, recall and F1, their averages, and the confusion
 * matrix, each rate with its confidence interval, for people (text) or
 * programs (JSON, msgpack). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
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
#include "stats.h"
#include "suspects.h"
#include "utf8.h"

enum { FMT_TEXT, FMT_JSON, FMT_MSGPACK };

/* --bootstrap's limit: beyond it the intervals' Monte Carlo error is far
 * below the last digit shown, and the time is not. */
#define MAX_SAMPLES 1000000

struct options {
	const char *model, *suspects;
	struct cli_common com;
	int format, ignore_unknown;
	double confidence;
	uint32_t samples;       /* --bootstrap; 0: no bootstrap */
	uint64_t seed;
	char **inputs;
	int ninputs;
};

_Noreturn static void usage(void)
{
	printf("Usage: %s --model FILE [OPTION]... [FILE]...\n"
	       "Evaluate a top model on labelled feature streams.\n"
	       "With no FILE, or when FILE is -, read standard input.\n"
	       "\n"
	       "  -m, --model FILE      the model written by topfit (required)\n"
	       "  -f, --format FORMAT   text (default), json or msgpack\n"
	       "      --ignore-unknown  count records whose label the model does not know\n"
	       "                        as errors, instead of refusing them\n"
	       "      --confidence P    confidence level of every interval (default 0.95)\n"
	       "      --bootstrap B     resamples for the intervals of macro F1 and loss\n"
	       "                        (default 1000; 0: no such intervals)\n"
	       "      --seed N          seed of the resamples (default 1)\n"
	       "      --suspects FILE   also write the records whose label the model's\n"
	       "                        predictions doubt (confident learning), most\n"
	       "                        suspect first, as CSV\n"
	       "  -o, --output FILE     write to FILE (atomically) instead of stdout\n"
	       "  -t, --threads N       threads (default: every available core)\n"
	       "      --algo ALGO       convolutions of a fine-tuned model: im2col, winograd\n"
	       "                        or auto (default: winograd on maps of 3x3 and more)\n"
	       "      --progress        show progress on stderr even when not a terminal\n"
	       "  -q, --quiet           no progress, even on a terminal\n"
	       "  -h, --help            show this help and exit\n"
	       "  -V, --version         show the version and exit\n"
	       "\n"
	       "Exit status: 0 success, 1 a data error, 2 a usage error.\n",
	       program_invocation_short_name);
	cli_close_stdout();
	exit(0);
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const char *const formats[] = { "text", "json", "msgpack", NULL };
	enum { O_IGNORE = CLI_OPT_TOOL, O_CONFIDENCE, O_BOOTSTRAP, O_SEED, O_SUSPECTS };
	static const struct option longopts[] = {
		CLI_LONGOPTS_BASIC, CLI_LONGOPTS_RUN, CLI_LONGOPTS_ALGO,
		{ "model", required_argument, NULL, 'm' },
		{ "format", required_argument, NULL, 'f' },
		{ "ignore-unknown", no_argument, NULL, O_IGNORE },
		{ "confidence", required_argument, NULL, O_CONFIDENCE },
		{ "bootstrap", required_argument, NULL, O_BOOTSTRAP },
		{ "seed", required_argument, NULL, O_SEED },
		{ "suspects", required_argument, NULL, O_SUSPECTS },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof *o);
	cli_common_init(&o->com);
	o->confidence = 0.95;
	o->samples = 1000;
	o->seed = 1;
	while ((c = cli_getopt(argc, argv, "m:f:o:t:qhV", longopts)) != -1) {
		if (cli_common_option(c, optarg, &o->com, usage))
			continue;
		switch (c) {
		case 'm': o->model = optarg; break;
		case 'f': o->format = cli_opt_choice("--format", optarg, formats); break;
		case O_IGNORE: o->ignore_unknown = 1; break;
		case O_CONFIDENCE:
			o->confidence = cli_opt_double("--confidence", optarg, 0, 1);
			if (o->confidence <= 0 || o->confidence >= 1)
				cli_usage_error("--confidence: %s is not strictly between 0 and 1",
						optarg);
			break;
		case O_BOOTSTRAP:
			o->samples = (uint32_t)cli_opt_int("--bootstrap", optarg, 0, MAX_SAMPLES);
			break;
		case O_SEED: o->seed = (uint64_t)cli_opt_int("--seed", optarg, 0, INT64_MAX); break;
		case O_SUSPECTS: o->suspects = optarg; break;
		default: cli_usage_try();
		}
	}
	if (!o->model)
		cli_usage_error("--model FILE is required");
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
}

/* Labels the model does not know: the first few names, and a count. */
#define UNKNOWN_NAMES 20

struct tally {
	uint32_t k;
	uint64_t *confusion;    /* [k + 1, k]: true class (row k: unknown) x predicted */
	uint64_t records, known, unknown;
	double loss_sum;
	char *unknown_names[UNKNOWN_NAMES];
	int nunknown_names;
	/* What the bootstrap resamples, kept only when it runs: each
	 * record's true class (k: unknown) and prediction, each known
	 * record's loss. */
	int keep;
	struct kept { uint32_t truth, pred; } *kept;
	double *losses;
	size_t kept_cap, losses_cap;
	/* For --suspects: each record with a known label, its id, class and
	 * class probabilities [known, k]. */
	int keep_probabilities;
	char **ids;
	size_t *id_lens;
	uint32_t *given;
	float *prob;
	size_t ids_cap, lens_cap, given_cap, prob_cap;
};

struct metrics {
	double precision, recall, f1;
	uint64_t support;
};

/* The report's intervals, at one confidence level. */
struct intervals {
	double level;
	uint32_t samples;
	uint64_t seed;
	struct stats_interval accuracy, macro_f1, loss;
	struct stats_interval *precision, *recall;   /* [k] */
};

static void note_unknown(struct tally *t, const char *label)
{
	for (int i = 0; i < t->nunknown_names; i++)
		if (!strcmp(t->unknown_names[i], label))
			return;
	if (t->nunknown_names < UNKNOWN_NAMES)
		t->unknown_names[t->nunknown_names++] = cli_xstrdup(label);
}

/* p with room for item n, its capacity *cap doubled when it is full. */
static void *grow(void *p, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? 2 * *cap : 1024;
	return cli_xrealloc(p, *cap, size);
}

static void tally_batch(struct tally *t, const struct model *m, struct pass *p,
			const struct feat_reader *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct feat_row *row = &r->rows[i];
		uint32_t pred = pass_row_argmax(m, p, i);
		double loss;
		long c;

		if (!row->has_label)
			cli_die(CLI_EXIT_DATA, "%s: record %" PRIu64 ": no label (topeval needs "
				"labelled features)", row->file, row->record);
		c = model_class_index(m, row->label, row->label_len);
		if (t->keep) {
			t->kept = grow(t->kept, t->records, &t->kept_cap, sizeof *t->kept);
			t->kept[t->records] = (struct kept){ c < 0 ? t->k : (uint32_t)c, pred };
		}
		t->records++;
		if (c < 0) {
			t->unknown++;
			note_unknown(t, row->label);
			t->confusion[(size_t)t->k * t->k + pred]++;
			continue;
		}
		loss = pass_row_xent(m, p, r->x, i, (uint32_t)c);
		if (t->keep) {
			t->losses = grow(t->losses, t->known, &t->losses_cap, sizeof *t->losses);
			t->losses[t->known] = loss;
		}
		if (t->keep_probabilities) {
			t->ids = grow(t->ids, t->known, &t->ids_cap, sizeof *t->ids);
			t->id_lens = grow(t->id_lens, t->known, &t->lens_cap, sizeof *t->id_lens);
			t->given = grow(t->given, t->known, &t->given_cap, sizeof *t->given);
			t->prob = grow(t->prob, t->known, &t->prob_cap, t->k * sizeof *t->prob);
			t->ids[t->known] = cli_xcalloc(row->id_len + 1, 1);
			memcpy(t->ids[t->known], row->id, row->id_len);
			t->id_lens[t->known] = row->id_len;
			t->given[t->known] = (uint32_t)c;
			memcpy(t->prob + t->known * t->k, p->act[m->nlayers - 1] + i * t->k,
			       t->k * sizeof *t->prob);
		}
		t->known++;
		t->confusion[(size_t)c * t->k + pred]++;
		t->loss_sum += loss;
	}
}

/* sklearn's definitions: an undefined ratio (no predictions, no support)
 * is 0. */
static void ratios(uint64_t tp, uint64_t predicted, uint64_t support, struct metrics *mt)
{
	mt->support = support;
	mt->precision = predicted ? (double)tp / (double)predicted : 0;
	mt->recall = support ? (double)tp / (double)support : 0;
	mt->f1 = mt->precision + mt->recall > 0 ?
		 2 * mt->precision * mt->recall / (mt->precision + mt->recall) : 0;
}

/* A record with an unknown label counts against the precision of the
 * class it was given. Precision is tp of the records predicted as c,
 * recall tp of c's support: the trials of their Wilson intervals. */
static void class_metrics(const struct tally *t, uint32_t c, double level, struct metrics *mt,
			  struct stats_interval *precision, struct stats_interval *recall)
{
	uint64_t tp = t->confusion[(size_t)c * t->k + c], predicted = 0, support = 0;

	for (uint32_t r = 0; r <= t->k; r++)
		predicted += t->confusion[(size_t)r * t->k + c];
	for (uint32_t j = 0; j < t->k; j++)
		support += t->confusion[(size_t)c * t->k + j];
	ratios(tp, predicted, support, mt);
	*precision = stats_wilson(tp, predicted, level);
	*recall = stats_wilson(tp, support, level);
}

static void averages(const struct tally *t, const struct metrics *per,
		     struct metrics *macro, struct metrics *weighted)
{
	uint64_t total = 0;

	memset(macro, 0, sizeof *macro);
	memset(weighted, 0, sizeof *weighted);
	for (uint32_t c = 0; c < t->k; c++) {
		macro->precision += per[c].precision / t->k;
		macro->recall += per[c].recall / t->k;
		macro->f1 += per[c].f1 / t->k;
		weighted->precision += per[c].precision * (double)per[c].support;
		weighted->recall += per[c].recall * (double)per[c].support;
		weighted->f1 += per[c].f1 * (double)per[c].support;
		total += per[c].support;
	}
	macro->support = weighted->support = total;
	if (total) {
		weighted->precision /= (double)total;
		weighted->recall /= (double)total;
		weighted->f1 /= (double)total;
	}
}

static uint64_t right(const struct tally *t)
{
	uint64_t n = 0;

	for (uint32_t c = 0; c < t->k; c++)
		n += t->confusion[(size_t)c * t->k + c];
	return n;
}

static double accuracy(const struct tally *t)
{
	return t->records ? (double)right(t) / (double)t->records : NAN;
}

static double mean_loss(const struct tally *t)
{
	return t->known ? t->loss_sum / (double)t->known : NAN;
}

/* The bootstrap's statistics. Macro F1 counts a resample into
 * scratch [3, k] (true positives, predictions, support) and averages
 * as averages() does. */
struct resample {
	const struct tally *t;
	uint64_t *counts;
};

static double resample_macro_f1(const uint32_t *idx, size_t n, const void *ctx)
{
	const struct resample *rs = ctx;
	const struct tally *t = rs->t;
	uint64_t *tp = rs->counts, *predicted = tp + t->k, *support = predicted + t->k;
	double f1 = 0;

	memset(rs->counts, 0, 3 * (size_t)t->k * sizeof *rs->counts);
	for (size_t i = 0; i < n; i++) {
		uint32_t y = t->kept[idx[i]].truth, p = t->kept[idx[i]].pred;

		predicted[p]++;
		if (y < t->k) {
			support[y]++;
			tp[y] += y == p;
		}
	}
	for (uint32_t c = 0; c < t->k; c++) {
		struct metrics mt;

		ratios(tp[c], predicted[c], support[c], &mt);
		f1 += mt.f1 / t->k;
	}
	return f1;
}

static double resample_loss(const uint32_t *idx, size_t n, const void *ctx)
{
	const struct tally *t = ctx;
	double sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += t->losses[idx[i]];
	return sum / (double)n;
}

/* Each class's metrics, and every interval of the report. The loss's
 * resamples are of the records with a known label, the population of its
 * mean. */
static void measure(const struct tally *t, const struct options *o, struct metrics *per,
		    struct intervals *ci)
{
	struct resample rs = { t, cli_xcalloc(3 * (size_t)t->k, sizeof *rs.counts) };
	struct err e;

	ci->level = o->confidence;
	ci->samples = o->samples;
	ci->seed = o->seed;
	ci->precision = cli_xcalloc(t->k, sizeof *ci->precision);
	ci->recall = cli_xcalloc(t->k, sizeof *ci->recall);
	for (uint32_t c = 0; c < t->k; c++)
		class_metrics(t, c, o->confidence, &per[c], &ci->precision[c], &ci->recall[c]);
	ci->accuracy = stats_wilson(right(t), t->records, o->confidence);
	if (stats_bootstrap(t->records, o->samples, o->seed, o->confidence,
			    resample_macro_f1, &rs, &ci->macro_f1, &e) ||
	    stats_bootstrap(t->known, o->samples, o->seed, o->confidence,
			    resample_loss, t, &ci->loss, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	free(rs.counts);
}

/* Terminal columns, which are not bytes once a name is UTF-8. */
static int columns(const char *s)
{
	return (int)utf8_width(s, strlen(s));
}

/* s in `width` columns, padded with spaces on the right (left aligned) or
 * on the left. */
static void put_padded(FILE *f, const char *s, int width, int left_aligned)
{
	int pad = width - columns(s);

	if (!left_aligned)
		fprintf(f, "%*s", pad > 0 ? pad : 0, "");
	fputs(s, f);
	if (left_aligned)
		fprintf(f, "%*s", pad > 0 ? pad : 0, "");
}

/* A confusion matrix column: as wide as its class's name, at least 6. */
static int matrix_width(const char *name)
{
	return columns(name) > 6 ? columns(name) : 6;
}

/* A number of the summary and, when it has one, its interval and how
 * that was found ("-" where it is undefined). */
static void put_estimate(FILE *f, const char *name, double v, const struct intervals *ci,
			 struct stats_interval bounds, const char *how)
{
	fprintf(f, "%-10s%.4f", name, v);
	if (how) {
		fprintf(f, "  (%g%% CI ", 100 * ci->level);
		if (isnan(bounds.lo))
			fputs("-", f);
		else
			fprintf(f, "%.4f to %.4f", bounds.lo, bounds.hi);
		fprintf(f, ", %s)", how);
	}
	fputc('\n', f);
}

/* A table's interval, [lo, hi] to three decimals in 14 columns, so that
 * a line of the table fits 80 columns. */
static void put_table_interval(FILE *f, struct stats_interval bounds)
{
	char s[64] = "-";

	if (!isnan(bounds.lo))
		snprintf(s, sizeof s, "[%.3f, %.3f]", bounds.lo, bounds.hi);
	fprintf(f, "%-14s", s);
}

static void text_report(FILE *f, const struct model *m, const struct tally *t,
			const struct metrics *per, const struct metrics *macro,
			const struct metrics *weighted, const struct intervals *ci)
{
	char bootstrap[80], label[32];
	int w = 12;

	for (uint32_t c = 0; c < m->nclass; c++)
		w = columns(m->classes[c]) > w ? columns(m->classes[c]) : w;
	snprintf(bootstrap, sizeof bootstrap, "bootstrap of %" PRIu32 ", seed %" PRIu64,
		 ci->samples, ci->seed);
	snprintf(label, sizeof label, "[%g%% CI]", 100 * ci->level);
	fprintf(f, "records   %" PRIu64 "\n", t->records);
	if (t->unknown)
		fprintf(f, "unknown   %" PRIu64 " (labels the model does not know, counted as errors)\n",
			t->unknown);
	put_estimate(f, "accuracy", accuracy(t), ci, ci->accuracy, "Wilson");
	put_estimate(f, "macro f1", macro->f1, ci, ci->macro_f1, ci->samples ? bootstrap : NULL);
	put_estimate(f, "loss", mean_loss(t), ci, ci->loss, ci->samples ? bootstrap : NULL);
	fprintf(f, "\n%-*s  precision %-14s  recall %-14s      f1  support\n", w, "class",
		label, label);
	for (uint32_t c = 0; c < m->nclass; c++) {
		put_padded(f, m->classes[c], w, 1);
		fprintf(f, "  %9.4f ", per[c].precision);
		put_table_interval(f, ci->precision[c]);
		fprintf(f, "  %6.4f ", per[c].recall);
		put_table_interval(f, ci->recall[c]);
		fprintf(f, "  %6.4f  %7" PRIu64 "\n", per[c].f1, per[c].support);
	}
	fprintf(f, "\n%-*s  %9.4f %14s  %6.4f %14s  %6.4f  %7" PRIu64 "\n", w, "macro avg",
		macro->precision, "", macro->recall, "", macro->f1, macro->support);
	fprintf(f, "%-*s  %9.4f %14s  %6.4f %14s  %6.4f  %7" PRIu64 "\n", w, "weighted avg",
		weighted->precision, "", weighted->recall, "", weighted->f1, weighted->support);

	fprintf(f, "\nconfusion matrix (rows: true class, columns: predicted)\n%-*s", w, "");
	for (uint32_t c = 0; c < m->nclass; c++) {
		fputc(' ', f);
		put_padded(f, m->classes[c], matrix_width(m->classes[c]), 0);
	}
	fputc('\n', f);
	for (uint32_t r = 0; r <= m->nclass; r++) {
		if (r == m->nclass && !t->unknown)
			break;
		put_padded(f, r < m->nclass ? m->classes[r] : "(unknown)", w, 1);
		for (uint32_t c = 0; c < m->nclass; c++)
			fprintf(f, " %*" PRIu64, matrix_width(m->classes[c]),
				t->confusion[(size_t)r * t->k + c]);
		fputc('\n', f);
	}
}

/* The four keys of a metrics map, into a map opened by the caller. */
static void emit_metrics(struct emit *em, const struct metrics *mt)
{
	emit_key(em, "precision");
	emit_double(em, mt->precision);
	emit_key(em, "recall");
	emit_double(em, mt->recall);
	emit_key(em, "f1");
	emit_double(em, mt->f1);
	emit_key(em, "support");
	emit_uint(em, mt->support);
}

static int structured_report(FILE *f, int json, const struct model *m,
			     const struct tally *t, const struct metrics *per,
			     const struct metrics *macro, const struct metrics *weighted,
			     const struct intervals *ci, struct err *e)
{
	struct emit em;
	uint32_t rows = m->nclass + (t->unknown ? 1 : 0);

	emit_init(&em, f, json);
	emit_map(&em, 13);
	emit_key(&em, "records");
	emit_uint(&em, t->records);
	emit_key(&em, "unknown");
	emit_uint(&em, t->unknown);
	emit_key(&em, "accuracy");
	emit_double(&em, accuracy(t));
	emit_key_pair(&em, "accuracy_ci", ci->accuracy.lo, ci->accuracy.hi);
	emit_key(&em, "loss");
	emit_double(&em, mean_loss(t));
	emit_key_pair(&em, "loss_ci", ci->loss.lo, ci->loss.hi);
	emit_key(&em, "confidence");
	emit_double(&em, ci->level);
	emit_key(&em, "bootstrap");
	emit_map(&em, 2);
	emit_key(&em, "samples");
	emit_uint(&em, ci->samples);
	emit_key(&em, "seed");
	emit_uint(&em, ci->seed);
	emit_end(&em);
	emit_key(&em, "classes");
	emit_array(&em, m->nclass);
	for (uint32_t c = 0; c < m->nclass; c++) {
		emit_map(&em, 7);
		emit_key(&em, "class");
		emit_str(&em, m->classes[c]);
		emit_metrics(&em, &per[c]);
		emit_key_pair(&em, "precision_ci", ci->precision[c].lo, ci->precision[c].hi);
		emit_key_pair(&em, "recall_ci", ci->recall[c].lo, ci->recall[c].hi);
		emit_end(&em);
	}
	emit_end(&em);
	emit_key(&em, "macro_avg");
	emit_map(&em, 5);
	emit_metrics(&em, macro);
	emit_key_pair(&em, "f1_ci", ci->macro_f1.lo, ci->macro_f1.hi);
	emit_end(&em);
	emit_key(&em, "weighted_avg");
	emit_map(&em, 4);
	emit_metrics(&em, weighted);
	emit_end(&em);
	emit_key(&em, "confusion_labels");
	emit_array(&em, rows);
	for (uint32_t r = 0; r < rows; r++)
		emit_str(&em, r < m->nclass ? m->classes[r] : "(unknown)");
	emit_end(&em);
	emit_key(&em, "confusion");
	emit_array(&em, rows);
	for (uint32_t r = 0; r < rows; r++) {
		emit_array(&em, m->nclass);
		for (uint32_t c = 0; c < m->nclass; c++)
			emit_uint(&em, t->confusion[(size_t)r * t->k + c]);
		emit_end(&em);
	}
	emit_end(&em);
	emit_end(&em);
	if (json)
		fputc('\n', f);
	return emit_finish(&em, e);
}

int main(int argc, char **argv)
{
	struct options o;
	struct model m;
	struct feat_reader r;
	struct pass p;
	struct tally t = { 0 };
	struct metrics *per, macro, weighted;
	struct intervals ci;
	struct outfile out;
	struct err e;
	size_t rows;
	long n;
	int progress;

	parse_options(argc, argv, &o);
	progress = cli_progress_enabled(o.com.progress);
	if (modelfile_load(&m, o.model, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	if (outfile_open(&out, o.com.output, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	rows = model_batch_rows(&m);
	if (feat_reader_open(&r, o.inputs, o.ninputs, rows, &e) ||
	    feat_reader_expect(&r, m.provenance.set ? &m.provenance.obj : &obj_nil,
			       m.input_rank, m.input_shape, &e) ||
	    pass_init(&p, &m, rows, o.com.threads, o.com.algo, PASS_INFERENCE, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	t.k = m.nclass;
	t.keep = o.samples > 0;
	t.keep_probabilities = o.suspects != NULL;
	t.confusion = cli_xcalloc((size_t)(m.nclass + 1) * m.nclass, sizeof *t.confusion);
	while ((n = feat_reader_fill(&r, &e)) > 0) {
		pass_forward(&m, &p, r.x, (size_t)n);
		tally_batch(&t, &m, &p, &r, (size_t)n);
		if (progress)
			cli_progress("records", t.records, 0, 0);
	}
	if (n < 0)
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	if (progress)
		cli_progress("records", t.records, 0, 1);
	if (t.unknown && !o.ignore_unknown) {
		char list[1024] = "";

		for (int i = 0; i < t.nunknown_names; i++)
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'",
				 i ? ", " : "", t.unknown_names[i]);
		cli_die(CLI_EXIT_DATA, "%" PRIu64 " record%s with labels the model does not know: "
			"%s%s (--ignore-unknown counts them as errors)", t.unknown,
			t.unknown > 1 ? "s" : "", list,
			t.nunknown_names == UNKNOWN_NAMES ? ", ..." : "");
	}
	per = cli_xcalloc(m.nclass, sizeof *per);
	measure(&t, &o, per, &ci);
	averages(&t, per, &macro, &weighted);
	if (o.format == FMT_TEXT)
		text_report(out.f, &m, &t, per, &macro, &weighted, &ci);
	else if (structured_report(out.f, o.format == FMT_JSON, &m, &t, per, &macro,
				   &weighted, &ci, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	if (o.suspects) {
		size_t found;

		if (suspects_save(o.suspects, t.prob, t.given, t.known, t.k, t.ids, t.id_lens,
				  m.classes, &found, &e)) {
			outfile_abort(&out);
			cli_die(CLI_EXIT_DATA, "%s", e.msg);
		}
		if (o.com.progress != CLI_PROGRESS_OFF)
			cli_warn("%zu of the %" PRIu64 " records suspected of a wrong label "
				 "(confident learning): %s", found, t.known, o.suspects);
	}
	if (outfile_commit(&out, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	feat_reader_close(&r);
	pass_free(&p, &m);
	model_free(&m);
	free(per);
	free(ci.precision);
	free(ci.recall);
	free(t.confusion);
	free(t.kept);
	free(t.losses);
	for (size_t i = 0; i < t.known && t.ids; i++)
		free(t.ids[i]);
	free(t.ids);
	free(t.id_lens);
	free(t.given);
	free(t.prob);
	for (int i = 0; i < t.nunknown_names; i++)
		free(t.unknown_names[i]);
	return CLI_EXIT_OK;
}
