#include "train.h"

#include <gsl/gsl_randist.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mix.h"
#include "split.h"
#include "nn.h"
#include "threads.h"

double train_loss_grad(const struct model *m, struct pass *p, const float *x, size_t n,
		       const uint32_t *y, const float *class_w, double l2, int first,
		       float *grad, double *penalty)
{
	const int last = m->nlayers - 1;
	double loss = 0;

	*penalty = 0;
	pass_forward(m, p, x, n);
	for (size_t r = 0; r < n; r++)
		loss += (class_w ? class_w[y[r]] : 1.0) * pass_row_xent(m, p, x, r, y[r]);
	loss /= (double)n;
	/* The softmax's gradient fused with the loss's, at the logits. */
	nn_softmax_xent_backward(p->act[last], y, class_w, p->delta[0], n, m->nclass);
	pass_backward(m, p, x, n, last - 1, p->delta[0], first, grad, 0);
	if (l2 == 0)
		return loss;
	for (int i = last - 1; i >= first; i--) {
		const struct layer *l = &m->layers[i];
		const struct layer_desc *d = layer_desc_of(l);

		for (int t = 0; t < d->ntensors; t++) {
			const float *w = layer_tensor_data(l, t);
			float *dw = grad + (w - m->params);
			size_t count = layer_tensor_floats(l, t);
			double ss = 0;

			if (!d->tensors[t].decayed)
				continue;
			for (size_t j = 0; j < count; j++) {
				dw[j] += (float)(2 * l2) * w[j];
				ss += (double)w[j] * w[j];
			}
			*penalty += l2 * ss;
		}
	}
	return loss + *penalty;
}

void train_init_params(struct model *m, gsl_rng *rng)
{
	for (int i = 0; i < m->nlayers; i++)
		if (layer_desc_of(&m->layers[i])->drawn)
			layer_reset(&m->layers[i], rng);
}

static size_t data_images(const struct train_data *d)
{
	return d->images ? d->nimages : d->set->images;
}

static size_t data_image(const struct train_data *d, size_t i)
{
	return d->images ? d->images[i] : i;
}

static size_t data_records(const struct train_data *d)
{
	return d->records ? d->nrecords : d->set->n;
}

static size_t data_record(const struct train_data *d, size_t i)
{
	return d->records ? d->records[i] : i;
}

/* The records of the images trained on. */
static size_t data_image_records(const struct train_data *d)
{
	const struct feat_set *s = d->set;
	size_t n = 0;

	for (size_t i = 0; i < data_images(d); i++)
		n += s->first[data_image(d, i) + 1] - s->first[data_image(d, i)];
	return n;
}

/* Records per pass over data already at hand: enough for the GEMMs to be
 * efficient; a model with convolutions takes what model_batch_rows allows. */
#define EVAL_ROWS 256

static size_t eval_rows(const struct model *m)
{
	return model_top_start(m) ? model_batch_rows(m) : EVAL_ROWS;
}

int train_evaluate(const struct model *m, const struct train_data *d, int threads,
		   enum nn_algo algo, double *loss, double *accuracy, uint64_t *predicted,
		   float *prob, struct err *e)
{
	const struct feat_set *s = d->set;
	size_t rows = eval_rows(m), right = 0, *idx = NULL, n = data_records(d);
	struct pass p;
	float *x = NULL;
	double sum = 0;
	int rc = -1;

	if (predicted)
		memset(predicted, 0, m->nclass * sizeof *predicted);
	if (pass_init(&p, m, rows, threads, algo, PASS_INFERENCE, e))
		return -1;
	if (!(x = err_calloc(rows, (size_t)s->dim * sizeof *x, e)) ||
	    !(idx = err_calloc(rows, sizeof *idx, e)))
		goto out;
	for (size_t start = 0; start < n; start += rows) {
		size_t b = n - start < rows ? n - start : rows;

		for (size_t r = 0; r < b; r++)
			idx[r] = data_record(d, start + r);
		if (feat_set_read(s, idx, b, x, e))
			goto out;
		pass_forward(m, &p, x, b);
		if (prob)
			memcpy(prob + start * m->nclass, p.act[m->nlayers - 1],
			       b * m->nclass * sizeof *prob);
		for (size_t r = 0; r < b; r++) {
			uint32_t pred = pass_row_argmax(m, &p, r);

			sum += pass_row_xent(m, &p, x, r, d->y[idx[r]]);
			right += pred == d->y[idx[r]];
			if (predicted)
				predicted[pred]++;
		}
	}
	*loss = n ? sum / (double)n : NAN;
	*accuracy = n ? (double)right / (double)n : NAN;
	rc = 0;
out:
	free(x);
	free(idx);
	pass_free(&p, m);
	return rc;
}

