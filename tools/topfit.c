/* topfit: train the top model on labelled feature streams and write it as
 * a model stream. The dense top's training set is held in memory: every
 * epoch passes over it again, in a new order. Fine-tuning VGG16's last
 * block with the top instead indexes block4_pool features in their files
 * and reads each batch from there. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "emit.h"
#include "err.h"
#include "featset.h"
#include "finetune.h"
#include "model.h"
#include "modelfile.h"
#include "names.h"
#include "outfile.h"
#include "split.h"
#include "stats.h"
#include "suspects.h"
#include "table.h"
#include "train.h"
#include "vgg16.h"
#include "weights.h"

#define MAX_HIDDEN 64

enum { FMT_CSV, FMT_TSV, FMT_JSONL, FMT_MSGPACK };

struct options {
	const char *valid, *history, *init, *weights;
	const char *final_model, *suspects;   /* cross-validation's outputs */
	struct cli_common com;
	uint32_t hidden[MAX_HIDDEN];
	struct model_top top;        /* a new top's shape */
	int hidden_set;
	double lr, momentum, l2, holdout;
	int balance, optimizer, lr_set, shuffle, keep, keep_set, holdout_set;
	int optimizer_set, dropout_set, random, finetune, batch_set, warmup_set;
	uint32_t epochs, batch, patience, warmup, folds;
	int format, format_set;
	uint64_t seed, weights_seed;
	char **inputs;
	int ninputs;
};

/* Chollet's fine-tuning of block 5: SGD with momentum 0.9, batches of 16,
 * 50 epochs; but the learning rate is found (train.h), not his 1e-4, which
 * suits images scaled to 0..1 and not the weights' own preprocessing. A
 * top trained from scratch first warms up for this many epochs with the
 * block frozen. Without --valid, this share of the images is held out to
 * validate on. */
#define FINETUNE_BATCH 16
#define FINETUNE_WARMUP 10
#define FINETUNE_HOLDOUT 0.1

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
	       "      --no-standardize do not standardise the features (by default each\n"
	       "                       feature, or channel of a map, is centred and scaled\n"
	       "                       by the training set's mean and deviation)\n"
	       "      --optimizer NAME adam, sgd (with momentum) or rmsprop (default adam;\n"
	       "                       sgd when fine-tuning)\n"
	       "      --lr X           learning rate (default 0.001; sgd 0.01; fine-tuning:\n"
	       "                       found by a learning-rate range test)\n"
	       "      --momentum X     sgd momentum (default 0.9)\n"
	       "      --epochs N       passes over the training images (default 50)\n"
	       "      --batch N        records per gradient step (default 32; fine-tuning 16)\n"
	       "      --l2 X           weight of the squared dense weights in the objective\n"
	       "                       (default 0)\n"
	       "      --balance        weight classes by inverse frequency\n"
	       "      --patience N     with validation: stop after N epochs without a lower\n"
	       "                       validation loss, keep the best epoch (default 0: off)\n"
	       "      --keep WHICH     best (the epoch of the lowest validation loss, the\n"
	       "                       start of fine-tuning included) or last (default: best\n"
	       "                       when fine-tuning, else last)\n"
	       "      --holdout F      without --valid, validate on this share of the\n"
	       "                       training images, all copies of each held out (default\n"
	       "                       %g when fine-tuning, else 0: none)\n"
	       "      --no-shuffle     take the images in input order every epoch\n"
	       "  -t, --threads N      threads (default: every available core)\n"
	       "      --seed N         random seed for initialisation, order, dropout (default 1)\n"
	       "      --history FILE   write the per-epoch history as TSV\n"
	       "      --progress       per-epoch lines on stderr even when not a terminal\n"
	       "  -q, --quiet          no progress, even on a terminal\n"
	       "  -h, --help           show this help and exit\n"
	       "  -V, --version        show the version and exit\n"
	       "\n"
	       "Cross-validation: K models, each validated on a fold of the images it was\n"
	       "not trained on; the output is every image's out-of-fold prediction:\n"
	       "      --folds K        split the training images into K folds, each class\n"
	       "                       spread evenly, all copies of an image in one fold\n"
	       "  -f, --format FORMAT  of the predictions: csv (default), tsv, jsonl or msgpack\n"
	       "      --suspects FILE  write the images whose label the predictions doubt\n"
	       "                       (confident learning), most suspect first, as CSV\n"
	       "      --final-model FILE  then train a model on all the images, write it to FILE\n"
	       "\n"
	       "Fine-tuning VGG16's last block with the top, on block4_pool features:\n"
	       "      --finetune block5  train block 5 (three convolutions and the pool)\n"
	       "                       with the top\n"
	       "      --init MODEL     the top to start from: a model trained by topfit on\n"
	       "                       block5_pool features of the same images' kind\n"
	       "      --warmup N       without --init: epochs that train a new top with block 5\n"
	       "                       frozen, by adam, before both are tuned (default %d)\n"
	       "  -w, --weights FILE   the VGG16 weights the features were made with (default:\n"
	       "                       $VGGPIPE_WEIGHTS, else ~/.keras/models/%s)\n"
	       "      --init-random SEED  the random weights of vggfeat --init-random SEED\n"
	       "      --algo ALGO      the convolutions: im2col, winograd (2 to 3 times fewer\n"
	       "                       multiplications) or auto (default: winograd on maps\n"
	       "                       of 3x3 and more, im2col on smaller ones)\n"
	       "\n"
	       "Exit status: 0 success, 1 a data error, 2 a usage error.\n",
	       program_invocation_short_name, FINETUNE_HOLDOUT, FINETUNE_WARMUP,
	       WEIGHTS_KERAS_FILE);
	cli_close_stdout();
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
			cli_usage_error("--hidden: more than %d layers", max);
		if (len >= sizeof item)
			cli_usage_error("--hidden: '%s' is not a list of widths", arg);
		memcpy(item, p, len);
		item[len] = 0;
		hidden[n++] = (uint32_t)cli_opt_int("--hidden", item, 1, 1 << 16);
		if (!p[len])
			return n;
		p += len + 1;
	}
}

