/* Tensors as the stream contract writes them (vggpipe(5)): maps of
 * shape, dtype and data, checked against their declared shape before any
 * use. */
#ifndef STREAM_TENSOR_H
#define STREAM_TENSOR_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TENSOR_MAX_RANK 4
/* A single dimension above this is refused before anything is allocated. */
#define TENSOR_MAX_DIM (1u << 24)

enum tensor_dtype { TENSOR_U8, TENSOR_F32 };

struct tensor {
	enum tensor_dtype dtype;
	int rank;
	uint32_t shape[TENSOR_MAX_RANK];
	size_t count;      /* product of shape */
	const void *data;  /* little-endian, row-major; not aligned */
};

const char *tensor_dtype_name(enum tensor_dtype t);
size_t tensor_dtype_size(enum tensor_dtype t);

/* The tensor map v (messages call it key): 0, or -1 with a message when it
 * is not a tensor, its dtype is unknown, its shape is out of range or
 * disagrees with its data's length. */
int tensor_parse(const msgpack_object *v, const char *key, struct tensor *t,
		 struct err *e);
/* The tensor under key of a map: as obj_get_bytes and the other getters
 * (obj.h), 1 when absent and !required. */
int tensor_get(const msgpack_object *map, const char *key, int required,
	       struct tensor *t, struct err *e);

/* Copy a tensor's elements out as floats (u8 widened). dst has t->count
 * elements. */
void tensor_to_f32(const struct tensor *t, float *dst);

/* Floats as the format stores them (little-endian) to this machine's. */
void tensor_f32_from_le(float *v, size_t n);

/* "[9, 9, 512]" for messages. */
void tensor_shape_text(int rank, const uint32_t *shape, char *out, size_t outlen);

#endif
