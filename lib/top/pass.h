/* Passes through the top model: forward, for training (dropout on, batch
 * statistics) and for inference (topeval, classify), and backward, from
 * the gradient at any layer's output down to any layer below, which
 * training and the explanations of a prediction share. Each layer's part
 * is its descriptor's (layer.h). */
#ifndef TOP_PASS_H
#define TOP_PASS_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "model.h"
#include "nn.h"

enum pass_mode {
	PASS_INFERENCE, /* forward only, dropout off, running statistics */
	PASS_TRAINING,  /* forward with dropout and batch statistics, and backward */
	PASS_GRADIENTS, /* forward as in inference, and backward */
};

/* The workspace of passes over at most cap records. */
struct pass {
	size_t cap;
	int threads;
	enum nn_algo algo;      /* how the conv3x3 layers run */
	gsl_rng *rng;           /* training: dropout's draws; set by the caller */
	int training;
	float **act;            /* act[i]: layer i's output, [cap, layers[i].out];
				 * the last is the probabilities */
	float **kept;           /* kept[i]: what layer i's backward pass reads of
				 * its forward pass in training, or NULL */
	float *conv;            /* conv3x3 scratch */
	float *gradient;        /* conv3x3 backward: the kernel gradient's scratch */
	float *flipped;         /* conv3x3 backward: a turned kernel */
	float *delta[2];        /* backward: the gradients with respect to two
				 * consecutive layers' outputs, [cap, widest] */
};

int pass_init(struct pass *p, const struct model *m, size_t cap, int threads,
	      enum nn_algo algo, enum pass_mode mode, struct err *e);
void pass_free(struct pass *p, const struct model *m);

/* x [n, in_dim] -> p->act[nlayers - 1] [n, nclass], n <= p->cap. */
void pass_forward(const struct model *m, struct pass *p, const float *x, size_t n);

/* After a forward pass over x [n, in_dim], from dy [n, out of layer
 * `from`], the gradient of an objective with respect to that layer's
 * output, down through layers from, from - 1, ..., first: the gradients
 * with respect to the trained tensors of those layers into grad (NULL:
 * none; else [m->ntrain], in the layout of m->params, other places left
 * as they are; a pass in training mode), and, when input_grad is set,
 * the gradient with respect to layer first's input, returned (one of
 * p->delta: valid until the next backward pass). dy may be one of
 * p->delta. The softmax is never among the layers. Returns NULL when
 * input_grad is not set. */
const float *pass_backward(const struct model *m, struct pass *p, const float *x, size_t n,
			   int from, const float *dy, int first, float *grad, int input_grad);

/* Cross-entropy of row r after a forward pass, from the logits (the
 * softmax's input) so that a confident mistake costs its true amount
 * rather than -log(0). */
double pass_row_xent(const struct model *m, const struct pass *p, const float *x, size_t r,
		     uint32_t label);
/* The index of the largest probability of row r. */
uint32_t pass_row_argmax(const struct model *m, const struct pass *p, size_t r);
/* The k best classes of row r, best first (ties: lower index first). */
void pass_row_topk(const struct model *m, const struct pass *p, size_t r, uint32_t k,
		   uint32_t *idx);

#endif
