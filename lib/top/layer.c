#include "layer.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "names.h"
#include "pass.h"

/* ---- output shapes ---- */

static int same_shape(struct layer *l, uint32_t size, float scalar, struct err *e)
{
	(void)size;
	(void)scalar;
	(void)e;
	l->oh = l->h;
	l->ow = l->w;
	l->oc = l->c;
	return 0;
}

static int conv3x3_shape(struct layer *l, uint32_t size, float scalar, struct err *e)
{
	(void)scalar;
	if (size < 1 || size > TENSOR_MAX_DIM)
		return err_fail(e, "conv3x3: %" PRIu32 " output channels", size);
	l->oh = l->h;
	l->ow = l->w;
	l->oc = size;
	return 0;
}

static int maxpool2x2_shape(struct layer *l, uint32_t size, float scalar, struct err *e)
{
	(void)size;
	(void)scalar;
	if (l->h < 2 || l->w < 2)
		return err_fail(e, "maxpool2x2 on a %" PRIu32 "x%" PRIu32 " map", l->w, l->h);
	l->oh = l->h / 2;
	l->ow = l->w / 2;
	l->oc = l->c;
	return 0;
}

static int dense_shape(struct layer *l, uint32_t size, float scalar, struct err *e)
{
	(void)scalar;
	if (size < 1 || size > TENSOR_MAX_DIM)
		return err_fail(e, "dense: width %" PRIu32, size);
	l->oh = l->ow = 1;
	l->oc = size;
	return 0;
}

static int batchnorm_shape(struct layer *l, uint32_t size, float scalar, struct err *e)
{
	if (!(scalar > 0 && scalar < 1))
		return err_fail(e, "batchnorm: epsilon %g is not in (0, 1)", (double)scalar);
	l->eps = scalar;
	return same_shape(l, size, scalar, e);
}

static int dropout_shape(struct layer *l, uint32_t size, float scalar, struct err *e)
{
	if (!(scalar >= 0 && scalar < 1))
		return err_fail(e, "dropout: rate %g is not in [0, 1)", (double)scalar);
	l->rate = scalar;
	return same_shape(l, size, scalar, e);
}

static int softmax_shape(struct layer *l, uint32_t size, float scalar, struct err *e)
{
	if (l->h != 1 || l->w != 1)
		return err_fail(e, "softmax on a %" PRIu32 "x%" PRIu32 " map, not on scores",
				l->w, l->h);
	return same_shape(l, size, scalar, e);
}

/* ---- what a batch needs ---- */

/* The forward pass's convolution, and backward the same convolution with
 * input and output channels swapped (the input's gradient), the kernel
 * gradient's scratch and the turned kernel. */
static void conv3x3_space(const struct layer *l, size_t cap, enum nn_algo algo, int backward,
			  struct layer_space *s)
{
	size_t swapped;

	s->conv = nn_conv3x3_batch_floats(algo, cap, (int)l->h, (int)l->w, (int)l->c,
					  (int)l->oc);
	if (!backward)
		return;
	swapped = nn_conv3x3_batch_floats(algo, cap, (int)l->h, (int)l->w, (int)l->oc,
						 (int)l->c);

	s->conv = swapped > s->conv ? swapped : s->conv;
	s->gradient = nn_conv3x3_weight_floats(algo, cap, (int)l->h, (int)l->w, (int)l->c,
					  (int)l->oc);
	s->flipped = (size_t)9 * l->c * l->oc;
}

static void dropout_space(const struct layer *l, size_t cap, enum nn_algo algo, int backward,
			  struct layer_space *s)
{
	(void)algo;
	(void)backward;
	s->kept = cap * l->in;
}

/* The batch's mean and biased variance, and room for the sums over dy
 * that the input's gradient needs even when the parameters' are not
 * asked for: [4, c]. */
static void batchnorm_space(const struct layer *l, size_t cap, enum nn_algo algo,
			    int backward, struct layer_space *s)
{
	(void)cap;
	(void)algo;
	(void)backward;
	s->kept = 4 * (size_t)l->c;
}

