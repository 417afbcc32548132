#include "topmodel.h"

#include <float.h>
#include <gsl/gsl_blas.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack/fbuffer.h>

#include "json.h"
#include "pack.h"
#include "stream.h"

static const char *const kind_names[] = {
	[TOP_DENSE] = "dense", [TOP_BATCHNORM] = "batchnorm", [TOP_RELU] = "relu",
	[TOP_DROPOUT] = "dropout", [TOP_SOFTMAX] = "softmax",
};

void top_gemm(int ta, int tb, size_t m, size_t n, size_t k, float alpha,
	      const float *a, const float *b, float beta, float *c)
{
	/* GSL refuses empty views (through its aborting error handler), and
	 * an empty product has nothing to compute. */
	if (!m || !n || !k)
		return;
	gsl_matrix_float_const_view av = gsl_matrix_float_const_view_array(a, ta ? k : m, ta ? m : k);
	gsl_matrix_float_const_view bv = gsl_matrix_float_const_view_array(b, tb ? n : k, tb ? k : n);
	gsl_matrix_float_view cv = gsl_matrix_float_view_array(c, m, n);

	gsl_blas_sgemm(ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
		       alpha, &av.matrix, &bv.matrix, beta, &cv.matrix);
}

/* x [n, in], w [in, out], b [out] -> y [n, out] = x w + b */
void dense_forward(const struct top_layer *l, const float *x, float *y, size_t n)
{
	for (size_t r = 0; r < n; r++)
		memcpy(y + r * l->out, l->b, l->out * sizeof *y);
	top_gemm(0, 0, n, l->out, l->in, 1.0f, x, l->w, 1.0f, y);
}

/* x [n, c] -> y [n, c]; batch_mean, batch_var [c] (biased variance) when
 * training, NULL to use the running statistics. */
void batchnorm_forward(const struct top_layer *l, const float *x, float *y, size_t n,
		       float *batch_mean, float *batch_var)
{
	const uint32_t c = l->out;
	const float *mean = l->mean, *var = l->var;

	if (batch_mean) {
		memset(batch_mean, 0, c * sizeof *batch_mean);
		memset(batch_var, 0, c * sizeof *batch_var);
		for (size_t r = 0; r < n; r++)
			for (uint32_t j = 0; j < c; j++)
				batch_mean[j] += x[r * c + j];
		for (uint32_t j = 0; j < c; j++)
			batch_mean[j] /= (float)n;
		for (size_t r = 0; r < n; r++)
			for (uint32_t j = 0; j < c; j++) {
				float d = x[r * c + j] - batch_mean[j];

				batch_var[j] += d * d;
			}
		for (uint32_t j = 0; j < c; j++)
			batch_var[j] /= (float)n;
		mean = batch_mean;
		var = batch_var;
	}
	for (size_t r = 0; r < n; r++)
		for (uint32_t j = 0; j < c; j++)
			y[r * c + j] = l->gamma[j] * (x[r * c + j] - mean[j]) /
				       sqrtf(var[j] + l->eps) + l->beta[j];
}

/* x [count] -> y [count] */
void relu_forward(const float *x, float *y, size_t count)
{
	for (size_t i = 0; i < count; i++)
		y[i] = x[i] > 0 ? x[i] : 0;
}

/* x [n, c] -> y [n, c]. Inverted dropout: kept units are scaled by
 * 1/(1 - rate) while training, so inference is the identity. rng NULL:
 * inference. */
void dropout_forward(const struct top_layer *l, const float *x, float *y, size_t n,
		     gsl_rng *rng, float *mask)
{
	size_t count = n * l->out;

	if (!rng || l->rate <= 0) {
		memcpy(y, x, count * sizeof *y);
		if (mask)
			for (size_t i = 0; i < count; i++)
				mask[i] = 1;
		return;
	}
	for (size_t i = 0; i < count; i++) {
		mask[i] = gsl_rng_uniform(rng) < l->rate ? 0 : 1 / (1 - l->rate);
		y[i] = x[i] * mask[i];
	}
}

/* x [n, k] logits -> y [n, k] probabilities */
void softmax_forward(const float *x, float *y, size_t n, uint32_t k)
{
	for (size_t r = 0; r < n; r++) {
		const float *xr = x + r * k;
		float *yr = y + r * k, max = xr[0];
		double sum = 0;

		for (uint32_t j = 1; j < k; j++)
			max = xr[j] > max ? xr[j] : max;
		for (uint32_t j = 0; j < k; j++) {
			yr[j] = expf(xr[j] - max);
			sum += yr[j];
		}
		for (uint32_t j = 0; j < k; j++)
			yr[j] = (float)(yr[j] / sum);
	}
}

