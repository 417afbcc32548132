/* topfit: train the top model on labelled feature streams and write it as
 * a model stream. The training set is held in memory: every epoch passes
 * over it again, in a new order. */
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "outfile.h"
#include "stream.h"
#include "topmodel.h"
#include "toptrain.h"

struct options {
	const char *output, *valid, *history;
	uint32_t hidden[64];
	int nhidden;
	double dropout, lr, momentum, l2;
	int batchnorm, balance, optimizer, threads, lr_set;
	uint32_t epochs, batch, patience;
	uint64_t seed;
	enum vp_progress_mode progress;
	char **inputs;
	int ninputs;
};

static const char *const optimizers[] = { "adam", "sgd", "rmsprop", NULL };
/* Learning rates that work for each optimiser out of the box (Keras'). */
static const double default_lr[] = { 1e-3, 1e-2, 1e-3 };

_Noreturn static void usage(void)
{
	printf("Usage: %s [OPTION]... [FILE]...\n"
	       "Train the top model on labelled feature streams; write the model stream.\n"
	       "With no FILE, or when FILE is -, read standard input.\n"
	       "\n"
	       "  -o, --output FILE    write the model to FILE (atomically) instead of stdout\n"
	       "      --valid FILE     labelled validation features, evaluated every epoch\n"
	       "      --hidden LIST    widths of the hidden dense layers, comma-separated;\n"
	       "                       empty for softmax regression (default 256)\n"
	       "      --dropout R      dropout rate after each hidden layer (default 0.5)\n"
	       "      --batchnorm      batch normalisation before each hidden ReLU\n"
	       "      --optimizer NAME adam, sgd (with momentum) or rmsprop (default adam)\n"
	       "      --lr X           learning rate (default 0.001; sgd 0.01)\n"
	       "      --momentum X     sgd momentum (default 0.9)\n"
	       "      --epochs N       passes over the training set (default 50)\n"
	       "      --batch N        records per gradient step (default 32)\n"
	       "      --l2 X           weight of the squared dense weights in the objective\n"
	       "                       (default 0)\n"
	       "      --balance        weight classes by inverse frequency\n"
	       "      --patience N     with --valid: stop after N epochs without a lower\n"
	       "                       validation loss, keep the best epoch (default 0: off)\n"
	       "      --threads N      BLAS threads (default: OpenBLAS's own choice)\n"
	       "      --seed N         random seed for initialisation, order, dropout (default 1)\n"
	       "      --history FILE   write the per-epoch history as TSV\n"
	       "      --progress       per-epoch lines on stderr even when not a terminal\n"
	       "      --quiet          no progress, even on a terminal\n"
	       "  -h, --help           show this help and exit\n"
	       "  -V, --version        show the version and exit\n"
	       "\n"
	       "Exit status: 0 success, 1 a data error, 2 a usage error.\n",
	       program_invocation_short_name);
	vp_close_stdout();
	exit(0);
}

static int parse_hidden(const char *arg, uint32_t *hidden, int max)
{
	const char *p = arg;
	int n = 0;

	if (!*arg)
		return 0;
	for (;;) {
		char item[32];
		size_t len = strcspn(p, ",");

		if (n == max)
			vp_usage_error("--hidden: more than %d layers", max);
		if (len >= sizeof item)
			vp_usage_error("--hidden: '%s' is not a list of widths", arg);
		memcpy(item, p, len);
		item[len] = 0;
		hidden[n++] = (uint32_t)vp_opt_int("--hidden", item, 1, 1 << 16);
		if (!p[len])
			return n;
		p += len + 1;
	}
}