/* Features whose deviation is this small against their mean (or in
 * absolute value) are taken as constant: scaling them up would only
 * amplify rounding. A constant feature gets a scale of 0: nothing above
 * it learned from it, and a value training never saw must not reach the
 * layers above at whatever size the features come in (a scale of 1 let
 * block5_pool features 1000 times larger drop a top's accuracy from 0.81
 * to 0.78, and multiply its loss by 8). */
#define STD_RELATIVE_FLOOR 1e-6
#define STD_ABSOLUTE_FLOOR 1e-12

int train_fit_standardize(struct model *m, int layer, const struct train_data *train,
			int threads, enum nn_algo algo, struct err *e)
{
	const struct feat_set *s = train->set;
	struct layer *l = &m->layers[layer];
	struct model head = *m;
	size_t rows = eval_rows(m), *idx = NULL;
	double *shift = NULL, *sum = NULL, *sq = NULL;
	uint64_t count = 0;
	struct pass p;
	float *x = NULL;
	int rc = -1;

	/* A pass through the layers before this one only. */
	head.nlayers = layer;
	if (pass_init(&p, &head, rows, threads, algo, PASS_INFERENCE, e))
		return -1;
	if (!(x = err_calloc(rows, (size_t)s->dim * sizeof *x, e)) ||
	    !(idx = err_calloc(rows, sizeof *idx, e)) ||
	    !(shift = err_calloc(l->c, sizeof *shift, e)) ||
	    !(sum = err_calloc(l->c, sizeof *sum, e)) || !(sq = err_calloc(l->c, sizeof *sq, e)))
		goto out;
	for (size_t start = 0; start < data_images(train); start += rows) {
		size_t b = data_images(train) - start < rows ? data_images(train) - start : rows;
		const float *in;

		for (size_t r = 0; r < b; r++)
			idx[r] = s->members[s->first[data_image(train, start + r)]];
		if (feat_set_read(s, idx, b, x, e))
			goto out;
		pass_forward(&head, &p, x, b);
		in = layer ? p.act[layer - 1] : x;
		/* Sums about the first value seen: no cancellation when the
		 * mean is large against the deviation. */
		if (!count)
			for (uint32_t j = 0; j < l->c; j++)
				shift[j] = in[j];
		for (size_t q = 0; q < b * l->h * l->w; q++)
			for (uint32_t j = 0; j < l->c; j++) {
				double d = in[q * l->c + j] - shift[j];

				sum[j] += d;
				sq[j] += d * d;
			}
		count += b * l->h * l->w;
	}
	for (uint32_t j = 0; j < l->c && count; j++) {
		double mean = sum[j] / (double)count;
		double var = sq[j] / (double)count - mean * mean;
		double sd = var > 0 ? sqrt(var) : 0;

		l->mean[j] = (float)(shift[j] + mean);
		l->scale[j] = sd <= STD_ABSOLUTE_FLOOR ||
			      sd <= STD_RELATIVE_FLOOR * fabs(shift[j] + mean) ? 0.0f :
			      (float)(1 / sd);
	}
	rc = 0;
out:
	free(x);
	free(idx);
	free(shift);
	free(sum);
	free(sq);
	pass_free(&p, &head);
	return rc;
}

const char *const train_optimizer_names[] = { "adam", "sgd", "rmsprop", NULL };
const char *const train_keep_names[] = { "best", "last", NULL };
const double train_default_lr[] = { 1e-3, 1e-2, 1e-3 };