void top_forward(const struct top_model *m, struct top_pass *p, const float *x, size_t n)
{
	for (int i = 0; i < m->nlayers; i++) {
		const struct top_layer *l = &m->layers[i];
		const float *in = i ? p->act[i - 1] : x;
		float *out = p->act[i];

		switch (l->kind) {
		case TOP_DENSE:
			dense_forward(l, in, out, n);
			break;
		case TOP_BATCHNORM:
			batchnorm_forward(l, in, out, n, p->rng ? p->bn_mean[i] : NULL,
					  p->rng ? p->bn_var[i] : NULL);
			break;
		case TOP_RELU:
			relu_forward(in, out, n * l->out);
			break;
		case TOP_DROPOUT:
			dropout_forward(l, in, out, n, p->rng, p->mask ? p->mask[i] : NULL);
			break;
		case TOP_SOFTMAX:
			softmax_forward(in, out, n, l->out);
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

uint32_t top_model_max_width(const struct top_model *m)
{
	uint32_t w = 1;

	for (int i = 0; i < m->nlayers; i++)
		w = m->layers[i].out > w ? m->layers[i].out : w;
	return w;
}

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
	memset(p, 0, sizeof *p);
}

int top_pass_init(struct top_pass *p, const struct top_model *m, size_t cap,
		  int training, struct vp_err *e)
{
	int n = m->nlayers;

	memset(p, 0, sizeof *p);
	p->cap = cap;
	if (!(p->act = vp_calloc((size_t)n, sizeof *p->act, e)))
		return -1;
	if (training && (!(p->mask = vp_calloc((size_t)n, sizeof *p->mask, e)) ||
			 !(p->bn_mean = vp_calloc((size_t)n, sizeof *p->bn_mean, e)) ||
			 !(p->bn_var = vp_calloc((size_t)n, sizeof *p->bn_var, e))))
		goto fail;
	for (int i = 0; i < n; i++) {
		const struct top_layer *l = &m->layers[i];

		if (cap > SIZE_MAX / l->out) {
			vp_fail(e, "a batch of %zu rows of %" PRIu32 " overflows", cap, l->out);
			goto fail;
		}
		if (!(p->act[i] = vp_calloc(cap * l->out, sizeof(float), e)))
			goto fail;
		if (!training)
			continue;
		if (l->kind == TOP_DROPOUT &&
		    !(p->mask[i] = vp_calloc(cap * l->out, sizeof(float), e)))
			goto fail;
		if (l->kind == TOP_BATCHNORM &&
		    (!(p->bn_mean[i] = vp_calloc(l->out, sizeof(float), e)) ||
		     !(p->bn_var[i] = vp_calloc(l->out, sizeof(float), e))))
			goto fail;
	}
	return 0;
fail:
	top_pass_free(p, m);
	return -1;
}

/* ---- the model object ---- */

void top_model_free(struct top_model *m)
{
	if (m->classes)
		for (uint32_t i = 0; i < m->nclass; i++)
			free(m->classes[i]);
	free(m->classes);
	free(m->layers);
	free(m->params);
	top_obj_free(&m->provenance);
	memset(m, 0, sizeof *m);
}

/* Count the tensors of the layer chain and point them into one
 * allocation, trained tensors first. Widths must already be checked. */
static int model_alloc(struct top_model *m, struct vp_err *e)
{
	size_t ntrain = 0, nstat = 0;
	float *t, *s;

	for (int i = 0; i < m->nlayers; i++) {
		const struct top_layer *l = &m->layers[i];

		if (l->kind == TOP_DENSE)
			ntrain += (size_t)l->in * l->out + l->out;
		else if (l->kind == TOP_BATCHNORM) {
			ntrain += 2 * (size_t)l->out;
			nstat += 2 * (size_t)l->out;
		}
		if (ntrain + nstat > TOP_MAX_PARAMS)
			return vp_fail(e, "the model has more than %zu parameters",
				       TOP_MAX_PARAMS);
	}
	m->ntrain = ntrain;
	m->nparams = ntrain + nstat;
	if (!(m->params = vp_calloc(m->nparams, sizeof *m->params, e)))
		return -1;
	t = m->params;
	s = m->params + ntrain;
	for (int i = 0; i < m->nlayers; i++) {
		struct top_layer *l = &m->layers[i];

		if (l->kind == TOP_DENSE) {
			l->w = t;
			t += (size_t)l->in * l->out;
			l->b = t;
			t += l->out;
		} else if (l->kind == TOP_BATCHNORM) {
			l->gamma = t;
			l->beta = t + l->out;
			t += 2 * (size_t)l->out;
			l->mean = s;
			l->var = s + l->out;
			s += 2 * (size_t)l->out;
			for (uint32_t j = 0; j < l->out; j++)
				l->gamma[j] = l->var[j] = 1;
		}
	}
	return 0;
}

static int set_shape(struct top_model *m, int rank, const uint32_t *shape,
		     struct vp_err *e)
{
	uint64_t d = 1;

	if (rank < 1 || rank > VP_MAX_RANK)
		return vp_fail(e, "input rank %d is not between 1 and %d", rank, VP_MAX_RANK);
	m->input_rank = rank;
	for (int i = 0; i < rank; i++) {
		if (shape[i] < 1 || shape[i] > VP_MAX_DIM)
			return vp_fail(e, "input dimension %d is %" PRIu32, i, shape[i]);
		m->input_shape[i] = shape[i];
		d *= shape[i];
		if (d > TOP_MAX_PARAMS)
			return vp_fail(e, "the input has more than %zu values", TOP_MAX_PARAMS);
	}
	m->in_dim = (uint32_t)d;
	return 0;
}

static int set_classes(struct top_model *m, uint32_t nclass, char *const *classes,
		       struct vp_err *e)
{
	if (!(m->classes = vp_calloc(nclass, sizeof *m->classes, e)))
		return -1;
	m->nclass = nclass;
	for (uint32_t i = 0; i < nclass; i++)
		if (!(m->classes[i] = strdup(classes[i])))
			return vp_fail(e, "out of memory");
	return 0;
}

int top_model_build(struct top_model *m, int input_rank, const uint32_t *input_shape,
		    const uint32_t *hidden, int nhidden, int batchnorm, double dropout,
		    uint32_t nclass, char *const *classes, struct vp_err *e)
{
	int n = 0;
	uint32_t width;

	memset(m, 0, sizeof *m);
	if (set_shape(m, input_rank, input_shape, e) ||
	    set_classes(m, nclass, classes, e))
		goto fail;
	if (nhidden < 0 || nhidden > (TOP_MAX_LAYERS - 2) / 4) {
		vp_fail(e, "too many hidden layers (%d)", nhidden);
		goto fail;
	}
	if (!(m->layers = vp_calloc((size_t)nhidden * 4 + 2, sizeof *m->layers, e)))
		goto fail;
	width = m->in_dim;
	for (int h = 0; h < nhidden; h++) {
		m->layers[n++] = (struct top_layer){ .kind = TOP_DENSE, .in = width, .out = hidden[h] };
		width = hidden[h];
		if (batchnorm)
			m->layers[n++] = (struct top_layer){ .kind = TOP_BATCHNORM, .in = width,
							     .out = width, .eps = TOP_BN_EPS };
		m->layers[n++] = (struct top_layer){ .kind = TOP_RELU, .in = width, .out = width };
		if (dropout > 0)
			m->layers[n++] = (struct top_layer){ .kind = TOP_DROPOUT, .in = width,
							     .out = width, .rate = (float)dropout };
	}
	m->layers[n++] = (struct top_layer){ .kind = TOP_DENSE, .in = width, .out = nclass };
	m->layers[n++] = (struct top_layer){ .kind = TOP_SOFTMAX, .in = nclass, .out = nclass };
	m->nlayers = n;
	if (model_alloc(m, e))
		goto fail;
	return 0;
fail:
	top_model_free(m);
	return -1;
}

void top_obj_free(struct top_obj *o)
{
	if (o->set) {
		msgpack_sbuffer_destroy(&o->buf);
		msgpack_zone_destroy(&o->zone);
	}
	memset(o, 0, sizeof *o);
}

int top_obj_copy(struct top_obj *o, const msgpack_object *src, struct vp_err *e)
{
	msgpack_packer pk;
	size_t off = 0;

	top_obj_free(o);
	msgpack_sbuffer_init(&o->buf);
	msgpack_zone_init(&o->zone, 1024);
	o->set = 1;
	msgpack_packer_init(&pk, &o->buf, msgpack_sbuffer_write);
	if (msgpack_pack_object(&pk, *src) ||
	    msgpack_unpack(o->buf.data, o->buf.size, &off, &o->zone,
			   &o->obj) != MSGPACK_UNPACK_SUCCESS)
		return vp_fail(e, "out of memory copying a map");
	return 0;
}

int top_model_set_provenance(struct top_model *m, const msgpack_object *prov,
			     struct vp_err *e)
{
	return top_obj_copy(&m->provenance, prov, e);
}

/* ---- the model file ---- */

static void pack_f32(msgpack_packer *pk, const char *key, uint32_t n0, uint32_t n1,
		     const float *v)
{
	uint32_t shape[2] = { n0, n1 };

	vp_pack_cstr(pk, key);
	vp_pack_tensor(pk, VP_F32, n1 ? 2 : 1, shape, v);
}

static void pack_double_or_nil(msgpack_packer *pk, double v)
{
	if (isfinite(v))
		msgpack_pack_double(pk, v);
	else
		msgpack_pack_nil(pk);
}

static void pack_layer(msgpack_packer *pk, const struct top_layer *l)
{
	static const uint32_t nkeys[] = {
		[TOP_DENSE] = 3, [TOP_BATCHNORM] = 6, [TOP_RELU] = 1,
		[TOP_DROPOUT] = 2, [TOP_SOFTMAX] = 1,
	};

	msgpack_pack_map(pk, nkeys[l->kind]);
	vp_pack_cstr(pk, "type");
	vp_pack_cstr(pk, kind_names[l->kind]);
	switch (l->kind) {
	case TOP_DENSE:
		pack_f32(pk, "weights", l->in, l->out, l->w);
		pack_f32(pk, "bias", l->out, 0, l->b);
		break;
	case TOP_BATCHNORM:
		pack_f32(pk, "gamma", l->out, 0, l->gamma);
		pack_f32(pk, "beta", l->out, 0, l->beta);
		pack_f32(pk, "mean", l->out, 0, l->mean);
		pack_f32(pk, "var", l->out, 0, l->var);
		/* float32 so that the value read back is the one used. */
		vp_pack_cstr(pk, "epsilon");
		msgpack_pack_float(pk, l->eps);
		break;
	case TOP_DROPOUT:
		vp_pack_cstr(pk, "rate");
		msgpack_pack_float(pk, l->rate);
		break;
	case TOP_RELU:
	case TOP_SOFTMAX:
		break;
	}
}

static void pack_training(msgpack_packer *pk, const struct top_hparams *hp,
			  const struct top_history *h)
{
	msgpack_pack_map(pk, h ? 18 : 14);
	vp_pack_cstr(pk, "optimizer");
	vp_pack_cstr(pk, hp->optimizer);
	vp_pack_cstr(pk, "lr");
	msgpack_pack_double(pk, hp->lr);
	vp_pack_cstr(pk, "momentum");
	msgpack_pack_double(pk, hp->momentum);
	vp_pack_cstr(pk, "l2");
	msgpack_pack_double(pk, hp->l2);
	vp_pack_cstr(pk, "hidden");
	msgpack_pack_array(pk, (size_t)hp->nhidden);
	for (int i = 0; i < hp->nhidden; i++)
		msgpack_pack_uint32(pk, hp->hidden[i]);
	vp_pack_cstr(pk, "dropout");
	msgpack_pack_double(pk, hp->dropout);
	vp_pack_cstr(pk, "batchnorm");
	hp->batchnorm ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	vp_pack_cstr(pk, "balance");
	hp->balance ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	vp_pack_cstr(pk, "epochs");
	msgpack_pack_uint32(pk, hp->epochs);
	vp_pack_cstr(pk, "batch");
	msgpack_pack_uint32(pk, hp->batch);
	vp_pack_cstr(pk, "patience");
	msgpack_pack_uint32(pk, hp->patience);
	vp_pack_cstr(pk, "threads");
	msgpack_pack_uint32(pk, hp->threads);
	vp_pack_cstr(pk, "seed");
	msgpack_pack_uint64(pk, hp->seed);
	vp_pack_cstr(pk, "objective");
	vp_pack_cstr(pk, "categorical cross-entropy + l2 * sum of squared dense weights");
	if (!h)
		return;
	vp_pack_cstr(pk, "epochs_run");
	msgpack_pack_uint32(pk, h->n);
	vp_pack_cstr(pk, "best_epoch");
	msgpack_pack_uint32(pk, h->best);
	vp_pack_cstr(pk, "train_records");
	msgpack_pack_uint64(pk, h->train_records);
	vp_pack_cstr(pk, "valid_records");
	msgpack_pack_uint64(pk, h->valid_records);
}

void top_model_write(const struct top_model *m, const struct top_hparams *hp,
		     const struct top_history *h, FILE *f)
{
	struct vp_writer w;
	msgpack_packer *pk = &w.pk;

	vp_writer_init(&w, f);
	vp_write_header(&w, "model", 3 + !!m->provenance.set + !!hp + !!h);
	vp_pack_cstr(pk, "classes");
	msgpack_pack_array(pk, m->nclass);
	for (uint32_t i = 0; i < m->nclass; i++)
		vp_pack_cstr(pk, m->classes[i]);
	if (m->provenance.set) {
		vp_pack_cstr(pk, "provenance");
		msgpack_pack_object(pk, m->provenance.obj);
	}
	vp_pack_cstr(pk, "input_shape");
	msgpack_pack_array(pk, (size_t)m->input_rank);
	for (int i = 0; i < m->input_rank; i++)
		msgpack_pack_uint32(pk, m->input_shape[i]);
	vp_pack_cstr(pk, "layers");
	msgpack_pack_array(pk, (size_t)m->nlayers);
	for (int i = 0; i < m->nlayers; i++)
		pack_layer(pk, &m->layers[i]);
	if (hp) {
		vp_pack_cstr(pk, "training");
		pack_training(pk, hp, h);
	}
	if (h) {
		vp_pack_cstr(pk, "history");
		msgpack_pack_array(pk, h->n);
		for (uint32_t i = 0; i < h->n; i++) {
			const struct top_epoch *ep = &h->epochs[i];

			msgpack_pack_map(pk, 5);
			vp_pack_cstr(pk, "epoch");
			msgpack_pack_uint32(pk, i + 1);
			vp_pack_cstr(pk, "loss");
			pack_double_or_nil(pk, ep->loss);
			vp_pack_cstr(pk, "accuracy");
			pack_double_or_nil(pk, ep->accuracy);
			vp_pack_cstr(pk, "val_loss");
			pack_double_or_nil(pk, ep->val_loss);
			vp_pack_cstr(pk, "val_accuracy");
			pack_double_or_nil(pk, ep->val_accuracy);
		}
	}
	vp_write_trailer(&w);
}

/* A tensor of the layer's map, f32, with exactly the expected shape. */
static int layer_tensor(const msgpack_object *lm, const char *key, uint32_t n0,
			uint32_t n1, struct vp_tensor *t, struct vp_err *e)
{
	if (vp_get_tensor(lm, key, 1, t, e))
		return -1;
	if (t->dtype != VP_F32)
		return vp_fail(e, "tensor '%s': dtype %s, expected f32", key,
			       vp_dtype_name(t->dtype));
	if (n1 ? (t->rank != 2 || t->shape[0] != n0 || t->shape[1] != n1)
	       : (t->rank != 1 || t->shape[0] != n0)) {
		if (n1)
			return vp_fail(e, "tensor '%s': shape must be [%" PRIu32 ", %" PRIu32 "]",
				       key, n0, n1);
		return vp_fail(e, "tensor '%s': shape must be [%" PRIu32 "]", key, n0);
	}
	return 0;
}

static int copy_finite(const struct vp_tensor *t, const char *key, float *dst,
		       int nonnegative, struct vp_err *e)
{
	vp_tensor_to_f32(t, dst);
	for (size_t i = 0; i < t->count; i++)
		if (!isfinite(dst[i]) || (nonnegative && dst[i] < 0))
			return vp_fail(e, "tensor '%s': element %zu is %g", key, i, dst[i]);
	return 0;
}

/* Pass 1 (dst NULL): check the layer map against the chain's width and set
 * the layer's kind and widths. Pass 2: copy the tensors into place. */
static int parse_layer(const msgpack_object *lm, uint32_t width, int last,
		       struct top_layer *l, int copy, struct vp_err *e)
{
	const char *type;
	size_t tlen;
	struct vp_tensor t, u;
	double v;
	int k;

	if (lm->type != MSGPACK_OBJECT_MAP)
		return vp_fail(e, "expected a map, found %s", vp_obj_type_name(lm));
	if (vp_get_bytes(lm, "type", 1, &type, &tlen, e))
		return -1;
	for (k = 0; k <= TOP_SOFTMAX; k++)
		if (vp_bytes_eq(type, tlen, kind_names[k]))
			break;
	if (k > TOP_SOFTMAX)
		return vp_fail(e, "unknown layer type '%.*s'", (int)(tlen > 32 ? 32 : tlen), type);
	if (!copy)
		*l = (struct top_layer){ .kind = (enum top_kind)k, .in = width, .out = width };
	if ((k == TOP_SOFTMAX) != last)
		return vp_fail(e, "%s", last ? "the last layer must be a softmax"
					     : "a softmax may only be the last layer");
	switch (l->kind) {
	case TOP_DENSE:
		/* The output width is read from the weights only after their
		 * first dimension was checked against the chain. */
		if (vp_get_tensor(lm, "weights", 1, &t, e))
			return -1;
		if (t.rank != 2 || t.shape[0] != width)
			return vp_fail(e, "tensor 'weights': shape must be [%" PRIu32 ", out]", width);
		if (layer_tensor(lm, "weights", width, t.shape[1], &t, e) ||
		    layer_tensor(lm, "bias", t.shape[1], 0, &u, e))
			return -1;
		l->out = t.shape[1];
		if (copy && (copy_finite(&t, "weights", l->w, 0, e) ||
			     copy_finite(&u, "bias", l->b, 0, e)))
			return -1;
		break;
	case TOP_BATCHNORM: {
		static const char *const keys[] = { "gamma", "beta", "mean", "var" };

		if (vp_get_double(lm, "epsilon", 1, &v, e))
			return -1;
		if (!(v > 0 && v < 1))
			return vp_fail(e, "key 'epsilon': %g is not in (0, 1)", v);
		l->eps = (float)v;
		for (int i = 0; i < 4; i++) {
			float *dst[] = { l->gamma, l->beta, l->mean, l->var };

			if (layer_tensor(lm, keys[i], width, 0, &t, e) ||
			    (copy && copy_finite(&t, keys[i], dst[i], i == 3, e)))
				return -1;
		}
		break;
	}
	case TOP_DROPOUT:
		if (vp_get_double(lm, "rate", 1, &v, e))
			return -1;
		if (!(v >= 0 && v < 1))
			return vp_fail(e, "key 'rate': %g is not in [0, 1)", v);
		l->rate = (float)v;
		break;
	case TOP_RELU:
	case TOP_SOFTMAX:
		break;
	}
	return 0;
}

static int parse_header(struct top_model *m, const msgpack_object *hd, struct vp_err *e)
{
	const msgpack_object *cls, *shape, *layers, *prov;
	uint32_t rank_shape[VP_MAX_RANK], width;
	char **names;

	cls = vp_map_get(hd, "classes");
	if (!cls || cls->type != MSGPACK_OBJECT_ARRAY)
		return vp_fail(e, "key 'classes': %s", cls ? "expected an array" : "missing");
	if (cls->via.array.size < 2 || cls->via.array.size > TOP_MAX_CLASSES)
		return vp_fail(e, "key 'classes': %u classes (between 2 and %d are allowed)",
			       cls->via.array.size, TOP_MAX_CLASSES);
	if (!(m->classes = vp_calloc(cls->via.array.size, sizeof *m->classes, e)))
		return -1;
	m->nclass = cls->via.array.size;
	for (uint32_t i = 0; i < m->nclass; i++) {
		const msgpack_object *c = &cls->via.array.ptr[i];

		if (c->type != MSGPACK_OBJECT_STR || !c->via.str.size ||
		    memchr(c->via.str.ptr, 0, c->via.str.size))
			return vp_fail(e, "key 'classes': element %u is not a non-empty string", i);
		if (!(m->classes[i] = strndup(c->via.str.ptr, c->via.str.size)))
			return vp_fail(e, "out of memory");
	}
	/* Duplicate names would make labels ambiguous: sort a copy. */
	if (!(names = vp_calloc(m->nclass, sizeof *names, e)))
		return -1;
	memcpy(names, m->classes, m->nclass * sizeof *names);
	qsort(names, m->nclass, sizeof *names, top_strcmp_p);
	for (uint32_t i = 1; i < m->nclass; i++)
		if (!strcmp(names[i - 1], names[i])) {
			vp_fail(e, "key 'classes': '%s' appears twice", names[i]);
			free(names);
			return -1;
		}
	free(names);

	prov = vp_map_get(hd, "provenance");
	if (prov) {
		if (prov->type != MSGPACK_OBJECT_MAP)
			return vp_fail(e, "key 'provenance': expected a map, found %s",
				       vp_obj_type_name(prov));
		if (top_model_set_provenance(m, prov, e))
			return -1;
	}

	shape = vp_map_get(hd, "input_shape");
	if (!shape || shape->type != MSGPACK_OBJECT_ARRAY)
		return vp_fail(e, "key 'input_shape': %s", shape ? "expected an array" : "missing");
	if (shape->via.array.size < 1 || shape->via.array.size > VP_MAX_RANK)
		return vp_fail(e, "key 'input_shape': rank %u is not between 1 and %d",
			       shape->via.array.size, VP_MAX_RANK);
	for (uint32_t i = 0; i < shape->via.array.size; i++) {
		const msgpack_object *d = &shape->via.array.ptr[i];

		if (d->type != MSGPACK_OBJECT_POSITIVE_INTEGER || d->via.u64 > VP_MAX_DIM)
			return vp_fail(e, "key 'input_shape': element %u is not a dimension", i);
		rank_shape[i] = (uint32_t)d->via.u64;
	}
	if (set_shape(m, (int)shape->via.array.size, rank_shape, e))
		return vp_context(e, "key 'input_shape': ");

	layers = vp_map_get(hd, "layers");
	if (!layers || layers->type != MSGPACK_OBJECT_ARRAY)
		return vp_fail(e, "key 'layers': %s", layers ? "expected an array" : "missing");
	if (layers->via.array.size < 1 || layers->via.array.size > TOP_MAX_LAYERS)
		return vp_fail(e, "key 'layers': %u layers (between 1 and %d are allowed)",
			       layers->via.array.size, TOP_MAX_LAYERS);
	m->nlayers = (int)layers->via.array.size;
	if (!(m->layers = vp_calloc((size_t)m->nlayers, sizeof *m->layers, e)))
		return -1;
	for (int pass = 0; pass < 2; pass++) {
		width = m->in_dim;
		for (int i = 0; i < m->nlayers; i++) {
			if (parse_layer(&layers->via.array.ptr[i], width, i == m->nlayers - 1,
					&m->layers[i], pass, e))
				return vp_context(e, "layer %d: ", i + 1);
			width = m->layers[i].out;
		}
		if (width != m->nclass)
			return vp_fail(e, "the layers end with %" PRIu32 " outputs for %" PRIu32
				       " classes", width, m->nclass);
		if (pass == 0 && model_alloc(m, e))
			return -1;
	}
	return 0;
}

int top_model_load(struct top_model *m, const char *path, struct vp_err *e)
{
	struct vp_stream s;
	msgpack_object obj;
	enum vp_event ev;

	memset(m, 0, sizeof *m);
	if (vp_stream_open(&s, path, "model", NULL, e))
		return -1;
	ev = vp_stream_event(&s, &obj, e);
	if (ev == VP_EV_HEADER && parse_header(m, &obj, e)) {
		vp_context(e, "%s: header: ", s.name);
		ev = VP_EV_ERROR;
	}
	if (ev == VP_EV_HEADER)
		ev = vp_stream_event(&s, &obj, e);
	if (ev == VP_EV_RECORD) {
		vp_fail(e, "%s: record 1: a record in a model stream, which holds none", s.name);
		ev = VP_EV_ERROR;
	}
	if (ev == VP_EV_TRAILER)
		ev = vp_stream_event(&s, &obj, e);
	if (ev != VP_EV_END && ev != VP_EV_ERROR)
		ev = vp_fail(e, "%s: more than one model in the stream", s.name);
	vp_stream_close(&s);
	if (ev == VP_EV_ERROR) {
		top_model_free(m);
		return -1;
	}
	return 0;
}

int top_strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- reading features for a model ---- */

size_t top_batch_rows(const struct top_model *m)
{
	size_t rows = ((size_t)32 << 20) / ((size_t)m->in_dim * sizeof(float));

	return rows < 1 ? 1 : rows > 64 ? 64 : rows;
}

int top_reader_open(struct top_reader *r, const struct top_model *m, char *const *paths,
		    int npaths, size_t cap, struct vp_err *e)
{
	static char *const stdin_path[] = { "-" };

	memset(r, 0, sizeof *r);
	r->m = m;
	r->paths = npaths ? paths : stdin_path;
	r->npaths = npaths ? npaths : 1;
	r->cap = cap;
	if (!(r->x = vp_calloc(cap * m->in_dim, sizeof *r->x, e)) ||
	    !(r->rows = vp_calloc(cap, sizeof *r->rows, e)) ||
	    !(r->s = vp_calloc(1, sizeof *r->s, e))) {
		top_reader_close(r);
		return -1;
	}
	r->s->fd = -1;
	return 0;
}

void top_reader_close(struct top_reader *r)
{
	if (r->s && r->s->fd >= 0)
		vp_stream_close(r->s);
	free(r->s);
	if (r->rows)
		for (size_t i = 0; i < r->cap; i++) {
			free(r->rows[i].id);
			free(r->rows[i].label);
		}
	free(r->rows);
	free(r->x);
	memset(r, 0, sizeof *r);
}

/* The features must come from the same backbone, weights, layer, size and
 * preprocessing as those the model was trained on. */
static int check_provenance(const struct top_model *m, const struct vp_stream *s,
			    struct vp_err *e)
{
	char diff[512];

	if (vp_obj_diff(m->provenance.set ? &m->provenance.obj : &vp_nil,
			vp_map_get_or_nil(&s->first_header, "provenance"),
			"provenance", diff, sizeof diff))
		return vp_fail(e, "%s: these features were not made like the model's "
			       "(\"here\" is the features, \"before\" the model): %s", s->name, diff);
	return 0;
}

static int keep_bytes(char **dst, size_t *cap, const char *p, size_t n, struct vp_err *e)
{
	if (n + 1 > *cap) {
		char *q = realloc(*dst, n + 1);

		if (!q)
			return vp_fail(e, "out of memory");
		*dst = q;
		*cap = n + 1;
	}
	memcpy(*dst, p, n);
	(*dst)[n] = 0;
	return 0;
}

static int reader_row(struct top_reader *r, const struct vp_record *rec, size_t i,
		      struct vp_err *e)
{
	const struct top_model *m = r->m;
	const struct vp_tensor *t = &rec->tensor;
	struct top_row *row = &r->rows[i];

	if (t->rank != m->input_rank ||
	    memcmp(t->shape, m->input_shape, (size_t)t->rank * sizeof *t->shape)) {
		char want[64] = "", got[64] = "";

		for (int k = 0; k < m->input_rank; k++)
			snprintf(want + strlen(want), sizeof want - strlen(want), "%s%" PRIu32,
				 k ? "," : "", m->input_shape[k]);
		for (int k = 0; k < t->rank; k++)
			snprintf(got + strlen(got), sizeof got - strlen(got), "%s%" PRIu32,
				 k ? "," : "", t->shape[k]);
		return vp_fail(e, "%s: record %" PRIu64 ": features of shape [%s]; the model "
			       "takes [%s]", r->s->name, r->s->records, got, want);
	}
	vp_tensor_to_f32(t, r->x + i * m->in_dim);
	for (uint32_t k = 0; k < m->in_dim; k++)
		if (!isfinite(r->x[i * m->in_dim + k]))
			return vp_fail(e, "%s: record %" PRIu64 " (id '%.*s'): feature %" PRIu32 " is %s",
				       r->s->name, r->s->records, (int)(rec->id_len > 200 ? 200 : rec->id_len),
				       rec->id, k, isnan(r->x[i * m->in_dim + k]) ? "NaN" : "infinite");
	if (keep_bytes(&row->id, &row->id_cap, rec->id, rec->id_len, e))
		return -1;
	row->id_len = rec->id_len;
	row->has_label = rec->label != NULL;
	row->label_len = rec->label ? rec->label_len : 0;
	if (rec->label &&
	    keep_bytes(&row->label, &row->label_cap, rec->label, rec->label_len, e))
		return -1;
	row->file = r->paths[r->next - 1];
	row->record = r->s->records;
	return 0;
}

long top_reader_fill(struct top_reader *r, struct vp_err *e)
{
	size_t n = 0;
	struct vp_record rec;
	msgpack_object obj;

	while (n < r->cap) {
		int rc;

		if (r->s->fd < 0) {
			if (r->next == r->npaths)
				break;
			if (vp_stream_open(r->s, r->paths[r->next++], "features", NULL, e)) {
				r->s->fd = -1;
				return -1;
			}
			r->checked = 0;
		}
		rc = vp_stream_record(r->s, &obj, e);
		if (rc < 0)
			return -1;
		if (r->s->have_header && !r->checked) {
			if (check_provenance(r->m, r->s, e))
				return -1;
			r->checked = 1;
		}
		if (rc == 0) {
			vp_stream_close(r->s);
			r->s->fd = -1;
			continue;
		}
		if (vp_record_parse(r->s, &obj, &rec, e) || reader_row(r, &rec, n, e))
			return -1;
		n++;
	}
	return (long)n;
}

/* ---- JSON or msgpack output ---- */

void top_emit_init(struct top_emit *t, FILE *f, int json)
{
	memset(t, 0, sizeof *t);
	t->f = f;
	t->json = json;
	msgpack_packer_init(&t->pk, f, msgpack_fbuffer_write);
}

/* JSON's separators: a comma between items, a colon between key and value. */
static void emit_sep(struct top_emit *t)
{
	uint32_t k;

	if (!t->json || !t->depth)
		return;
	k = t->items[t->depth]++;
	if (t->is_map[t->depth])
		fputs(k == 0 ? "" : k % 2 ? ":" : ",", t->f);
	else if (k)
		fputc(',', t->f);
}

static void emit_open(struct top_emit *t, int is_map, uint32_t n)
{
	emit_sep(t);
	if (!t->json) {
		is_map ? msgpack_pack_map(&t->pk, n) : msgpack_pack_array(&t->pk, n);
		return;
	}
	fputc(is_map ? '{' : '[', t->f);
	if (t->depth + 1 < (int)sizeof t->is_map) {
		t->depth++;
		t->is_map[t->depth] = (unsigned char)is_map;
		t->items[t->depth] = 0;
	}
}

void top_emit_map(struct top_emit *t, uint32_t n)
{
	emit_open(t, 1, n);
}

void top_emit_array(struct top_emit *t, uint32_t n)
{
	emit_open(t, 0, n);
}

void top_emit_end(struct top_emit *t)
{
	if (!t->json)
		return;
	fputc(t->is_map[t->depth] ? '}' : ']', t->f);
	t->depth--;
}

void top_emit_bytes(struct top_emit *t, const char *p, size_t n)
{
	emit_sep(t);
	if (t->json)
		vp_json_string(t->f, p, n);
	else
		vp_pack_bytes(&t->pk, p, n);
}

void top_emit_key(struct top_emit *t, const char *key)
{
	top_emit_bytes(t, key, strlen(key));
}

void top_emit_double(struct top_emit *t, double v)
{
	emit_sep(t);
	if (!t->json)
		pack_double_or_nil(&t->pk, v);
	else
		vp_json_number(t->f, v, 10);
}

void top_emit_uint(struct top_emit *t, uint64_t v)
{
	emit_sep(t);
	if (t->json)
		fprintf(t->f, "%" PRIu64, v);
	else
		msgpack_pack_uint64(&t->pk, v);
}
