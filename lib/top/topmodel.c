#include "topmodel.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "names.h"
#include "nn.h"
#include "stream.h"

const char *const top_kind_names[TOP_KINDS] = {
	[TOP_STANDARDIZE] = "standardize", [TOP_CONV3X3] = "conv3x3",
	[TOP_MAXPOOL2X2] = "maxpool2x2", [TOP_DENSE] = "dense",
	[TOP_BATCHNORM] = "batchnorm", [TOP_RELU] = "relu", [TOP_DROPOUT] = "dropout",
	[TOP_SOFTMAX] = "softmax",
};

/* ---- the model object ---- */

void top_model_free(struct top_model *m)
{
	if (m->classes)
		for (uint32_t i = 0; i < m->nclass; i++)
			free(m->classes[i]);
	free(m->classes);
	free(m->by_name);
	free(m->layers);
	free(m->params);
	obj_release(&m->provenance);
	memset(m, 0, sizeof *m);
}

/* by_name: the class indices in byte order of their names, for lookups;
 * and two classes of one name would make labels ambiguous. */
static int classes_index(struct top_model *m, struct err *e)
{
	char **sorted = err_calloc(m->nclass, sizeof *sorted, e);
	int rc = 0;

	if (!sorted || !(m->by_name = err_calloc(m->nclass, sizeof *m->by_name, e))) {
		free(sorted);
		return -1;
	}
	memcpy(sorted, m->classes, m->nclass * sizeof *sorted);
	qsort(sorted, m->nclass, sizeof *sorted, names_cmp);
	for (uint32_t i = 1; i < m->nclass && !rc; i++)
		if (!strcmp(sorted[i - 1], sorted[i]))
			rc = err_fail(e, "class '%s' appears twice", sorted[i]);
	/* Distinct names: each class's name is found at its own place. */
	for (uint32_t i = 0; i < m->nclass && !rc; i++) {
		char **hit = bsearch(&m->classes[i], sorted, m->nclass, sizeof *sorted,
				     names_cmp);

		m->by_name[hit - sorted] = i;
	}
	free(sorted);
	return rc;
}

long top_class_index(const struct top_model *m, const char *name, size_t len)
{
	if (memchr(name, 0, len))
		return -1;
	return names_search(m->classes, m->by_name, m->nclass, name, len, NULL);
}

int top_model_start(struct top_model *m, int input_rank, const uint32_t *input_shape,
		    uint32_t nclass, char *const *classes, struct err *e)
{
	uint64_t d = 1;

	memset(m, 0, sizeof *m);
	if (input_rank < 1 || input_rank > TENSOR_MAX_RANK)
		return err_fail(e, "input rank %d is not between 1 and %d", input_rank, TENSOR_MAX_RANK);
	m->input_rank = input_rank;
	for (int i = 0; i < input_rank; i++) {
		if (input_shape[i] < 1 || input_shape[i] > TENSOR_MAX_DIM)
			return err_fail(e, "input dimension %d is %" PRIu32, i, input_shape[i]);
		m->input_shape[i] = input_shape[i];
		d *= input_shape[i];
		if (d > TOP_MAX_PARAMS)
			return err_fail(e, "the input has more than %zu values", TOP_MAX_PARAMS);
	}
	m->in_dim = (uint32_t)d;
	if (nclass < 2 || nclass > TOP_MAX_CLASSES)
		return err_fail(e, "%" PRIu32 " classes (between 2 and %d are allowed)", nclass,
				TOP_MAX_CLASSES);
	if (!(m->classes = err_calloc(nclass, sizeof *m->classes, e)))
		return -1;
	m->nclass = nclass;
	for (uint32_t i = 0; i < nclass; i++)
		if (!(m->classes[i] = strdup(classes[i])))
			return err_fail(e, "out of memory");
	if (classes_index(m, e))
		return -1;
	if (!(m->layers = err_calloc(TOP_MAX_LAYERS, sizeof *m->layers, e)))
		return -1;
	return 0;
}

/* The map a layer hands on, [h, w, c]. */
static void layer_output(const struct top_layer *l, uint32_t *h, uint32_t *w, uint32_t *c)
{
	*h = l->h;
	*w = l->w;
	*c = l->c;
	switch (l->kind) {
	case TOP_CONV3X3:
		*c = l->cout;
		break;
	case TOP_MAXPOOL2X2:
		*h = l->h / 2;
		*w = l->w / 2;
		break;
	case TOP_DENSE:
		*h = *w = 1;
		*c = l->out;
		break;
	default:
		break;
	}
}

/* The map the next layer takes, [h, w, c]: the last layer's output, or
 * the model's input. */