struct optimizer {
	enum train_optimizer kind;
	double lr, momentum;
	uint64_t t;
	float *w;
	const float *g;
	float *s1, *s2; /* Adam's moments, SGD's velocity, RMSprop's mean square */
};

#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define OPT_EPS 1e-8
#define RMSPROP_RHO 0.9
/* The update is elementwise and bound by memory bandwidth on a large
 * layer: it is cut into chunks of this many parameters for the threads. */
#define OPT_CHUNK ((size_t)1 << 16)

/* PyTorch's update rules, so that the same hyper-parameters mean the same
 * training there and here, on parameters [lo, hi). */
static void optimizer_range(const struct optimizer *o, size_t lo, size_t hi)
{
	float *w = o->w;
	const float *g = o->g;

	if (o->kind == TRAIN_ADAM) {
		/* w -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), one division
		 * fewer: both sides multiplied by sqrt(bc2). */
		float b1 = (float)ADAM_BETA1, b2 = (float)ADAM_BETA2;
		double bc1 = 1 - pow(ADAM_BETA1, (double)o->t), bc2 = sqrt(1 - pow(ADAM_BETA2, (double)o->t));
		float step = (float)(o->lr / bc1 * bc2), eps = (float)(OPT_EPS * bc2);

		for (size_t i = lo; i < hi; i++) {
			o->s1[i] = b1 * o->s1[i] + (1 - b1) * g[i];
			o->s2[i] = b2 * o->s2[i] + (1 - b2) * g[i] * g[i];
			w[i] -= step * o->s1[i] / (sqrtf(o->s2[i]) + eps);
		}
	} else if (o->kind == TRAIN_SGD) {
		float mu = (float)o->momentum, lr = (float)o->lr;

		for (size_t i = lo; i < hi; i++) {
			o->s1[i] = mu * o->s1[i] + g[i];
			w[i] -= lr * o->s1[i];
		}
	} else {
		float rho = (float)RMSPROP_RHO, lr = (float)o->lr;

		for (size_t i = lo; i < hi; i++) {
			o->s1[i] = rho * o->s1[i] + (1 - rho) * g[i] * g[i];
			w[i] -= lr * g[i] / (sqrtf(o->s1[i]) + (float)OPT_EPS);
		}
	}
}

struct opt_job {
	const struct optimizer *o;
	size_t lo, hi;
};

static void optimizer_task(void *ctx, size_t task, int thread)
{
	const struct opt_job *j = ctx;
	size_t lo = j->lo + task * OPT_CHUNK;

	(void)thread;
	optimizer_range(j->o, lo, lo + OPT_CHUNK < j->hi ? lo + OPT_CHUNK : j->hi);
}

/* One step on parameters [lo, hi) of w, gradient g. */
static void optimizer_step(struct optimizer *o, int threads, float *w, const float *g,
			   size_t lo, size_t hi)
{
	struct opt_job j = { .o = o, .lo = lo, .hi = hi };

	o->t++;
	o->w = w;
	o->g = g;
	threads_parallel(threads, (hi - lo + OPT_CHUNK - 1) / OPT_CHUNK, optimizer_task, &j);
}

/* What a training step changes beyond the trained tensors, in layers
 * [first, ...): batchnorm's running statistics. */
static void after_step(struct model *m, const struct pass *p, size_t rows, int first)
{
	for (int i = first; i < m->nlayers; i++) {
		const struct layer_desc *d = layer_desc_of(&m->layers[i]);

		if (d->after_step)
			d->after_step(&m->layers[i], p->kept[i], rows);
	}
}

struct trainer {
	struct pass pass;
	float *grad, *xb, *class_w;
	/* What a phase returns to: anchor, its best state so far when it
	 * keeps the best epoch (the start first), else its last good epoch;
	 * start, the start of a phase that counts it and keeps the last
	 * epoch. Allocated when a phase needs them. */
	float *anchor, *start;
	uint32_t *yb;
	size_t *order, *batch, *offset;
	struct optimizer opt;
	gsl_rng *rng;
	/* The draws of passes that measure rather than train (the start's
	 * loss, the range test), apart, so that training draws the same
	 * numbers with or without them. */
	gsl_rng *probe;
	int threads;
};

