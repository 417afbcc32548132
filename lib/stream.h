/* The vggpipe stream contract, version 1 (see vggpipe(5)): segments of a
 * header, records and a trailer, concatenated. This module checks the
 * segment structure and header agreement; schema.h reads values. */
#ifndef VP_STREAM_H
#define VP_STREAM_H

#include <msgpack.h>
#include <stdint.h>

#include "err.h"
#include "msgin.h"
#include "schema.h"

#define VP_STREAM_VERSION 1

enum vp_event {
	VP_EV_END = 0,     /* clean end of input after a trailer */
	VP_EV_HEADER = 1,
	VP_EV_RECORD = 2,
	VP_EV_TRAILER = 3,
	VP_EV_ERROR = -1,
};

struct vp_stream {
	struct vp_msgin in;
	int fd, own_fd;
	char *name;          /* for messages: the path, or "stdin" */
	char *kind;          /* required kind, or NULL to accept any */
	unsigned char *first_header_bytes;
	msgpack_zone first_header_zone;
	msgpack_object first_header; /* valid once a header was read */
	int have_header, in_segment;
	uint64_t segments, records, segment_records;
	uint64_t offset;     /* byte offset of the current object */
};

/* path "-" or NULL reads stdin. kind NULL accepts any kind (the first
 * header then fixes it for the later segments). */
int vp_stream_open(struct vp_stream *s, const char *path, const char *kind,
		   const struct vp_limits *lim, struct vp_err *e);
/* The same on an open descriptor, read from its current position and
 * left open; name is for messages. */
int vp_stream_open_fd(struct vp_stream *s, int fd, const char *name, const char *kind,
		      const struct vp_limits *lim, struct vp_err *e);
void vp_stream_close(struct vp_stream *s);
/* The offset in the input, from where reading began, of a byte of the
 * current header, record or trailer (as vp_stream_event returned it). */
uint64_t vp_stream_offset_of(const struct vp_stream *s, const void *p);

/* Next header, record or trailer; the object stays valid until the next
 * call. Every error message starts with the stream name and the record. */
enum vp_event vp_stream_event(struct vp_stream *s, msgpack_object *obj,
			      struct vp_err *e);
/* Next record, checking headers and trailers on the way: 1, 0 at the
 * end, -1 on error. */
int vp_stream_record(struct vp_stream *s, msgpack_object *obj, struct vp_err *e);

/* The kind of the stream, once its first header was read. */
const char *vp_stream_kind(const struct vp_stream *s);

/* The fields every record of a kind has. */
struct vp_record {
	const char *id, *label;
	size_t id_len, label_len; /* label NULL when the record has none */
	struct vp_tensor tensor;  /* "image" (u8 HxWx3) or "features" (f32) */
	int64_t copy;             /* augmentation copy number, -1 when absent */
};

/* Parse the current record of an "images" or "features" stream. */
int vp_record_parse(const struct vp_stream *s, const msgpack_object *obj,
		    struct vp_record *r, struct vp_err *e);

/* Header keys that must be equal in every segment of a kind: 0 when they
 * are, else -1 and the first difference ("size[0]: 150 here, 224
 * before"). */
int vp_headers_agree(const char *kind, const msgpack_object *first,
		     const msgpack_object *again, struct vp_err *e);

#endif
