#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feat.h"
#include "images.h"

/* The keys that decide whether two segments can be read as one stream,
 * each kind's module's. An image stream's class list is not among them: a
 * shard may not see every class. A model is one segment. */
static const char *const *agreement_keys(const char *kind)
{
	static const char *const none[] = { NULL };

	if (!strcmp(kind, "images"))
		return images_agreement_keys;
	if (!strcmp(kind, "features"))
		return feat_agreement_keys;
	return none;
}

int vp_headers_agree(const char *kind, const msgpack_object *first,
		     const msgpack_object *again, struct vp_err *e)
{
	char diff[512];

	for (const char *const *k = agreement_keys(kind); *k; k++)
		if (vp_obj_diff(vp_map_get_or_nil(first, *k), vp_map_get_or_nil(again, *k),
				*k, diff, sizeof diff))
			return vp_fail(e, "%s", diff);
	return 0;
}

static int stream_init(struct vp_stream *s, const char *kind, const struct vp_limits *lim,
		       struct vp_err *e)
{
	s->kind = kind ? strdup(kind) : NULL;
	if (!s->name || (kind && !s->kind) || vp_msgin_init(&s->in, s->fd, lim, e)) {
		vp_stream_close(s);
		return vp_fail(e, "out of memory");
	}
	msgpack_zone_init(&s->first_header_zone, 1024);
	return 0;
}

int vp_stream_open(struct vp_stream *s, const char *path, const char *kind,
		   const struct vp_limits *lim, struct vp_err *e)
{
	memset(s, 0, sizeof *s);
	if (!path || !strcmp(path, "-")) {
		s->fd = STDIN_FILENO;
		s->name = strdup("stdin");
	} else {
		s->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (s->fd < 0)
			return vp_fail(e, "%s: %s", path, strerror(errno));
		s->own_fd = 1;
		s->name = strdup(path);
	}
	return stream_init(s, kind, lim, e);
}

int vp_stream_open_fd(struct vp_stream *s, int fd, const char *name, const char *kind,
		      const struct vp_limits *lim, struct vp_err *e)
{
	memset(s, 0, sizeof *s);
	s->fd = fd;
	s->name = strdup(name);
	return stream_init(s, kind, lim, e);
}

uint64_t vp_stream_offset_of(const struct vp_stream *s, const void *p)
{
	return s->in.base + (uint64_t)((const unsigned char *)p - s->in.buf);
}

void vp_stream_close(struct vp_stream *s)
{
	if (s->own_fd)
		close(s->fd);
	vp_msgin_free(&s->in);
	msgpack_zone_destroy(&s->first_header_zone);
	free(s->first_header_bytes);
	free(s->name);
	free(s->kind);
	memset(s, 0, sizeof *s);
}

const char *vp_stream_kind(const struct vp_stream *s)
{
	return s->kind;
}

/* "record 12" or, between records, where the stream stands. */
static void where(const struct vp_stream *s, char *buf, size_t n)
{
	if (!s->have_header)
		snprintf(buf, n, "header");
	else if (!s->in_segment)
		snprintf(buf, n, "after the trailer of segment %" PRIu64, s->segments);
	else
		snprintf(buf, n, "record %" PRIu64, s->records + 1);
}

static int keep_first_header(struct vp_stream *s, struct vp_err *e)
{
	size_t len = s->in.consumed, off = 0;

	s->first_header_bytes = malloc(len);
	if (!s->first_header_bytes)
		return vp_fail(e, "out of memory");
	memcpy(s->first_header_bytes, s->in.buf, len);
	if (msgpack_unpack((const char *)s->first_header_bytes, len, &off,
			   &s->first_header_zone, &s->first_header) != MSGPACK_UNPACK_SUCCESS)
		return vp_fail(e, "cannot decode the header again");
	return 0;
}

static enum vp_event header(struct vp_stream *s, const msgpack_object *obj,
			    struct vp_err *e)
{
	const char *kind;
	size_t kind_len;
	uint64_t version;

	if (s->in_segment)
		return vp_fail(e, "a header where the trailer of segment %" PRIu64
			       " should be (after %" PRIu64 " records): the segment was cut short",
			       s->segments, s->segment_records);
	if (vp_get_uint(obj, "vggpipe", 1, &version, e))
		return VP_EV_ERROR;
	if (version != VP_STREAM_VERSION)
		return vp_fail(e, "stream version %" PRIu64 " is not supported (this program reads version %d)",
			       version, VP_STREAM_VERSION);
	if (vp_get_bytes(obj, "kind", 1, &kind, &kind_len, e))
		return VP_EV_ERROR;
	if (s->kind && !vp_bytes_eq(kind, kind_len, s->kind))
		return vp_fail(e, "this is a stream of kind '%.*s'; expected '%s'",
			       (int)(kind_len > 32 ? 32 : kind_len), kind, s->kind);
	if (!s->kind) {
		s->kind = strndup(kind, kind_len);
		if (!s->kind)
			return vp_fail(e, "out of memory");
	}
	if (!s->have_header) {
		if (keep_first_header(s, e))
			return VP_EV_ERROR;
		s->have_header = 1;
	} else if (vp_headers_agree(s->kind, &s->first_header, obj, e)) {
		return vp_context(e, "the header of segment %" PRIu64 " disagrees with the first: ",
				  s->segments + 1);
	}
	s->segments++;
	s->segment_records = 0;
	s->in_segment = 1;
	return VP_EV_HEADER;
}