/* ---- forward ---- */

static size_t pixels(const struct layer *l, size_t n)
{
	return n * l->h * l->w;
}

static void standardize_forward(const struct layer *l, const struct pass *p,
				const struct layer_io *io)
{
	(void)p;
	nn_standardize_forward(io->in, l->mean, l->scale, pixels(l, io->n), l->c, io->out);
}

static void conv3x3_forward(const struct layer *l, const struct pass *p,
			    const struct layer_io *io)
{
	nn_conv3x3_batch_forward(p->threads, p->algo, io->in, io->n, (int)l->h, (int)l->w,
				 (int)l->c, (int)l->oc, l->weights, l->bias, p->conv, io->out);
}

static void maxpool2x2_forward(const struct layer *l, const struct pass *p,
			       const struct layer_io *io)
{
	(void)p;
	nn_maxpool2x2_forward(io->in, (int)l->h, (int)l->w, (int)l->c, 0, io->n * l->oh,
			      io->out);
}

static void dense_forward(const struct layer *l, const struct pass *p,
			  const struct layer_io *io)
{
	nn_dense_forward(p->threads, io->in, l->weights, l->bias, io->n, l->in, l->out, io->out);
}

static void batchnorm_forward(const struct layer *l, const struct pass *p,
			      const struct layer_io *io)
{
	(void)p;
	nn_batchnorm_forward(io->in, l->gamma, l->beta, l->mean, l->var, l->eps,
			     pixels(l, io->n), l->c, io->kept, io->kept ? io->kept + l->c : NULL,
			     io->out);
}

static void relu_forward(const struct layer *l, const struct pass *p, const struct layer_io *io)
{
	(void)p;
	nn_relu_forward(io->in, io->out, io->n * l->in);
}

/* The mask holds 0 for a dropped unit, 1 / (1 - rate) for a kept one. */
static void dropout_forward(const struct layer *l, const struct pass *p,
			    const struct layer_io *io)
{
	size_t count = io->n * l->in;

	if (!io->kept) {
		memcpy(io->out, io->in, count * sizeof *io->out);
		return;
	}
	for (size_t i = 0; i < count; i++)
		io->kept[i] = l->rate > 0 && gsl_rng_uniform(p->rng) < l->rate ? 0 :
			      1 / (1 - l->rate);
	nn_dropout_forward(io->in, io->kept, io->out, count);
}

static void softmax_forward(const struct layer *l, const struct pass *p,
			    const struct layer_io *io)
{
	(void)p;
	nn_softmax_forward(io->in, io->out, io->n, l->out);
}

/* ---- backward ---- */

static void standardize_backward(const struct layer *l, const struct pass *p,
				 const struct layer_io *io)
{
	(void)p;
	if (io->dx)
		nn_standardize_backward(io->dy, l->scale, pixels(l, io->n), l->c, io->dx);
}

static void conv3x3_backward(const struct layer *l, const struct pass *p,
			     const struct layer_io *io)
{
	if (io->dparam[0])
		nn_conv3x3_weight_backward(p->threads, p->algo, io->in, io->n, (int)l->h,
					   (int)l->w, (int)l->c, (int)l->oc, io->dy, p->gradient,
					   io->dparam[0], io->dparam[1]);
	if (!io->dx)
		return;
	nn_conv3x3_input_gradient(p->threads, p->algo, io->dy, io->n, (int)l->h, (int)l->w,
				  (int)l->c, (int)l->oc, l->weights, p->flipped, p->conv, io->dx);
}

static void maxpool2x2_backward(const struct layer *l, const struct pass *p,
				const struct layer_io *io)
{
	(void)p;
	if (io->dx)
		nn_maxpool2x2_backward(io->in, io->dy, io->n, (int)l->h, (int)l->w, (int)l->c,
				       io->dx);
}

static void dense_backward(const struct layer *l, const struct pass *p,
			   const struct layer_io *io)
{
	nn_dense_backward(p->threads, io->in, l->weights, io->dy, io->n, l->in, l->out, io->dx,
			  io->dparam[0], io->dparam[1]);
}