static void parse_options(int argc, char **argv, struct options *o)
{
	enum { O_VALID = CLI_OPT_TOOL, O_HIDDEN, O_DROPOUT, O_BATCHNORM, O_OPTIMIZER, O_LR,
	       O_MOMENTUM, O_EPOCHS, O_BATCH, O_L2, O_BALANCE, O_PATIENCE, O_SEED,
	       O_HISTORY, O_NO_STANDARDIZE, O_NO_SHUFFLE, O_FINETUNE, O_INIT, O_WARMUP,
	       O_INIT_RANDOM, O_KEEP, O_HOLDOUT, O_FOLDS, O_SUSPECTS, O_FINAL_MODEL };
	static const char *const formats[] = { "csv", "tsv", "jsonl", "msgpack", NULL };
	static const struct option longopts[] = {
		CLI_LONGOPTS_BASIC, CLI_LONGOPTS_RUN, CLI_LONGOPTS_ALGO,
		{ "valid", required_argument, NULL, O_VALID },
		{ "hidden", required_argument, NULL, O_HIDDEN },
		{ "dropout", required_argument, NULL, O_DROPOUT },
		{ "batchnorm", no_argument, NULL, O_BATCHNORM },
		{ "no-standardize", no_argument, NULL, O_NO_STANDARDIZE },
		{ "optimizer", required_argument, NULL, O_OPTIMIZER },
		{ "lr", required_argument, NULL, O_LR },
		{ "momentum", required_argument, NULL, O_MOMENTUM },
		{ "epochs", required_argument, NULL, O_EPOCHS },
		{ "batch", required_argument, NULL, O_BATCH },
		{ "l2", required_argument, NULL, O_L2 },
		{ "balance", no_argument, NULL, O_BALANCE },
		{ "patience", required_argument, NULL, O_PATIENCE },
		{ "no-shuffle", no_argument, NULL, O_NO_SHUFFLE },
		{ "seed", required_argument, NULL, O_SEED },
		{ "history", required_argument, NULL, O_HISTORY },
		{ "finetune", required_argument, NULL, O_FINETUNE },
		{ "init", required_argument, NULL, O_INIT },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "weights", required_argument, NULL, 'w' },
		{ "init-random", required_argument, NULL, O_INIT_RANDOM },
		{ "keep", required_argument, NULL, O_KEEP },
		{ "holdout", required_argument, NULL, O_HOLDOUT },
		{ "folds", required_argument, NULL, O_FOLDS },
		{ "format", required_argument, NULL, 'f' },
		{ "suspects", required_argument, NULL, O_SUSPECTS },
		{ "final-model", required_argument, NULL, O_FINAL_MODEL },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof *o);
	o->hidden[0] = 256;
	o->top = (struct model_top){ .hidden = o->hidden, .nhidden = 1, .dropout = 0.5,
				     .standardize = 1 };
	o->momentum = 0.9;
	o->epochs = 50;
	o->batch = 32;
	o->seed = 1;
	o->shuffle = 1;
	o->warmup = FINETUNE_WARMUP;
	cli_common_init(&o->com);
	while ((c = cli_getopt(argc, argv, "o:t:w:f:qhV", longopts)) != -1) {
		if (cli_common_option(c, optarg, &o->com, usage))
			continue;
		switch (c) {
		case O_VALID: o->valid = optarg; break;
		case O_HIDDEN:
			o->top.nhidden = parse_hidden(optarg, o->hidden, MAX_HIDDEN);
			o->hidden_set = 1;
			break;
		case O_DROPOUT:
			o->top.dropout = cli_opt_double("--dropout", optarg, 0, 0.99);
			o->dropout_set = 1;
			break;
		case O_BATCHNORM: o->top.batchnorm = 1; break;
		case O_NO_STANDARDIZE: o->top.standardize = 0; break;
		case O_OPTIMIZER:
			o->optimizer = cli_opt_choice("--optimizer", optarg, train_optimizer_names);
			o->optimizer_set = 1;
			break;
		case O_LR: o->lr = cli_opt_double("--lr", optarg, 1e-12, 100); o->lr_set = 1; break;
		case O_MOMENTUM: o->momentum = cli_opt_double("--momentum", optarg, 0, 0.999999); break;
		case O_EPOCHS: o->epochs = (uint32_t)cli_opt_int("--epochs", optarg, 1, 1000000); break;
		case O_BATCH:
			o->batch = (uint32_t)cli_opt_int("--batch", optarg, 1, 1 << 20);
			o->batch_set = 1;
			break;
		case O_L2: o->l2 = cli_opt_double("--l2", optarg, 0, 1e6); break;
		case O_BALANCE: o->balance = 1; break;
		case O_PATIENCE: o->patience = (uint32_t)cli_opt_int("--patience", optarg, 0, 1000000); break;
		case O_NO_SHUFFLE: o->shuffle = 0; break;
		case O_SEED: o->seed = (uint64_t)cli_opt_int("--seed", optarg, 0, INT64_MAX); break;
		case O_HISTORY: o->history = optarg; break;
		case O_FINETUNE:
			o->finetune = 1 + cli_opt_choice("--finetune", optarg, finetune_blocks);
			break;
		case O_INIT: o->init = optarg; break;
		case O_WARMUP:
			o->warmup = (uint32_t)cli_opt_int("--warmup", optarg, 0, 1000000);
			o->warmup_set = 1;
			break;
		case 'w': o->weights = optarg; break;
		case O_INIT_RANDOM:
			o->random = 1;
			o->weights_seed = (uint64_t)cli_opt_int("--init-random", optarg, 0, LLONG_MAX);
			break;
		case O_KEEP:
			o->keep = cli_opt_choice("--keep", optarg, train_keep_names);
			o->keep_set = 1;
			break;
		case O_HOLDOUT:
			o->holdout = cli_opt_double("--holdout", optarg, 0, 0.5);
			o->holdout_set = 1;
			break;
		case O_FOLDS: o->folds = (uint32_t)cli_opt_int("--folds", optarg, 2, 1000); break;
		case 'f':
			o->format = cli_opt_choice("--format", optarg, formats);
			o->format_set = 1;
			break;
		case O_SUSPECTS: o->suspects = optarg; break;
		case O_FINAL_MODEL: o->final_model = optarg; break;
		default: cli_usage_try();
		}
	}
	if (!o->folds && (o->format_set || o->suspects || o->final_model))
		cli_usage_error("--format, --suspects and --final-model are for --folds");
	if (o->folds && (o->valid || o->holdout_set || o->finetune))
		cli_usage_error("--folds validates each model on a fold of the training images: "
				"it takes no --valid, --holdout or --finetune");
	if (o->folds && (o->patience || (o->keep_set && o->keep == TRAIN_KEEP_BEST)))
		cli_usage_error("--folds keeps each model's last epoch: --patience and --keep best "
				"would choose it by the very images it is scored on");
	if (o->folds && o->history && !o->final_model)
		cli_usage_error("--history with --folds is the history of --final-model's "
				"training: give --final-model FILE");
	if (o->valid && o->holdout_set && o->holdout > 0)
		cli_usage_error("--holdout splits the training images; --valid gives the "
				"validation features");
	if (o->finetune && !o->holdout_set && !o->valid)
		o->holdout = FINETUNE_HOLDOUT;
	if ((o->patience || (o->keep_set && o->keep == TRAIN_KEEP_BEST)) && !o->valid &&
	    !(o->holdout > 0))
		cli_usage_error("--patience and --keep best need validation: --valid FILE or "
				"--holdout F");
	if (o->patience && o->keep_set && o->keep == TRAIN_KEEP_LAST)
		cli_usage_error("--patience keeps the best epoch; --keep last keeps the last");
	/* Without validation there is no best to keep. */
	if (!o->keep_set)
		o->keep = o->finetune && (o->valid || o->holdout > 0) ? TRAIN_KEEP_BEST
								       : TRAIN_KEEP_LAST;
	if (!o->finetune && (o->init || o->weights || o->random || o->warmup_set ||
			     o->com.algo_set))
		cli_usage_error("--init, --warmup, --weights, --init-random and --algo are for "
				"--finetune");
	if (o->init && o->warmup_set)
		cli_usage_error("--warmup trains a new top; with --init the top is MODEL's");
	if (o->random && o->weights)
		cli_usage_error("--weights and --init-random exclude each other");
	if (o->init && (o->hidden_set || o->dropout_set || o->top.batchnorm ||
			!o->top.standardize))
		cli_usage_error("--hidden, --dropout, --batchnorm and --no-standardize shape a new "
				"top; with --init the top is MODEL's");
	if (o->finetune && !o->optimizer_set)
		o->optimizer = 1;
	if (o->finetune && !o->batch_set)
		o->batch = FINETUNE_BATCH;
	/* 0: found by the range test. */
	if (!o->lr_set)
		o->lr = o->finetune ? 0 : train_default_lr[o->optimizer];
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
	for (int i = 0; i < o->ninputs; i++)
		if (o->valid && !strcmp(o->inputs[i], o->valid))
			cli_usage_error("%s is both a training and the validation file", o->valid);
}

