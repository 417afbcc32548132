/* Reading typed values out of decoded msgpack maps, with messages that
 * name the key; comparing and keeping objects. */
#ifndef STREAM_OBJ_H
#define STREAM_OBJ_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* NULL when absent or when map is not a map. */
const msgpack_object *obj_get(const msgpack_object *map, const char *key);
/* The value, or obj_nil when absent: for comparing maps where a missing
 * key and nil mean the same. */
extern const msgpack_object obj_nil;
const msgpack_object *obj_get_or_nil(const msgpack_object *map, const char *key);
/* A short name of the object's type for messages ("a string", "an array"). */
const char *obj_type_name(const msgpack_object *o);

/* The getters return 0 on success, 1 when the key is absent and !required
 * (outputs untouched), -1 with a message naming the key otherwise. */
int obj_get_bytes(const msgpack_object *map, const char *key, int required,
		  const char **p, size_t *n, struct err *e); /* str or bin */
int obj_get_array(const msgpack_object *map, const char *key, int required,
		  const msgpack_object_array **a, struct err *e);
int obj_get_uint(const msgpack_object *map, const char *key, int required,
		 uint64_t *v, struct err *e);
int obj_get_double(const msgpack_object *map, const char *key, int required,
		   double *v, struct err *e); /* any number */

/* Compare two objects (maps by key, whatever the order). Returns 0 when
 * equal; otherwise 1 and a description of the first difference, path
 * first: "provenance.weights.sha256: \"ab12...\" here, \"cd34...\" before". */
int obj_diff(const msgpack_object *a, const msgpack_object *b,
	     const char *path, char *out, size_t outlen);

/* A msgpack object copied out of a stream's buffer, so that it outlives
 * the record or header it came from. */
struct obj_held {
	msgpack_sbuffer buf;
	msgpack_zone zone;
	msgpack_object obj;
	int set;
};

int obj_hold(struct obj_held *o, const msgpack_object *src, struct err *e);
void obj_release(struct obj_held *o);

/* Print an object in one line, JSON-like, for messages (truncated). */
void obj_brief(const msgpack_object *o, char *out, size_t outlen);

#endif