/* In training the batch statistics depend on the input; in inference the
 * running ones do not, and the layer is an affine map. */
static void batchnorm_backward(const struct layer *l, const struct pass *p,
			       const struct layer_io *io)
{
	float *kept = io->kept;

	(void)p;
	if (kept)
		nn_batchnorm_backward(io->in, l->gamma, l->eps, kept, kept + l->c, io->dy,
				      pixels(l, io->n), l->c, io->dx,
				      io->dparam[0] ? io->dparam[0] : kept + 2 * l->c,
				      io->dparam[1] ? io->dparam[1] : kept + 3 * l->c);
	else if (io->dx)
		nn_batchnorm_inference_backward(io->dy, l->gamma, l->var, l->eps,
						pixels(l, io->n), l->c, io->dx);
}

static void relu_backward(const struct layer *l, const struct pass *p,
			  const struct layer_io *io)
{
	(void)p;
	if (io->dx)
		nn_relu_backward(io->out, io->dy, io->dx, io->n * l->in);
}

static void dropout_backward(const struct layer *l, const struct pass *p,
			     const struct layer_io *io)
{
	(void)p;
	if (io->dx && io->kept)
		nn_dropout_backward(io->kept, io->dy, io->dx, io->n * l->in);
	else if (io->dx)
		memcpy(io->dx, io->dy, io->n * l->in * sizeof *io->dx);
}

/* Running statistics follow the batches; the variance kept is unbiased,
 * as PyTorch does, since inference sees it as the population's. */
static void batchnorm_after_step(struct layer *l, const float *kept, size_t rows)
{
	const float keep = LAYER_BN_MOMENTUM;
	size_t count = rows * l->h * l->w;
	float unbias = count > 1 ? (float)count / (float)(count - 1) : 1;

	for (uint32_t j = 0; j < l->c; j++) {
		l->mean[j] = keep * l->mean[j] + (1 - keep) * kept[j];
		l->var[j] = keep * l->var[j] + (1 - keep) * kept[l->c + j] * unbias;
	}
}

/* ---- the table ---- */

#define FIELD(name) offsetof(struct layer, name)

const struct layer_desc layer_descs[LAYER_KINDS] = {
	[LAYER_STANDARDIZE] = {
		.name = "standardize", .ntensors = 2,
		.tensors = {
			{ .key = "mean", .field = FIELD(mean), .shape = LAYER_SHAPE_C },
			{ .key = "scale", .field = FIELD(scale), .shape = LAYER_SHAPE_C,
			  .start = 1 },
		},
		.size_tensor = -1, .shape = same_shape,
		.forward = standardize_forward, .backward = standardize_backward,
	},
	[LAYER_CONV3X3] = {
		.name = "conv3x3", .ntensors = 2,
		.tensors = {
			{ .key = "weights", .field = FIELD(weights), .shape = LAYER_SHAPE_KERNEL,
			  .trained = 1 },
			{ .key = "bias", .field = FIELD(bias), .shape = LAYER_SHAPE_OC,
			  .trained = 1 },
		},
		.size_tensor = 0, .size_name = "channels out", .spatial = 1,
		.shape = conv3x3_shape, .space = conv3x3_space,
		.forward = conv3x3_forward, .backward = conv3x3_backward,
	},
	[LAYER_MAXPOOL2X2] = {
		.name = "maxpool2x2", .size_tensor = -1, .spatial = 1,
		.shape = maxpool2x2_shape,
		.forward = maxpool2x2_forward, .backward = maxpool2x2_backward,
	},
	[LAYER_DENSE] = {
		.name = "dense", .ntensors = 2,
		.tensors = {
			{ .key = "weights", .field = FIELD(weights), .shape = LAYER_SHAPE_MATRIX,
			  .trained = 1, .decayed = 1, .glorot = 1 },
			{ .key = "bias", .field = FIELD(bias), .shape = LAYER_SHAPE_OC,
			  .trained = 1 },
		},
		.size_tensor = 0, .size_name = "out", .drawn = 1, .shape = dense_shape,
		.forward = dense_forward, .backward = dense_backward,
	},
	[LAYER_BATCHNORM] = {
		.name = "batchnorm", .ntensors = 4,
		.tensors = {
			{ .key = "gamma", .field = FIELD(gamma), .shape = LAYER_SHAPE_C,
			  .trained = 1, .start = 1 },
			{ .key = "beta", .field = FIELD(beta), .shape = LAYER_SHAPE_C,
			  .trained = 1 },
			{ .key = "mean", .field = FIELD(mean), .shape = LAYER_SHAPE_C },
			{ .key = "var", .field = FIELD(var), .shape = LAYER_SHAPE_C,
			  .nonnegative = 1, .start = 1 },
		},
		.scalar_key = "epsilon", .scalar_field = FIELD(eps),
		.size_tensor = -1, .drawn = 1, .shape = batchnorm_shape,
		.space = batchnorm_space, .forward = batchnorm_forward,
		.backward = batchnorm_backward, .after_step = batchnorm_after_step,
	},
	[LAYER_RELU] = {
		.name = "relu", .size_tensor = -1, .shape = same_shape,
		.forward = relu_forward, .backward = relu_backward,
	},
	[LAYER_DROPOUT] = {
		.name = "dropout", .scalar_key = "rate", .scalar_field = FIELD(rate),
		.size_tensor = -1, .shape = dropout_shape, .space = dropout_space,
		.forward = dropout_forward, .backward = dropout_backward,
	},
	[LAYER_SOFTMAX] = {
		.name = "softmax", .size_tensor = -1, .shape = softmax_shape,
		.forward = softmax_forward,
	},
};

