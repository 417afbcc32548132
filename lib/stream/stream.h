/* The vggpipe stream contract, version 1 (see vggpipe(5)): segments of a
 * header, records and a trailer, concatenated. This module checks the
 * segment structure and header agreement; schema.h reads values. */
#ifndef STREAM_STREAM_H
#define STREAM_STREAM_H

#include <msgpack.h>
#include <stdint.h>

#include "err.h"
#include "msgin.h"
#include "obj.h"
#include "tensor.h"

#define STREAM_VERSION 1

enum stream_event {
	STREAM_END = 0,     /* clean end of input after a trailer */
	STREAM_HEADER = 1,
	STREAM_RECORD = 2,
	STREAM_TRAILER = 3,
	STREAM_ERROR = -1,
};

/* What the stream layer knows of a kind, given by the kind's own module
 * (lib/kinds, and the model file in lib/top): its name, the header keys
 * on which the segments of one stream must agree, and the tensor its
 * records carry. A kind whose name is NULL stands for every kind not
 * listed before it, with no agreement keys and no tensor. */
struct stream_kind {
	const char *name;
	const char *const *agreement_keys; /* NULL-terminated; NULL: none */
	const char *tensor_key;            /* NULL: records carry no tensor */
	enum tensor_dtype dtype;
	/* NULL, or a check of a record's tensor beyond its dtype: 0, or -1
	 * and a message. */
	int (*check_tensor)(const struct tensor *t, struct err *e);
};

/* Any kind: for readers of every stream, such as vggdump. */
extern const struct stream_kind stream_kind_other;

struct stream {
	struct msgin in;
	int fd, own_fd;
	char *name;          /* for messages: the path, or "stdin" */
	const struct stream_kind *const *kinds; /* the kinds accepted */
	const struct stream_kind *desc;  /* the stream's, once a header was read */
	char *kind;          /* its name as the first header gives it */
	unsigned char *first_header_bytes;
	msgpack_zone first_header_zone;
	msgpack_object first_header; /* valid once a header was read */
	int have_header, in_segment;
	uint64_t segments, records, segment_records;
	uint64_t offset;     /* byte offset of the current object */
};

/* path "-" or NULL reads stdin. The first header must be of one of the
 * kinds (a NULL-terminated list, the caller's, kept until the stream is
 * closed), and fixes the kind of the later segments. */
int stream_open(struct stream *s, const char *path, const struct stream_kind *const *kinds,
		const struct msgin_limits *lim, struct err *e);
/* The same on an open descriptor, read from its current position and
 * left open; name is for messages. */
int stream_open_fd(struct stream *s, int fd, const char *name,
		   const struct stream_kind *const *kinds, const struct msgin_limits *lim,
		   struct err *e);
void stream_close(struct stream *s);
/* The offset in the input, from where reading began, of a byte of the
 * current header, record or trailer (as stream_event returned it). */
uint64_t stream_offset_of(const struct stream *s, const void *p);

/* Next header, record or trailer; the object stays valid until the next
 * call. Every error message starts with the stream name and the record. */
enum stream_event stream_event(struct stream *s, msgpack_object *obj,
			       struct err *e);
/* 1 when the next object is there without blocking (msgin_ready). */
int stream_ready(struct stream *s);

/* Next record, checking headers and trailers on the way: 1, 0 at the
 * end, -1 on error. */
int stream_record(struct stream *s, msgpack_object *obj, struct err *e);

/* The kind of the stream, once its first header was read. */
const char *stream_kind(const struct stream *s);

/* The fields every record of a kind has. */
struct stream_record {
	const char *id, *label;
	size_t id_len, label_len; /* label NULL when the record has none */
	struct tensor tensor;  /* the kind's tensor_key */
	int64_t copy;             /* augmentation copy number, -1 when absent */
};

/* Parse the current record of a kind whose records carry a tensor. */
int stream_record_parse(const struct stream *s, const msgpack_object *obj,
			struct stream_record *r, struct err *e);

#endif