/* Model classes are the training labels in byte order, so that the same
 * data gives the same model whatever the record order. */
static char **sorted_classes(const struct feat_set *s)
{
	char **c = cli_xcalloc(s->nnames, sizeof *c);

	memcpy(c, s->names, s->nnames * sizeof *c);
	qsort(c, s->nnames, sizeof *c, names_cmp);
	return c;
}

/* The records' classes as positions in classes; names absent from classes
 * are listed in an error. */
static uint32_t *class_indices(const struct feat_set *s, char **classes, uint32_t nclass,
			       const char *file)
{
	uint32_t *map = cli_xcalloc(s->nnames ? s->nnames : 1, sizeof *map);
	uint32_t *y = cli_xcalloc(s->n ? s->n : 1, sizeof *y);
	char missing[1024] = "";
	size_t nmissing = 0;

	for (uint32_t i = 0; i < s->nnames; i++) {
		char **hit = bsearch(&s->names[i], classes, nclass, sizeof *classes, names_cmp);

		if (hit) {
			map[i] = (uint32_t)(hit - classes);
			continue;
		}
		nmissing++;
		snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s'%s'",
			 nmissing > 1 ? ", " : "", s->names[i]);
	}
	if (nmissing)
		cli_die(CLI_EXIT_DATA, "%s: %zu validation class%s not in the training data: %s",
			file, nmissing, nmissing > 1 ? "es" : "", missing);
	for (size_t i = 0; i < s->n; i++)
		y[i] = map[s->rec[i].label];
	free(map);
	return y;
}