static void next_input(const struct top_model *m, uint32_t *h, uint32_t *w, uint32_t *c)
{
	if (m->nlayers) {
		layer_output(&m->layers[m->nlayers - 1], h, w, c);
	} else if (m->input_rank == 3) {
		*h = m->input_shape[0];
		*w = m->input_shape[1];
		*c = m->input_shape[2];
	} else {
		*h = *w = 1;
		*c = m->in_dim;
	}
}

int top_model_add(struct top_model *m, enum top_kind kind, uint32_t size, float value,
		  struct err *e)
{
	struct top_layer *l;
	uint32_t h, w, c;
	uint64_t out;

	if (m->nlayers == TOP_MAX_LAYERS)
		return err_fail(e, "more than %d layers", TOP_MAX_LAYERS);
	next_input(m, &h, &w, &c);
	l = &m->layers[m->nlayers];
	*l = (struct top_layer){ .kind = kind, .h = h, .w = w, .c = c, .in = h * w * c };
	out = l->in;
	switch (kind) {
	case TOP_CONV3X3:
		if (size < 1 || size > TENSOR_MAX_DIM)
			return err_fail(e, "conv3x3: %" PRIu32 " output channels", size);
		l->cout = size;
		out = (uint64_t)h * w * size;
		break;
	case TOP_MAXPOOL2X2:
		if (h < 2 || w < 2)
			return err_fail(e, "maxpool2x2 on a %" PRIu32 "x%" PRIu32 " map", w, h);
		out = (uint64_t)(h / 2) * (w / 2) * c;
		break;
	case TOP_DENSE:
		if (size < 1 || size > TENSOR_MAX_DIM)
			return err_fail(e, "dense: width %" PRIu32, size);
		out = size;
		break;
	case TOP_BATCHNORM:
		if (!(value > 0 && value < 1))
			return err_fail(e, "batchnorm: epsilon %g is not in (0, 1)", (double)value);
		l->eps = value;
		break;
	case TOP_DROPOUT:
		if (!(value >= 0 && value < 1))
			return err_fail(e, "dropout: rate %g is not in [0, 1)", (double)value);
		l->rate = value;
		break;
	case TOP_SOFTMAX:
		if (h != 1 || w != 1)
			return err_fail(e, "softmax on a %" PRIu32 "x%" PRIu32 " map, not on scores",
					w, h);
		break;
	case TOP_STANDARDIZE:
	case TOP_RELU:
		break;
	default:
		return err_fail(e, "unknown layer kind %d", (int)kind);
	}
	if (out > TOP_MAX_PARAMS)
		return err_fail(e, "%s: more than %zu outputs", top_kind_names[kind], TOP_MAX_PARAMS);
	l->out = (uint32_t)out;
	m->nlayers++;
	return 0;
}

/* Trained floats and statistics of a layer. */
static void layer_sizes(const struct top_layer *l, size_t *trained, size_t *stats)
{
	*trained = *stats = 0;
	switch (l->kind) {
	case TOP_DENSE:
		*trained = (size_t)l->in * l->out + l->out;
		break;
	case TOP_CONV3X3:
		*trained = (size_t)9 * l->c * l->cout + l->cout;
		break;
	case TOP_BATCHNORM:
		*trained = *stats = 2 * (size_t)l->c;
		break;
	case TOP_STANDARDIZE:
		*stats = 2 * (size_t)l->c;
		break;
	default:
		break;
	}
}

int top_model_finish(struct top_model *m, struct err *e)
{
	size_t ntrain = 0, nstat = 0, floats = m->in_dim;
	float *t, *s;

	if (!m->nlayers || m->layers[m->nlayers - 1].kind != TOP_SOFTMAX)
		return err_fail(e, "the last layer must be a softmax");
	for (int i = 0; i + 1 < m->nlayers; i++)
		if (m->layers[i].kind == TOP_SOFTMAX)
			return err_fail(e, "layer %d: a softmax may only be the last layer", i + 1);
	if (m->layers[m->nlayers - 1].out != m->nclass)
		return err_fail(e, "the layers end with %" PRIu32 " outputs for %" PRIu32 " classes",
				m->layers[m->nlayers - 1].out, m->nclass);
	for (int i = 0; i < m->nlayers; i++) {
		size_t a, b;

		floats += m->layers[i].out;
		if (floats > TOP_MAX_RECORD_FLOATS)
			return err_fail(e, "a record would take more than %zu MB through the "
					"layers (at layer %d)", TOP_MAX_RECORD_FLOATS * 4 >> 20, i + 1);
		layer_sizes(&m->layers[i], &a, &b);
		ntrain += a;
		nstat += b;
		if (ntrain + nstat > TOP_MAX_PARAMS)
			return err_fail(e, "the model has more than %zu parameters", TOP_MAX_PARAMS);
	}
	m->ntrain = ntrain;
	m->nparams = ntrain + nstat;
	free(m->params);
	if (!(m->params = err_calloc(m->nparams ? m->nparams : 1, sizeof *m->params, e)))
		return -1;
	t = m->params;
	s = m->params + ntrain;
	for (int i = 0; i < m->nlayers; i++) {
		struct top_layer *l = &m->layers[i];

		switch (l->kind) {
		case TOP_DENSE:
			l->weights = t;
			l->bias = t + (size_t)l->in * l->out;
			t += (size_t)l->in * l->out + l->out;
			break;
		case TOP_CONV3X3:
			l->weights = t;
			l->bias = t + (size_t)9 * l->c * l->cout;
			t += (size_t)9 * l->c * l->cout + l->cout;
			break;
		case TOP_BATCHNORM:
			l->gamma = t;
			l->beta = t + l->c;
			t += 2 * (size_t)l->c;
			l->mean = s;
			l->var = s + l->c;
			s += 2 * (size_t)l->c;
			for (uint32_t j = 0; j < l->c; j++)
				l->gamma[j] = l->var[j] = 1;
			break;
		case TOP_STANDARDIZE:
			l->mean = s;
			l->scale = s + l->c;
			s += 2 * (size_t)l->c;
			for (uint32_t j = 0; j < l->c; j++)
				l->scale[j] = 1;
			break;
		default:
			break;
		}
	}
	return 0;
}

