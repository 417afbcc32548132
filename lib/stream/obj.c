#include "obj.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "names.h"

const msgpack_object *obj_get(const msgpack_object *map, const char *key)
{
	if (map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR &&
		    names_eq(k->via.str.ptr, k->via.str.size, key))
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

const msgpack_object obj_nil = { .type = MSGPACK_OBJECT_NIL };

const msgpack_object *obj_get_or_nil(const msgpack_object *map, const char *key)
{
	const msgpack_object *v = obj_get(map, key);

	return v ? v : &obj_nil;
}

const char *obj_type_name(const msgpack_object *o)
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
		  const msgpack_object **v, struct err *e)
{
	*v = obj_get(map, key);
	if (*v)
		return 0;
	if (required)
		return err_fail(e, "missing key '%s'", key);
	return 1;
}

static int wrong_type(const char *key, const char *want,
		      const msgpack_object *v, struct err *e)
{
	return err_fail(e, "key '%s': expected %s, found %s", key, want,
			obj_type_name(v));
}

int obj_get_bytes(const msgpack_object *map, const char *key, int required,
		  const char **p, size_t *n, struct err *e)
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

int obj_get_array(const msgpack_object *map, const char *key, int required,
		  const msgpack_object_array **a, struct err *e)
{
	const msgpack_object *v;
	int r = lookup(map, key, required, &v, e);

	if (r)
		return r;
	if (v->type != MSGPACK_OBJECT_ARRAY)
		return wrong_type(key, "an array", v, e);
	*a = &v->via.array;
	return 0;
}

int obj_get_uint(const msgpack_object *map, const char *key, int required,
		 uint64_t *out, struct err *e)
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

int obj_get_double(const msgpack_object *map, const char *key, int required,
		   double *out, struct err *e)
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

void obj_brief(const msgpack_object *o, char *out, size_t outlen)
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

	obj_brief(a, sa, sizeof sa);
	obj_brief(b, sb, sizeof sb);
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

int obj_diff(const msgpack_object *a, const msgpack_object *b,
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
			if (obj_diff(&a->via.map.ptr[i].val, bv, sub, out, outlen))
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
			if (obj_diff(&a->via.array.ptr[i], &b->via.array.ptr[i], sub, out, outlen))
				return 1;
		}
		return 0;
	}
	return msgpack_object_equal(*a, *b) ? 0 : differ(a, b, path, out, outlen);
}

void obj_release(struct obj_held *o)
{
	if (o->set) {
		msgpack_sbuffer_destroy(&o->buf);
		msgpack_zone_destroy(&o->zone);
	}
	memset(o, 0, sizeof *o);
}

int obj_hold(struct obj_held *o, const msgpack_object *src, struct err *e)
{
	msgpack_packer pk;
	size_t off = 0;

	obj_release(o);
	msgpack_sbuffer_init(&o->buf);
	msgpack_zone_init(&o->zone, 1024);
	o->set = 1;
	msgpack_packer_init(&pk, &o->buf, msgpack_sbuffer_write);
	if (msgpack_pack_object(&pk, *src) ||
	    msgpack_unpack(o->buf.data, o->buf.size, &off, &o->zone,
			   &o->obj) != MSGPACK_UNPACK_SUCCESS)
		return err_fail(e, "out of memory copying a map");
	return 0;
}