/* A record as messages name it. */
struct idref {
	const struct feat_set *set;
	size_t i;
};

static int idref_cmp(const void *a, const void *b)
{
	const struct idref *x = a, *y = b;
	const struct feat_record *p = &x->set->rec[x->i], *q = &y->set->rec[y->i];
	int c = memcmp(p->id, q->id, p->id_len < q->id_len ? p->id_len : q->id_len);

	if (c || p->id_len != q->id_len)
		return c ? c : p->id_len < q->id_len ? -1 : 1;
	return (p->copy > q->copy) - (p->copy < q->copy);
}

static void warn_duplicate(const struct idref *a, const struct idref *b, size_t *shown)
{
	const struct feat_record *p = &a->set->rec[a->i], *q = &b->set->rec[b->i];

	if ((*shown)++ < 5)
		cli_warn("warning: duplicate id '%.*s' (%s record %" PRIu64 ", %s record %" PRIu64 ")",
			 (int)(q->id_len > 200 ? 200 : q->id_len), q->id, a->set->files[p->file],
			 p->record, b->set->files[q->file], q->record);
}

/* The same image twice in training (the same id and copy number), or in
 * both training and validation, is usually a mistake that flatters
 * validation: warn. Copies of one image are what augmentation makes. */
static void warn_duplicates(const struct feat_set *train, const struct feat_set *valid)
{
	size_t n = train->n + (valid ? valid->n : 0), shown = 0;
	struct idref *all = cli_xcalloc(n ? n : 1, sizeof *all);

	for (size_t i = 0; i < train->n; i++)
		all[i] = (struct idref){ train, i };
	for (size_t i = 0; valid && i < valid->n; i++)
		all[train->n + i] = (struct idref){ valid, i };
	qsort(all, n, sizeof *all, idref_cmp);
	for (size_t i = 1; i < n; i++) {
		const struct feat_record *p = &all[i - 1].set->rec[all[i - 1].i];
		const struct feat_record *q = &all[i].set->rec[all[i].i];
		int same_id = p->id_len == q->id_len && !memcmp(p->id, q->id, p->id_len);

		if (same_id && (all[i - 1].set != all[i].set || p->copy == q->copy))
			warn_duplicate(&all[i - 1], &all[i], &shown);
	}
	if (shown > 5)
		cli_warn("warning: %zu duplicate ids in all", shown);
	free(all);
}

struct epoch_report {
	int show, keep_best;
	uint32_t epochs, warmup;
	uint32_t fold, folds;        /* cross-validation's model, 1-based; 0: none */
};

