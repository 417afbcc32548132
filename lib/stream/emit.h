/* Structured output written once for two encodings: msgpack for programs
 * and the model file, JSON for people and jq. Maps and arrays are declared
 * with their size, which msgpack needs up front, and closed with emit_end;
 * the emitter counts what is written inside each and emit_finish reports
 * a declared size that does not match, in both encodings, so that a
 * miscounted map cannot hide in the JSON tests. */
#ifndef STREAM_EMIT_H
#define STREAM_EMIT_H

#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "obj.h"
#include "tensor.h"

#define EMIT_MAX_DEPTH 32

struct emit {
	FILE *f;
	int json;
	msgpack_packer pk;
	int depth;                           /* open maps and arrays */
	unsigned char is_map[EMIT_MAX_DEPTH];
	uint64_t declared[EMIT_MAX_DEPTH];   /* items: a map of n pairs holds 2n */
	uint64_t written[EMIT_MAX_DEPTH];
	char error[160];                     /* the first mistake, or empty */
};

void emit_init(struct emit *t, FILE *f, int json);
void emit_map(struct emit *t, uint32_t pairs);
void emit_array(struct emit *t, uint32_t items);
void emit_end(struct emit *t);
void emit_key(struct emit *t, const char *key);
/* A str, or bin when the bytes are not UTF-8 (JSON: \udcXX escapes). */
void emit_bytes(struct emit *t, const char *p, size_t n);
void emit_str(struct emit *t, const char *s);
void emit_double(struct emit *t, double v);  /* not finite: nil / null */
/* The same with digits significant digits in JSON (emit_double's 10,
 * 9 for a value that was a float32); msgpack: a double. */
void emit_real(struct emit *t, double v, int digits);
void emit_int(struct emit *t, int64_t v);
/* A float32, so that a value read back is the one that was used. */
void emit_float(struct emit *t, float v);
void emit_uint(struct emit *t, uint64_t v);
void emit_bool(struct emit *t, int v);
/* An array of n unsigned integers. */
void emit_uint_array(struct emit *t, uint32_t n, const uint32_t *v);
/* key: [lo, hi], a range or an interval (an end not finite: nil / null). */
void emit_key_pair(struct emit *t, const char *key, double lo, double hi);
/* A decoded msgpack value, copied whole; msgpack only. */
void emit_object(struct emit *t, const msgpack_object *o);
/* A tensor map (vggpipe(5)); msgpack only: JSON has no bytes. */
void emit_tensor(struct emit *t, enum tensor_dtype dtype, int rank, const uint32_t *shape,
		 const void *data);
/* After the last item: -1 and a message if a map or array was left open
 * or held other than its declared size. */
int emit_finish(struct emit *t, struct err *e);

#endif
