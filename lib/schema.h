/* Reading typed values out of decoded msgpack maps, with messages that name
 * the key, and tensors checked against their declared shape. */
#ifndef VP_SCHEMA_H
#define VP_SCHEMA_H

#include <msgpack.h>
#include <stdint.h>

#include "err.h"

#define VP_MAX_RANK 4
/* A single dimension above this is refused before anything is allocated. */
#define VP_MAX_DIM (1u << 24)

enum vp_dtype { VP_U8, VP_F32 };

struct vp_tensor {
	enum vp_dtype dtype;
	int rank;
	uint32_t shape[VP_MAX_RANK];
	size_t count;      /* product of shape */
	const void *data;  /* little-endian, row-major; not aligned */
};

const char *vp_dtype_name(enum vp_dtype t);
size_t vp_dtype_size(enum vp_dtype t);

/* NULL when absent or when map is not a map. */
const msgpack_object *vp_map_get(const msgpack_object *map, const char *key);
/* The value, or vp_nil when absent: for comparing maps where a missing
 * key and nil mean the same. */
extern const msgpack_object vp_nil;
const msgpack_object *vp_map_get_or_nil(const msgpack_object *map, const char *key);
/* A short name of the object's type for messages ("a string", "an array"). */
const char *vp_obj_type_name(const msgpack_object *o);

/* The getters return 0 on success, 1 when the key is absent and !required
 * (outputs untouched), -1 with a message naming the key otherwise. */
int vp_get_bytes(const msgpack_object *map, const char *key, int required,
		 const char **p, size_t *n, struct vp_err *e); /* str or bin */
int vp_get_uint(const msgpack_object *map, const char *key, int required,
		uint64_t *v, struct vp_err *e);
int vp_get_double(const msgpack_object *map, const char *key, int required,
		  double *v, struct vp_err *e); /* any number */
int vp_get_tensor(const msgpack_object *map, const char *key, int required,
		  struct vp_tensor *t, struct vp_err *e);

/* Copy a tensor's elements out as floats (u8 widened). dst has t->count
 * elements. */
void vp_tensor_to_f32(const struct vp_tensor *t, float *dst);

/* Floats as the format stores them (little-endian) to this machine's. */
void vp_f32_from_le(float *v, size_t n);

int vp_bytes_eq(const char *p, size_t n, const char *s);

/* Binary search for the n bytes at p among the nnames strings names[],
 * whose indices by_name[] lists in byte order. Returns the index of the
 * name, or -1 with *at (when not NULL) set to where in by_name[] it
 * would go. */
long vp_name_search(char *const *names, const uint32_t *by_name, uint32_t nnames,
		    const char *p, size_t n, uint32_t *at);

/* Compare two objects (maps by key, whatever the order). Returns 0 when
 * equal; otherwise 1 and a description of the first difference, path
 * first: "provenance.weights.sha256: \"ab12...\" here, \"cd34...\" before". */
int vp_obj_diff(const msgpack_object *a, const msgpack_object *b,
		const char *path, char *out, size_t outlen);

/* A msgpack object copied out of a stream's buffer, so that it outlives
 * the record or header it came from. */
struct vp_obj {
	msgpack_sbuffer buf;
	msgpack_zone zone;
	msgpack_object obj;
	int set;
};

int vp_obj_copy(struct vp_obj *o, const msgpack_object *src, struct vp_err *e);
void vp_obj_free(struct vp_obj *o);

/* "[9, 9, 512]" for messages. */
void vp_shape_text(int rank, const uint32_t *shape, char *out, size_t outlen);

/* Print an object in one line, JSON-like, for messages (truncated). */
void vp_obj_brief(const msgpack_object *o, char *out, size_t outlen);

#endif
