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

/* Which epoch's parameters a phase hands back: the best by validation
 * loss, the phase's start included, or the last. */
enum train_keep { TRAIN_KEEP_BEST, TRAIN_KEEP_LAST };
extern const char *const train_keep_names[];

/* The learning-rate range test (Smith, "Cyclical Learning Rates for
 * Training Neural Networks", 2017; fastai's lr_find): from the start, up
 * to TRAIN_FIND_STEPS steps on training batches at rates growing
 * geometrically from TRAIN_FIND_LO to TRAIN_FIND_HI, the loss smoothed as
 * it goes (fastai's exponential average), until the smoothed loss is far
 * above the start's (train_diverged): that rate is the edge. The loss
 * starts to rise a few steps before, about a factor 3 in rate below the
 * edge, and the rule of thumb is a tenth of that onset: the rate chosen
 * is the edge divided by TRAIN_FIND_MARGIN. The parameters are put back
 * as they were. A start already trained has no rate at which its loss
 * falls much, so the lowest point of the curve says nothing there; its
 * edge does. */
#define TRAIN_FIND_STEPS 100
#define TRAIN_FIND_LO 1e-9
#define TRAIN_FIND_HI 1.0
#define TRAIN_FIND_MARGIN 30

struct train_search {
	int run;                         /* 0: the rate was given */
	double lr;                       /* the rate chosen */
	double edge;                     /* where the loss went far above the
					  * start's (TRAIN_FIND_HI: nowhere) */
	uint32_t steps;                  /* steps run, at most TRAIN_FIND_STEPS */
	double seconds;
	double rate[TRAIN_FIND_STEPS];   /* each step's rate and smoothed loss */
	double loss[TRAIN_FIND_STEPS];
};

/* A phase gives up after this many roll-backs and keeps its start (or,
 * with validation, its best epoch, which is no worse). */
#define TRAIN_MAX_ROLLBACKS 3

/* Training hyper-parameters: written into the model file, so that a
 * model says how it was made. */
struct train_hparams {
	enum train_optimizer optimizer;
	double lr;                   /* 0: found by the range test */
	double momentum, l2, dropout;
	uint32_t *hidden;
	int nhidden;
	int batchnorm, balance, standardize, shuffle;
	uint32_t epochs, batch, patience;
	enum train_keep keep;        /* of the tuning phase (below) */
	/* Without validation data: the share of the training images held out
	 * for it (split.h), 0: none. */
	double holdout;
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
	double lr;                       /* the learning rate it ran at */
	/* The epoch diverged (a loss not finite, or far above the start's:
	 * train_diverged) and its parameters were thrown away: the phase went
	 * on from its best (or last good) state at a tenth of the rate. */
	int rolled_back;
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
	double start_train_loss;         /* the tuning's start on training
					  * batches, as the epochs measure it */
	uint32_t rollbacks;              /* epochs rolled back, every phase */
	int gave_up;                     /* the tuning kept diverging: its start
					  * (or best epoch) was kept */
	struct train_search search;      /* the tuning's learning rate */
	char **holdout_ids;              /* the images held out, [valid_images] */
	uint64_t valid_images;
	uint64_t train_records, train_images, valid_records;
};

/* The records of a feature set and their classes in the model's order;
 * part of them when images or records is set (split.h). Training passes
 * over the images (each a record at a time, cycling through its copies),
 * evaluation over the records. */
struct train_data {
	const struct feat_set *set;
	const uint32_t *y;          /* [set->n] */
	const size_t *images;       /* NULL: every image of the set */
	size_t nimages;
	const size_t *records;      /* NULL: every record of the set */
	size_t nrecords;
};

/* Far above the start: an epoch's training loss that is not finite, or
 * both more than twice the start's and more than half of chance's
 * (log nclass) above it. */
int train_diverged(double loss, double start, uint32_t nclass);

/* Called after every epoch with the history so far. */
typedef void (*train_epoch_fn)(const struct train_history *h, void *arg);

/* Train m on `train` and fill h (fitting a new top's standardisation
 * first) (its memory allocated here, freed by
 * train_history_free). Parameters
 * are drawn from hp->seed first (layer_reset on the kinds that are
 * drawn), except when fine-tuning from an initial model (hp->init),
 * whose parameters m already holds; a model's convolutions are never
 * drawn: they start as the caller set them. Fine-tuning without an
 * initial model first trains the top alone for hp->warmup epochs, the
 * block frozen. Without valid, hp->holdout of the training images (all of
 * an image's copies) are held out to validate on. With validation, the
 * tuning phase keeps its best epoch by validation loss when hp->keep says
 * so or hp->patience is set, and stops after patience epochs without a
 * lower validation loss; from a start that counts (an initial model, or
 * the end of a warm-up), the start is a candidate and an epoch less
 * accurate than it is not, so that the model handed back is no worse on
 * validation than where the tuning began. Epochs that diverge
 * are rolled back (struct train_epoch). hp->lr 0: the tuning's rate is
 * found by the range test. */
int train_run(struct model *m, const struct train_hparams *hp,
	      const struct train_data *train, const struct train_data *valid,
	      struct train_history *h, train_epoch_fn cb, void *arg, struct err *e);

void train_history_free(struct train_history *h);

/* Fit layer `layer`, a standardisation, to its input over one copy of
 * each training image: per channel, the mean and 1 / the standard
 * deviation (0 where the deviation is 0: a constant feature is ignored),
 * through the layers before it in inference mode. */
int train_fit_standardize(struct model *m, int layer, const struct train_data *train,
			  int threads, enum nn_algo algo, struct err *e);

/* Mean cross-entropy and accuracy in inference mode over every record;
 * predicted (NULL, or [nclass]) receives how often each class was
 * predicted, prob (NULL, or [records, nclass]) every record's class
 * probabilities, in the data's order. */
int train_evaluate(const struct model *m, const struct train_data *d, int threads,
		   enum nn_algo algo, double *loss, double *accuracy, uint64_t *predicted,
		   float *prob, struct err *e);

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
