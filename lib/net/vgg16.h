/* The VGG16 convolutional base: 13 3x3 convolutions (stride 1, 'same'
 * padding, bias, ReLU) in five blocks of 64, 128, 256, 512 and 512
 * channels, each block ending in a 2x2 max-pool of stride 2.
 *
 * Tensors are NHWC float32, so that Keras' HWIO kernels are the GEMM's B
 * matrix as they are stored, and features come out in the order Keras'
 * Flatten reads them. */
#ifndef NET_VGG16_H
#define NET_VGG16_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "nn.h"

#define VGG16_CONVS 13
#define VGG16_BLOCKS 5
/* Keras refuses smaller inputs: block5_pool would have no pixel left. */
#define VGG16_MIN_SIZE 32
/* The first block's two activation maps take 512 bytes per pixel: 8 GiB
 * at this many pixels (4096x4096). Larger images are refused rather than
 * left to the out-of-memory killer. */
#define VGG16_MAX_PIXELS ((size_t)1 << 24)

enum vgg16_preprocess { VGG16_CAFFE, VGG16_TORCH, VGG16_RESCALE };
enum vgg16_pool { VGG16_POOL_NONE, VGG16_POOL_AVG, VGG16_POOL_MAX };

/* Names as they appear in provenance and on the command line, indexed by
 * the enums; NULL-terminated for cli_opt_choice. */
extern const char *const vgg16_preprocess_names[];
extern const char *const vgg16_pool_names[];

struct vgg16_conv_spec {
	const char *name; /* Keras layer name, "block1_conv1" */
	int block;        /* 1..5 */
	int cin, cout;
	int torch_index;  /* N of torchvision's features.N */
};
extern const struct vgg16_conv_spec vgg16_convs[VGG16_CONVS];

/* Every kernel and bias lives in data, one allocation: kernel[i] is HWIO
 * [3, 3, cin, cout], bias[i] is [cout]. */
struct vgg16_weights {
	float *data;
	size_t count;
	float *kernel[VGG16_CONVS];
	float *bias[VGG16_CONVS];
	char id[80];     /* provenance: "sha256:HEX" or "random:SEED" */
	char file[256];  /* the file's base name, for people; empty if random */
	enum vgg16_preprocess preprocess; /* what the weights were trained on */
};

int vgg16_weights_alloc(struct vgg16_weights *w, struct err *e);
void vgg16_weights_free(struct vgg16_weights *w);

/* A network cut after blockN_pool, running on `threads` threads (1 to
 * THREADS_MAX).
 * Buffers grow to the largest batch seen and are kept between calls. */
struct vgg16 {
	const struct vgg16_weights *w;
	int blocks;
	int threads;
	float *col;        /* threads x VGG16_COL_FLOATS im2col strips, or
			    * Winograd workspaces of the same size */
	float *u[VGG16_CONVS]; /* Winograd-transformed kernels (laid out as
				* winograd_kernel_transform says), NULL for a
				* layer on im2col; all in u[1]'s allocation */
	float *act[2];     /* ping-pong activations */
	float *mid;        /* the batch, stacked where its maps become small */
	size_t act_cap[2], mid_cap; /* floats allocated */
};

int vgg16_init(struct vgg16 *net, const struct vgg16_weights *w, int blocks,
	       int threads, struct err *e);
void vgg16_free(struct vgg16 *net);

/* Choose the convolution algorithm (a new network runs on im2col).
 * Winograd transforms the kernels of the layers the cut reaches, once:
 * they take four times the plain kernels' memory (235 MB for the whole
 * base), on top of them. -1 when that memory cannot be allocated. */
int vgg16_set_algo(struct vgg16 *net, enum nn_algo algo, struct err *e);

/* Output shape of the cut for an h x w input. */
void vgg16_output_shape(int blocks, int h, int w, int *oh, int *ow, int *oc);

/* in [n, h, w, 3] preprocessed -> out [n, oh, ow, oc] (vgg16_output_shape);
 * h and w at least VGG16_MIN_SIZE, h * w at most VGG16_MAX_PIXELS. -1 when
 * the size is out of range or the activations cannot be allocated. */
int vgg16_forward(struct vgg16 *net, const float *in, int n, int h, int w,
		  float *out, struct err *e);

/* rgb u8 [pixels, 3] -> out f32 [pixels, 3] as the weights expect it:
 * caffe is BGR minus the ImageNet mean in 0..255, torch is RGB scaled to
 * 0..1 then normalised by the ImageNet mean and deviation, rescale is RGB
 * scaled to 0..1. */
void vgg16_preprocess_forward(enum vgg16_preprocess mode, const uint8_t *rgb,
			      size_t pixels, float *out);

/* An im2col strip is VGG16_STRIP_ROWS pixels: enough that packing the
 * kernel, which each GEMM call does again, is paid back over its rows, and
 * few enough that the strip's output is still in cache for the bias and
 * ReLU. Strips sized to fill 4 MiB of columns instead were slower: the
 * first layer's 38836 rows took 3.5 to 3.8 ms per 224x224 image against
 * 2.9 to 3.1. A thread's buffer holds a strip of the 4608 columns of
 * blocks 4 and 5: 18 MiB. */
#define VGG16_STRIP_ROWS 1024
#define VGG16_COL_FLOATS ((size_t)VGG16_STRIP_ROWS * 9 * 512)
/* Winograd strips of the layers whose transformed kernel is at most
 * VGG16_SMALL_KERNEL_FLOATS keep their V and M within 512 KiB, a quarter
 * of a core's second-level cache on the machines we measured
 * (winograd_strip_budget in vgg16.c). */
#define VGG16_SMALL_KERNEL_FLOATS ((size_t)1 << 20)
#define VGG16_STRIP_FLOATS ((size_t)1 << 17)
/* Winograd's strips are as many tiles as the same buffer holds
 * (winograd_strip_tiles). Where a layer has fewer than VGG16_MIN_TILES
 * tiles per thread, the threads share its output channels rather than its
 * tiles, so that each reads part of the transformed kernel, not all of
 * it: blocks 4 and 5 of a 224x224 image at batch 1. Block 3's 196 tiles
 * ran 4 to 10% faster as two strips than as two channel halves. */
#define VGG16_MIN_TILES 64
/* Pixels per image up to which a block runs on the whole batch at once;
 * larger maps go one image at a time. 64x64 images at batch 64 ran 10%
 * faster stacked from the first block than from the third (a layer of
 * one 64x64 image is too little work to share between threads), for
 * 41 MB more. At 224x224, batch 16, stacking from the third block rather
 * than the fourth, as this does, is neither faster nor slower and takes
 * 70 MB more; at batch 1 it changes nothing. */
#define VGG16_BATCH_PIXELS 4096

#endif
