/* The top model: a chain of layers over flattened features, ending in a
 * softmax. One forward pass serves topfit (training mode: dropout on, batch
 * statistics), topeval and classify (inference mode). The model file is a
 * `model` stream (vggpipe(5)); its loader trusts nothing it reads.
 *
 * Activations are row-major [rows, width] float matrices; a dense layer's
 * weights are [in, out], so that a batch is multiplied as X W. */
#ifndef VP_TOPMODEL_H
#define VP_TOPMODEL_H

#include <gsl/gsl_rng.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "schema.h"
#include "stream.h"

enum top_kind { TOP_DENSE, TOP_BATCHNORM, TOP_RELU, TOP_DROPOUT, TOP_SOFTMAX };

struct top_layer {
	enum top_kind kind;
	uint32_t in, out;       /* widths; equal except for dense */
	float *w, *b;           /* dense: w [in, out], b [out] */
	float *gamma, *beta;    /* batchnorm, trained: [out] */
	float *mean, *var;      /* batchnorm, running statistics: [out] */
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

/* A msgpack object copied out of a stream's buffer, so that it outlives
 * the record or header it came from. */
struct top_obj {
	msgpack_sbuffer buf;
	msgpack_zone zone;
	msgpack_object obj;
	int set;
};

int top_obj_copy(struct top_obj *o, const msgpack_object *src, struct vp_err *e);
void top_obj_free(struct top_obj *o);

struct top_model {
	uint32_t nclass;
	char **classes;              /* output order, NUL-terminated */
	int input_rank;
	uint32_t input_shape[VP_MAX_RANK];
	uint32_t in_dim;             /* product of input_shape */
	int nlayers;
	struct top_layer *layers;
	/* Every tensor in one allocation: the trained ones first (so that an
	 * optimiser walks [0, ntrain)), then batchnorm running statistics. */
	float *params;
	size_t nparams, ntrain;
	struct top_obj provenance;   /* the features', copied */
};

/* Training hyper-parameters and history: written into the model file so
 * that a model says how it was made. */
struct top_hparams {
	const char *optimizer;       /* "adam", "sgd", "rmsprop" */
	double lr, momentum, l2, dropout;
	uint32_t *hidden;
	int nhidden;
	int batchnorm, balance;
	uint32_t epochs, batch, patience, threads;
	uint64_t seed;
};

struct top_epoch {
	double loss, accuracy;           /* training, over the epoch's batches */
	double val_loss, val_accuracy;   /* NaN without validation data */
};

struct top_history {
	struct top_epoch *epochs;
	uint32_t n;                      /* epochs run */
	uint32_t best;                   /* 1-based epoch whose weights are kept */
	uint64_t train_records, valid_records;
};

/* Build the layer chain for in_dim inputs: per hidden width, dense,
 * batchnorm (if asked), relu, dropout (if rate > 0); then dense to nclass
 * and softmax. Parameters are zero (batchnorm: gamma 1, var 1) until a
 * trainer initialises them. classes are copied. */
int top_model_build(struct top_model *m, int input_rank, const uint32_t *input_shape,
		    const uint32_t *hidden, int nhidden, int batchnorm, double dropout,
		    uint32_t nclass, char *const *classes, struct vp_err *e);
/* Copy a provenance map into the model. */
int top_model_set_provenance(struct top_model *m, const msgpack_object *prov,
			     struct vp_err *e);
void top_model_free(struct top_model *m);

/* Read a model file (path "-" for stdin). Every size is checked against the
 * layer chain before anything is allocated; every value must be finite. */
int top_model_load(struct top_model *m, const char *path, struct vp_err *e);
/* Write the model stream. hp and h may be NULL. */
void top_model_write(const struct top_model *m, const struct top_hparams *hp,
		     const struct top_history *h, FILE *f);

/* The widest layer output (the input excluded: no pass needs its
 * gradient), for sizing workspaces. */
uint32_t top_model_max_width(const struct top_model *m);

/* Workspace of a forward pass over at most cap rows. act[i] is layer i's
 * output, [cap, layers[i].out]; the last is the probabilities. In training
 * mode (rng set) dropout draws masks from rng and batchnorm uses the batch
 * statistics, keeping what the backward pass needs. */
struct top_pass {
	size_t cap;
	float **act;
	gsl_rng *rng;           /* NULL: inference */
	float **mask;           /* dropout: 0 or 1/(1 - rate), [cap, out] */
	float **bn_mean, **bn_var;  /* batchnorm batch statistics, [out] */
};

int top_pass_init(struct top_pass *p, const struct top_model *m, size_t cap,
		  int training, struct vp_err *e);
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

/* Per-layer kernels, shared with the trainer and the unit tests. */
void dense_forward(const struct top_layer *l, const float *x, float *y, size_t n);
/* batch_mean NULL: inference with the running statistics; otherwise the
 * batch's mean and biased variance [out] are used and kept. */
void batchnorm_forward(const struct top_layer *l, const float *x, float *y, size_t n,
		       float *batch_mean, float *batch_var);
void relu_forward(const float *x, float *y, size_t count);
void dropout_forward(const struct top_layer *l, const float *x, float *y, size_t n,
		     gsl_rng *rng, float *mask);
void softmax_forward(const float *x, float *y, size_t n, uint32_t k);

/* C = op(A) op(B) * alpha + beta C on row-major float matrices: the one
 * place the top model multiplies matrices, through GSL's BLAS (linked to
 * OpenBLAS). A is [m, k] (or [k, m] when ta), B [k, n] (or [n, k]). */
void top_gemm(int ta, int tb, size_t m, size_t n, size_t k, float alpha,
	      const float *a, const float *b, float beta, float *c);

/* Reading features for a model, a batch at a time, from several streams
 * in turn: memory stays at cap rows whatever the number of records. Each
 * stream's provenance and every record's shape are checked against the
 * model's. */
struct top_row {
	char *id, *label;       /* NUL-terminated copies, reused */
	size_t id_len, label_len, id_cap, label_cap;
	int has_label;
	const char *file;
	uint64_t record;        /* 1-based, in its stream */
};

struct top_reader {
	const struct top_model *m;
	char *const *paths;
	int npaths, next;
	struct vp_stream *s;    /* the open stream, or NULL */
	int checked;
	size_t cap;
	float *x;               /* [cap, in_dim] */
	struct top_row *rows;   /* [cap] */
};

/* Rows per inference batch: up to 64, enough for the GEMMs to be
 * efficient, fewer when the input rows are so wide that 64 would take
 * more than 32 MiB. */
size_t top_batch_rows(const struct top_model *m);

int top_reader_open(struct top_reader *r, const struct top_model *m, char *const *paths,
		    int npaths, size_t cap, struct vp_err *e);
/* The next rows into r->x and r->rows: their count, 0 at the end of the
 * last stream, -1 on error. */
long top_reader_fill(struct top_reader *r, struct vp_err *e);
void top_reader_close(struct top_reader *r);

/* Structured output as JSON or msgpack from one sequence of calls, so
 * that a report is written once for both. Maps and arrays are declared
 * with their size (msgpack needs it) and closed with top_emit_end. */
struct top_emit {
	FILE *f;
	int json;
	msgpack_packer pk;
	int depth;
	unsigned char is_map[32];
	uint32_t items[32];
};

void top_emit_init(struct top_emit *t, FILE *f, int json);
void top_emit_map(struct top_emit *t, uint32_t n);
void top_emit_array(struct top_emit *t, uint32_t n);
void top_emit_end(struct top_emit *t);
void top_emit_key(struct top_emit *t, const char *key);
void top_emit_bytes(struct top_emit *t, const char *p, size_t n); /* str, or bin when not UTF-8 */
void top_emit_double(struct top_emit *t, double v);                /* NaN: null */
void top_emit_uint(struct top_emit *t, uint64_t v);

/* qsort comparison of two char * (class names). */
int top_strcmp_p(const void *a, const void *b);


#endif
