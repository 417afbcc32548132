#include "toptrain.h"

#include <gsl/gsl_randist.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* x [n, in], dy [n, out] -> dx [n, in] (skipped when NULL), dw [in, out], db [out] */
void dense_backward(const struct top_layer *l, const float *x, const float *dy,
		    float *dx, float *dw, float *db, size_t n)
{
	/* dw = x^T dy, dx = dy w^T */
	top_gemm(1, 0, l->in, l->out, n, 1.0f, x, dy, 0.0f, dw);
	memset(db, 0, l->out * sizeof *db);
	for (size_t r = 0; r < n; r++)
		for (uint32_t j = 0; j < l->out; j++)
			db[j] += dy[r * l->out + j];
	if (dx)
		top_gemm(0, 1, n, l->in, l->out, 1.0f, dy, l->w, 0.0f, dx);
}

/* x, dy, dx [n, c]; batch mean and biased variance [c] -> dgamma, dbeta [c].
 * With xhat = (x - mean) istd, the batch statistics' own dependence on x
 * gives dx = gamma istd / n (n dy - dbeta - xhat dgamma). */
void batchnorm_backward(const struct top_layer *l, const float *x, const float *dy,
			float *dx, float *dgamma, float *dbeta, size_t n,
			const float *batch_mean, const float *batch_var)
{
	const uint32_t c = l->out;

	memset(dgamma, 0, c * sizeof *dgamma);
	memset(dbeta, 0, c * sizeof *dbeta);
	for (size_t r = 0; r < n; r++)
		for (uint32_t j = 0; j < c; j++) {
			float xhat = (x[r * c + j] - batch_mean[j]) / sqrtf(batch_var[j] + l->eps);

			dbeta[j] += dy[r * c + j];
			dgamma[j] += dy[r * c + j] * xhat;
		}
	if (!dx)
		return;
	for (size_t r = 0; r < n; r++)
		for (uint32_t j = 0; j < c; j++) {
			float istd = 1 / sqrtf(batch_var[j] + l->eps);
			float xhat = (x[r * c + j] - batch_mean[j]) * istd;

			dx[r * c + j] = l->gamma[j] * istd / (float)n *
					((float)n * dy[r * c + j] - dbeta[j] - xhat * dgamma[j]);
		}
}

/* y (the forward output), dy, dx [count] */
void relu_backward(const float *y, const float *dy, float *dx, size_t count)
{
	for (size_t i = 0; i < count; i++)
		dx[i] = y[i] > 0 ? dy[i] : 0;
}

/* mask, dy, dx [count] */
void dropout_backward(const float *mask, const float *dy, float *dx, size_t count)
{
	for (size_t i = 0; i < count; i++)
		dx[i] = dy[i] * mask[i];
}

/* prob [n, k], labels [n] -> dz [n, k] = w_{y_i} (prob - onehot(y)) / n */
void softmax_xent_backward(const float *prob, const uint32_t *y, const float *class_w,
			   float *dz, size_t n, uint32_t k)
{
	for (size_t r = 0; r < n; r++) {
		float s = (class_w ? class_w[y[r]] : 1.0f) / (float)n;

		for (uint32_t j = 0; j < k; j++)
			dz[r * k + j] = s * (prob[r * k + j] - (j == y[r]));
	}
}

/* Where a tensor sits in m->params, and so its gradient in grad. */
static size_t param_offset(const struct top_model *m, const float *t)
{
	return (size_t)(t - m->params);
}

