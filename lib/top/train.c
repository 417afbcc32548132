#include "train.h"

#include <gsl/gsl_randist.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* Records per pass over data already at hand: enough for the GEMMs to be
 * efficient; a model with convolutions takes what model_batch_rows allows. */
#define EVAL_ROWS 256

static size_t eval_rows(const struct model *m)
{
	return model_top_start(m) ? model_batch_rows(m) : EVAL_ROWS;
}

int train_evaluate(const struct model *m, const struct train_data *d, int threads,
		 enum nn_algo algo, double *loss, double *accuracy, uint64_t *predicted,
		 struct err *e)
{
	const struct feat_set *s = d->set;
	size_t rows = eval_rows(m), right = 0, *idx = NULL;
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
	for (size_t start = 0; start < s->n; start += rows) {
		size_t b = s->n - start < rows ? s->n - start : rows;

		for (size_t r = 0; r < b; r++)
			idx[r] = start + r;
		if (feat_set_read(s, idx, b, x, e))
			goto out;
		pass_forward(m, &p, x, b);
		for (size_t r = 0; r < b; r++) {
			uint32_t pred = pass_row_argmax(m, &p, r);

			sum += pass_row_xent(m, &p, x, r, d->y[start + r]);
			right += pred == d->y[start + r];
			if (predicted)
				predicted[pred]++;
		}
	}
	*loss = s->n ? sum / (double)s->n : NAN;
	*accuracy = s->n ? (double)right / (double)s->n : NAN;
	rc = 0;
out:
	free(x);
	free(idx);
	pass_free(&p, m);
	return rc;
}

/* Features whose deviation is this small against their mean (or in
 * absolute value) are taken as constant: scaling them up would only
 * amplify rounding. */
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
	for (size_t start = 0; start < s->images; start += rows) {
		size_t b = s->images - start < rows ? s->images - start : rows;
		const float *in;

		for (size_t r = 0; r < b; r++)
			idx[r] = s->members[s->first[start + r]];
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
			      sd <= STD_RELATIVE_FLOOR * fabs(shift[j] + mean) ? 1.0f :
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
	float *grad, *best, *xb, *class_w;
	uint32_t *yb;
	size_t *order, *batch, *offset;
	struct optimizer opt;
	gsl_rng *rng;
	int threads;
};

static void trainer_free(struct trainer *t, const struct model *m)
{
	pass_free(&t->pass, m);
	free(t->grad);
	free(t->best);
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
}

static int trainer_init(struct trainer *t, struct model *m, const struct train_hparams *hp,
			const struct train_data *train, int keep_best, struct err *e)
{
	const struct feat_set *s = train->set;
	size_t cap = hp->batch;

	memset(t, 0, sizeof *t);
	t->threads = hp->threads ? (int)hp->threads : 1;
	if (!(t->rng = gsl_rng_alloc(gsl_rng_mt19937)))
		return err_fail(e, "out of memory");
	gsl_rng_set(t->rng, (unsigned long)hp->seed);
	if (pass_init(&t->pass, m, cap, t->threads, hp->algo, PASS_TRAINING, e))
		return -1;
	t->pass.rng = t->rng;
	if (!(t->grad = err_calloc(m->ntrain ? m->ntrain : 1, sizeof(float), e)) ||
	    !(t->xb = err_calloc(cap, (size_t)s->dim * sizeof(float), e)) ||
	    !(t->yb = err_calloc(cap, sizeof *t->yb, e)) ||
	    !(t->class_w = err_calloc(m->nclass, sizeof(float), e)) ||
	    !(t->order = err_calloc(s->images ? s->images : 1, sizeof *t->order, e)) ||
	    !(t->batch = err_calloc(cap, sizeof *t->batch, e)) ||
	    !(t->offset = err_calloc(s->images ? s->images : 1, sizeof *t->offset, e)) ||
	    !(t->opt.s1 = err_calloc(m->ntrain ? m->ntrain : 1, sizeof(float), e)) ||
	    (keep_best && !(t->best = err_calloc(m->nparams, sizeof(float), e))))
		return -1;
	for (size_t i = 0; i < s->images; i++)
		t->order[i] = i;
	/* Inverse frequency, normalised so that a balanced set weighs 1. */
	for (uint32_t c = 0; c < m->nclass; c++)
		t->class_w[c] = 1;
	if (hp->balance) {
		size_t *count = err_calloc(m->nclass, sizeof *count, e);

		if (!count)
			return -1;
		for (size_t i = 0; i < s->n; i++)
			count[train->y[i]]++;
		for (uint32_t c = 0; c < m->nclass; c++)
			if (count[c])
				t->class_w[c] = (float)((double)s->n / ((double)m->nclass * count[c]));
		free(count);
	}
	return 0;
}

/* A phase starts its optimiser afresh. */
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

		for (int t = 0; t < d->ntensors; t++)
			if (d->tensors[t].trained)
				return (size_t)(layer_tensor_data(&m->layers[i], t) - m->params);
	}
	return m->ntrain;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One pass over the training images, updating the parameters of layers
 * [first, ...); the epoch's weighted cross-entropy (without the l2 term)
 * and accuracy into ep. */
static int train_epoch(struct trainer *t, struct model *m, const struct train_hparams *hp,
		       const struct train_data *d, uint32_t epoch, int first,
		       struct train_epoch *ep, struct err *e)
{
	const struct feat_set *s = d->set;
	size_t right = 0, lo = trained_offset(m, first);
	double sum = 0, start = now_seconds();

