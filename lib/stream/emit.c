#include "emit.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include <msgpack/fbuffer.h>

#include "json.h"
#include "utf8.h"

void emit_init(struct emit *t, FILE *f, int json)
{
	memset(t, 0, sizeof *t);
	t->f = f;
	t->json = json;
	msgpack_packer_init(&t->pk, f, msgpack_fbuffer_write);
}

static void mistake(struct emit *t, const char *what)
{
	if (!t->error[0])
		snprintf(t->error, sizeof t->error, "%s", what);
}

/* Count an item at the current level; in JSON, the separator before it:
 * a comma between items, a colon between a key and its value. */
static void item(struct emit *t)
{
	uint64_t k;

	if (!t->depth)
		return;
	k = t->written[t->depth - 1]++;
	if (k >= t->declared[t->depth - 1])
		mistake(t, "more items than declared");
	if (!t->json)
		return;
	if (t->is_map[t->depth - 1])
		fputs(k == 0 ? "" : k % 2 ? ":" : ",", t->f);
	else if (k)
		fputc(',', t->f);
}

static void open_level(struct emit *t, int is_map, uint32_t n)
{
	item(t);
	if (t->json)
		fputc(is_map ? '{' : '[', t->f);
	else if (is_map)
		msgpack_pack_map(&t->pk, n);
	else
		msgpack_pack_array(&t->pk, n);
	if (t->depth == EMIT_MAX_DEPTH) {
		mistake(t, "nested too deep");
		return;
	}
	t->is_map[t->depth] = (unsigned char)is_map;
	t->declared[t->depth] = is_map ? 2 * (uint64_t)n : n;
	t->written[t->depth] = 0;
	t->depth++;
}

void emit_map(struct emit *t, uint32_t pairs)
{
	open_level(t, 1, pairs);
}

void emit_array(struct emit *t, uint32_t items)
{
	open_level(t, 0, items);
}

void emit_end(struct emit *t)
{
	if (!t->depth) {
		mistake(t, "an end with nothing open");
		return;
	}
	t->depth--;
	if (t->written[t->depth] != t->declared[t->depth]) {
		char what[160];

		snprintf(what, sizeof what, "a %s declared with %" PRIu64 " items holds %" PRIu64,
			 t->is_map[t->depth] ? "map" : "array", t->declared[t->depth],
			 t->written[t->depth]);
		mistake(t, what);
	}
	if (t->json)
		fputc(t->is_map[t->depth] ? '}' : ']', t->f);
}

void emit_bytes(struct emit *t, const char *p, size_t n)
{
	item(t);
	if (t->json) {
		json_string(t->f, p, n);
	} else if (utf8_valid(p, n)) {
		msgpack_pack_str(&t->pk, n);
		msgpack_pack_str_body(&t->pk, p, n);
	} else {
		/* A path may hold any byte but '/' and NUL: bin keeps them. */
		msgpack_pack_bin(&t->pk, n);
		msgpack_pack_bin_body(&t->pk, p, n);
	}
}

void emit_key(struct emit *t, const char *key)
{
	emit_bytes(t, key, strlen(key));
}

void emit_str(struct emit *t, const char *s)
{
	emit_bytes(t, s, strlen(s));
}

/* A scalar: counted, then written in JSON when this returns 1, packed by
 * the caller otherwise. */
static int scalar_in_json(struct emit *t)
{
	item(t);
	return t->json;
}

void emit_real(struct emit *t, double v, int digits)
{
	if (scalar_in_json(t))
		json_number(t->f, v, digits);
	else if (isfinite(v))
		msgpack_pack_double(&t->pk, v);
	else
		msgpack_pack_nil(&t->pk);
}

void emit_double(struct emit *t, double v)
{
	emit_real(t, v, 10);
}

void emit_float(struct emit *t, float v)
{
	if (scalar_in_json(t))
		json_number(t->f, v, 9);
	else
		msgpack_pack_float(&t->pk, v);
}

void emit_uint(struct emit *t, uint64_t v)
{
	if (scalar_in_json(t))
		fprintf(t->f, "%" PRIu64, v);
	else
		msgpack_pack_uint64(&t->pk, v);
}

void emit_int(struct emit *t, int64_t v)
{
	if (scalar_in_json(t))
		fprintf(t->f, "%" PRId64, v);
	else
		msgpack_pack_int64(&t->pk, v);
}

void emit_bool(struct emit *t, int v)
{
	if (scalar_in_json(t))
		fputs(v ? "true" : "false", t->f);
	else if (v)
		msgpack_pack_true(&t->pk);
	else
		msgpack_pack_false(&t->pk);
}

void emit_uint_array(struct emit *t, uint32_t n, const uint32_t *v)
{
	emit_array(t, n);
	for (uint32_t i = 0; i < n; i++)
		emit_uint(t, v[i]);
	emit_end(t);
}

void emit_key_pair(struct emit *t, const char *key, double lo, double hi)
{
	emit_key(t, key);
	emit_array(t, 2);
	emit_double(t, lo);
	emit_double(t, hi);
	emit_end(t);
}

void emit_object(struct emit *t, const msgpack_object *o)
{
	item(t);
	if (!t->json) {
		msgpack_pack_object(&t->pk, *o);
		return;
	}
	/* Map keys need not be strings in msgpack: no faithful JSON. */
	mistake(t, "a msgpack object has no JSON form here");
	fputs("null", t->f);
}

/* The tensor map of vggpipe(5), its data little-endian whatever the
 * machine. */
void emit_tensor(struct emit *t, enum tensor_dtype dtype, int rank, const uint32_t *shape,
		 const void *data)
{
	size_t count = 1, bytes;

	if (t->json) {
		item(t);
		mistake(t, "a tensor has no JSON form");
		fputs("null", t->f);
		return;
	}
	emit_map(t, 3);
	emit_key(t, "shape");
	emit_uint_array(t, (uint32_t)rank, shape);
	for (int i = 0; i < rank; i++)
		count *= shape[i];
	emit_key(t, "dtype");
	emit_str(t, tensor_dtype_name(dtype));
	emit_key(t, "data");
	item(t);
	bytes = count * tensor_dtype_size(dtype);
	msgpack_pack_bin(&t->pk, bytes);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	if (dtype == TENSOR_F32) {
		const uint32_t *u = data;

		for (size_t i = 0; i < count; i++) {
			uint32_t le = __builtin_bswap32(u[i]);

			msgpack_pack_bin_body(&t->pk, &le, 4);
		}
		emit_end(t);
		return;
	}
#endif
	msgpack_pack_bin_body(&t->pk, data, bytes);
	emit_end(t);
}

int emit_finish(struct emit *t, struct err *e)
{
	if (t->depth)
		mistake(t, "a map or array left open");
	if (t->error[0])
		return err_fail(e, "output miscounted: %s", t->error);
	return 0;
}
