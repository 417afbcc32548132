/* Framing: cut a byte stream into msgpack objects without trusting it.
 *
 * msgpack-c's unpacker allocates whatever an array or map header claims. So
 * before an object is handed to it, a scanner walks the object's bytes and
 * checks every declared length and count against the limits below and
 * against the object size limit; only a complete, checked object is
 * unpacked, into a zone whose size is then bounded by max_elements. */
#ifndef VP_MSGIN_H
#define VP_MSGIN_H

#include <msgpack.h>
#include <stdint.h>

#include "err.h"

struct vp_limits {
	size_t max_object_bytes; /* one encoded header, record or trailer */
	size_t max_elements;     /* array elements + map keys and values */
};

/* 512 MiB and 4 Mi elements: far above any record vggpipe writes (a
 * 224x224 image is 150 KB, a model with a 25088x4096 layer 411 MB), and
 * below what a 32-bit machine could not allocate. */
#define VP_DEFAULT_MAX_OBJECT_BYTES ((size_t)512 << 20)
#define VP_DEFAULT_MAX_ELEMENTS ((size_t)4 << 20)
#define VP_MAX_DEPTH 16

enum vp_next {
	VP_NEXT_OBJECT = 1,
	VP_NEXT_END = 0,    /* input ended cleanly between objects */
	VP_NEXT_ERROR = -1, /* message in the vp_err */
	VP_NEXT_TRUNCATED = -2, /* input ended inside an object */
};

struct vp_msgin {
	int fd;
	unsigned char *buf;
	size_t cap, len;   /* bytes [0, len) are in buf */
	size_t consumed;   /* bytes of buf handed out by the previous call */
	uint64_t base;     /* stream offset of buf[0] */
	struct vp_limits lim;
	msgpack_zone zone;
};

void vp_limits_default(struct vp_limits *lim);
/* Read from fd (not closed by vp_msgin_free). */
int vp_msgin_init(struct vp_msgin *m, int fd, const struct vp_limits *lim,
		  struct vp_err *e);
/* The next object; it stays valid until the next call. *offset receives the
 * stream offset of its first byte (or of the truncated tail). */
enum vp_next vp_msgin_next(struct vp_msgin *m, msgpack_object *obj,
			   uint64_t *offset, struct vp_err *e);
void vp_msgin_free(struct vp_msgin *m);

/* Walk one object at the start of p[0, len). Returns 1 with *objlen set
 * when the whole object is present, 0 with *need (a lower bound of the bytes
 * required) when more input is needed, -1 on a malformed or over-limit
 * object. Exposed for the unit tests and fuzzers. */
int vp_msg_scan(const unsigned char *p, size_t len, const struct vp_limits *lim,
		size_t *objlen, size_t *need, struct vp_err *e);

#endif
