/* Writing the stream contract: headers, records, tensors, trailers. */
#ifndef VP_PACK_H
#define VP_PACK_H

#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>

#include "schema.h"

struct vp_writer {
	msgpack_packer pk;
	uint64_t segment_records;
};

void vp_writer_init(struct vp_writer *w, FILE *f);

void vp_pack_cstr(msgpack_packer *pk, const char *s);
/* A str when the bytes are UTF-8, else bin: ids are paths, and a path may
 * hold any byte but '/' and NUL. Readers accept both. */
void vp_pack_bytes(msgpack_packer *pk, const char *p, size_t n);
void vp_pack_tensor(msgpack_packer *pk, enum vp_dtype dtype, int rank,
		    const uint32_t *shape, const void *data);

/* A header map of 2 + extra_keys entries; "vggpipe" and "kind" written. */
void vp_write_header(struct vp_writer *w, const char *kind, uint32_t extra_keys);
/* A record map of nkeys entries, to be filled by the caller. */
void vp_write_record(struct vp_writer *w, uint32_t nkeys);
/* A whole record of the keys every kind's records have: id, label (NULL:
 * none), the kind's tensor under tensor_key, and copy (-1: none). */
void vp_write_tensor_record(struct vp_writer *w, const char *id, size_t id_len,
			    const char *label, size_t label_len, int64_t copy,
			    const char *tensor_key, enum vp_dtype dtype, int rank,
			    const uint32_t *shape, const void *data);
void vp_write_trailer(struct vp_writer *w);

int vp_utf8_valid(const char *p, size_t n);

#endif