double top_loss_grad(const struct top_model *m, struct top_pass *p, const float *x,
		     size_t n, const uint32_t *y, const float *class_w, double l2,
		     float *grad, float *const delta[2], double *penalty)
{
	const int last = m->nlayers - 1;
	double loss = 0;
	int cur = 0;

	*penalty = 0;
	top_forward(m, p, x, n);
	for (size_t r = 0; r < n; r++)
		loss += (class_w ? class_w[y[r]] : 1.0) * top_row_xent(m, p, x, r, y[r]);
	loss /= (double)n;

	softmax_xent_backward(p->act[last], y, class_w, delta[cur], n, m->nclass);
	for (int i = last - 1; i >= 0; i--) {
		const struct top_layer *l = &m->layers[i];
		const float *in = i ? p->act[i - 1] : x;
		const float *dy = delta[cur];
		/* The input's gradient is never needed. */
		float *dx = i ? delta[!cur] : NULL;

		switch (l->kind) {
		case TOP_DENSE: {
			float *dw = grad + param_offset(m, l->w), *db = grad + param_offset(m, l->b);
			double ss = 0;

			dense_backward(l, in, dy, dx, dw, db, n);
			if (l2 == 0)
				break;
			for (size_t j = 0; j < (size_t)l->in * l->out; j++) {
				dw[j] += (float)(2 * l2) * l->w[j];
				ss += (double)l->w[j] * l->w[j];
			}
			*penalty += l2 * ss;
			break;
		}
		case TOP_BATCHNORM:
			batchnorm_backward(l, in, dy, dx, grad + param_offset(m, l->gamma),
					   grad + param_offset(m, l->beta), n,
					   p->bn_mean[i], p->bn_var[i]);
			break;
		case TOP_RELU:
			if (dx)
				relu_backward(p->act[i], dy, dx, n * l->out);
			break;
		case TOP_DROPOUT:
			if (dx)
				dropout_backward(p->mask[i], dy, dx, n * l->out);
			break;
		case TOP_SOFTMAX:
			/* Only last, where its gradient was fused with the loss. */
			break;
		}
		cur = !cur;
	}
	return loss + *penalty;
}

void top_init_params(struct top_model *m, gsl_rng *rng)
{
	for (int i = 0; i < m->nlayers; i++) {
		struct top_layer *l = &m->layers[i];

		if (l->kind == TOP_DENSE) {
			/* Glorot uniform, Keras' default for Dense. */
			double limit = sqrt(6.0 / ((double)l->in + l->out));

			for (size_t j = 0; j < (size_t)l->in * l->out; j++)
				l->w[j] = (float)((2 * gsl_rng_uniform(rng) - 1) * limit);
			memset(l->b, 0, l->out * sizeof *l->b);
		} else if (l->kind == TOP_BATCHNORM) {
			for (uint32_t j = 0; j < l->out; j++) {
				l->gamma[j] = l->var[j] = 1;
				l->beta[j] = l->mean[j] = 0;
			}
		}
	}
}

/* Rows per inference pass over data already in memory: enough for the
 * GEMMs to be efficient; the workspace holds only the layers' outputs. */
#define EVAL_ROWS 256

int top_evaluate(const struct top_model *m, const struct top_data *d,
		 double *loss, double *accuracy, struct vp_err *e)
{
	struct top_pass p;
	double sum = 0;
	size_t right = 0;

	if (top_pass_init(&p, m, EVAL_ROWS, 0, e))
		return -1;
	for (size_t start = 0; start < d->n; start += EVAL_ROWS) {
		size_t b = d->n - start < EVAL_ROWS ? d->n - start : EVAL_ROWS;
		const float *x = d->x + start * d->dim;

		top_forward(m, &p, x, b);
		for (size_t r = 0; r < b; r++) {
			sum += top_row_xent(m, &p, x, r, d->y[start + r]);
			right += top_row_argmax(m, &p, r) == d->y[start + r];
		}
	}
	top_pass_free(&p, m);
	*loss = d->n ? sum / (double)d->n : NAN;
	*accuracy = d->n ? (double)right / (double)d->n : NAN;
	return 0;
}

enum { OPT_ADAM, OPT_SGD, OPT_RMSPROP };

struct optimizer {
	int kind, threads;
	double lr, momentum;
	uint64_t t;
	float *s1, *s2; /* [ntrain]: Adam's moments, SGD's velocity, RMSprop's mean square */
};

#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define OPT_EPS 1e-8
#define RMSPROP_RHO 0.9

/* PyTorch's update rules, so that the same hyper-parameters mean the same
 * training there and here. w, g and the state are [n] from offset lo. */
