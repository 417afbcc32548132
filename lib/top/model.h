/* The top model: a chain of layers (layer.h) from one feature record to
 * class probabilities, its classes, and every tensor in one allocation.
 * Its passes are in pass.h, its file in modelfile.h, its training in
 * train.h. */
#ifndef TOP_MODEL_H
#define TOP_MODEL_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "layer.h"
#include "obj.h"
#include "tensor.h"

/* Refused by the builder and so by the loader: far above any sensible top
 * model, and below what would make a hostile file allocate without
 * bound. */
#define MODEL_MAX_CLASSES 65536
#define MODEL_MAX_LAYERS 256
#define MODEL_MAX_PARAMS ((size_t)1 << 28)
/* A record's floats through the whole chain, its input and every layer's
 * output (256 MB): a hostile model must not make a reader allocate
 * gigabytes for a pass over one record. */
#define MODEL_MAX_RECORD_FLOATS ((size_t)1 << 26)

struct model {
	uint32_t nclass;
	char **classes;              /* output order, NUL-terminated */
	uint32_t *by_name;           /* class indices in byte order of names */
	int input_rank;
	uint32_t input_shape[TENSOR_MAX_RANK];
	uint32_t in_dim;             /* product of input_shape */
	int nlayers;
	struct layer *layers;        /* room for MODEL_MAX_LAYERS */
	/* Every tensor in one allocation: the trained ones first, in layer
	 * order (so that an optimiser walks a range of them), then the
	 * statistics (batchnorm's running ones, standardisation's). */
	float *params;
	size_t nparams, ntrain;
	struct obj_held provenance;  /* the training features', copied */
};

/* Building a model: start with the input shape and the classes (copied),
 * add layers in order, each taking the previous one's output, then finish,
 * which checks that the chain ends in a softmax over the classes and
 * allocates the tensors, each at its kind's start value (layer.h). `size`
 * is a conv3x3's output channels or a dense layer's width, `scalar`
 * batchnorm's epsilon or dropout's rate; others ignore them. A rank-3
 * input is a map [h, w, c]; any other shape is features without a
 * spatial shape. */
int model_start(struct model *m, int input_rank, const uint32_t *input_shape,
		uint32_t nclass, char *const *classes, struct err *e);
int model_add(struct model *m, enum layer_kind kind, uint32_t size, float scalar,
	      struct err *e);
int model_finish(struct model *m, struct err *e);
/* The map the next layer added would take, [h, w, c]: the last layer's
 * output, or the model's input. */
void model_next_input(const struct model *m, uint32_t *h, uint32_t *w, uint32_t *c);

/* The usual dense top: standardisation (when asked; per channel of a
 * map, else per feature), then per hidden width dense, batchnorm (when
 * asked), relu, dropout (when rate > 0); then dense to the classes and
 * softmax. */
struct model_top {
	int standardize;
	const uint32_t *hidden;
	int nhidden;
	int batchnorm;
	double dropout;
};

/* Append the usual top to the layers so far (before model_finish). */
int model_add_top(struct model *m, const struct model_top *top, struct err *e);
/* A model that is the usual top alone; freed on failure. */
int model_build(struct model *m, int input_rank, const uint32_t *input_shape,
		const struct model_top *top, uint32_t nclass, char *const *classes,
		struct err *e);
/* What shaped a model's top, read back from its layers: the widths of
 * the dense layers before the last, batchnorm, dropout, standardisation.
 * hidden has room for max widths. */
void model_describe_top(const struct model *m, uint32_t *hidden, int max, struct model_top *top);
/* Copy the tensors of every layer of src into the layers of m from at
 * on, which must be of the same kinds and shapes (a top tuned with a
 * block, from the top trained alone). */
void model_copy_layers(struct model *m, int at, const struct model *src);

/* Copy a provenance map into the model. */
int model_set_provenance(struct model *m, const msgpack_object *prov, struct err *e);
void model_free(struct model *m);

/* The index of a class name in the model's classes, or -1. */
long model_class_index(const struct model *m, const char *name, size_t len);
/* The first layer of the dense top: the one after the last convolution
 * or pooling (0 for a model without them). */
int model_top_start(const struct model *m);
/* The widest layer input or output, in floats per record. */
uint32_t model_max_width(const struct model *m);
/* Records per inference batch: up to 64, enough for the GEMMs to be
 * efficient, fewer when the activations of 64 would take more than
 * 64 MiB. */
size_t model_batch_rows(const struct model *m);

#endif