static void report_epoch(const struct train_history *h, void *arg)
{
	const struct epoch_report *r = arg;
	const struct train_epoch *ep = &h->epochs[h->n - 1];
	int warming = h->n <= r->warmup && h->warmup == 0;
	uint32_t k = warming ? h->n : h->n - h->warmup;
	double rate = ep->seconds > 0 ? (double)h->train_images / ep->seconds : 0;

	if (!r->show)
		return;
	if (!warming && k == 1 && h->search.run)
		cli_warn("learning rate %.3g: the loss went far above the start's at %.3g in a "
			 "range test of %" PRIu32 " steps (%.1f s)", h->search.lr, h->search.edge,
			 h->search.steps, h->search.seconds);
	fprintf(stderr, "%s: ", program_invocation_short_name);
	if (r->folds)
		fprintf(stderr, "fold %" PRIu32 "/%" PRIu32 ", ", r->fold, r->folds);
	fprintf(stderr, "%sepoch %" PRIu32 "/%" PRIu32 ": loss %.4f accuracy %.4f",
		warming ? "warm-up " : "", k,
		warming ? r->warmup : r->epochs, ep->loss, ep->accuracy);
	if (ep->rolled_back) {
		fprintf(stderr, ", far above the start's %.4f at learning rate %.3g: rolled "
			"back, %s\n", h->start_train_loss, ep->lr,
			h->gave_up ? "given up" : "going on at a tenth of the rate");
		return;
	}
	if (!isnan(ep->val_loss))
		fprintf(stderr, " val_loss %.4f val_accuracy %.4f%s", ep->val_loss,
			ep->val_accuracy, !warming && r->keep_best && h->best == h->n ? " (best)" : "");
	fprintf(stderr, ", %.1f images/s\n", rate);
}