static void optimizer_range(const struct optimizer *o, float *w, const float *g,
			    size_t lo, size_t hi)
{
	if (o->kind == OPT_ADAM) {
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
	} else if (o->kind == OPT_SGD) {
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
	float *w;
	const float *g;
	size_t lo, hi;
};

static void *optimizer_job(void *arg)
{
	const struct opt_job *j = arg;

	optimizer_range(j->o, j->w, j->g, j->lo, j->hi);
	return NULL;
}

/* The update is elementwise and bound by memory bandwidth on a large first
 * layer: split it over the threads. Each element is computed the same way
 * whatever the split, so the result does not depend on the thread count. */
static void optimizer_step(struct optimizer *o, float *w, const float *g, size_t n)
{
	enum { MAX_JOBS = 64, MIN_CHUNK = 1 << 16 };
	struct opt_job job[MAX_JOBS];
	pthread_t tid[MAX_JOBS];
	int started[MAX_JOBS] = { 0 };
	size_t jobs = o->threads > 1 ? (size_t)o->threads : 1;

	o->t++;
	if (jobs > MAX_JOBS)
		jobs = MAX_JOBS;
	if (jobs > n / MIN_CHUNK)
		jobs = n / MIN_CHUNK ? n / MIN_CHUNK : 1;
	for (size_t k = 0; k < jobs; k++)
		job[k] = (struct opt_job){ .o = o, .w = w, .g = g,
					   .lo = n * k / jobs, .hi = n * (k + 1) / jobs };
	for (size_t k = 1; k < jobs; k++)
		started[k] = !pthread_create(&tid[k], NULL, optimizer_job, &job[k]);
	optimizer_job(&job[0]);
	for (size_t k = 1; k < jobs; k++) {
		/* A thread that could not start is done here instead. */
		if (started[k])
			pthread_join(tid[k], NULL);
		else
			optimizer_job(&job[k]);
	}
}

/* Running statistics follow the batches; the variance kept is unbiased,
 * as PyTorch does, since inference sees it as the population's. */
static void update_running_stats(struct top_model *m, const struct top_pass *p, size_t n)
{
	const float keep = TOP_BN_MOMENTUM;

	for (int i = 0; i < m->nlayers; i++) {
		struct top_layer *l = &m->layers[i];
		float unbias = n > 1 ? (float)n / (float)(n - 1) : 1;

		if (l->kind != TOP_BATCHNORM)
			continue;
		for (uint32_t j = 0; j < l->out; j++) {
			l->mean[j] = keep * l->mean[j] + (1 - keep) * p->bn_mean[i][j];
			l->var[j] = keep * l->var[j] + (1 - keep) * p->bn_var[i][j] * unbias;
		}
	}
}

struct trainer {
	struct top_pass pass;
	float *delta[2], *grad, *best, *xb, *class_w;
	uint32_t *yb;
	size_t *order;
	struct optimizer opt;
	gsl_rng *rng;
};

static void trainer_free(struct trainer *t, const struct top_model *m)
{
	top_pass_free(&t->pass, m);
	free(t->delta[0]);
	free(t->delta[1]);
	free(t->grad);
	free(t->best);
	free(t->xb);
	free(t->class_w);
	free(t->yb);
	free(t->order);
	free(t->opt.s1);
	free(t->opt.s2);
	if (t->rng)
		gsl_rng_free(t->rng);
}

static int trainer_init(struct trainer *t, struct top_model *m, const struct top_hparams *hp,
			const struct top_data *train, int keep_best, struct vp_err *e)
{
	size_t cap = hp->batch, width = top_model_max_width(m);

	memset(t, 0, sizeof *t);
	if (!(t->rng = gsl_rng_alloc(gsl_rng_mt19937)))
		return vp_fail(e, "out of memory");
	gsl_rng_set(t->rng, (unsigned long)hp->seed);
	if (top_pass_init(&t->pass, m, cap, 1, e))
		return -1;
	t->pass.rng = t->rng;
	if (cap > SIZE_MAX / width)
		return vp_fail(e, "a batch of %zu rows is too large", cap);
	if (!(t->delta[0] = vp_calloc(cap * width, sizeof(float), e)) ||
	    !(t->delta[1] = vp_calloc(cap * width, sizeof(float), e)) ||
	    !(t->grad = vp_calloc(m->ntrain, sizeof(float), e)) ||
	    !(t->xb = vp_calloc(cap * train->dim, sizeof(float), e)) ||
	    !(t->yb = vp_calloc(cap, sizeof *t->yb, e)) ||
	    !(t->class_w = vp_calloc(m->nclass, sizeof(float), e)) ||
	    !(t->order = vp_calloc(train->n, sizeof *t->order, e)) ||
	    !(t->opt.s1 = vp_calloc(m->ntrain, sizeof(float), e)) ||
	    (!strcmp(hp->optimizer, "adam") &&
	     !(t->opt.s2 = vp_calloc(m->ntrain, sizeof(float), e))) ||
	    (keep_best && !(t->best = vp_calloc(m->nparams, sizeof(float), e))))
		return -1;
	t->opt.kind = !strcmp(hp->optimizer, "adam") ? OPT_ADAM :
		      !strcmp(hp->optimizer, "sgd") ? OPT_SGD : OPT_RMSPROP;
	t->opt.lr = hp->lr;
	t->opt.momentum = hp->momentum;
	t->opt.threads = (int)hp->threads;
	for (size_t i = 0; i < train->n; i++)
		t->order[i] = i;
	/* Inverse frequency, normalised so that a balanced set weighs 1. */
	for (uint32_t c = 0; c < m->nclass; c++)
		t->class_w[c] = 1;
	if (hp->balance) {
		size_t *count = vp_calloc(m->nclass, sizeof *count, e);

		if (!count)
			return -1;
		for (size_t i = 0; i < train->n; i++)
			count[train->y[i]]++;
		for (uint32_t c = 0; c < m->nclass; c++)
			if (count[c])
				t->class_w[c] = (float)((double)train->n / ((double)m->nclass * count[c]));
		free(count);
	}
	return 0;
}

/* One pass over the shuffled training set; returns the epoch's weighted
 * cross-entropy (without the l2 term) and accuracy in ep. */
static void train_epoch(struct trainer *t, struct top_model *m, const struct top_hparams *hp,
			const struct top_data *d, struct top_epoch *ep)
{
	double sum = 0;
	size_t right = 0;

	gsl_ran_shuffle(t->rng, t->order, d->n, sizeof *t->order);
	for (size_t start = 0; start < d->n; start += hp->batch) {
		size_t b = d->n - start < hp->batch ? d->n - start : hp->batch;
		double penalty, loss;

		for (size_t r = 0; r < b; r++) {
			size_t i = t->order[start + r];

			memcpy(t->xb + r * d->dim, d->x + i * d->dim, d->dim * sizeof(float));
			t->yb[r] = d->y[i];
		}
		loss = top_loss_grad(m, &t->pass, t->xb, b, t->yb, t->class_w, hp->l2,
				     t->grad, t->delta, &penalty);
		sum += (loss - penalty) * (double)b;
		for (size_t r = 0; r < b; r++)
			right += top_row_argmax(m, &t->pass, r) == t->yb[r];
		update_running_stats(m, &t->pass, b);
		optimizer_step(&t->opt, m->params, t->grad, m->ntrain);
	}
	ep->loss = sum / (double)d->n;
	ep->accuracy = (double)right / (double)d->n;
}

int top_train(struct top_model *m, const struct top_hparams *hp,
	      const struct top_data *train, const struct top_data *valid,
	      struct top_history *h, top_epoch_fn cb, void *arg, struct vp_err *e)
{
	struct trainer t;
	int keep_best = valid && hp->patience > 0, rc = -1;
	double best_loss = INFINITY;
	uint32_t best_epoch = 0;

	memset(h, 0, sizeof *h);
	h->train_records = train->n;
	h->valid_records = valid ? valid->n : 0;
	if (!(h->epochs = vp_calloc(hp->epochs, sizeof *h->epochs, e)))
		return -1;
	if (trainer_init(&t, m, hp, train, keep_best, e))
		goto out;
	top_init_params(m, t.rng);
	for (uint32_t ep = 0; ep < hp->epochs; ep++) {
		struct top_epoch *cur = &h->epochs[ep];

		train_epoch(&t, m, hp, train, cur);
		/* Parameters that overflowed would make a model file that no
		 * reader accepts. */
		if (!isfinite(cur->loss)) {
			vp_fail(e, "epoch %" PRIu32 ": the training loss is %g: training diverged "
				"(a lower learning rate may help)", ep + 1, cur->loss);
			goto out;
		}
		cur->val_loss = cur->val_accuracy = NAN;
		if (valid && top_evaluate(m, valid, &cur->val_loss, &cur->val_accuracy, e))
			goto out;
		h->n = ep + 1;
		if (keep_best && cur->val_loss < best_loss) {
			best_loss = cur->val_loss;
			best_epoch = h->n;
			memcpy(t.best, m->params, m->nparams * sizeof *t.best);
		}
		h->best = best_epoch ? best_epoch : h->n;
		if (cb)
			cb(h, arg);
		if (keep_best && h->n - best_epoch >= hp->patience)
			break;
	}
	if (best_epoch)
		memcpy(m->params, t.best, m->nparams * sizeof *t.best);
	for (size_t i = 0; i < m->nparams; i++)
		if (!isfinite(m->params[i])) {
			vp_fail(e, "training diverged: a parameter is %g (a lower learning rate "
				"may help)", m->params[i]);
			goto out;
		}
	rc = 0;
out:
	trainer_free(&t, m);
	return rc;
}