const struct layer_desc *layer_desc_of(const struct layer *l)
{
	return &layer_descs[l->kind];
}

float *layer_tensor_data(const struct layer *l, int t)
{
	float *const *slot = (float *const *)((const char *)l + layer_desc_of(l)->tensors[t].field);

	return *slot;
}

int layer_tensor_shape(const struct layer *l, int t, uint32_t dims[4])
{
	switch (layer_desc_of(l)->tensors[t].shape) {
	case LAYER_SHAPE_C:
		dims[0] = l->c;
		return 1;
	case LAYER_SHAPE_OC:
		dims[0] = l->oc;
		return 1;
	case LAYER_SHAPE_KERNEL:
		dims[0] = dims[1] = 3;
		dims[2] = l->c;
		dims[3] = l->oc;
		return 4;
	case LAYER_SHAPE_MATRIX:
		dims[0] = l->in;
		dims[1] = l->out;
		return 2;
	}
	return 0;
}

size_t layer_tensor_floats(const struct layer *l, int t)
{
	uint32_t dims[4];
	int rank = layer_tensor_shape(l, t, dims);
	size_t n = 1;

	for (int i = 0; i < rank; i++)
		n *= dims[i];
	return n;
}

const float *layer_scalar(const struct layer *l)
{
	const struct layer_desc *d = layer_desc_of(l);

	return d->scalar_key ? (const float *)((const char *)l + d->scalar_field) : NULL;
}

int layer_kind_named(const char *name, size_t n)
{
	for (int k = 0; k < LAYER_KINDS; k++)
		if (names_eq(name, n, layer_descs[k].name))
			return k;
	return -1;
}

void layer_reset(struct layer *l, gsl_rng *rng)
{
	const struct layer_desc *d = layer_desc_of(l);
	/* Glorot uniform, Keras' default for Dense. */
	double limit = sqrt(6.0 / ((double)l->in + l->out));

	for (int t = 0; t < d->ntensors; t++) {
		float *v = layer_tensor_data(l, t);
		size_t n = layer_tensor_floats(l, t);

		for (size_t j = 0; j < n; j++)
			v[j] = d->tensors[t].glorot ?
			       (float)((2 * gsl_rng_uniform(rng) - 1) * limit) :
			       d->tensors[t].start;
	}
}