static enum vp_event trailer(struct vp_stream *s, const msgpack_object *obj,
			     struct vp_err *e)
{
	uint64_t n;

	if (vp_get_uint(obj, "end", 1, &n, e))
		return VP_EV_ERROR;
	if (n != s->segment_records)
		return vp_fail(e, "the trailer of segment %" PRIu64 " counts %" PRIu64
			       " records but the segment holds %" PRIu64,
			       s->segments, n, s->segment_records);
	s->in_segment = 0;
	return VP_EV_TRAILER;
}

enum vp_event vp_stream_event(struct vp_stream *s, msgpack_object *obj,
			      struct vp_err *e)
{
	char at[96];
	enum vp_event ev;

	switch (vp_msgin_next(&s->in, obj, &s->offset, e)) {
	case VP_NEXT_OBJECT:
		break;
	case VP_NEXT_END:
		if (!s->have_header) {
			vp_fail(e, "%s: empty input: no vggpipe header", s->name);
			return VP_EV_ERROR;
		}
		if (s->in_segment) {
			vp_fail(e, "%s: the stream ends after record %" PRIu64
				" without a trailer: it is incomplete (was its writer killed?)",
				s->name, s->records);
			return VP_EV_ERROR;
		}
		return VP_EV_END;
	case VP_NEXT_TRUNCATED:
		if (!s->have_header)
			vp_fail(e, "%s: truncated inside the header (the input ends at byte %" PRIu64 ")",
				s->name, s->in.base + s->in.len);
		else
			vp_fail(e, "%s: truncated after record %" PRIu64
				": the input ends inside the next object, at byte %" PRIu64
				" (was its writer killed?)",
				s->name, s->records, s->in.base + s->in.len);
		return VP_EV_ERROR;
	default:
		where(s, at, sizeof at);
		vp_context(e, "%s: %s (byte %" PRIu64 "): ", s->name, at, s->offset);
		return VP_EV_ERROR;
	}

	if (obj->type != MSGPACK_OBJECT_MAP) {
		where(s, at, sizeof at);
		vp_fail(e, "%s: %s: expected a map, found %s", s->name, at,
			vp_obj_type_name(obj));
		return VP_EV_ERROR;
	}
	if (vp_map_get(obj, "vggpipe")) {
		ev = header(s, obj, e);
	} else if (!s->have_header) {
		vp_fail(e, "not a vggpipe stream: the first object has no 'vggpipe' key");
		ev = VP_EV_ERROR;
	} else if (!s->in_segment) {
		vp_fail(e, "an object after the trailer that is not a header");
		ev = VP_EV_ERROR;
	} else if (vp_map_get(obj, "end") && !vp_map_get(obj, "id")) {
		ev = trailer(s, obj, e);
	} else {
		s->records++;
		s->segment_records++;
		return VP_EV_RECORD;
	}
	if (ev == VP_EV_ERROR) {
		where(s, at, sizeof at);
		vp_context(e, "%s: %s: ", s->name, at);
	}
	return ev;
}

int vp_stream_record(struct vp_stream *s, msgpack_object *obj, struct vp_err *e)
{
	for (;;) {
		enum vp_event ev = vp_stream_event(s, obj, e);

		if (ev == VP_EV_RECORD)
			return 1;
		if (ev == VP_EV_END)
			return 0;
		if (ev == VP_EV_ERROR)
			return -1;
	}
}

static int record_fields(const struct vp_stream *s, const msgpack_object *obj,
			 struct vp_record *r, struct vp_err *e)
{
	const char *key;
	enum vp_dtype want;
	int r_label;
	uint64_t copy;

	if (vp_get_bytes(obj, "id", 1, &r->id, &r->id_len, e))
		return -1;
	r_label = vp_get_bytes(obj, "label", 0, &r->label, &r->label_len, e);
	if (r_label < 0)
		return -1;
	if (r_label > 0) {
		r->label = NULL;
		r->label_len = 0;
	}
	r->copy = -1;
	switch (vp_get_uint(obj, "copy", 0, &copy, e)) {
	case -1:
		return -1;
	case 0:
		if (copy > INT64_MAX)
			return vp_fail(e, "key 'copy': %" PRIu64 " is too large", copy);
		r->copy = (int64_t)copy;
		break;
	}
	if (!strcmp(s->kind, "images")) {
		key = "image";
		want = VP_U8;
	} else if (!strcmp(s->kind, "features")) {
		key = "features";
		want = VP_F32;
	} else {
		return vp_fail(e, "records of kind '%s' carry no tensor", s->kind);
	}
	if (vp_get_tensor(obj, key, 1, &r->tensor, e))
		return -1;
	if (r->tensor.dtype != want)
		return vp_fail(e, "tensor '%s': dtype %s, expected %s", key,
			       vp_dtype_name(r->tensor.dtype), vp_dtype_name(want));
	if (want == VP_U8 && (r->tensor.rank != 3 || r->tensor.shape[2] != 3))
		return vp_fail(e, "tensor 'image': shape must be [height, width, 3]");
	return 0;
}

int vp_record_parse(const struct vp_stream *s, const msgpack_object *obj,
		    struct vp_record *r, struct vp_err *e)
{
	if (record_fields(s, obj, r, e))
		return vp_context(e, "%s: record %" PRIu64 ": ", s->name, s->records);
	return 0;
}
