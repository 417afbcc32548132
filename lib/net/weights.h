/* VGG16 weights from the files users have: Keras HDF5 (the published
 * ..._notop.h5, full files, save_weights of Keras 2, tf.keras and Keras 3's
 * legacy writer, Keras 3's native .weights.h5) and safetensors with
 * torchvision's names. Or seeded random weights for tests and benchmarks. */
#ifndef NET_WEIGHTS_H
#define NET_WEIGHTS_H

#include <stdint.h>

#include "err.h"
#include "vgg16.h"

/* The file Keras caches under ~/.keras/models/, and where to get it. */
#define WEIGHTS_KERAS_FILE "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
#define WEIGHTS_KERAS_URL \
	"https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" WEIGHTS_KERAS_FILE
#define WEIGHTS_KERAS_MD5 "6d6bbae143d832006294945121d1f1fc"

/* The weights a tool runs with, found as vggfeat(1) says: path (its
 * --weights), else $VGGPIPE_WEIGHTS, else Keras' cache in $HOME; with
 * random set, weights_random(seed) instead. */
int weights_find(const char *path, int random, uint64_t seed,
		       struct vgg16_weights *w, struct err *e);

/* He-initialised kernels (Keras' he_uniform: uniform in +-sqrt(6 / fan_in),
 * deviation sqrt(2 / fan_in), fan_in = 9 cin) and zero biases, from a
 * seeded generator of our own, so that a seed gives the same weights on
 * every machine. id "random:SEED", preprocess caffe. */
int weights_random(uint64_t seed, struct vgg16_weights *w, struct err *e);

/* The format loaders behind weights_find; w is allocated. */
int weights_h5(const char *path, struct vgg16_weights *w, struct err *e);
int weights_safetensors(int fd, uint64_t size, struct vgg16_weights *w,
			      struct err *e);

/* The strings of a layer_names or weight_names attribute, or of all its
 * chunks (name0, name1, ... when the list does not fit in an object
 * header), appended in order. */
struct weights_names {
	char **s;
	size_t n;
};

/* Append n fixed-width strings of width bytes each, as h5py writes numpy
 * bytes: null-padded, with no terminator when a string fills its width. */
int weights_names_fixed(struct weights_names *l, const char *buf, size_t n, size_t width,
		      struct err *e);
/* Append n variable-length strings; a NULL one is empty. */
int weights_names_vlen(struct weights_names *l, char *const *v, size_t n, struct err *e);
void weights_names_free(struct weights_names *l);

/* What libhdf5 tells the Keras loader about one dataset of a layer. */
#define WEIGHTS_KERAS_MAX_RANK 32
struct weights_keras_dataset {
	const char *name;     /* as weight_names (or Keras 3's vars/N) gives it */
	int found;            /* 0: missing; -1: not an array of floats */
	int rank;
	uint64_t dims[WEIGHTS_KERAS_MAX_RANK];
};

struct weights_keras_layer {
	const char *name;     /* as layer_names gives it */
	int found;            /* 0: the file has no group of that name */
	struct weights_keras_dataset *d;
	size_t n;             /* datasets, in weight_names order */
};

/* Where one convolution's kernel and bias are: layer and dataset indices. */
struct weights_keras_ref {
	size_t layer, kernel, bias;
};

/* The Keras loader's decisions, on plain data: each 4-D kernel with the
 * 1-D bias after it is the next convolution, checked against VGG16's
 * shapes; anything else of rank other than 4 (a dense top) is passed over.
 * Fills conv with the 13 convolutions, or fails naming the layer, the
 * dataset and the shapes. */
int weights_keras_match(const struct weights_keras_layer *layers, size_t n,
		      struct weights_keras_ref conv[VGG16_CONVS], struct err *e);

/* Where each convolution's kernel and bias lie in a safetensors file: the
 * file offsets of float32 data of VGG16's shapes (kernels OIHW). */
struct weights_safetensors_table {
	uint64_t kernel[VGG16_CONVS], bias[VGG16_CONVS];
};

/* Check a safetensors header, the hlen bytes of JSON after the 8-byte
 * length, against a file of size bytes, and fill t: every tensor is there,
 * F32, of the expected shape, its data inside the file. Nothing of the file
 * after the header is read, so the checks run on the header alone. */
int weights_safetensors_header(const char *text, uint64_t hlen, uint64_t size,
			       struct weights_safetensors_table *t, struct err *e);

#endif
