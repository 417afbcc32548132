#include "schema.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const char *vp_dtype_name(enum vp_dtype t)
{
	return t == VP_U8 ? "u8" : "f32";
}

size_t vp_dtype_size(enum vp_dtype t)
{
	return t == VP_U8 ? 1 : 4;
}

int vp_bytes_eq(const char *p, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(p, s, n) == 0;
}

long vp_name_search(char *const *names, const uint32_t *by_name, uint32_t nnames,
		    const char *p, size_t n, uint32_t *at)
{
	uint32_t lo = 0, hi = nnames;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const char *name = names[by_name[mid]];
		size_t len = strlen(name);
		int c = memcmp(name, p, len < n ? len : n);

		if (!c)
			c = (len > n) - (len < n);
		if (!c)
			return by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (at)
		*at = lo;
	return -1;
}

const msgpack_object *vp_map_get(const msgpack_object *map, const char *key)
{
	if (map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR &&
		    vp_bytes_eq(k->via.str.ptr, k->via.str.size, key))
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

const msgpack_object vp_nil = { .type = MSGPACK_OBJECT_NIL };

const msgpack_object *vp_map_get_or_nil(const msgpack_object *map, const char *key)
{
	const msgpack_object *v = vp_map_get(map, key);

	return v ? v : &vp_nil;
}

const char *vp_obj_type_name(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL: return "nil";
	case MSGPACK_OBJECT_BOOLEAN: return "a boolean";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "an integer";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: return "a float";
	case MSGPACK_OBJECT_STR: return "a string";
	case MSGPACK_OBJECT_BIN: return "binary data";
	case MSGPACK_OBJECT_ARRAY: return "an array";
	case MSGPACK_OBJECT_MAP: return "a map";
	default: return "an extension value";
	}
}

static int lookup(const msgpack_object *map, const char *key, int required,
		  const msgpack_object **v, struct vp_err *e)
{
	*v = vp_map_get(map, key);
	if (*v)
		return 0;
	if (required)
		return vp_fail(e, "missing key '%s'", key);
	return 1;
}

static int wrong_type(const char *key, const char *want,
		      const msgpack_object *v, struct vp_err *e)
{
	return vp_fail(e, "key '%s': expected %s, found %s", key, want,
		       vp_obj_type_name(v));
}

int vp_get_bytes(const msgpack_object *map, const char *key, int required,
		 const char **p, size_t *n, struct vp_err *e)
{
	const msgpack_object *v;
	int r = lookup(map, key, required, &v, e);

	if (r)
		return r;
	if (v->type == MSGPACK_OBJECT_STR) {
		*p = v->via.str.ptr;
		*n = v->via.str.size;
	} else if (v->type == MSGPACK_OBJECT_BIN) {
		*p = v->via.bin.ptr;
		*n = v->via.bin.size;
	} else {
		return wrong_type(key, "a string", v, e);
	}
	return 0;
}

int vp_get_uint(const msgpack_object *map, const char *key, int required,
		uint64_t *out, struct vp_err *e)
{
	const msgpack_object *v;
	int r = lookup(map, key, required, &v, e);

	if (r)
		return r;
	if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return wrong_type(key, "a non-negative integer", v, e);
	*out = v->via.u64;
	return 0;
}

int vp_get_double(const msgpack_object *map, const char *key, int required,
		  double *out, struct vp_err *e)
{
	const msgpack_object *v;
	int r = lookup(map, key, required, &v, e);

	if (r)
		return r;
	switch (v->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)v->via.u64; break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)v->via.i64; break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: *out = v->via.f64; break;
	default: return wrong_type(key, "a number", v, e);
	}
	return 0;
}

int vp_get_tensor(const msgpack_object *map, const char *key, int required,
		  struct vp_tensor *t, struct vp_err *e)
{
	const msgpack_object *v, *shape;
	const char *dtype, *data;
	size_t dlen, dlen_data, elsize;
	int r = lookup(map, key, required, &v, e);

