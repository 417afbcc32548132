#include "pack.h"

#include <msgpack/fbuffer.h>
#include <string.h>

#include "stream.h"

void vp_writer_init(struct vp_writer *w, FILE *f)
{
	msgpack_packer_init(&w->pk, f, msgpack_fbuffer_write);
	w->segment_records = 0;
}

void vp_pack_cstr(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

int vp_utf8_valid(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t len;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and values past U+10FFFF. */
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

void vp_pack_bytes(msgpack_packer *pk, const char *p, size_t n)
{
	if (vp_utf8_valid(p, n)) {
		msgpack_pack_str(pk, n);
		msgpack_pack_str_body(pk, p, n);
	} else {
		msgpack_pack_bin(pk, n);
		msgpack_pack_bin_body(pk, p, n);
	}
}

void vp_pack_tensor(msgpack_packer *pk, enum vp_dtype dtype, int rank,
		    const uint32_t *shape, const void *data)
{
	size_t count = 1;

	for (int i = 0; i < rank; i++)
		count *= shape[i];
	msgpack_pack_map(pk, 3);
	vp_pack_cstr(pk, "shape");
	msgpack_pack_array(pk, (size_t)rank);
	for (int i = 0; i < rank; i++)
		msgpack_pack_uint32(pk, shape[i]);
	vp_pack_cstr(pk, "dtype");
	vp_pack_cstr(pk, vp_dtype_name(dtype));
	vp_pack_cstr(pk, "data");
	msgpack_pack_bin(pk, count * vp_dtype_size(dtype));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	if (dtype == VP_F32) {
		const uint32_t *u = data;

		for (size_t i = 0; i < count; i++) {
			uint32_t le = __builtin_bswap32(u[i]);

			msgpack_pack_bin_body(pk, &le, 4);
		}
		return;
	}
#endif
	msgpack_pack_bin_body(pk, data, count * vp_dtype_size(dtype));
}

void vp_write_header(struct vp_writer *w, const char *kind, uint32_t extra_keys)
{
	msgpack_pack_map(&w->pk, 2 + extra_keys);
	vp_pack_cstr(&w->pk, "vggpipe");
	msgpack_pack_int(&w->pk, VP_STREAM_VERSION);
	vp_pack_cstr(&w->pk, "kind");
	vp_pack_cstr(&w->pk, kind);
	w->segment_records = 0;
}

void vp_write_record(struct vp_writer *w, uint32_t nkeys)
{
	msgpack_pack_map(&w->pk, nkeys);
	w->segment_records++;
}

void vp_write_tensor_record(struct vp_writer *w, const char *id, size_t id_len,
			    const char *label, size_t label_len, int64_t copy,
			    const char *tensor_key, enum vp_dtype dtype, int rank,
			    const uint32_t *shape, const void *data)
{
	msgpack_packer *pk = &w->pk;

	vp_write_record(w, 2 + (label != NULL) + (copy >= 0));
	vp_pack_cstr(pk, "id");
	vp_pack_bytes(pk, id, id_len);
	if (label) {
		vp_pack_cstr(pk, "label");
		vp_pack_bytes(pk, label, label_len);
	}
	vp_pack_cstr(pk, tensor_key);
	vp_pack_tensor(pk, dtype, rank, shape, data);
	if (copy >= 0) {
		vp_pack_cstr(pk, "copy");
		msgpack_pack_uint64(pk, (uint64_t)copy);
	}
}

void vp_write_trailer(struct vp_writer *w)
{
	msgpack_pack_map(&w->pk, 1);
	vp_pack_cstr(&w->pk, "end");
	msgpack_pack_uint64(&w->pk, w->segment_records);
}