static void parse_options(int argc, char **argv, struct options *o)
{
	enum { O_VALID = 256, O_HIDDEN, O_DROPOUT, O_BATCHNORM, O_OPTIMIZER, O_LR,
	       O_MOMENTUM, O_EPOCHS, O_BATCH, O_L2, O_BALANCE, O_PATIENCE, O_THREADS,
	       O_SEED, O_HISTORY, O_PROGRESS, O_QUIET };
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "valid", required_argument, NULL, O_VALID },
		{ "hidden", required_argument, NULL, O_HIDDEN },
		{ "dropout", required_argument, NULL, O_DROPOUT },
		{ "batchnorm", no_argument, NULL, O_BATCHNORM },
		{ "optimizer", required_argument, NULL, O_OPTIMIZER },
		{ "lr", required_argument, NULL, O_LR },
		{ "momentum", required_argument, NULL, O_MOMENTUM },
		{ "epochs", required_argument, NULL, O_EPOCHS },
		{ "batch", required_argument, NULL, O_BATCH },
		{ "l2", required_argument, NULL, O_L2 },
		{ "balance", no_argument, NULL, O_BALANCE },
		{ "patience", required_argument, NULL, O_PATIENCE },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "seed", required_argument, NULL, O_SEED },
		{ "history", required_argument, NULL, O_HISTORY },
		{ "progress", no_argument, NULL, O_PROGRESS },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof *o);
	o->hidden[0] = 256;
	o->nhidden = 1;
	o->dropout = 0.5;
	o->momentum = 0.9;
	o->epochs = 50;
	o->batch = 32;
	o->seed = 1;
	while ((c = vp_getopt(argc, argv, "o:hV", longopts)) != -1) {
		switch (c) {
		case 'o': o->output = optarg; break;
		case O_VALID: o->valid = optarg; break;
		case O_HIDDEN: o->nhidden = parse_hidden(optarg, o->hidden, 64); break;
		case O_DROPOUT: o->dropout = vp_opt_double("--dropout", optarg, 0, 0.99); break;
		case O_BATCHNORM: o->batchnorm = 1; break;
		case O_OPTIMIZER: o->optimizer = vp_opt_choice("--optimizer", optarg, optimizers); break;
		case O_LR: o->lr = vp_opt_double("--lr", optarg, 1e-12, 100); o->lr_set = 1; break;
		case O_MOMENTUM: o->momentum = vp_opt_double("--momentum", optarg, 0, 0.999999); break;
		case O_EPOCHS: o->epochs = (uint32_t)vp_opt_int("--epochs", optarg, 1, 1000000); break;
		case O_BATCH: o->batch = (uint32_t)vp_opt_int("--batch", optarg, 1, 1 << 20); break;
		case O_L2: o->l2 = vp_opt_double("--l2", optarg, 0, 1e6); break;
		case O_BALANCE: o->balance = 1; break;
		case O_PATIENCE: o->patience = (uint32_t)vp_opt_int("--patience", optarg, 0, 1000000); break;
		case O_THREADS: o->threads = (int)vp_opt_int("--threads", optarg, 1, 1024); break;
		case O_SEED: o->seed = (uint64_t)vp_opt_int("--seed", optarg, 0, INT64_MAX); break;
		case O_HISTORY: o->history = optarg; break;
		case O_PROGRESS: o->progress = VP_PROGRESS_ON; break;
		case O_QUIET: o->progress = VP_PROGRESS_OFF; break;
		case 'h': usage();
		case 'V': vp_print_version();
		default: vp_usage_try();
		}
	}
	if (o->patience && !o->valid)
		vp_usage_error("--patience needs --valid");
	if (!o->lr_set)
		o->lr = default_lr[o->optimizer];
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
	for (int i = 0; i < o->ninputs; i++)
		if (o->valid && !strcmp(o->inputs[i], o->valid))
			vp_usage_error("%s is both a training and the validation file", o->valid);
}

/* Where a record came from, for messages about duplicates. */
struct idref {
	char *id;
	size_t len;
	const char *file;
	uint64_t record;
};

/* Records loaded from one or more streams, labels as indices into names
 * (in order of first appearance). */
struct dataset {
	const char *what;
	size_t n, cap;
	int rank;
	uint32_t shape[VP_MAX_RANK], dim;
	float *x;
	uint32_t *y;
	char **names;
	uint32_t nnames;
	struct idref *ids;
};

/* The provenance every stream must share, from the first one read. */
struct reference {
	struct top_obj prov;
	const char *file;
};

static uint32_t label_index(struct dataset *d, const char *p, size_t len)
{
	for (uint32_t i = 0; i < d->nnames; i++)
		if (vp_bytes_eq(p, len, d->names[i]))
			return i;
	d->names = vp_xrealloc(d->names, d->nnames + 1, sizeof *d->names);
	d->names[d->nnames] = strndup(p, len);
	if (!d->names[d->nnames])
		vp_die(VP_EXIT_DATA, "out of memory");
	return d->nnames++;
}

