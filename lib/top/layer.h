/* The top model's layers. Everything the rest of the code knows about a
 * kind of layer is in its descriptor, layer_descs[kind]: the tensors it
 * holds (their keys in the model file, their shapes, whether training
 * changes them and what a new layer holds), the number it keeps beside
 * them (batchnorm's epsilon, dropout's rate), the map it hands on, and
 * its passes forward and backward. The model and its builder (model.h),
 * the model file (modelfile.h), the passes (pass.h), training (train.h)
 * and fine-tuning (finetune.h) ask the descriptor; adding a kind of layer
 * is writing one descriptor.
 *
 * A batch of records is a row-major matrix [n, width]; a record that
 * keeps a spatial shape [h, w, c] is its map in NHWC order, so that
 * convolutions and pooling see maps and a dense layer sees the same
 * floats as one row, in the order of Keras' Flatten. */
#ifndef TOP_LAYER_H
#define TOP_LAYER_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "nn.h"

enum layer_kind {
	LAYER_STANDARDIZE, LAYER_CONV3X3, LAYER_MAXPOOL2X2, LAYER_DENSE, LAYER_BATCHNORM,
	LAYER_RELU, LAYER_DROPOUT, LAYER_SOFTMAX, LAYER_KINDS
};

struct layer {
	enum layer_kind kind;
	uint32_t h, w, c;       /* the input as a map; features without a spatial
				 * shape are [1, 1, width] */
	uint32_t oh, ow, oc;    /* the output map */
	uint32_t in, out;       /* floats per record in and out */
	float *weights, *bias;  /* dense: [in, out], [out]; conv3x3: HWIO
				 * [3, 3, c, oc], [oc] */
	float *gamma, *beta;    /* batchnorm, trained: [c] */
	float *mean, *var;      /* batchnorm's running statistics [c];
				 * standardize: mean [c] */
	float *scale;           /* standardize: [c], y = (x - mean) * scale */
	float eps;              /* batchnorm */
	float rate;             /* dropout: the fraction of units dropped */
};

/* Keras' defaults: the small epsilon keeps a unit with near-zero variance
 * from being blown up; the running statistics follow the batches with
 * weight 1 - momentum. */
#define LAYER_BN_EPS 1e-3f
#define LAYER_BN_MOMENTUM 0.9f

/* The shape of a layer's tensor, from the layer's maps. */
enum layer_shape {
	LAYER_SHAPE_C,      /* [c], per input channel */
	LAYER_SHAPE_OC,     /* [oc], per output channel */
	LAYER_SHAPE_KERNEL, /* [3, 3, c, oc] */
	LAYER_SHAPE_MATRIX, /* [in, out] */
};

#define LAYER_MAX_TENSORS 4

struct layer_tensor {
	const char *key;          /* in the layer's map of the model file */
	size_t field;             /* offsetof(struct layer, the pointer) */
	enum layer_shape shape;
	int trained;              /* changed by the optimiser; else a statistic */
	int decayed;              /* in the l2 term of the objective */
	int nonnegative;          /* a variance */
	int glorot;               /* drawn Glorot-uniform for a new model */
	float start;              /* else what a new layer holds */
};

/* What a pass hands the layers (pass.h). */
struct pass;

/* One layer's part of a pass over n records: its input and output as the
 * forward pass left them, its memory in training (kept, NULL in
 * inference: struct layer_space), and backward the gradients. */
struct layer_io {
	size_t n;
	const float *in;          /* [n, l->in] */
	float *out;               /* [n, l->out] */
	float *kept;
	const float *dy;          /* [n, l->out] */
	float *dx;                /* [n, l->in], NULL: not needed */
	float *dparam[LAYER_MAX_TENSORS]; /* per tensor, NULL: not needed */
};

/* What one layer of a pass needs beyond its output: kept is its own
 * memory in training, what its backward pass reads of its forward pass
 * (dropout's mask, batchnorm's batch statistics); the others are scratch
 * that every layer of the pass shares. */
struct layer_space {
	size_t kept, conv, gradient, flipped;
};

struct layer_desc {
	const char *name;         /* the model file's "type" */
	int ntensors;
	struct layer_tensor tensors[LAYER_MAX_TENSORS];
	/* The layer's own number beside its tensors, in `scalar_field`
	 * (NULL key: none): batchnorm's epsilon, dropout's rate. */
	const char *scalar_key;
	size_t scalar_field;
	/* The tensor whose last dimension is the layer's size in a model
	 * file (-1: none), and the size's name in messages. */
	int size_tensor;
	const char *size_name;
	/* Part of a convolutional block: the dense top starts after the
	 * last such layer. */
	int spatial;
	/* A new model's training sets its tensors afresh (drawn or at their
	 * start); else they come from elsewhere (VGG16's weights, the
	 * training set's statistics). */
	int drawn;
	/* Check size (a dense layer's width, a convolution's output
	 * channels) or scalar against the input map l->h, w, c, and set the
	 * output map: 0, or -1 and a message. */
	int (*shape)(struct layer *l, uint32_t size, float scalar, struct err *e);
	/* NULL, or what a batch of cap records needs (struct layer_space);
	 * backward: the pass also runs backward. */
	void (*space)(const struct layer *l, size_t cap, enum nn_algo algo, int backward,
		      struct layer_space *s);
	/* io->in -> io->out. */
	void (*forward)(const struct layer *l, const struct pass *p, const struct layer_io *io);
	/* io->dy, the gradient of the objective with respect to the output,
	 * -> io->dx (skipped when NULL) and, into io->dparam[t] where not
	 * NULL, the gradient with respect to tensor t. NULL for the softmax,
	 * which is only last: training fuses its gradient with the loss's,
	 * and explanations start from the scores below it. */
	void (*backward)(const struct layer *l, const struct pass *p, const struct layer_io *io);
	/* NULL, or what a training step changes beyond the trained tensors:
	 * batchnorm's running statistics follow the batch of rows. */
	void (*after_step)(struct layer *l, const float *kept, size_t rows);
};

extern const struct layer_desc layer_descs[LAYER_KINDS];

/* The descriptor of l's kind. */
const struct layer_desc *layer_desc_of(const struct layer *l);
/* The tensor t of l (a pointer into the model's parameters). */
float *layer_tensor_data(const struct layer *l, int t);
/* Its shape: the rank, dims filled. */
int layer_tensor_shape(const struct layer *l, int t, uint32_t dims[4]);
/* Its number of floats. */
size_t layer_tensor_floats(const struct layer *l, int t);
/* l's scalar (layer_desc.scalar_key), or NULL. */
const float *layer_scalar(const struct layer *l);
/* The kind whose name is the n bytes at name, or -1. */
int layer_kind_named(const char *name, size_t n);
/* Set a new model's tensors of a drawn kind: Glorot-uniform where the
 * tensor says so (from rng, in tensor order), else at its start. */
void layer_reset(struct layer *l, gsl_rng *rng);

#endif
