/* Training the top model: backward passes, optimisers, early stopping,
 * and fine-tuning a convolutional block with the top.
 *
 * The objective over a batch B of n rows, with class weights w_c (1, or
 * N / (K N_c) with balancing) and the dense layers' weight matrices W:
 *
 *   L = (1/n) sum_{i in B} w_{y_i} (-log p_{i, y_i}) + l2 * sum_W ||W||_F^2
 *
 * Biases, convolutions and batchnorm parameters are not penalised.
 *
 * An epoch passes over every image of the training set once: records with
 * the same id are copies of one image (imgprep --augment), and epoch e
 * takes copy (o_i + e) mod k_i of image i, which has k_i copies and a
 * random offset o_i drawn once, so that the epochs cycle through all the
 * copies. A set without copies is the usual pass over every record. */
#ifndef TOP_TOPTRAIN_H
#define TOP_TOPTRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "feat.h"
#include "topmodel.h"

/* The records of a feature set and their classes in the model's order. */
struct top_data {
	const struct feat_set *set;
	const uint32_t *y;  /* [set->n] */
};

/* Called after every epoch with the history so far. */
typedef void (*top_epoch_fn)(const struct top_history *h, void *arg);

/* The first layer of the dense top: the one after the last convolution
 * or pooling (0 for a model without them). */
int top_model_top_start(const struct top_model *m);

/* Train m on `train` and fill h (h->epochs allocated here). Parameters
 * are drawn from hp->seed first (Glorot-uniform dense weights, batchnorm
 * at identity), except when fine-tuning from an initial model (hp->init),
 * whose parameters m already holds; a model's convolutions are never
 * drawn: they start as the caller set them. Fine-tuning without an
 * initial model first trains the top alone for hp->warmup epochs, the
 * block frozen. With valid and hp->patience, the (tuning) phase stops after
 * patience epochs without a lower validation loss and keeps the best
 * epoch's parameters. */
int top_train(struct top_model *m, const struct top_hparams *hp,
	      const struct top_data *train, const struct top_data *valid,
	      struct top_history *h, top_epoch_fn cb, void *arg, struct err *e);

/* Fit layer `layer`, a standardisation, to its input over one copy of
 * each training image: per channel, the mean and 1 / the standard
 * deviation (1 where the deviation is 0, so that a constant feature stays
 * finite), through the layers before it in inference mode. */
int top_fit_standardize(struct top_model *m, int layer, const struct top_data *train,
			int threads, enum nn_algo algo, struct err *e);

/* Mean cross-entropy and accuracy in inference mode over every record;
 * predicted (NULL, or [nclass]) receives how often each class was
 * predicted. */
int top_evaluate(const struct top_model *m, const struct top_data *d, int threads,
		 enum nn_algo algo, double *loss, double *accuracy, uint64_t *predicted,
		 struct err *e);

/* Glorot-uniform dense weights, zero biases, batchnorm at identity;
 * convolutions and standardisation untouched. */
void top_init_params(struct top_model *m, gsl_rng *rng);

/* One batch's objective L (above) and its gradient grad [m->ntrain], in
 * the layout of m->params, through a forward pass in p (training mode when
 * p->rng is set), backward down to layer `first` (the gradients of
 * earlier layers' parameters are left as they are). delta: two buffers of
 * [p->cap, top_model_max_width] floats. class_w NULL: 1. *penalty
 * receives L's l2 term. */
double top_loss_grad(const struct top_model *m, struct top_pass *p, const float *x,
		     size_t n, const uint32_t *y, const float *class_w, double l2, int first,
		     float *grad, float *const delta[2], double *penalty);

/* The widest layer output, for sizing delta. */
uint32_t top_model_max_width(const struct top_model *m);

#endif