/* file: the stream's name, kept past its closing. */
static void check_provenance(struct vp_stream *s, struct reference *ref, const char *file)
{
	const msgpack_object *prov = vp_map_get_or_nil(&s->first_header, "provenance");
	char diff[512];
	struct vp_err e;

	if (!ref->prov.set) {
		if (top_obj_copy(&ref->prov, prov, &e))
			vp_die(VP_EXIT_DATA, "%s", e.msg);
		ref->file = file;
		return;
	}
	if (vp_obj_diff(&ref->prov.obj, prov, "provenance", diff, sizeof diff))
		vp_die(VP_EXIT_DATA, "%s: features made differently from those of %s "
		       "(\"here\" is %s, \"before\" is %s): %s", s->name, ref->file,
		       s->name, ref->file, diff);
}

/* file: the stream's name, which must outlive it (for messages about
 * duplicates). */
static void add_record(struct dataset *d, struct vp_stream *s, const struct vp_record *r,
		       const char *file)
{
	const struct vp_tensor *t = &r->tensor;
	float *row;

	if (!r->label)
		vp_die(VP_EXIT_DATA, "%s: record %" PRIu64 ": no label (%s needs labelled features)",
		       s->name, s->records, d->what);
	if (memchr(r->label, 0, r->label_len) || !r->label_len)
		vp_die(VP_EXIT_DATA, "%s: record %" PRIu64 ": the label is empty or holds a NUL byte",
		       s->name, s->records);
	if (!d->dim) {
		d->rank = t->rank;
		memcpy(d->shape, t->shape, sizeof d->shape);
		if (t->count > UINT32_MAX || t->count > TOP_MAX_PARAMS)
			vp_die(VP_EXIT_DATA, "%s: record %" PRIu64 ": %zu features are too many",
			       s->name, s->records, t->count);
		d->dim = (uint32_t)t->count;
	} else if (t->rank != d->rank || memcmp(t->shape, d->shape, (size_t)t->rank * sizeof *t->shape)) {
		vp_die(VP_EXIT_DATA, "%s: record %" PRIu64 ": features of a different shape "
		       "from the first record's (%zu values)", s->name, s->records, t->count);
	}
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 256;
		if (d->cap > SIZE_MAX / sizeof(float) / d->dim)
			vp_die(VP_EXIT_DATA, "%s: too many records to hold in memory", d->what);
		d->x = vp_xrealloc(d->x, d->cap * d->dim, sizeof *d->x);
		d->y = vp_xrealloc(d->y, d->cap, sizeof *d->y);
		d->ids = vp_xrealloc(d->ids, d->cap, sizeof *d->ids);
	}
	row = d->x + d->n * d->dim;
	vp_tensor_to_f32(t, row);
	for (uint32_t i = 0; i < d->dim; i++)
		if (!isfinite(row[i]))
			vp_die(VP_EXIT_DATA, "%s: record %" PRIu64 " (id '%.*s'): feature %" PRIu32
			       " is %s", s->name, s->records, (int)(r->id_len > 200 ? 200 : r->id_len),
			       r->id, i, isnan(row[i]) ? "NaN" : "infinite");
	d->y[d->n] = label_index(d, r->label, r->label_len);
	d->ids[d->n] = (struct idref){ .id = vp_xcalloc(r->id_len + 1, 1), .len = r->id_len,
				       .file = file, .record = s->records };
	memcpy(d->ids[d->n].id, r->id, r->id_len);
	d->n++;
}

static void load(struct dataset *d, const char *path, struct reference *ref)
{
	struct vp_stream s;
	struct vp_record r;
	struct vp_err e;
	msgpack_object obj;
	int rc, checked = 0;
	const char *name = strcmp(path, "-") ? path : "stdin";

	if (vp_stream_open(&s, path, "features", NULL, &e))
		vp_die(VP_EXIT_DATA, "%s", e.msg);
	while ((rc = vp_stream_record(&s, &obj, &e)) > 0) {
		if (!checked) {
			check_provenance(&s, ref, name);
			checked = 1;
		}
		if (vp_record_parse(&s, &obj, &r, &e))
			vp_die(VP_EXIT_DATA, "%s", e.msg);
		add_record(d, &s, &r, name);
	}
	if (rc < 0)
		vp_die(VP_EXIT_DATA, "%s", e.msg);
	if (!checked)
		check_provenance(&s, ref, name);
	vp_stream_close(&s);
}

static void dataset_free(struct dataset *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->ids[i].id);
	for (uint32_t i = 0; i < d->nnames; i++)
		free(d->names[i]);
	free(d->ids);
	free(d->names);
	free(d->x);
	free(d->y);
}

