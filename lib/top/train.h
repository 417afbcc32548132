/* Training the top model: the objective, optimisers, epochs and early
 * stopping, and fine-tuning a convolutional block with the top.
 *
 * The objective over a batch B of n rows, with class weights w_c (1, or
 * N / (K N_c) with balancing) and the weight matrices W of the dense
 * layers (the tensors their descriptor calls decayed):
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
#ifndef TOP_TRAIN_H
#define TOP_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "featset.h"
#include "model.h"
#include "pass.h"

enum train_optimizer { TRAIN_ADAM, TRAIN_SGD, TRAIN_RMSPROP };
/* Their names, NULL-terminated, in the order of the enum. */
extern const char *const train_optimizer_names[];
/* Learning rates that work for each out of the box (Keras'). */
extern const double train_default_lr[];

/* Training hyper-parameters: written into the model file, so that a
 * model says how it was made. */
struct train_hparams {
	enum train_optimizer optimizer;
	double lr, momentum, l2, dropout;
	uint32_t *hidden;
	int nhidden;
	int batchnorm, balance, standardize, shuffle;
	uint32_t epochs, batch, patience;
	uint32_t threads;            /* not written: any number makes the same model */
	enum nn_algo algo;           /* of the conv3x3 layers */
	uint64_t seed;
	/* Fine-tuning: the block trained with the top (NULL: none), the top
	 * model it started from (NULL: trained first with the block frozen,
	 * for warmup epochs, by warmup_optimizer at warmup_lr). */
	const char *finetune, *init;
	uint32_t warmup;
	enum train_optimizer warmup_optimizer;
	double warmup_lr;
};

struct train_epoch {
	double loss, accuracy;           /* training, over the epoch's batches */
	double val_loss, val_accuracy;   /* NaN without validation data */
	double seconds;                  /* the epoch's training, validation excluded */
};

struct train_history {
	struct train_epoch *epochs;
	uint32_t n;                      /* epochs run, warm-up included */
	uint32_t warmup;                 /* of which warm-up epochs (first) */
	/* 1-based epoch whose weights are kept: with --patience, when no
	 * tuning epoch beat the validation loss the tuning started from,
	 * the start is kept: 0 for an initial model, the last warm-up
	 * epoch after one. */
	uint32_t best;
	double start_loss;               /* that starting validation loss; NaN
					  * when not evaluated */
	uint64_t train_records, train_images, valid_records;
};

/* The records of a feature set and their classes in the model's order. */
struct train_data {
	const struct feat_set *set;
	const uint32_t *y;  /* [set->n] */
};

/* Called after every epoch with the history so far. */
typedef void (*train_epoch_fn)(const struct train_history *h, void *arg);

/* Train m on `train` and fill h (h->epochs allocated here). Parameters
 * are drawn from hp->seed first (layer_reset on the kinds that are
 * drawn), except when fine-tuning from an initial model (hp->init),
 * whose parameters m already holds; a model's convolutions are never
 * drawn: they start as the caller set them. Fine-tuning without an
 * initial model first trains the top alone for hp->warmup epochs, the
 * block frozen. With valid and hp->patience, the (tuning) phase stops after
 * patience epochs without a lower validation loss and keeps the best
 * epoch's parameters. */
int train_run(struct model *m, const struct train_hparams *hp,
	      const struct train_data *train, const struct train_data *valid,
	      struct train_history *h, train_epoch_fn cb, void *arg, struct err *e);

/* Fit layer `layer`, a standardisation, to its input over one copy of
 * each training image: per channel, the mean and 1 / the standard
 * deviation (1 where the deviation is 0, so that a constant feature stays
 * finite), through the layers before it in inference mode. */
int train_fit_standardize(struct model *m, int layer, const struct train_data *train,
			  int threads, enum nn_algo algo, struct err *e);

/* Mean cross-entropy and accuracy in inference mode over every record;
 * predicted (NULL, or [nclass]) receives how often each class was
 * predicted. */
int train_evaluate(const struct model *m, const struct train_data *d, int threads,
		   enum nn_algo algo, double *loss, double *accuracy, uint64_t *predicted,
		   struct err *e);

/* Draw a new model's parameters: layer_reset of every layer whose kind
 * is drawn, in layer order. */
void train_init_params(struct model *m, gsl_rng *rng);

/* One batch's objective L (above) and its gradient grad [m->ntrain], in
 * the layout of m->params, through a forward pass in p (PASS_TRAINING),
 * backward down to layer `first` (the gradients of earlier layers'
 * parameters are left as they are). class_w NULL: 1. *penalty receives
 * L's l2 term. */
double train_loss_grad(const struct model *m, struct pass *p, const float *x, size_t n,
		       const uint32_t *y, const float *class_w, double l2, int first,
		       float *grad, double *penalty);

#endif
