#include "tensor.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "names.h"
#include "obj.h"

const char *tensor_dtype_name(enum tensor_dtype t)
{
	return t == TENSOR_U8 ? "u8" : "f32";
}

size_t tensor_dtype_size(enum tensor_dtype t)
{
	return t == TENSOR_U8 ? 1 : 4;
}

int tensor_parse(const msgpack_object *v, const char *key, struct tensor *t,
		 struct err *e)
{
	const msgpack_object *shape;
	const char *dtype, *data;
	size_t dlen, dlen_data, elsize;

	if (v->type != MSGPACK_OBJECT_MAP)
		return err_fail(e, "key '%s': expected a tensor map, found %s", key,
				obj_type_name(v));
	if (obj_get_bytes(v, "dtype", 1, &dtype, &dlen, e))
		return err_context(e, "tensor '%s': ", key);
	if (names_eq(dtype, dlen, "u8"))
		t->dtype = TENSOR_U8;
	else if (names_eq(dtype, dlen, "f32"))
		t->dtype = TENSOR_F32;
	else
		return err_fail(e, "tensor '%s': dtype '%.*s' is not supported (u8 or f32)",
				key, (int)(dlen > 16 ? 16 : dlen), dtype);
	shape = obj_get(v, "shape");
	if (!shape)
		return err_fail(e, "tensor '%s': missing key 'shape'", key);
	if (shape->type != MSGPACK_OBJECT_ARRAY)
		return err_fail(e, "tensor '%s': key 'shape': expected an array, found %s",
				key, obj_type_name(shape));
	if (shape->via.array.size < 1 || shape->via.array.size > TENSOR_MAX_RANK)
		return err_fail(e, "tensor '%s': rank %u is not between 1 and %d",
				key, shape->via.array.size, TENSOR_MAX_RANK);
	t->rank = (int)shape->via.array.size;
	t->count = 1;
	for (int i = 0; i < t->rank; i++) {
		const msgpack_object *d = &shape->via.array.ptr[i];

		if (d->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
			return err_fail(e, "tensor '%s': dimension %d is negative (%" PRId64 ")",
					key, i, d->via.i64);
		if (d->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return err_fail(e, "tensor '%s': dimension %d: expected an integer, found %s",
					key, i, obj_type_name(d));
		if (d->via.u64 == 0 || d->via.u64 > TENSOR_MAX_DIM)
			return err_fail(e, "tensor '%s': dimension %d is %" PRIu64 "; it must be between 1 and %u",
					key, i, d->via.u64, TENSOR_MAX_DIM);
		t->shape[i] = (uint32_t)d->via.u64;
		/* Each factor is below 2^24 and the product is checked against
		 * the data length before it can grow past 2^48. */
		if (t->count > SIZE_MAX / t->shape[i])
			return err_fail(e, "tensor '%s': shape overflows", key);
		t->count *= t->shape[i];
	}
	if (obj_get_bytes(v, "data", 1, &data, &dlen_data, e))
		return err_context(e, "tensor '%s': ", key);
	elsize = tensor_dtype_size(t->dtype);
	if (t->count > SIZE_MAX / elsize || t->count * elsize != dlen_data)
		return err_fail(e, "tensor '%s': shape holds %zu %s elements (%zu bytes) but data has %zu bytes",
				key, t->count, tensor_dtype_name(t->dtype),
				t->count > SIZE_MAX / elsize ? SIZE_MAX : t->count * elsize,
				dlen_data);
	t->data = data;
	return 0;
}

int tensor_get(const msgpack_object *map, const char *key, int required,
	       struct tensor *t, struct err *e)
{
	const msgpack_object *v = obj_get(map, key);

	if (!v)
		return required ? err_fail(e, "missing key '%s'", key) : 1;
	return tensor_parse(v, key, t, e);
}

void tensor_to_f32(const struct tensor *t, float *dst)
{
	if (t->dtype == TENSOR_U8) {
		const unsigned char *s = t->data;

		for (size_t i = 0; i < t->count; i++)
			dst[i] = s[i];
		return;
	}
	memcpy(dst, t->data, t->count * sizeof *dst);
	tensor_f32_from_le(dst, t->count);
}

void tensor_f32_from_le(float *v, size_t n)
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

void tensor_shape_text(int rank, const uint32_t *shape, char *out, size_t outlen)
{
	size_t n = 0;

	n += (size_t)snprintf(out, outlen, "[");
	for (int k = 0; k < rank && n < outlen; k++)
		n += (size_t)snprintf(out + n, outlen - n, "%s%" PRIu32, k ? ", " : "", shape[k]);
	if (n < outlen)
		snprintf(out + n, outlen - n, "]");
}