	if (r)
		return r;
	if (v->type != MSGPACK_OBJECT_MAP)
		return wrong_type(key, "a tensor map", v, e);
	if (vp_get_bytes(v, "dtype", 1, &dtype, &dlen, e))
		return vp_context(e, "tensor '%s': ", key);
	if (vp_bytes_eq(dtype, dlen, "u8"))
		t->dtype = VP_U8;
	else if (vp_bytes_eq(dtype, dlen, "f32"))
		t->dtype = VP_F32;
	else
		return vp_fail(e, "tensor '%s': dtype '%.*s' is not supported (u8 or f32)",
			       key, (int)(dlen > 16 ? 16 : dlen), dtype);
	shape = vp_map_get(v, "shape");
	if (!shape)
		return vp_fail(e, "tensor '%s': missing key 'shape'", key);
	if (shape->type != MSGPACK_OBJECT_ARRAY)
		return vp_fail(e, "tensor '%s': key 'shape': expected an array, found %s",
			       key, vp_obj_type_name(shape));
	if (shape->via.array.size < 1 || shape->via.array.size > VP_MAX_RANK)
		return vp_fail(e, "tensor '%s': rank %u is not between 1 and %d",
			       key, shape->via.array.size, VP_MAX_RANK);
	t->rank = (int)shape->via.array.size;
	t->count = 1;
	for (int i = 0; i < t->rank; i++) {
		const msgpack_object *d = &shape->via.array.ptr[i];

		if (d->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
			return vp_fail(e, "tensor '%s': dimension %d is negative (%" PRId64 ")",
				       key, i, d->via.i64);
		if (d->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return vp_fail(e, "tensor '%s': dimension %d: expected an integer, found %s",
				       key, i, vp_obj_type_name(d));
		if (d->via.u64 == 0 || d->via.u64 > VP_MAX_DIM)
			return vp_fail(e, "tensor '%s': dimension %d is %" PRIu64 "; it must be between 1 and %u",
				       key, i, d->via.u64, VP_MAX_DIM);
		t->shape[i] = (uint32_t)d->via.u64;
		/* Each factor is below 2^24 and the product is checked against
		 * the data length before it can grow past 2^48. */
		if (t->count > SIZE_MAX / t->shape[i])
			return vp_fail(e, "tensor '%s': shape overflows", key);
		t->count *= t->shape[i];
	}
	if (vp_get_bytes(v, "data", 1, &data, &dlen_data, e))
		return vp_context(e, "tensor '%s': ", key);
	elsize = vp_dtype_size(t->dtype);
	if (t->count > SIZE_MAX / elsize || t->count * elsize != dlen_data)
		return vp_fail(e, "tensor '%s': shape holds %zu %s elements (%zu bytes) but data has %zu bytes",
			       key, t->count, vp_dtype_name(t->dtype),
			       t->count > SIZE_MAX / elsize ? SIZE_MAX : t->count * elsize,
			       dlen_data);
	t->data = data;
	return 0;
}

void vp_tensor_to_f32(const struct vp_tensor *t, float *dst)
{
	if (t->dtype == VP_U8) {
		const unsigned char *s = t->data;

		for (size_t i = 0; i < t->count; i++)
			dst[i] = s[i];
		return;
	}
	memcpy(dst, t->data, t->count * sizeof *dst);
	vp_f32_from_le(dst, t->count);
}

void vp_f32_from_le(float *v, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	for (size_t i = 0; i < n; i++) {
		uint32_t u;

		memcpy(&u, &v[i], 4);
		u = __builtin_bswap32(u);
		memcpy(&v[i], &u, 4);
	}
#else
	(void)v;
	(void)n;
#endif
}

void vp_obj_brief(const msgpack_object *o, char *out, size_t outlen)
{
	FILE *f;

	if (!outlen)
		return;
	out[0] = 0;
	f = fmemopen(out, outlen, "w");
	if (!f)
		return;
	if (o->type == MSGPACK_OBJECT_BIN)
		fprintf(f, "<%u bytes of binary data>", o->via.bin.size);
	else
		msgpack_object_print(f, *o);
	fclose(f);
	out[outlen - 1] = 0;
}

static int differ(const msgpack_object *a, const msgpack_object *b,
		  const char *path, char *out, size_t outlen)
{
	char sa[160], sb[160];

	vp_obj_brief(a, sa, sizeof sa);
	vp_obj_brief(b, sb, sizeof sb);
	snprintf(out, outlen, "%s: %s here, %s before", *path ? path : "(value)", sb, sa);
	return 1;
}

static void key_path(char *out, size_t outlen, const char *path,
		     const msgpack_object *k)
{
	if (k->type == MSGPACK_OBJECT_STR)
		snprintf(out, outlen, "%s%s%.*s", path, *path ? "." : "",
			 (int)(k->via.str.size > 64 ? 64 : k->via.str.size), k->via.str.ptr);
	else
		snprintf(out, outlen, "%s%s(key)", path, *path ? "." : "");
}

int vp_obj_diff(const msgpack_object *a, const msgpack_object *b,
		const char *path, char *out, size_t outlen)
{
	char sub[256];

	if (a->type != b->type)
		return differ(a, b, path, out, outlen);
	if (a->type == MSGPACK_OBJECT_MAP) {
		/* Keys in a but not b, or different values. */
		for (uint32_t i = 0; i < a->via.map.size; i++) {
			const msgpack_object *k = &a->via.map.ptr[i].key;
			const msgpack_object *bv = NULL;

			for (uint32_t j = 0; j < b->via.map.size; j++)
				if (msgpack_object_equal(*k, b->via.map.ptr[j].key)) {
					bv = &b->via.map.ptr[j].val;
					break;
				}
			key_path(sub, sizeof sub, path, k);
			if (!bv) {
				snprintf(out, outlen, "%s: absent here, present before", sub);
				return 1;
			}
			if (vp_obj_diff(&a->via.map.ptr[i].val, bv, sub, out, outlen))
				return 1;
		}
		/* Every key of a is in b; any extra key of b is a difference. */
		for (uint32_t j = 0; j < b->via.map.size; j++) {
			const msgpack_object *k = &b->via.map.ptr[j].key;
			int found = 0;

			for (uint32_t i = 0; i < a->via.map.size && !found; i++)
				found = msgpack_object_equal(*k, a->via.map.ptr[i].key);
			if (!found) {
				key_path(sub, sizeof sub, path, k);
				snprintf(out, outlen, "%s: present here, absent before", sub);
				return 1;
			}
		}
		return 0;
	}
	if (a->type == MSGPACK_OBJECT_ARRAY) {
		if (a->via.array.size != b->via.array.size)
			return differ(a, b, path, out, outlen);
		for (uint32_t i = 0; i < a->via.array.size; i++) {
			snprintf(sub, sizeof sub, "%s[%u]", path, i);
			if (vp_obj_diff(&a->via.array.ptr[i], &b->via.array.ptr[i], sub, out, outlen))
				return 1;
		}
		return 0;
	}
	return msgpack_object_equal(*a, *b) ? 0 : differ(a, b, path, out, outlen);
}

void vp_obj_free(struct vp_obj *o)
{
	if (o->set) {
		msgpack_sbuffer_destroy(&o->buf);
		msgpack_zone_destroy(&o->zone);
	}
	memset(o, 0, sizeof *o);
}

int vp_obj_copy(struct vp_obj *o, const msgpack_object *src, struct vp_err *e)
{
	msgpack_packer pk;
	size_t off = 0;

	vp_obj_free(o);
	msgpack_sbuffer_init(&o->buf);
	msgpack_zone_init(&o->zone, 1024);
	o->set = 1;
	msgpack_packer_init(&pk, &o->buf, msgpack_sbuffer_write);
	if (msgpack_pack_object(&pk, *src) ||
	    msgpack_unpack(o->buf.data, o->buf.size, &off, &o->zone,
			   &o->obj) != MSGPACK_UNPACK_SUCCESS)
		return vp_fail(e, "out of memory copying a map");
	return 0;
}

void vp_shape_text(int rank, const uint32_t *shape, char *out, size_t outlen)
{
	size_t n = 0;

	n += (size_t)snprintf(out, outlen, "[");
	for (int k = 0; k < rank && n < outlen; k++)
		n += (size_t)snprintf(out + n, outlen - n, "%s%" PRIu32, k ? ", " : "", shape[k]);
	if (n < outlen)
		snprintf(out + n, outlen - n, "]");
}
