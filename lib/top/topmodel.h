/* The top model: a chain of layers from one feature record to class
 * probabilities, and the model file (a `model` stream, vggpipe(5)) that
 * holds it. One forward pass serves topfit (training mode: dropout on,
 * batch statistics), topeval and classify (inference mode).
 *
 * A batch of records is a row-major matrix [n, width]; a record that keeps
 * a spatial shape [h, w, c] is its map in NHWC order, so that convolutions
 * and pooling see maps and a dense layer sees the same floats as one row,
 * in the order of Keras' Flatten. */
#ifndef TOP_TOPMODEL_H
#define TOP_TOPMODEL_H

#include <gsl/gsl_rng.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "nn.h"
#include "obj.h"
#include "stream.h"
#include "tensor.h"

enum top_kind {
	TOP_STANDARDIZE, TOP_CONV3X3, TOP_MAXPOOL2X2, TOP_DENSE, TOP_BATCHNORM,
	TOP_RELU, TOP_DROPOUT, TOP_SOFTMAX, TOP_KINDS
};
/* The layer types as the model file names them. */
extern const char *const top_kind_names[TOP_KINDS];

struct top_layer {
	enum top_kind kind;
	uint32_t h, w, c;       /* the input as a map; features without a spatial
				 * shape are [1, 1, width] */
	uint32_t in, out;       /* floats per record in and out */
	uint32_t cout;          /* conv3x3: output channels */
	float *weights, *bias;  /* dense: [in, out], [out]; conv3x3: HWIO
				 * [3, 3, c, cout], [cout] */
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
#define TOP_BN_EPS 1e-3f
#define TOP_BN_MOMENTUM 0.9f

/* Refused by the loader: far above any sensible top model, and below
 * what would make a hostile file allocate without bound. */
#define TOP_MAX_CLASSES 65536
#define TOP_MAX_LAYERS 256
#define TOP_MAX_PARAMS ((size_t)1 << 28)
/* A record's floats through the whole chain, its input and every layer's
 * output (256 MB): a hostile model must not make a reader allocate
 * gigabytes for a pass over one record. */
#define TOP_MAX_RECORD_FLOATS ((size_t)1 << 26)

struct top_model {
	uint32_t nclass;
	char **classes;              /* output order, NUL-terminated */
	uint32_t *by_name;           /* class indices in byte order of names */
	int input_rank;
	uint32_t input_shape[TENSOR_MAX_RANK];
	uint32_t in_dim;             /* product of input_shape */
	int nlayers;
	struct top_layer *layers;    /* room for TOP_MAX_LAYERS */
	/* Every tensor in one allocation: the trained ones first, in layer
	 * order (so that an optimiser walks a range of them), then the
	 * statistics (batchnorm's running ones, standardisation's). */
	float *params;
	size_t nparams, ntrain;
	struct obj_held provenance;    /* the training features', copied */
};

/* Building a model: start with the input shape and the classes (copied),
 * add layers in order, each taking the previous one's output, then finish,
 * which checks that the chain ends in a softmax over the classes and
 * allocates the parameters: zero, but batchnorm's gamma and variance and
 * standardisation's scale, which are 1. `size` is a conv3x3's output
 * channels or a dense layer's width, `value` batchnorm's epsilon or
 * dropout's rate; others ignore them. A rank-3 input is a map [h, w, c];
 * any other shape is features without a spatial shape. */
int top_model_start(struct top_model *m, int input_rank, const uint32_t *input_shape,
		    uint32_t nclass, char *const *classes, struct err *e);
int top_model_add(struct top_model *m, enum top_kind kind, uint32_t size, float value,
		  struct err *e);
int top_model_finish(struct top_model *m, struct err *e);

/* The usual top: standardisation (when asked; per channel of a map, else
 * per feature), then per hidden width dense, batchnorm (when asked), relu,
 * dropout (when rate > 0); then dense to nclass and softmax. */
int top_model_build(struct top_model *m, int input_rank, const uint32_t *input_shape,
		    int standardize, const uint32_t *hidden, int nhidden, int batchnorm,
		    double dropout, uint32_t nclass, char *const *classes,
		    struct err *e);
/* Copy a provenance map into the model. */
int top_model_set_provenance(struct top_model *m, const msgpack_object *prov,
			     struct err *e);
void top_model_free(struct top_model *m);

/* The model kind, as the stream layer reads it. */
extern const struct stream_kind top_model_kind;

/* Read a model file (path "-" for stdin). Every size is checked against the
 * layer chain before anything is allocated; every value must be finite. */
int top_model_load(struct top_model *m, const char *path, struct err *e);

/* Training hyper-parameters and history: written into the model file so
 * that a model says how it was made. */
struct top_hparams {
	const char *optimizer;       /* "adam", "sgd", "rmsprop" */
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
	const char *warmup_optimizer;
	double warmup_lr;
};

struct top_epoch {
	double loss, accuracy;           /* training, over the epoch's batches */
	double val_loss, val_accuracy;   /* NaN without validation data */
	double seconds;                  /* the epoch's training, validation excluded */
};

struct top_history {
	struct top_epoch *epochs;
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

/* Write the model stream. hp and h may be NULL. -1 on a write that the
 * emitter found miscounted (a bug, reported rather than written). */
int top_model_write(const struct top_model *m, const struct top_hparams *hp,
		    const struct top_history *h, FILE *f, struct err *e);

/* Workspace of a forward pass over at most cap records. act[i] is layer
 * i's output, [cap, layers[i].out]; the last is the probabilities. In
 * training mode (rng set) dropout draws masks from rng and batchnorm uses
 * the batch statistics, keeping what the backward pass needs. */
struct top_pass {
	size_t cap;
	int threads;
	float **act;
	gsl_rng *rng;           /* NULL: inference */
	float **mask;           /* dropout: 0 or 1/(1 - rate), [cap, out] */
	float **bn_mean, **bn_var;  /* batchnorm batch statistics, [c] */
	enum nn_algo algo;      /* how the conv3x3 layers run */
	float *conv;            /* conv3x3 scratch */
	float *col;             /* conv3x3 backward: im2col rows of the batch */
	float *flipped;         /* conv3x3 backward: a turned kernel */
};

int top_pass_init(struct top_pass *p, const struct top_model *m, size_t cap, int threads,
		  enum nn_algo algo, int training, struct err *e);
void top_pass_free(struct top_pass *p, const struct top_model *m);

/* x [n, in_dim] -> p->act[nlayers - 1] [n, nclass], n <= p->cap. */
void top_forward(const struct top_model *m, struct top_pass *p, const float *x, size_t n);

/* Cross-entropy of row r after a forward pass, from the logits (the
 * softmax's input) so that a confident mistake costs its true amount
 * rather than -log(0). */
double top_row_xent(const struct top_model *m, const struct top_pass *p,
		    const float *x, size_t r, uint32_t label);
/* The index of the largest probability of row r. */
uint32_t top_row_argmax(const struct top_model *m, const struct top_pass *p, size_t r);
/* The k best classes of row r, best first (ties: lower index first). */
void top_row_topk(const struct top_model *m, const struct top_pass *p, size_t r,
		  uint32_t k, uint32_t *idx);

/* Records per inference batch: up to 64, enough for the GEMMs to be
 * efficient, fewer when the activations of 64 would take more than
 * 64 MiB. */
size_t top_batch_rows(const struct top_model *m);

/* The index of a class name in the model's classes, or -1. */
long top_class_index(const struct top_model *m, const char *name, size_t len);

#endif