static void trainer_free(struct trainer *t, const struct model *m)
{
	pass_free(&t->pass, m);
	free(t->grad);
	free(t->anchor);
	free(t->start);
	free(t->xb);
	free(t->class_w);
	free(t->yb);
	free(t->order);
	free(t->batch);
	free(t->offset);
	free(t->opt.s1);
	free(t->opt.s2);
	if (t->rng)
		gsl_rng_free(t->rng);
	if (t->probe)
		gsl_rng_free(t->probe);
}

static int trainer_init(struct trainer *t, struct model *m, const struct train_hparams *hp,
			const struct train_data *train, struct err *e)
{
	const struct feat_set *s = train->set;
	size_t cap = hp->batch, images = data_images(train);

	memset(t, 0, sizeof *t);
	t->threads = hp->threads ? (int)hp->threads : 1;
	if (!(t->rng = gsl_rng_alloc(gsl_rng_mt19937)) ||
	    !(t->probe = gsl_rng_alloc(gsl_rng_mt19937)))
		return err_fail(e, "out of memory");
	gsl_rng_set(t->rng, (unsigned long)hp->seed);
	gsl_rng_set(t->probe, (unsigned long)mix_u64(hp->seed));
	if (pass_init(&t->pass, m, cap, t->threads, hp->algo, PASS_TRAINING, e))
		return -1;
	t->pass.rng = t->rng;
	if (!(t->grad = err_calloc(m->ntrain ? m->ntrain : 1, sizeof(float), e)) ||
	    !(t->xb = err_calloc(cap, (size_t)s->dim * sizeof(float), e)) ||
	    !(t->yb = err_calloc(cap, sizeof *t->yb, e)) ||
	    !(t->class_w = err_calloc(m->nclass, sizeof(float), e)) ||
	    !(t->order = err_calloc(images ? images : 1, sizeof *t->order, e)) ||
	    !(t->batch = err_calloc(cap, sizeof *t->batch, e)) ||
	    !(t->offset = err_calloc(s->images ? s->images : 1, sizeof *t->offset, e)) ||
	    !(t->opt.s1 = err_calloc(m->ntrain ? m->ntrain : 1, sizeof(float), e)))
		return -1;
	for (size_t i = 0; i < images; i++)
		t->order[i] = data_image(train, i);
	/* Inverse frequency, normalised so that a balanced set weighs 1. */
	for (uint32_t c = 0; c < m->nclass; c++)
		t->class_w[c] = 1;
	if (hp->balance) {
		size_t *count = err_calloc(m->nclass, sizeof *count, e), n = 0;

		if (!count)
			return -1;
		for (size_t i = 0; i < images; i++) {
			size_t img = data_image(train, i);

			for (size_t k = s->first[img]; k < s->first[img + 1]; k++, n++)
				count[train->y[s->members[k]]]++;
		}
		for (uint32_t c = 0; c < m->nclass; c++)
			if (count[c])
				t->class_w[c] = (float)((double)n / ((double)m->nclass * count[c]));
		free(count);
	}
	return 0;
}

/* A phase starts its optimiser afresh, and so does a roll-back. */
static int optimizer_start(struct trainer *t, const struct model *m,
			   enum train_optimizer kind, double lr, double momentum, struct err *e)
{
	t->opt.kind = kind;
	t->opt.lr = lr;
	t->opt.momentum = momentum;
	t->opt.t = 0;
	memset(t->opt.s1, 0, (m->ntrain ? m->ntrain : 1) * sizeof *t->opt.s1);
	/* Only Adam keeps a second moment. */
	if (kind == TRAIN_ADAM && !t->opt.s2 &&
	    !(t->opt.s2 = err_calloc(m->ntrain ? m->ntrain : 1, sizeof(float), e)))
		return -1;
	if (t->opt.s2)
		memset(t->opt.s2, 0, (m->ntrain ? m->ntrain : 1) * sizeof *t->opt.s2);
	return 0;
}

/* Where the trained parameters of layers [first, ...) begin: they are
 * laid out in layer order. */