static int idref_cmp(const void *a, const void *b)
{
	const struct idref *x = a, *y = b;
	int c = memcmp(x->id, y->id, x->len < y->len ? x->len : y->len);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The same image twice, in training or across training and validation,
 * is usually a mistake (and flatters validation): warn. */
static void warn_duplicates(const struct dataset *train, const struct dataset *valid)
{
	size_t n = train->n + valid->n, shown = 0, dups = 0;
	struct idref *all = vp_xcalloc(n ? n : 1, sizeof *all);

	memcpy(all, train->ids, train->n * sizeof *all);
	if (valid->n)
		memcpy(all + train->n, valid->ids, valid->n * sizeof *all);
	qsort(all, n, sizeof *all, idref_cmp);
	for (size_t i = 1; i < n; i++) {
		if (idref_cmp(&all[i - 1], &all[i]))
			continue;
		dups++;
		if (shown++ < 5)
			vp_warn("warning: duplicate id '%.*s' (%s record %" PRIu64 ", %s record %" PRIu64 ")",
				(int)(all[i].len > 200 ? 200 : all[i].len), all[i].id,
				all[i - 1].file, all[i - 1].record, all[i].file, all[i].record);
	}
	if (dups > 5)
		vp_warn("warning: %zu duplicate ids in all", dups);
	free(all);
}

/* Model classes are the training labels in byte order, so that the same
 * data gives the same model whatever the record order. */
static char **sorted_classes(const struct dataset *d)
{
	char **c = vp_xcalloc(d->nnames, sizeof *c);

	memcpy(c, d->names, d->nnames * sizeof *c);
	qsort(c, d->nnames, sizeof *c, top_strcmp_p);
	return c;
}

/* Rewrite d's label indices into positions in classes; names absent from
 * classes are listed in an error. */
static void relabel(struct dataset *d, char **classes, uint32_t nclass, const char *file)
{
	uint32_t *map = vp_xcalloc(d->nnames ? d->nnames : 1, sizeof *map);
	char missing[1024] = "";
	size_t nmissing = 0;

	for (uint32_t i = 0; i < d->nnames; i++) {
		char **hit = bsearch(&d->names[i], classes, nclass, sizeof *classes, top_strcmp_p);

		if (hit) {
			map[i] = (uint32_t)(hit - classes);
			continue;
		}
		nmissing++;
		snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s'%s'",
			 nmissing > 1 ? ", " : "", d->names[i]);
	}
	if (nmissing)
		vp_die(VP_EXIT_DATA, "%s: %zu validation class%s not in the training data: %s",
		       file, nmissing, nmissing > 1 ? "es" : "", missing);
	for (size_t i = 0; i < d->n; i++)
		d->y[i] = map[d->y[i]];
	free(map);
}

struct epoch_report {
	int show, patience;
	uint32_t epochs;
};

static void report_epoch(const struct top_history *h, void *arg)
{
	const struct epoch_report *r = arg;
	const struct top_epoch *ep = &h->epochs[h->n - 1];

	if (!r->show)
		return;
	if (isnan(ep->val_loss))
		fprintf(stderr, "%s: epoch %" PRIu32 "/%" PRIu32 ": loss %.4f accuracy %.4f\n",
			program_invocation_short_name, h->n, r->epochs, ep->loss, ep->accuracy);
	else
		fprintf(stderr, "%s: epoch %" PRIu32 "/%" PRIu32 ": loss %.4f accuracy %.4f"
			" val_loss %.4f val_accuracy %.4f%s\n", program_invocation_short_name,
			h->n, r->epochs, ep->loss, ep->accuracy, ep->val_loss, ep->val_accuracy,
			r->patience && h->best == h->n ? " (best)" : "");
}

static void write_history(const char *path, const struct top_history *h)
{
	struct vp_out out;
	struct vp_err e;

	if (vp_out_open(&out, path, &e))
		vp_die(VP_EXIT_DATA, "%s", e.msg);
	fputs("epoch\tloss\taccuracy\tval_loss\tval_accuracy\n", out.f);
	for (uint32_t i = 0; i < h->n; i++) {
		const struct top_epoch *ep = &h->epochs[i];

		fprintf(out.f, "%" PRIu32 "\t%.6g\t%.6g\t%.6g\t%.6g\n", i + 1, ep->loss,
			ep->accuracy, ep->val_loss, ep->val_accuracy);
	}
	if (vp_out_commit(&out, &e))
		vp_die(VP_EXIT_DATA, "%s", e.msg);
}