int top_model_build(struct top_model *m, int input_rank, const uint32_t *input_shape,
		    int standardize, const uint32_t *hidden, int nhidden, int batchnorm,
		    double dropout, uint32_t nclass, char *const *classes,
		    struct err *e)
{
	if (top_model_start(m, input_rank, input_shape, nclass, classes, e) ||
	    (standardize && top_model_add(m, TOP_STANDARDIZE, 0, 0, e)))
		goto fail;
	for (int h = 0; h < nhidden; h++)
		if (top_model_add(m, TOP_DENSE, hidden[h], 0, e) ||
		    (batchnorm && top_model_add(m, TOP_BATCHNORM, 0, TOP_BN_EPS, e)) ||
		    top_model_add(m, TOP_RELU, 0, 0, e) ||
		    (dropout > 0 && top_model_add(m, TOP_DROPOUT, 0, (float)dropout, e)))
			goto fail;
	if (top_model_add(m, TOP_DENSE, nclass, 0, e) ||
	    top_model_add(m, TOP_SOFTMAX, 0, 0, e) || top_model_finish(m, e))
		goto fail;
	return 0;
fail:
	top_model_free(m);
	return -1;
}

int top_model_set_provenance(struct top_model *m, const msgpack_object *prov,
			     struct err *e)
{
	return obj_hold(&m->provenance, prov, e);
}

/* ---- the forward pass ---- */