static size_t trained_offset(const struct model *m, int first)
{
	for (int i = first; i < m->nlayers; i++) {
		const struct layer_desc *d = layer_desc_of(&m->layers[i]);

		for (int k = 0; k < d->ntensors; k++)
			if (d->tensors[k].trained)
				return (size_t)(layer_tensor_data(&m->layers[i], k) - m->params);
	}
	return m->ntrain;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The records of batch [begin, begin + b) of an order of images, each
 * image's copy for the epoch, into t->batch and t->yb, their features
 * into t->xb. */
static int read_batch(struct trainer *t, const struct train_data *d, const size_t *order,
		      size_t begin, size_t b, uint32_t epoch, struct err *e)
{
	const struct feat_set *s = d->set;

	for (size_t r = 0; r < b; r++) {
		size_t img = order[begin + r];
		size_t copies = s->first[img + 1] - s->first[img];

		t->batch[r] = s->members[s->first[img] + (t->offset[img] + epoch) % copies];
		t->yb[r] = d->y[t->batch[r]];
	}
	return feat_set_read(s, t->batch, b, t->xb, e);
}

/* One pass over the training images, updating the parameters of layers
 * [first, ...); the epoch's weighted cross-entropy (without the l2 term)
 * and accuracy into ep. An epoch whose loss stops being finite ends at
 * that batch, its loss not finite. */
static int train_epoch(struct trainer *t, struct model *m, const struct train_hparams *hp,
		       const struct train_data *d, uint32_t epoch, int first,
		       struct train_epoch *ep, struct err *e)
{
	size_t right = 0, lo = trained_offset(m, first), images = data_images(d);
	double sum = 0, start = now_seconds();

	if (hp->shuffle)
		gsl_ran_shuffle(t->rng, t->order, images, sizeof *t->order);
	for (size_t begin = 0; begin < images; begin += hp->batch) {
		size_t b = images - begin < hp->batch ? images - begin : hp->batch;
		double penalty, loss;

		if (read_batch(t, d, t->order, begin, b, epoch, e))
			return -1;
		loss = train_loss_grad(m, &t->pass, t->xb, b, t->yb, t->class_w, hp->l2, first,
				       t->grad, &penalty);
		sum += (loss - penalty) * (double)b;
		if (!isfinite(sum))
			break;
		for (size_t r = 0; r < b; r++)
			right += pass_row_argmax(m, &t->pass, r) == t->yb[r];
		after_step(m, &t->pass, b, first);
		optimizer_step(&t->opt, t->threads, m->params, t->grad, lo, m->ntrain);
	}
	ep->loss = sum / (double)images;
	ep->accuracy = (double)right / (double)images;
	ep->seconds = now_seconds() - start;
	ep->lr = t->opt.lr;
	return 0;
}

int train_diverged(double loss, double start, uint32_t nclass)
{
	return !isfinite(loss) || (loss > 2 * start && loss > start + 0.5 * log(nclass));
}

/* Batches that measure: the training images in an order drawn from the
 * probe, each image in its copy of the first epoch, so that the start's
 * loss and the range test see the same batches. */
static size_t *probe_order(struct trainer *t, const struct train_data *d, struct err *e)
{
	size_t n = data_images(d), *order = err_calloc(n ? n : 1, sizeof *order, e);

	if (!order)
		return NULL;
	for (size_t i = 0; i < n; i++)
		order[i] = data_image(d, i);
	gsl_ran_shuffle(t->probe, order, n, sizeof *order);
	return order;
}

/* Batches the start's training loss is measured on: enough to average out
 * a batch's noise, few beside an epoch. */
#define START_BATCHES 8

/* The training loss at the current parameters, as train_epoch measures
 * it (training mode, class weights, no l2 term), over the first batches
 * of order, with nothing updated. */
static int start_loss(struct trainer *t, struct model *m, const struct train_data *d,
		      const size_t *order, double *loss, struct err *e)
{
	size_t images = data_images(d), seen = 0, b;
	double sum = 0;

	t->pass.rng = t->probe;
	for (size_t begin = 0; begin < images && begin < START_BATCHES * t->pass.cap;
	     begin += b) {
		b = images - begin < t->pass.cap ? images - begin : t->pass.cap;
		if (read_batch(t, d, order, begin, b, 0, e)) {
			t->pass.rng = t->rng;
			return -1;
		}
		pass_forward(m, &t->pass, t->xb, b);
		for (size_t r = 0; r < b; r++)
			sum += t->class_w[t->yb[r]] * pass_row_xent(m, &t->pass, t->xb, r, t->yb[r]);
		seen += b;
	}
	t->pass.rng = t->rng;
	*loss = seen ? sum / (double)seen : NAN;
	return 0;
}

/* The range test (train.h) from the current parameters, which are put
 * back after it (they are in t->anchor). */
static int find_lr(struct trainer *t, struct model *m, const struct train_hparams *hp,
		   const struct train_data *d, int first, const size_t *order, double ref,
		   struct train_search *out, struct err *e)
{
	const double beta = 0.98; /* fastai's smoothing of the loss */
	size_t images = data_images(d), lo = trained_offset(m, first), at = 0;
	double avg = 0, start = now_seconds();

	memset(out, 0, sizeof *out);
	out->run = 1;
	out->edge = TRAIN_FIND_HI;
	if (optimizer_start(t, m, hp->optimizer, TRAIN_FIND_LO, hp->momentum, e))
		return -1;
	t->pass.rng = t->probe;
	for (uint32_t i = 0; i < TRAIN_FIND_STEPS; i++) {
		size_t b = images < hp->batch ? images : hp->batch;
		double penalty, loss, smooth;

		t->opt.lr = TRAIN_FIND_LO * pow(TRAIN_FIND_HI / TRAIN_FIND_LO,
						(double)i / (TRAIN_FIND_STEPS - 1));
		/* The batches run through the order and start again. */
		if (at + b > images)
			at = 0;
		if (read_batch(t, d, order, at, b, 0, e)) {
			t->pass.rng = t->rng;
			return -1;
		}
		at += b;
		loss = train_loss_grad(m, &t->pass, t->xb, b, t->yb, t->class_w, hp->l2, first,
				       t->grad, &penalty) - penalty;
		avg = beta * avg + (1 - beta) * loss;
		smooth = avg / (1 - pow(beta, i + 1));
		out->rate[i] = t->opt.lr;
		out->loss[i] = smooth;
		out->steps = i + 1;
		if (train_diverged(smooth, ref, m->nclass)) {
			out->edge = t->opt.lr;
			break;
		}
		after_step(m, &t->pass, b, first);
		optimizer_step(&t->opt, t->threads, m->params, t->grad, lo, m->ntrain);
	}
	t->pass.rng = t->rng;
	memcpy(m->params, t->anchor, m->nparams * sizeof *m->params);
	out->lr = out->edge / TRAIN_FIND_MARGIN;
	out->seconds = now_seconds() - start;
	return 0;
}

/* Epochs of one phase: the trained layers start at `first`. A phase that
 * starts from trained parameters (start_counts: an initial model, or the
 * end of a warm-up) may end where it began: when it keeps the best epoch
 * and none beats the starting validation loss, the start is kept. lr 0:
 * found by the range test. */
struct phase {
	int first, start_counts;
	uint32_t epochs, patience;
	enum train_optimizer optimizer;
	double lr;
	enum train_keep keep;
};

static int run_phase(struct trainer *t, struct model *m, const struct train_hparams *hp,
		     const struct train_data *train, const struct train_data *valid,
		     const struct phase *ph, struct train_history *h, train_epoch_fn cb, void *arg,
		     struct err *e)
{
	int keep_best = valid && (ph->patience > 0 || ph->keep == TRAIN_KEEP_BEST);
	int from_start = 0, rollbacks = 0;
	double best_loss = INFINITY, start_accuracy = -1, ref = NAN, lr = ph->lr;
	uint32_t best_epoch = 0, base = h->n;
	size_t bytes = m->nparams * sizeof *m->params, *order = probe_order(t, train, e);
	/* Copies of the parameters: the state to return to, when there is
	 * one (a best epoch, a start to roll back to, the range test's
	 * start), and the start itself when the best is not kept. */
	int anchored = keep_best || ph->start_counts || !lr;
	int started = ph->start_counts && !keep_best;

	if (!order)
		return -1;
	if ((anchored && !t->anchor && !(t->anchor = err_calloc(m->nparams, sizeof(float), e))) ||
	    (started && !t->start && !(t->start = err_calloc(m->nparams, sizeof(float), e))))
		goto fail;
	if (anchored)
		memcpy(t->anchor, m->params, bytes);
	if (started)
		memcpy(t->start, m->params, bytes);
	/* The start's training loss, for telling divergence from noise. */
	if ((ph->start_counts || !lr) && start_loss(t, m, train, order, &ref, e))
		goto fail;
	if (ph->start_counts)
		h->start_train_loss = ref;
	if (!lr) {
		if (find_lr(t, m, hp, train, ph->first, order, ref, &h->search, e))
			goto fail;
		lr = h->search.lr;
	}
	if (optimizer_start(t, m, ph->optimizer, lr, hp->momentum, e))
		goto fail;
	if (keep_best && ph->start_counts) {
		if (train_evaluate(m, valid, t->threads, hp->algo, &best_loss, &start_accuracy,
				   NULL, NULL, e))
			goto fail;
		from_start = 1;
		h->start_loss = best_loss;
	}

	for (uint32_t ep = 0; ep < ph->epochs; ep++) {
		struct train_epoch *cur = &h->epochs[h->n];

		if (train_epoch(t, m, hp, train, h->n, ph->first, cur, e))
			goto fail;
		cur->val_loss = cur->val_accuracy = NAN;
		/* A new model has no start to fall back on. */
		if (!ph->start_counts && !isfinite(cur->loss))
			goto diverged;
		if (ph->start_counts && train_diverged(cur->loss, ref, m->nclass)) {
			/* Back to the best (or last good) state, at a tenth of
			 * the step. */
			memcpy(m->params, t->anchor, bytes);
			cur->rolled_back = 1;
			h->rollbacks++;
			h->n++;
			if (cb)
				cb(h, arg);
			if (++rollbacks > TRAIN_MAX_ROLLBACKS) {
				h->gave_up = 1;
				break;
			}
			lr /= 10;
			if (optimizer_start(t, m, ph->optimizer, lr, hp->momentum, e))
				goto fail;
			continue;
		}
		if (valid && train_evaluate(m, valid, t->threads, hp->algo, &cur->val_loss,
					    &cur->val_accuracy, NULL, NULL, e))
			goto fail;
		h->n++;
		/* From a start that counts, an epoch less accurate than the
		 * start is not kept, whatever its loss: the model handed back
		 * is no worse by either measure. */
		if (keep_best && cur->val_loss < best_loss &&
		    cur->val_accuracy >= start_accuracy) {
			best_loss = cur->val_loss;
			best_epoch = h->n;
			memcpy(t->anchor, m->params, bytes);
		} else if (!keep_best && anchored) {
			memcpy(t->anchor, m->params, bytes);
		}
		h->best = best_epoch ? best_epoch : from_start ? base : h->n;
		if (cb)
			cb(h, arg);
		/* Epochs of this phase since its best, or since it began. */
		if (keep_best && ph->patience &&
		    (best_epoch ? h->n - best_epoch : ep + 1) >= ph->patience)
			break;
	}
	/* With the best kept, the anchor holds it; after giving up without
	 * validation, the start is what is known to be no worse. */
	if (keep_best && (best_epoch || from_start))
		memcpy(m->params, t->anchor, bytes);
	else if (h->gave_up)
		memcpy(m->params, t->start, bytes);
	if (h->gave_up && !keep_best)
		h->best = base;
	free(order);
	return 0;
diverged:
	err_fail(e, "epoch %" PRIu32 ": the training loss is %g: training diverged (a lower "
		 "learning rate may help)", h->n + 1, h->epochs[h->n].loss);
fail:
	free(order);
	return -1;
}

void train_history_free(struct train_history *h)
{
	for (uint64_t i = 0; h->holdout_ids && i < h->valid_images; i++)
		free(h->holdout_ids[i]);
	free(h->holdout_ids);
	free(h->epochs);
	memset(h, 0, sizeof *h);
}

/* Hold out hp->holdout of the images: train on the others, validate on
 * one copy of each held out; their ids into h. */
static int hold_out(const struct train_data *all, const struct train_hparams *hp,
		    struct split *sp, struct train_data *train, struct train_data *valid,
		    struct train_history *h, struct err *e)
{
	const struct feat_set *s = all->set;

	if (split_holdout(s, all->y, hp->holdout, hp->seed, sp, e))
		return -1;
	*train = (struct train_data){ .set = s, .y = all->y, .images = sp->train_images,
				      .nimages = sp->ntrain };
	*valid = (struct train_data){ .set = s, .y = all->y, .records = sp->valid_records,
				      .nrecords = sp->nvalid };
	if (!(h->holdout_ids = err_calloc(sp->nvalid ? sp->nvalid : 1, sizeof(char *), e)))
		return -1;
	for (size_t i = 0; i < sp->nvalid; i++, h->valid_images++)
		if (!(h->holdout_ids[i] = strdup(s->rec[sp->valid_records[i]].id)))
			return err_fail(e, "out of memory");
	return 0;
}

int train_run(struct model *m, const struct train_hparams *hp,
	      const struct train_data *all, const struct train_data *valid_given,
	      struct train_history *h, train_epoch_fn cb, void *arg, struct err *e)
{
	const struct feat_set *s = all->set;
	int top = model_top_start(m), warm = hp->finetune && !hp->init && hp->warmup;
	const struct train_data *train = all, *valid = valid_given;
	struct train_data held_train, held_valid;
	struct split sp = { 0 };
	struct trainer t = { 0 };
	int rc = -1;

	memset(h, 0, sizeof *h);
	h->start_loss = h->start_train_loss = NAN;
	if (!valid && hp->holdout > 0) {
		if (hold_out(all, hp, &sp, &held_train, &held_valid, h, e))
			goto out;
		train = &held_train;
		valid = &held_valid;
	}
	if (hp->standardize && !hp->init && m->layers[top].kind == LAYER_STANDARDIZE &&
	    train_fit_standardize(m, top, train, hp->threads ? (int)hp->threads : 1, hp->algo, e))
		goto out;
	h->train_records = data_image_records(train);
	h->train_images = data_images(train);
	h->valid_records = valid ? data_records(valid) : 0;
	if (!(h->epochs = err_calloc((size_t)hp->epochs + (warm ? hp->warmup : 0),
				     sizeof *h->epochs, e)) ||
	    trainer_init(&t, m, hp, train, e))
		goto out;
	if (!hp->init)
		train_init_params(m, t.rng);
	/* Copies are taken from a different place for each image; sets
	 * without copies draw nothing, as training always did. */
	for (size_t i = 0; i < s->images; i++)
		if (s->first[i + 1] - s->first[i] > 1)
			t.offset[i] = gsl_rng_uniform_int(t.rng, s->first[i + 1] - s->first[i]);
	if (warm) {
		struct phase ph = { .first = top, .epochs = hp->warmup,
				    .optimizer = hp->warmup_optimizer, .lr = hp->warmup_lr,
				    .keep = TRAIN_KEEP_LAST };

		if (run_phase(&t, m, hp, train, valid, &ph, h, cb, arg, e))
			goto out;
		h->warmup = h->n;
	}
	{
		struct phase ph = { .first = 0, .epochs = hp->epochs, .patience = hp->patience,
				    .start_counts = hp->init || warm, .optimizer = hp->optimizer,
				    .lr = hp->lr, .keep = hp->keep };

		if (run_phase(&t, m, hp, train, valid, &ph, h, cb, arg, e))
			goto out;
	}
	for (size_t i = 0; i < m->nparams; i++)
		if (!isfinite(m->params[i])) {
			err_fail(e, "training diverged: a parameter is %g (a lower learning rate "
				 "may help)", m->params[i]);
			goto out;
		}
	rc = 0;
out:
	trainer_free(&t, m);
	split_free(&sp);
	if (rc)
		train_history_free(h);
	return rc;
}