int main(int argc, char **argv)
{
	struct options o;
	struct dataset train = { .what = "topfit" }, valid = { .what = "--valid" };
	struct reference ref = { 0 };
	struct top_model m;
	struct top_history h;
	struct vp_out out;
	struct vp_err e;
	char **classes;
	int progress;
	struct epoch_report rep;

	parse_options(argc, argv, &o);
	progress = vp_progress_enabled(o.progress);
	if (o.threads)
		openblas_set_num_threads(o.threads);
	else
		o.threads = openblas_get_num_threads();
	/* Opened first: a bad -o fails before the training, not after. */
	if (vp_out_open(&out, o.output, &e))
		vp_die(VP_EXIT_DATA, "%s", e.msg);

	if (o.ninputs == 0)
		load(&train, "-", &ref);
	for (int i = 0; i < o.ninputs; i++)
		load(&train, o.inputs[i], &ref);
	if (o.valid)
		load(&valid, o.valid, &ref);
	if (o.valid && !valid.n)
		vp_die(VP_EXIT_DATA, "%s: no records to validate on", o.valid);
	if (train.nnames < 2)
		vp_die(VP_EXIT_DATA, "the training data has %" PRIu32 " class%s (%zu records); "
		       "a classifier needs at least two", train.nnames,
		       train.nnames == 1 ? "" : "es", train.n);
	if (valid.n && (valid.rank != train.rank ||
			memcmp(valid.shape, train.shape, sizeof train.shape)))
		vp_die(VP_EXIT_DATA, "%s: features of %" PRIu32 " values, the training "
		       "features have %" PRIu32 " (or another shape)", o.valid, valid.dim, train.dim);
	classes = sorted_classes(&train);
	relabel(&train, classes, train.nnames, "training");
	if (o.valid) {
		relabel(&valid, classes, train.nnames, o.valid);
		for (uint32_t c = 0; c < train.nnames; c++) {
			size_t k = 0;

			while (k < valid.n && valid.y[k] != c)
				k++;
			if (k == valid.n)
				vp_warn("warning: class '%s' has no validation records", classes[c]);
		}
	}
	warn_duplicates(&train, &valid);
	if (progress)
		vp_warn("holding %zu training records x %" PRIu32 " features in memory (%.1f MB)",
			train.n, train.dim, (double)train.n * train.dim * 4 / 1e6);

	if (top_model_build(&m, train.rank, train.shape, o.hidden, o.nhidden, o.batchnorm,
			    o.dropout, train.nnames, classes, &e) ||
	    top_model_set_provenance(&m, &ref.prov.obj, &e))
		vp_die(VP_EXIT_DATA, "%s", e.msg);
	struct top_hparams hp = {
		.optimizer = optimizers[o.optimizer], .lr = o.lr, .momentum = o.momentum,
		.l2 = o.l2, .dropout = o.nhidden ? o.dropout : 0, .hidden = o.hidden,
		.nhidden = o.nhidden, .batchnorm = o.batchnorm, .balance = o.balance,
		.epochs = o.epochs, .batch = o.batch, .patience = o.patience,
		.threads = (uint32_t)o.threads, .seed = o.seed,
	};
	struct top_data td = { .n = train.n, .dim = train.dim, .x = train.x, .y = train.y };
	struct top_data vd = { .n = valid.n, .dim = valid.dim, .x = valid.x, .y = valid.y };

	rep = (struct epoch_report){ .show = progress, .patience = o.patience > 0,
				     .epochs = o.epochs };
	if (top_train(&m, &hp, &td, o.valid ? &vd : NULL, &h, report_epoch, &rep, &e))
		vp_die(VP_EXIT_DATA, "%s", e.msg);
	if (progress && h.n < o.epochs)
		vp_warn("stopped after epoch %" PRIu32 "; keeping epoch %" PRIu32, h.n, h.best);
	if (o.history)
		write_history(o.history, &h);
	top_model_write(&m, &hp, &h, out.f);
	if (vp_out_commit(&out, &e))
		vp_die(VP_EXIT_DATA, "%s", e.msg);
	free(h.epochs);
	free(classes);
	top_model_free(&m);
	top_obj_free(&ref.prov);
	dataset_free(&train);
	dataset_free(&valid);
	return VP_EXIT_OK;
}