static void write_history(const char *path, const struct train_history *h)
{
	struct outfile out;
	struct err e;

	if (outfile_open(&out, path, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	fputs("epoch\tloss\taccuracy\tval_loss\tval_accuracy\tlr\trolled_back\n", out.f);
	for (uint32_t i = 0; i < h->n; i++) {
		const struct train_epoch *ep = &h->epochs[i];

		fprintf(out.f, "%" PRIu32 "\t%.6g\t%.6g\t%.6g\t%.6g\t%.6g\t%d\n", i + 1, ep->loss,
			ep->accuracy, ep->val_loss, ep->val_accuracy, ep->lr, ep->rolled_back);
	}
	if (outfile_commit(&out, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
}

/* Predictions nearly all of one class while hardly more accurate than
 * always giving the most common one, or no more accurate than that at all:
 * the model learned nothing useful. Where one class makes nearly the whole
 * set, nothing can be told apart from it. */
#define COLLAPSED_SHARE 0.95
#define COLLAPSED_MARGIN 0.05
#define CHANCE_MARGIN 0.01
#define COLLAPSE_MIN_RECORDS 20

static void warn_if_learned_nothing(const struct model *m, const struct train_data *d,
				    const char *what, const struct options *o)
{
	uint64_t *predicted = cli_xcalloc(m->nclass, sizeof *predicted);
	uint64_t *truth = cli_xcalloc(m->nclass, sizeof *truth), n = d->set->n;
	uint32_t top = 0, common = 0;
	double loss, accuracy, share, base;
	struct err e;

	if (n < COLLAPSE_MIN_RECORDS ||
	    train_evaluate(m, d, o->com.threads, o->com.algo, &loss, &accuracy, predicted,
			 NULL, &e))
		goto out;
	for (size_t i = 0; i < n; i++)
		truth[d->y[i]]++;
	for (uint32_t c = 1; c < m->nclass; c++) {
		top = predicted[c] > predicted[top] ? c : top;
		common = truth[c] > truth[common] ? c : common;
	}
	share = (double)predicted[top] / (double)n;
	base = (double)truth[common] / (double)n;
	if (base + CHANCE_MARGIN < 1 &&
	    ((share >= COLLAPSED_SHARE && accuracy < base + COLLAPSED_MARGIN) ||
	     accuracy <= base + CHANCE_MARGIN))
		cli_warn("warning: the model learned nothing useful: on the %" PRIu64 " %s records "
			 "it answers '%s' %.0f%% of the time, with accuracy %.3f, where always "
			 "answering the most common class ('%s') scores %.3f; %s", n, what,
			 m->classes[top], 100 * share, accuracy, m->classes[common], base,
			 !o->top.standardize ? "standardisation is off (--no-standardize): try without it"
					: "try a lower learning rate (--lr) or more epochs");
out:
	free(predicted);
	free(truth);
}

/* Cross-validation's predictions: the image's id, the class predicted
 * and its probability (as classify writes them), the label given, the
 * fold and every class's probability. */
static void oof_header(FILE *f, int tsv, char **classes, uint32_t nclass)
{
	char sep = tsv ? '\t' : ',';

	fprintf(f, "id%clabel%cprobability%cgiven%cfold", sep, sep, sep, sep);
	for (uint32_t c = 0; c < nclass; c++) {
		char *name = cli_xcalloc(strlen(classes[c]) + 4, 1);

		sprintf(name, "p(%s)", classes[c]);
		fputc(sep, f);
		table_str(f, tsv, name);
		free(name);
	}
	fputc('\n', f);
}

/* best: the class predicted, the most probable of prob [nclass]. */
static void oof_row(FILE *f, struct emit *em, int format, const struct feat_record *r,
		    char **classes, uint32_t nclass, uint32_t given, uint32_t fold,
		    const float *prob, uint32_t best)
{
	int tsv = format == FMT_TSV;
	char sep = tsv ? '\t' : ',';

	if (format == FMT_CSV || format == FMT_TSV) {
		table_field(f, tsv, r->id, r->id_len);
		fputc(sep, f);
		table_str(f, tsv, classes[best]);
		fprintf(f, "%c%.6g%c", sep, prob[best], sep);
		table_str(f, tsv, classes[given]);
		fprintf(f, "%c%" PRIu32, sep, fold + 1);
		for (uint32_t c = 0; c < nclass; c++)
			fprintf(f, "%c%.6g", sep, prob[c]);
		fputc('\n', f);
		return;
	}
	emit_map(em, 6);
	emit_key(em, "id");
	emit_bytes(em, r->id, r->id_len);
	emit_key(em, "label");
	emit_str(em, classes[best]);
	emit_key(em, "probability");
	emit_double(em, prob[best]);
	emit_key(em, "given");
	emit_str(em, classes[given]);
	emit_key(em, "fold");
	emit_uint(em, fold + 1);
	emit_key(em, "probabilities");
	emit_map(em, nclass);
	for (uint32_t c = 0; c < nclass; c++) {
		emit_key(em, classes[c]);
		emit_double(em, prob[c]);
	}
	emit_end(em);
	emit_end(em);
	if (em->json)
		fputc('\n', f);
}

static void write_suspects(const char *path, const struct feat_set *s, const float *prob,
			   const uint32_t *given, char **classes, uint32_t nclass,
			   const size_t *image_record, int quiet)
{
	char **ids = cli_xcalloc(s->images ? s->images : 1, sizeof *ids);
	size_t *lens = cli_xcalloc(s->images ? s->images : 1, sizeof *lens), n;
	struct err e;

	for (size_t i = 0; i < s->images; i++) {
		ids[i] = s->rec[image_record[i]].id;
		lens[i] = s->rec[image_record[i]].id_len;
	}
	if (suspects_save(path, prob, given, s->images, nclass, ids, lens, classes, &n, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	if (!quiet)
		cli_warn("%zu of the %zu images suspected of a wrong label (confident "
			 "learning): %s", n, s->images, path);
	free(ids);
	free(lens);
}

/* K models, each trained on the images of the other folds and validated
 * on its own fold's (their plain copies); every image's out-of-fold
 * probabilities to out. */
static void cross_validate(const struct options *o, const struct train_hparams *hp,
			   const struct feat_set *s, const uint32_t *y, char **classes,
			   uint32_t nclass, struct outfile *out, int progress)
{
	uint32_t k = o->folds, *fold = cli_xcalloc(s->images ? s->images : 1, sizeof *fold);
	uint32_t *given = cli_xcalloc(s->images ? s->images : 1, sizeof *given);
	uint32_t *best = cli_xcalloc(s->images ? s->images : 1, sizeof *best);
	float *prob = cli_xcalloc(s->images ? s->images : 1, nclass * sizeof *prob);
	size_t *image_record = cli_xcalloc(s->images ? s->images : 1, sizeof *image_record);
	double *loss = cli_xcalloc(k, sizeof *loss), *accuracy = cli_xcalloc(k, sizeof *accuracy);
	int quiet = o->com.progress == CLI_PROGRESS_OFF, format = o->format;
	uint64_t right = 0;
	struct emit em;
	struct err e;

	if (split_folds(s, y, k, hp->seed, (const char *const *)classes, fold, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	for (uint32_t f = 0; f < k; f++) {
		struct split sp;
		struct model m;
		struct train_history h;
		float *fold_prob;
		struct epoch_report rep = { .show = progress, .epochs = hp->epochs,
					    .fold = f + 1, .folds = k };

		if (split_fold(s, fold, f, &sp, &e) ||
		    model_build(&m, s->rank, s->shape, &o->top, nclass, classes, &e) ||
		    model_set_provenance(&m, &s->provenance.obj, &e))
			cli_die(CLI_EXIT_DATA, "%s", e.msg);
		struct train_data td = { .set = s, .y = y, .images = sp.train_images,
					 .nimages = sp.ntrain },
				  vd = { .set = s, .y = y, .records = sp.valid_records,
					 .nrecords = sp.nvalid };

		fold_prob = cli_xcalloc(sp.nvalid ? sp.nvalid : 1, nclass * sizeof *fold_prob);
		/* No epoch is chosen by the fold's images (--patience and
		 * --keep best are refused with --folds): they are evaluated
		 * once, after the last epoch, not after each. */
		if (train_run(&m, hp, &td, NULL, &h, report_epoch, &rep, &e) ||
		    train_evaluate(&m, &vd, o->com.threads, o->com.algo, &loss[f], &accuracy[f],
				   NULL, fold_prob, &e))
			cli_die(CLI_EXIT_DATA, "fold %" PRIu32 ": %s", f + 1, e.msg);
		for (size_t j = 0; j < sp.nvalid; j++) {
			size_t i = sp.valid_images[j], r = sp.valid_records[j];

			image_record[i] = r;
			given[i] = y[r];
			memcpy(prob + i * nclass, fold_prob + j * nclass, nclass * sizeof *prob);
		}
		if (!quiet)
			cli_warn("fold %" PRIu32 "/%" PRIu32 ": trained on %zu images, validated on "
				 "%zu: loss %.4f accuracy %.4f", f + 1, k, sp.ntrain, sp.nvalid,
				 loss[f], accuracy[f]);
		free(fold_prob);
		train_history_free(&h);
		model_free(&m);
		split_free(&sp);
	}
	for (size_t i = 0; i < s->images; i++) {
		const float *p = prob + i * nclass;

		for (uint32_t c = 1; c < nclass; c++)
			best[i] = p[c] > p[best[i]] ? c : best[i];
		right += best[i] == given[i];
	}
	if (!quiet)
		cli_warn("%" PRIu32 " folds: accuracy %.4f ± %.4f, loss %.4f ± %.4f (mean ± "
			 "standard deviation over the folds); out of fold, %zu images: accuracy "
			 "%.4f", k, stats_mean(accuracy, k), stats_sample_sd(accuracy, k),
			 stats_mean(loss, k), stats_sample_sd(loss, k), s->images,
			 s->images ? (double)right / (double)s->images : NAN);

	emit_init(&em, out->f, format == FMT_JSONL);
	if (format == FMT_CSV || format == FMT_TSV)
		oof_header(out->f, format == FMT_TSV, classes, nclass);
	for (size_t i = 0; i < s->images; i++)
		oof_row(out->f, &em, format, &s->rec[image_record[i]], classes, nclass, given[i],
			fold[i], prob + i * nclass, best[i]);
	if (emit_finish(&em, &e) || outfile_commit(out, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	if (o->suspects)
		write_suspects(o->suspects, s, prob, given, classes, nclass, image_record, quiet);
	free(fold);
	free(given);
	free(best);
	free(prob);
	free(image_record);
	free(loss);
	free(accuracy);
}

static void progress_records(uint64_t n)
{
	cli_progress("records read", n, 0, 0);
}

int main(int argc, char **argv)
{
	struct options o;
	struct feat_set train, valid;
	struct model m, init;
	struct train_history h;
	struct vgg16_weights w;
	struct outfile out, final_out, *model_out = &out;
	struct err e;
	struct epoch_report rep;
	char **classes;
	uint32_t *ty, *vy = NULL, nclass;
	int progress;

	parse_options(argc, argv, &o);
	progress = cli_progress_enabled(o.com.progress);
	/* Opened first: a bad -o fails before the training, not after.
	 * With --folds, -o is the predictions and the model, if any, goes to
	 * --final-model. */
	if (outfile_open(&out, o.com.output, &e) ||
	    (o.final_model && outfile_open(&final_out, o.final_model, &e)))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	if (o.final_model)
		model_out = &final_out;
	if (o.finetune && weights_find(o.weights, o.random, o.weights_seed, &w, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	if (o.init && modelfile_load(&init, o.init, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);

	if (feat_set_load(&train, o.inputs, o.ninputs, !o.finetune, NULL, NULL,
			  progress ? progress_records : NULL, &e) ||
	    (o.valid && feat_set_load(&valid, &(char *){ (char *)o.valid }, 1, !o.finetune,
				      &train, NULL, NULL, &e)))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	if (progress)
		cli_progress("records read", train.n, 0, 1);
	if (o.valid && !valid.n)
		cli_die(CLI_EXIT_DATA, "%s: no records to validate on", o.valid);
	if (train.nnames < 2)
		cli_die(CLI_EXIT_DATA, "the training data has %" PRIu32 " class%s (%zu records); "
			"a classifier needs at least two", train.nnames,
			train.nnames == 1 ? "" : "es", train.n);
	nclass = train.nnames;
	classes = sorted_classes(&train);
	ty = class_indices(&train, classes, nclass, "training");
	if (o.valid) {
		vy = class_indices(&valid, classes, nclass, o.valid);
		for (uint32_t c = 0; c < nclass; c++) {
			size_t k = 0;

			while (k < valid.n && vy[k] != c)
				k++;
			if (k == valid.n)
				cli_warn("warning: class '%s' has no validation records", classes[c]);
		}
	}
	warn_duplicates(&train, o.valid ? &valid : NULL);

	struct train_hparams hp = {
		.optimizer = (enum train_optimizer)o.optimizer, .lr = o.lr, .momentum = o.momentum,
		.l2 = o.l2, .dropout = o.top.nhidden ? o.top.dropout : 0, .hidden = o.hidden,
		.nhidden = o.top.nhidden, .batchnorm = o.top.batchnorm, .balance = o.balance,
		.standardize = o.top.standardize, .shuffle = o.shuffle,
		.epochs = o.epochs, .batch = o.batch, .patience = o.patience,
		.keep = (enum train_keep)o.keep, .holdout = o.holdout,
		.threads = (uint32_t)o.com.threads, .algo = o.com.algo, .seed = o.seed,
		.finetune = o.finetune ? finetune_blocks[o.finetune - 1] : NULL, .init = o.init,
		.warmup = o.warmup, .warmup_optimizer = TRAIN_ADAM,
		.warmup_lr = train_default_lr[TRAIN_ADAM],
	};
	if (o.folds) {
		cross_validate(&o, &hp, &train, ty, classes, nclass, &out, progress);
		if (!o.final_model)
			goto done;
		if (progress)
			cli_warn("the final model, on all %zu images", train.images);
	}
	if (o.init)
		model_describe_top(&init, o.hidden, MAX_HIDDEN, &o.top);
	if (o.finetune) {
		if (finetune_check_input(&train, &w, &e) ||
		    (o.init && finetune_check_init(&init, o.init, &train, classes, nclass, &e)) ||
		    finetune_build(&m, &train, &w, o.init ? &init : NULL, &o.top, classes, nclass,
				   &e))
			cli_die(CLI_EXIT_DATA, "%s", e.msg);
		/* Block 5 is the model's now; the rest of the base is not needed. */
		vgg16_weights_free(&w);
		if (progress)
			cli_warn("fine-tuning block 5 on %zu records of %zu images, [%" PRIu32 ", %"
				 PRIu32 ", %" PRIu32 "] each, read from their files in batches",
				 train.n, train.images, train.shape[0], train.shape[1], train.shape[2]);
	} else {
		if (model_build(&m, train.rank, train.shape, &o.top, nclass, classes, &e))
			cli_die(CLI_EXIT_DATA, "%s", e.msg);
		if (progress)
			cli_warn("holding %zu training records x %" PRIu32 " features in memory (%.1f MB)",
				 train.n, train.dim, (double)train.n * train.dim * 4 / 1e6);
	}
	if (model_set_provenance(&m, &train.provenance.obj, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	struct train_data td = { .set = &train, .y = ty }, vd = { .set = &valid, .y = vy };

	rep = (struct epoch_report){ .show = progress,
				     .keep_best = o.patience > 0 || o.keep == TRAIN_KEEP_BEST,
				     .epochs = o.epochs,
				     .warmup = o.finetune && !o.init ? o.warmup : 0 };
	if (train_run(&m, &hp, &td, o.valid ? &vd : NULL, &h, report_epoch, &rep, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	if (progress && h.holdout_ids)
		cli_warn("validated on %" PRIu64 " of the %zu training images, held out (--holdout "
			 "%g, seed %" PRIu64 "); their ids are in the model (training.holdout)",
			 h.valid_images, train.images, o.holdout, o.seed);
	if (h.gave_up)
		cli_warn("warning: training kept diverging (%" PRIu32 " epochs rolled back, down to "
			 "learning rate %.3g): kept %s", h.rollbacks, h.epochs[h.n - 1].lr,
			 isfinite(h.start_loss) ? "the epoch of the lowest validation loss, the "
			 "start included" : "the start");
	else if (progress && isfinite(h.start_loss) && h.best == h.warmup)
		cli_warn("no tuning epoch beat the validation loss tuning started from (%.4f): "
			 "keeping that model", h.start_loss);
	else if (progress && h.n < o.epochs + rep.warmup)
		cli_warn("stopped after epoch %" PRIu32 "; keeping epoch %" PRIu32,
			 h.n - h.warmup, h.best - h.warmup);
	warn_if_learned_nothing(&m, o.valid ? &vd : &td, o.valid ? "validation" : "training",
				&o);
	if (o.history)
		write_history(o.history, &h);
	if (modelfile_write(&m, &hp, &h, model_out->f, &e) || outfile_commit(model_out, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	train_history_free(&h);
	model_free(&m);
done:
	free(classes);
	free(ty);
	free(vy);
	if (o.init)
		model_free(&init);
	feat_set_free(&train);
	if (o.valid)
		feat_set_free(&valid);
	return CLI_EXIT_OK;
}
