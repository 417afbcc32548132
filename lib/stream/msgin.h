/* Framing: cut a byte stream into msgpack objects without trusting it.
 *
 * msgpack-c's unpacker allocates whatever an array or map header claims. So
 * before an object is handed to it, a scanner walks the object's bytes and
 * checks every declared length and count against the limits below and
 * against the object size limit; only a complete, checked object is
 * unpacked, into a zone whose size is then bounded by max_elements. */
#ifndef STREAM_MSGIN_H
#define STREAM_MSGIN_H

#include <msgpack.h>
#include <stdint.h>

#include "err.h"

struct msgin_limits {
	size_t max_object_bytes; /* one encoded header, record or trailer */
	size_t max_elements;     /* array elements + map keys and values */
};

/* 512 MiB and 4 Mi elements: far above any record vggpipe writes (a
 * 224x224 image is 150 KB, a model with a 25088x4096 layer 411 MB), and
 * below what a 32-bit machine could not allocate. */
#define MSGIN_MAX_OBJECT_BYTES ((size_t)512 << 20)
#define MSGIN_MAX_ELEMENTS ((size_t)4 << 20)
#define MSGIN_MAX_DEPTH 16

enum msgin_next {
	MSGIN_OBJECT = 1,
	MSGIN_END = 0,    /* input ended cleanly between objects */
	MSGIN_ERROR = -1, /* message in the struct err */
	MSGIN_TRUNCATED = -2, /* input ended inside an object */
};

struct msgin {
	int fd;
	unsigned char *buf;
	size_t cap, len;   /* bytes [0, len) are in buf */
	size_t consumed;   /* bytes of buf handed out by the previous call */
	uint64_t base;     /* stream offset of buf[0] */
	struct msgin_limits lim;
	msgpack_zone zone;
};

void msgin_limits_default(struct msgin_limits *lim);
/* Read from fd (not closed by msgin_free). */
int msgin_init(struct msgin *m, int fd, const struct msgin_limits *lim,
	       struct err *e);
/* The next object; it stays valid until the next call. *offset receives the
 * stream offset of its first byte (or of the truncated tail). */
enum msgin_next msgin_next(struct msgin *m, msgpack_object *obj,
			   uint64_t *offset, struct err *e);
void msgin_free(struct msgin *m);

/* 1 when msgin_next would not block: the next object is buffered whole
 * (or malformed, which msgin_next reports), or the input has bytes or its
 * end ready. A filter that would block writes out what it holds first, so
 * a slow producer's records are not stuck in a batch. */
int msgin_ready(struct msgin *m);

/* Walk one object at the start of p[0, len). Returns 1 with *objlen set
 * when the whole object is present, 0 with *need (a lower bound of the bytes
 * required) when more input is needed, -1 on a malformed or over-limit
 * object. Exposed for the unit tests and fuzzers. */
int msgin_scan(const unsigned char *p, size_t len, const struct msgin_limits *lim,
	       size_t *objlen, size_t *need, struct err *e);

#endif
