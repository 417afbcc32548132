/* Training the top model: backward passes, optimisers, early stopping.
 *
 * The objective over a batch B of n rows, with class weights w_c (1, or
 * N / (K N_c) with balancing) and the dense layers' weight matrices W:
 *
 *   L = (1/n) sum_{i in B} w_{y_i} (-log p_{i, y_i}) + l2 * sum_W ||W||_F^2
 *
 * Biases and batchnorm parameters are not penalised. */
#ifndef VP_TOPTRAIN_H
#define VP_TOPTRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "topmodel.h"

/* Labelled rows held in memory. */
struct top_data {
	size_t n;
	uint32_t dim;
	const float *x;     /* [n, dim] */
	const uint32_t *y;  /* [n], class indices */
};

/* Called after every epoch with the history so far. */
typedef void (*top_epoch_fn)(const struct top_history *h, void *arg);

/* Initialise m's parameters from hp->seed, train on `train`, and fill h
 * (h->epochs allocated here, hp->epochs long). With valid and
 * hp->patience, stop after patience epochs without a lower validation
 * loss and keep the best epoch's parameters. */
int top_train(struct top_model *m, const struct top_hparams *hp,
	      const struct top_data *train, const struct top_data *valid,
	      struct top_history *h, top_epoch_fn cb, void *arg, struct vp_err *e);

/* Mean cross-entropy and accuracy in inference mode. */
int top_evaluate(const struct top_model *m, const struct top_data *d,
		 double *loss, double *accuracy, struct vp_err *e);

/* Glorot-uniform dense weights, zero biases, batchnorm at identity. */
void top_init_params(struct top_model *m, gsl_rng *rng);

/* One batch's objective L (above) and its gradient grad [m->ntrain], in
 * the layout of m->params, through a forward pass in p (training mode when
 * p->rng is set). delta: two buffers of [p->cap, max width] floats.
 * class_w NULL: 1. *penalty receives L's l2 term. */
double top_loss_grad(const struct top_model *m, struct top_pass *p, const float *x,
		     size_t n, const uint32_t *y, const float *class_w, double l2,
		     float *grad, float *const delta[2], double *penalty);

/* Backward kernels: given dy, the gradient of the objective with respect
 * to the layer's output, accumulate nothing and overwrite their outputs. */
/* x [n, in], dy [n, out] -> dx [n, in] (skipped when NULL), dw [in, out], db [out] */
void dense_backward(const struct top_layer *l, const float *x, const float *dy,
		    float *dx, float *dw, float *db, size_t n);
/* x, dy, dx [n, c]; batch mean and biased variance [c] from the forward
 * pass -> dgamma, dbeta [c] */
void batchnorm_backward(const struct top_layer *l, const float *x, const float *dy,
			float *dx, float *dgamma, float *dbeta, size_t n,
			const float *batch_mean, const float *batch_var);
/* y (the forward output), dy, dx [count] */
void relu_backward(const float *y, const float *dy, float *dx, size_t count);
/* mask, dy, dx [count] */
void dropout_backward(const float *mask, const float *dy, float *dx, size_t count);
/* prob [n, k], labels [n] -> dz [n, k], the gradient of
 * (1/n) sum_i w_{y_i} (-log softmax(z)_{i, y_i}) with respect to the logits */
void softmax_xent_backward(const float *prob, const uint32_t *y, const float *class_w,
			   float *dz, size_t n, uint32_t k);

#endif