	if (hp->shuffle)
		gsl_ran_shuffle(t->rng, t->order, s->images, sizeof *t->order);
	for (size_t begin = 0; begin < s->images; begin += hp->batch) {
		size_t b = s->images - begin < hp->batch ? s->images - begin : hp->batch;
		double penalty, loss;

		for (size_t r = 0; r < b; r++) {
			size_t img = t->order[begin + r];
			size_t copies = s->first[img + 1] - s->first[img];

			t->batch[r] = s->members[s->first[img] + (t->offset[img] + epoch) % copies];
			t->yb[r] = d->y[t->batch[r]];
		}
		if (feat_set_read(s, t->batch, b, t->xb, e))
			return -1;
		loss = train_loss_grad(m, &t->pass, t->xb, b, t->yb, t->class_w, hp->l2, first,
				       t->grad, &penalty);
		sum += (loss - penalty) * (double)b;
		for (size_t r = 0; r < b; r++)
			right += pass_row_argmax(m, &t->pass, r) == t->yb[r];
		after_step(m, &t->pass, b, first);
		optimizer_step(&t->opt, t->threads, m->params, t->grad, lo, m->ntrain);
	}
	ep->loss = sum / (double)s->images;
	ep->accuracy = (double)right / (double)s->images;
	ep->seconds = now_seconds() - start;
	return 0;
}

/* Epochs of one phase: the trained layers start at `first`. A phase that
 * starts from trained parameters (start_counts: an initial model, or the
 * end of a warm-up) may end where it began: when no epoch beats the
 * starting validation loss, the start is kept. */
struct phase {
	int first, start_counts;
	uint32_t epochs, patience;
};

static int run_phase(struct trainer *t, struct model *m, const struct train_hparams *hp,
		     const struct train_data *train, const struct train_data *valid,
		     const struct phase *ph, struct train_history *h, train_epoch_fn cb, void *arg,
		     struct err *e)
{
	int keep_best = valid && ph->patience > 0, from_start = 0;
	double best_loss = INFINITY, accuracy;
	uint32_t best_epoch = 0, base = h->n;

	if (keep_best && ph->start_counts) {
		if (train_evaluate(m, valid, t->threads, hp->algo, &best_loss, &accuracy, NULL, e))
			return -1;
		memcpy(t->best, m->params, m->nparams * sizeof *t->best);
		from_start = 1;
		h->start_loss = best_loss;
	}

	for (uint32_t ep = 0; ep < ph->epochs; ep++) {
		struct train_epoch *cur = &h->epochs[h->n];

		if (train_epoch(t, m, hp, train, h->n, ph->first, cur, e))
			return -1;
		/* Parameters that overflowed would make a model file that no
		 * reader accepts. */
		if (!isfinite(cur->loss))
			return err_fail(e, "epoch %" PRIu32 ": the training loss is %g: training "
					"diverged (a lower learning rate may help)", h->n + 1, cur->loss);
		cur->val_loss = cur->val_accuracy = NAN;
		if (valid && train_evaluate(m, valid, t->threads, hp->algo, &cur->val_loss,
					  &cur->val_accuracy, NULL, e))
			return -1;
		h->n++;
		if (keep_best && cur->val_loss < best_loss) {
			best_loss = cur->val_loss;
			best_epoch = h->n;
			memcpy(t->best, m->params, m->nparams * sizeof *t->best);
		}
		h->best = best_epoch ? best_epoch : from_start ? base : h->n;
		if (cb)
			cb(h, arg);
		/* Epochs of this phase since its best, or since it began. */
		if (keep_best && (best_epoch ? h->n - best_epoch : ep + 1) >= ph->patience)
			break;
	}
	if (best_epoch || from_start)
		memcpy(m->params, t->best, m->nparams * sizeof *t->best);
	return 0;
}

int train_run(struct model *m, const struct train_hparams *hp,
	      const struct train_data *train, const struct train_data *valid,
	      struct train_history *h, train_epoch_fn cb, void *arg, struct err *e)
{
	const struct feat_set *s = train->set;
	int top = model_top_start(m), warm = hp->finetune && !hp->init && hp->warmup;
	struct trainer t;
	int rc = -1;

	memset(h, 0, sizeof *h);
	h->start_loss = NAN;
	h->train_records = s->n;
	h->train_images = s->images;
	h->valid_records = valid ? valid->set->n : 0;
	if (!(h->epochs = err_calloc((size_t)hp->epochs + (warm ? hp->warmup : 0),
				     sizeof *h->epochs, e)))
		return -1;
	if (trainer_init(&t, m, hp, train, valid && hp->patience > 0, e))
		goto out;
	if (!hp->init)
		train_init_params(m, t.rng);
	/* Copies are taken from a different place for each image; sets
	 * without copies draw nothing, as training always did. */
	for (size_t i = 0; i < s->images; i++)
		if (s->first[i + 1] - s->first[i] > 1)
			t.offset[i] = gsl_rng_uniform_int(t.rng, s->first[i + 1] - s->first[i]);
	if (warm) {
		struct phase ph = { .first = top, .epochs = hp->warmup };

		if (optimizer_start(&t, m, hp->warmup_optimizer, hp->warmup_lr, hp->momentum, e) ||
		    run_phase(&t, m, hp, train, valid, &ph, h, cb, arg, e))
			goto out;
		h->warmup = h->n;
	}
	{
		struct phase ph = { .first = 0, .epochs = hp->epochs, .patience = hp->patience,
				    .start_counts = hp->init || warm };

		if (optimizer_start(&t, m, hp->optimizer, hp->lr, hp->momentum, e) ||
		    run_phase(&t, m, hp, train, valid, &ph, h, cb, arg, e))
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
	if (rc) {
		free(h->epochs);
		h->epochs = NULL;
	}
	return rc;
}