static void free_rows(float **v, int n)
{
	if (!v)
		return;
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void top_pass_free(struct top_pass *p, const struct top_model *m)
{
	free_rows(p->act, m->nlayers);
	free_rows(p->mask, m->nlayers);
	free_rows(p->bn_mean, m->nlayers);
	free_rows(p->bn_var, m->nlayers);
	free(p->conv);
	free(p->col);
	free(p->flipped);
	memset(p, 0, sizeof *p);
}

/* Floats of a conv3x3 layer's scratch over cap records: the forward
 * pass's, and in training the backward pass's, which runs it again with
 * input and output channels swapped, and the im2col rows of the input for
 * the kernel's gradient. */
static size_t conv_scratch_floats(const struct top_layer *l, size_t cap, enum nn_algo algo,
				  int training, size_t *col)
{
	size_t f = nn_conv3x3_batch_floats(algo, cap, (int)l->h, (int)l->w, (int)l->c,
					   (int)l->cout);

	*col = 0;
	if (training) {
		size_t b = nn_conv3x3_batch_floats(algo, cap, (int)l->h, (int)l->w, (int)l->cout,
						   (int)l->c);

		f = b > f ? b : f;
		*col = nn_conv3x3_col_floats(cap, (int)l->h, (int)l->w, (int)l->c);
	}
	return f;
}

int top_pass_init(struct top_pass *p, const struct top_model *m, size_t cap, int threads,
		  enum nn_algo algo, int training, struct err *e)
{
	int n = m->nlayers;
	size_t col = 0, flipped = 0, conv = 0;

	memset(p, 0, sizeof *p);
	p->cap = cap;
	p->threads = threads < 1 ? 1 : threads;
	p->algo = algo;
	if (!(p->act = err_calloc((size_t)n, sizeof *p->act, e)))
		return -1;
	if (training && (!(p->mask = err_calloc((size_t)n, sizeof *p->mask, e)) ||
			 !(p->bn_mean = err_calloc((size_t)n, sizeof *p->bn_mean, e)) ||
			 !(p->bn_var = err_calloc((size_t)n, sizeof *p->bn_var, e))))
		goto fail;
	for (int i = 0; i < n; i++) {
		const struct top_layer *l = &m->layers[i];

		if (cap > SIZE_MAX / sizeof(float) / (l->out ? l->out : 1) / 16) {
			err_fail(e, "a batch of %zu rows of %" PRIu32 " overflows", cap, l->out);
			goto fail;
		}
		if (!(p->act[i] = err_calloc(cap * l->out, sizeof(float), e)))
			goto fail;
		if (l->kind == TOP_CONV3X3) {
			size_t c, f = conv_scratch_floats(l, cap, algo, training, &c);

			conv = f > conv ? f : conv;
			col = c > col ? c : col;
			f = (size_t)9 * l->c * l->cout;
			flipped = training && f > flipped ? f : flipped;
		}
		if (!training)
			continue;
		if (l->kind == TOP_DROPOUT &&
		    !(p->mask[i] = err_calloc(cap * l->out, sizeof(float), e)))
			goto fail;
		if (l->kind == TOP_BATCHNORM &&
		    (!(p->bn_mean[i] = err_calloc(l->c, sizeof(float), e)) ||
		     !(p->bn_var[i] = err_calloc(l->c, sizeof(float), e))))
			goto fail;
	}
	if ((conv && !(p->conv = err_calloc(conv, sizeof(float), e))) ||
	    (col && !(p->col = err_calloc(col, sizeof(float), e))) ||
	    (flipped && !(p->flipped = err_calloc(flipped, sizeof(float), e))))
		goto fail;
	return 0;
fail:
	top_pass_free(p, m);
	return -1;
}

/* 0 for a dropped unit, 1 / (1 - rate) for a kept one. */
static void dropout_mask(float rate, gsl_rng *rng, float *mask, size_t count)
{
	for (size_t i = 0; i < count; i++)
		mask[i] = rate > 0 && gsl_rng_uniform(rng) < rate ? 0 : 1 / (1 - rate);
}

void top_forward(const struct top_model *m, struct top_pass *p, const float *x, size_t n)
{
	for (int i = 0; i < m->nlayers; i++) {
		const struct top_layer *l = &m->layers[i];
		const float *in = i ? p->act[i - 1] : x;
		float *out = p->act[i];
		size_t pixels = n * l->h * l->w;

		switch (l->kind) {
		case TOP_STANDARDIZE:
			nn_standardize_forward(in, l->mean, l->scale, pixels, l->c, out);
			break;
		case TOP_CONV3X3:
			nn_conv3x3_batch_forward(p->threads, p->algo, in, n, (int)l->h,
						 (int)l->w, (int)l->c, (int)l->cout, l->weights,
						 l->bias, p->conv, out);
			break;
		case TOP_MAXPOOL2X2:
			nn_maxpool2x2_forward(in, (int)l->h, (int)l->w, (int)l->c, 0,
					      n * (l->h / 2), out);
			break;
		case TOP_DENSE:
			nn_dense_forward(p->threads, in, l->weights, l->bias, n, l->in, l->out,
					 out);
			break;
		case TOP_BATCHNORM:
			nn_batchnorm_forward(in, l->gamma, l->beta, l->mean, l->var, l->eps,
					     pixels, l->c, p->rng ? p->bn_mean[i] : NULL,
					     p->rng ? p->bn_var[i] : NULL, out);
			break;
		case TOP_RELU:
			nn_relu_forward(in, out, n * l->in);
			break;
		case TOP_DROPOUT:
			if (!p->rng) {
				memcpy(out, in, n * l->in * sizeof *out);
				break;
			}
			dropout_mask(l->rate, p->rng, p->mask[i], n * l->in);
			nn_dropout_forward(in, p->mask[i], out, n * l->in);
			break;
		case TOP_SOFTMAX:
			nn_softmax_forward(in, out, n, l->out);
			break;
		default:
			break;
		}
	}
}

double top_row_xent(const struct top_model *m, const struct top_pass *p,
		    const float *x, size_t r, uint32_t label)
{
	const uint32_t k = m->nclass;
	const float *z = (m->nlayers > 1 ? p->act[m->nlayers - 2] : x) + r * k;
	double max = z[0], sum = 0;

	for (uint32_t j = 1; j < k; j++)
		max = z[j] > max ? z[j] : max;
	for (uint32_t j = 0; j < k; j++)
		sum += exp(z[j] - max);
	return log(sum) + max - z[label];
}

uint32_t top_row_argmax(const struct top_model *m, const struct top_pass *p, size_t r)
{
	uint32_t best;

	top_row_topk(m, p, r, 1, &best);
	return best;
}

void top_row_topk(const struct top_model *m, const struct top_pass *p, size_t r,
		  uint32_t k, uint32_t *idx)
{
	const float *prob = p->act[m->nlayers - 1] + r * m->nclass;

	/* Insertion into a short sorted list: k is small, nclass modest. */
	for (uint32_t j = 0, have = 0; j < m->nclass; j++) {
		uint32_t pos = have < k ? have : k;

		while (pos > 0 && prob[j] > prob[idx[pos - 1]])
			pos--;
		if (pos >= k)
			continue;
		memmove(idx + pos + 1, idx + pos,
			((have < k ? have : k - 1) - pos) * sizeof *idx);
		idx[pos] = j;
		if (have < k)
			have++;
	}
}

size_t top_batch_rows(const struct top_model *m)
{
	size_t per = m->in_dim, rows;

	for (int i = 0; i < m->nlayers; i++)
		per += m->layers[i].out;
	rows = ((size_t)64 << 20) / (per * sizeof(float));
	return rows < 1 ? 1 : rows > 64 ? 64 : rows;
}

/* ---- the model file ---- */

/* A model is one segment, a header and no records. */
const struct stream_kind top_model_kind = { .name = "model" };
static const struct stream_kind *const model_only[] = { &top_model_kind, NULL };

static void emit_f32(struct emit *t, const char *key, int rank, const uint32_t *shape,
		     const float *v)
{
	emit_key(t, key);
	emit_tensor(t, TENSOR_F32, rank, shape, v);
}

static void emit_layer(struct emit *t, const struct top_layer *l)
{
	static const uint32_t nkeys[TOP_KINDS] = {
		[TOP_STANDARDIZE] = 3, [TOP_CONV3X3] = 3, [TOP_MAXPOOL2X2] = 1,
		[TOP_DENSE] = 3, [TOP_BATCHNORM] = 6, [TOP_RELU] = 1, [TOP_DROPOUT] = 2,
		[TOP_SOFTMAX] = 1,
	};
	uint32_t kernel[4] = { 3, 3, l->c, l->cout }, dense[2] = { l->in, l->out };

	emit_map(t, nkeys[l->kind]);
	emit_key(t, "type");
	emit_str(t, top_kind_names[l->kind]);
	switch (l->kind) {
	case TOP_STANDARDIZE:
		emit_f32(t, "mean", 1, &l->c, l->mean);
		emit_f32(t, "scale", 1, &l->c, l->scale);
		break;
	case TOP_CONV3X3:
		emit_f32(t, "weights", 4, kernel, l->weights);
		emit_f32(t, "bias", 1, &l->cout, l->bias);
		break;
	case TOP_DENSE:
		emit_f32(t, "weights", 2, dense, l->weights);
		emit_f32(t, "bias", 1, &l->out, l->bias);
		break;
	case TOP_BATCHNORM:
		emit_f32(t, "gamma", 1, &l->c, l->gamma);
		emit_f32(t, "beta", 1, &l->c, l->beta);
		emit_f32(t, "mean", 1, &l->c, l->mean);
		emit_f32(t, "var", 1, &l->c, l->var);
		emit_key(t, "epsilon");
		emit_float(t, l->eps);
		break;
	case TOP_DROPOUT:
		emit_key(t, "rate");
		emit_float(t, l->rate);
		break;
	default:
		break;
	}
	emit_end(t);
}

static void emit_training(struct emit *t, const struct top_hparams *hp,
			  const struct top_history *h)
{
	int tuned = hp->finetune != NULL, start = h && isfinite(h->start_loss);

	emit_map(t, 15 + (h ? 4 + tuned + start : 0) + (tuned ? 4 + (hp->init ? 0 : 3) : 0));
	emit_key(t, "optimizer");
	emit_str(t, hp->optimizer);
	emit_key(t, "lr");
	emit_double(t, hp->lr);
	emit_key(t, "momentum");
	emit_double(t, hp->momentum);
	emit_key(t, "l2");
	emit_double(t, hp->l2);
	emit_key(t, "hidden");
	emit_array(t, (uint32_t)hp->nhidden);
	for (int i = 0; i < hp->nhidden; i++)
		emit_uint(t, hp->hidden[i]);
	emit_end(t);
	emit_key(t, "dropout");
	emit_double(t, hp->dropout);
	emit_key(t, "batchnorm");
	emit_bool(t, hp->batchnorm);
	emit_key(t, "standardize");
	emit_bool(t, hp->standardize);
	emit_key(t, "balance");
	emit_bool(t, hp->balance);
	emit_key(t, "shuffle");
	emit_bool(t, hp->shuffle);
	emit_key(t, "epochs");
	emit_uint(t, hp->epochs);
	emit_key(t, "batch");
	emit_uint(t, hp->batch);
	emit_key(t, "patience");
	emit_uint(t, hp->patience);
	emit_key(t, "seed");
	emit_uint(t, hp->seed);
	emit_key(t, "objective");
	emit_str(t, "categorical cross-entropy + l2 * sum of squared dense weights");
	if (tuned) {
		emit_key(t, "finetune");
		emit_str(t, hp->finetune);
		emit_key(t, "algo");
		emit_str(t, hp->algo == NN_IM2COL ? "im2col" : "winograd");
		emit_key(t, "init");
		emit_str(t, hp->init ? hp->init : "");
		emit_key(t, "warmup_epochs");
		emit_uint(t, hp->init ? 0 : hp->warmup);
		if (!hp->init) {
			emit_key(t, "warmup_optimizer");
			emit_str(t, hp->warmup_optimizer);
			emit_key(t, "warmup_lr");
			emit_double(t, hp->warmup_lr);
			emit_key(t, "warmup_epochs_run");
			emit_uint(t, h ? h->warmup : 0);
		}
	}
	if (!h) {
		emit_end(t);
		return;
	}
	emit_key(t, "epochs_run");
	emit_uint(t, h->n);
	emit_key(t, "best_epoch");
	emit_uint(t, h->best);
	emit_key(t, "train_records");
	emit_uint(t, h->train_records);
	if (tuned) {
		emit_key(t, "train_images");
		emit_uint(t, h->train_images);
	}
	if (start) {
		emit_key(t, "start_val_loss");
		emit_double(t, h->start_loss);
	}
	emit_key(t, "valid_records");
	emit_uint(t, h->valid_records);
	emit_end(t);
}

int top_model_write(const struct top_model *m, const struct top_hparams *hp,
		    const struct top_history *h, FILE *f, struct err *e)
{
	struct emit t;

	emit_init(&t, f, 0);
	emit_map(&t, 5 + (m->provenance.set ? 1 : 0) + (hp ? 1 : 0) + (h ? 1 : 0));
	emit_key(&t, "vggpipe");
	emit_uint(&t, STREAM_VERSION);
	emit_key(&t, "kind");
	emit_str(&t, "model");
	emit_key(&t, "classes");
	emit_array(&t, m->nclass);
	for (uint32_t i = 0; i < m->nclass; i++)
		emit_str(&t, m->classes[i]);
	emit_end(&t);
	if (m->provenance.set) {
		emit_key(&t, "provenance");
		emit_object(&t, &m->provenance.obj);
	}
	emit_key(&t, "input_shape");
	emit_array(&t, (uint32_t)m->input_rank);
	for (int i = 0; i < m->input_rank; i++)
		emit_uint(&t, m->input_shape[i]);
	emit_end(&t);
	emit_key(&t, "layers");
	emit_array(&t, (uint32_t)m->nlayers);
	for (int i = 0; i < m->nlayers; i++)
		emit_layer(&t, &m->layers[i]);
	emit_end(&t);
	if (hp) {
		emit_key(&t, "training");
		emit_training(&t, hp, h);
	}
	if (h) {
		emit_key(&t, "history");
		emit_array(&t, h->n);
		for (uint32_t i = 0; i < h->n; i++) {
			const struct top_epoch *ep = &h->epochs[i];

			emit_map(&t, 5 + (h->warmup ? 1 : 0));
			emit_key(&t, "epoch");
			emit_uint(&t, i + 1);
			if (h->warmup) {
				emit_key(&t, "phase");
				emit_str(&t, i < h->warmup ? "warmup" : "tune");
			}
			emit_key(&t, "loss");
			emit_double(&t, ep->loss);
			emit_key(&t, "accuracy");
			emit_double(&t, ep->accuracy);
			emit_key(&t, "val_loss");
			emit_double(&t, ep->val_loss);
			emit_key(&t, "val_accuracy");
			emit_double(&t, ep->val_accuracy);
			emit_end(&t);
		}
		emit_end(&t);
	}
	emit_end(&t);
	/* The trailer: a model stream holds no records. */
	emit_map(&t, 1);
	emit_key(&t, "end");
	emit_uint(&t, 0);
	emit_end(&t);
	return emit_finish(&t, e);
}

/* A tensor of the layer's map, f32, with exactly the expected shape. */
static int layer_tensor(const msgpack_object *lm, const char *key, int rank,
			const uint32_t *shape, struct tensor *t, struct err *e)
{
	char want[64];

	if (tensor_get(lm, key, 1, t, e))
		return -1;
	if (t->dtype != TENSOR_F32)
		return err_fail(e, "tensor '%s': dtype %s, expected f32", key,
				tensor_dtype_name(t->dtype));
	if (t->rank == rank && !memcmp(t->shape, shape, (size_t)rank * sizeof *shape))
		return 0;
	tensor_shape_text(rank, shape, want, sizeof want);
	return err_fail(e, "tensor '%s': shape must be %s", key, want);
}

static int copy_finite(const struct tensor *t, const char *key, float *dst,
		       int nonnegative, struct err *e)
{
	tensor_to_f32(t, dst);
	for (size_t i = 0; i < t->count; i++)
		if (!isfinite(dst[i]) || (nonnegative && dst[i] < 0))
			return err_fail(e, "tensor '%s': element %zu is %g", key, i, dst[i]);
	return 0;
}

/* The layer type of a layer map, and what fixes its output shape: a
 * conv3x3's output channels and a dense layer's width, from their weights,
 * whose other dimensions must match the chain; batchnorm's epsilon,
 * dropout's rate. Then the layer is added to the chain. */
static int add_layer(struct top_model *m, const msgpack_object *lm, struct err *e)
{
	const char *type;
	size_t tlen;
	struct tensor t;
	uint32_t size = 0;
	double v = 0;
	int k;
	uint32_t h, w, c;

	if (lm->type != MSGPACK_OBJECT_MAP)
		return err_fail(e, "expected a map, found %s", obj_type_name(lm));
	if (obj_get_bytes(lm, "type", 1, &type, &tlen, e))
		return -1;
	for (k = 0; k < TOP_KINDS; k++)
		if (names_eq(type, tlen, top_kind_names[k]))
			break;
	if (k == TOP_KINDS)
		return err_fail(e, "unknown layer type '%.*s'", (int)(tlen > 32 ? 32 : tlen), type);
	next_input(m, &h, &w, &c);
	switch (k) {
	case TOP_CONV3X3:
		if (tensor_get(lm, "weights", 1, &t, e))
			return -1;
		if (t.rank != 4 || t.shape[0] != 3 || t.shape[1] != 3 || t.shape[2] != c)
			return err_fail(e, "tensor 'weights': shape must be [3, 3, %" PRIu32
					", channels out]", c);
		size = t.shape[3];
		break;
	case TOP_DENSE:
		if (tensor_get(lm, "weights", 1, &t, e))
			return -1;
		if (t.rank != 2 || t.shape[0] != h * w * c)
			return err_fail(e, "tensor 'weights': shape must be [%" PRIu32 ", out]",
					h * w * c);
		size = t.shape[1];
		break;
	case TOP_BATCHNORM:
		if (obj_get_double(lm, "epsilon", 1, &v, e))
			return -1;
		if (!(v > 0 && v < 1))
			return err_fail(e, "key 'epsilon': %g is not in (0, 1)", v);
		break;
	case TOP_DROPOUT:
		if (obj_get_double(lm, "rate", 1, &v, e))
			return -1;
		if (!(v >= 0 && v < 1))
			return err_fail(e, "key 'rate': %g is not in [0, 1)", v);
		break;
	}
	return top_model_add(m, (enum top_kind)k, size, (float)v, e);
}

/* The tensors of a layer map, checked again and copied into place. */
static int fill_layer(const struct top_layer *l, const msgpack_object *lm, struct err *e)
{
	uint32_t kernel[4] = { 3, 3, l->c, l->cout }, dense[2] = { l->in, l->out };
	struct tensor t;

	switch (l->kind) {
	case TOP_STANDARDIZE:
		return layer_tensor(lm, "mean", 1, &l->c, &t, e) ||
		       copy_finite(&t, "mean", l->mean, 0, e) ||
		       layer_tensor(lm, "scale", 1, &l->c, &t, e) ||
		       copy_finite(&t, "scale", l->scale, 0, e) ? -1 : 0;
	case TOP_CONV3X3:
		return layer_tensor(lm, "weights", 4, kernel, &t, e) ||
		       copy_finite(&t, "weights", l->weights, 0, e) ||
		       layer_tensor(lm, "bias", 1, &l->cout, &t, e) ||
		       copy_finite(&t, "bias", l->bias, 0, e) ? -1 : 0;
	case TOP_DENSE:
		return layer_tensor(lm, "weights", 2, dense, &t, e) ||
		       copy_finite(&t, "weights", l->weights, 0, e) ||
		       layer_tensor(lm, "bias", 1, &l->out, &t, e) ||
		       copy_finite(&t, "bias", l->bias, 0, e) ? -1 : 0;
	case TOP_BATCHNORM: {
		static const char *const keys[] = { "gamma", "beta", "mean", "var" };
		float *dst[] = { l->gamma, l->beta, l->mean, l->var };

		for (int i = 0; i < 4; i++)
			if (layer_tensor(lm, keys[i], 1, &l->c, &t, e) ||
			    copy_finite(&t, keys[i], dst[i], i == 3, e))
				return -1;
		return 0;
	}
	default:
		return 0;
	}
}

static int parse_classes(const msgpack_object *hd, struct top_model *m, struct err *e)
{
	const msgpack_object *cls = obj_get(hd, "classes");
	char **names;
	uint32_t n;

	if (!cls || cls->type != MSGPACK_OBJECT_ARRAY)
		return err_fail(e, "key 'classes': %s", cls ? "expected an array" : "missing");
	n = cls->via.array.size;
	if (n < 2 || n > TOP_MAX_CLASSES)
		return err_fail(e, "key 'classes': %u classes (between 2 and %d are allowed)", n,
				TOP_MAX_CLASSES);
	if (!(names = err_calloc(n, sizeof *names, e)))
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		const msgpack_object *c = &cls->via.array.ptr[i];

		if (c->type != MSGPACK_OBJECT_STR || !c->via.str.size ||
		    memchr(c->via.str.ptr, 0, c->via.str.size)) {
			err_fail(e, "key 'classes': element %u is not a non-empty string", i);
			goto out;
		}
		if (!(names[i] = strndup(c->via.str.ptr, c->via.str.size))) {
			err_fail(e, "out of memory");
			goto out;
		}
	}
	m->nclass = n;
	m->classes = names;
	return 0;
out:
	for (uint32_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return -1;
}

static int parse_header(struct top_model *m, const msgpack_object *hd, struct err *e)
{
	const msgpack_object *shape, *layers, *prov;
	uint32_t rank_shape[TENSOR_MAX_RANK];
	struct top_model named = { 0 };
	int rc;

	shape = obj_get(hd, "input_shape");
	if (!shape || shape->type != MSGPACK_OBJECT_ARRAY)
		return err_fail(e, "key 'input_shape': %s", shape ? "expected an array" : "missing");
	if (shape->via.array.size < 1 || shape->via.array.size > TENSOR_MAX_RANK)
		return err_fail(e, "key 'input_shape': rank %u is not between 1 and %d",
				shape->via.array.size, TENSOR_MAX_RANK);
	for (uint32_t i = 0; i < shape->via.array.size; i++) {
		const msgpack_object *d = &shape->via.array.ptr[i];

		if (d->type != MSGPACK_OBJECT_POSITIVE_INTEGER || d->via.u64 < 1 ||
		    d->via.u64 > TENSOR_MAX_DIM)
			return err_fail(e, "key 'input_shape': element %u is not a dimension", i);
		rank_shape[i] = (uint32_t)d->via.u64;
	}
	if (parse_classes(hd, &named, e))
		return -1;
	rc = top_model_start(m, (int)shape->via.array.size, rank_shape, named.nclass,
			     named.classes, e);
	top_model_free(&named);
	if (rc)
		return -1;

	prov = obj_get(hd, "provenance");
	if (prov) {
		if (prov->type != MSGPACK_OBJECT_MAP)
			return err_fail(e, "key 'provenance': expected a map, found %s",
					obj_type_name(prov));
		if (top_model_set_provenance(m, prov, e))
			return -1;
	}

	layers = obj_get(hd, "layers");
	if (!layers || layers->type != MSGPACK_OBJECT_ARRAY)
		return err_fail(e, "key 'layers': %s", layers ? "expected an array" : "missing");
	if (layers->via.array.size < 1 || layers->via.array.size > TOP_MAX_LAYERS)
		return err_fail(e, "key 'layers': %u layers (between 1 and %d are allowed)",
				layers->via.array.size, TOP_MAX_LAYERS);
	/* Every shape is checked along the chain before the parameters are
	 * allocated; then the tensors are copied. */
	for (uint32_t i = 0; i < layers->via.array.size; i++)
		if (add_layer(m, &layers->via.array.ptr[i], e))
			return err_context(e, "layer %u: ", i + 1);
	if (top_model_finish(m, e))
		return -1;
	for (int i = 0; i < m->nlayers; i++)
		if (fill_layer(&m->layers[i], &layers->via.array.ptr[i], e))
			return err_context(e, "layer %d: ", i + 1);
	return 0;
}

int top_model_load(struct top_model *m, const char *path, struct err *e)
{
	struct stream s;
	msgpack_object obj;
	enum stream_event ev;

	memset(m, 0, sizeof *m);
	if (stream_open(&s, path, model_only, NULL, e))
		return -1;
	ev = stream_event(&s, &obj, e);
	if (ev == STREAM_HEADER && parse_header(m, &obj, e)) {
		err_context(e, "%s: header: ", s.name);
		ev = STREAM_ERROR;
	}
	if (ev == STREAM_HEADER)
		ev = stream_event(&s, &obj, e);
	if (ev == STREAM_RECORD) {
		err_fail(e, "%s: record 1: a record in a model stream, which holds none", s.name);
		ev = STREAM_ERROR;
	}
	if (ev == STREAM_TRAILER)
		ev = stream_event(&s, &obj, e);
	if (ev != STREAM_END && ev != STREAM_ERROR)
		ev = err_fail(e, "%s: more than one model in the stream", s.name);
	stream_close(&s);
	if (ev == STREAM_ERROR) {
		top_model_free(m);
		return -1;
	}
	return 0;
}
