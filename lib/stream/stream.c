#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "names.h"

const struct stream_kind stream_kind_other = { 0 };

/* The agreement keys of kind: 0 when they are equal in both headers, else
 * -1 and the first difference ("size[0]: 150 here, 224 before"). */
static int headers_agree(const struct stream_kind *kind, const msgpack_object *first,
			 const msgpack_object *again, struct err *e)
{
	char diff[512];

	for (const char *const *k = kind->agreement_keys; k && *k; k++)
		if (obj_diff(obj_get_or_nil(first, *k), obj_get_or_nil(again, *k),
			     *k, diff, sizeof diff))
			return err_fail(e, "%s", diff);
	return 0;
}

static int stream_init(struct stream *s, const struct stream_kind *const *kinds,
		       const struct msgin_limits *lim, struct err *e)
{
	s->kinds = kinds;
	if (!s->name || msgin_init(&s->in, s->fd, lim, e)) {
		stream_close(s);
		return err_fail(e, "out of memory");
	}
	msgpack_zone_init(&s->first_header_zone, 1024);
	return 0;
}

int stream_open(struct stream *s, const char *path, const struct stream_kind *const *kinds,
		const struct msgin_limits *lim, struct err *e)
{
	memset(s, 0, sizeof *s);
	if (!path || !strcmp(path, "-")) {
		s->fd = STDIN_FILENO;
		s->name = strdup("stdin");
	} else {
		s->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (s->fd < 0)
			return err_fail(e, "%s: %s", path, strerror(errno));
		s->own_fd = 1;
		s->name = strdup(path);
	}
	return stream_init(s, kinds, lim, e);
}

int stream_open_fd(struct stream *s, int fd, const char *name,
		   const struct stream_kind *const *kinds, const struct msgin_limits *lim,
		   struct err *e)
{
	memset(s, 0, sizeof *s);
	s->fd = fd;
	s->name = strdup(name);
	return stream_init(s, kinds, lim, e);
}

uint64_t stream_offset_of(const struct stream *s, const void *p)
{
	return s->in.base + (uint64_t)((const unsigned char *)p - s->in.buf);
}

void stream_close(struct stream *s)
{
	if (s->own_fd)
		close(s->fd);
	msgin_free(&s->in);
	msgpack_zone_destroy(&s->first_header_zone);
	free(s->first_header_bytes);
	free(s->name);
	free(s->kind);
	memset(s, 0, sizeof *s);
}

const char *stream_kind(const struct stream *s)
{
	return s->kind;
}

/* "record 12" or, between records, where the stream stands. */
static void where(const struct stream *s, char *buf, size_t n)
{
	if (!s->have_header)
		snprintf(buf, n, "header");
	else if (!s->in_segment)
		snprintf(buf, n, "after the trailer of segment %" PRIu64, s->segments);
	else
		snprintf(buf, n, "record %" PRIu64, s->records + 1);
}

static int keep_first_header(struct stream *s, struct err *e)
{
	size_t len = s->in.consumed, off = 0;

	s->first_header_bytes = malloc(len);
	if (!s->first_header_bytes)
		return err_fail(e, "out of memory");
	memcpy(s->first_header_bytes, s->in.buf, len);
	if (msgpack_unpack((const char *)s->first_header_bytes, len, &off,
			   &s->first_header_zone, &s->first_header) != MSGPACK_UNPACK_SUCCESS)
		return err_fail(e, "cannot decode the header again");
	return 0;
}

/* The first of kinds whose name is the n bytes at name, or the first that
 * stands for any kind; NULL when there is none. */
static const struct stream_kind *kind_accepted(const struct stream_kind *const *kinds,
					       const char *name, size_t n)
{
	for (; *kinds; kinds++)
		if (!(*kinds)->name || names_eq(name, n, (*kinds)->name))
			return *kinds;
	return NULL;
}

static int kind_refused(const struct stream_kind *const *kinds, const char *name, size_t n,
			struct err *e)
{
	char want[128] = "";

	for (int i = 0; kinds[i]; i++)
		snprintf(want + strlen(want), sizeof want - strlen(want), "%s'%s'",
			 !i ? "" : kinds[i + 1] ? ", " : " or ", kinds[i]->name);
	return err_fail(e, "this is a stream of kind '%.*s'; expected %s",
			(int)(n > 32 ? 32 : n), name, want);
}

static enum stream_event header(struct stream *s, const msgpack_object *obj,
				struct err *e)
{
	const char *kind;
	size_t kind_len;
	uint64_t version;

	if (s->in_segment)
		return err_fail(e, "a header where the trailer of segment %" PRIu64
				" should be (after %" PRIu64 " records): the segment was cut short",
				s->segments, s->segment_records);
	if (obj_get_uint(obj, "vggpipe", 1, &version, e))
		return STREAM_ERROR;
	if (version != STREAM_VERSION)
		return err_fail(e, "stream version %" PRIu64 " is not supported (this program reads version %d)",
				version, STREAM_VERSION);
	if (obj_get_bytes(obj, "kind", 1, &kind, &kind_len, e))
		return STREAM_ERROR;
	if (s->kind && !names_eq(kind, kind_len, s->kind))
		return err_fail(e, "this is a stream of kind '%.*s'; expected '%s'",
				(int)(kind_len > 32 ? 32 : kind_len), kind, s->kind);
	if (!s->kind) {
		if (!(s->desc = kind_accepted(s->kinds, kind, kind_len)))
			return kind_refused(s->kinds, kind, kind_len, e);
		s->kind = strndup(kind, kind_len);
		if (!s->kind)
			return err_fail(e, "out of memory");
	}
	if (!s->have_header) {
		if (keep_first_header(s, e))
			return STREAM_ERROR;
		s->have_header = 1;
	} else if (headers_agree(s->desc, &s->first_header, obj, e)) {
		return err_context(e, "the header of segment %" PRIu64 " disagrees with the first: ",
				   s->segments + 1);
	}
	s->segments++;
	s->segment_records = 0;
	s->in_segment = 1;
	return STREAM_HEADER;
}

static enum stream_event trailer(struct stream *s, const msgpack_object *obj,
				 struct err *e)
{
	uint64_t n;

	if (obj_get_uint(obj, "end", 1, &n, e))
		return STREAM_ERROR;
	if (n != s->segment_records)
		return err_fail(e, "the trailer of segment %" PRIu64 " counts %" PRIu64
				" records but the segment holds %" PRIu64,
				s->segments, n, s->segment_records);
	s->in_segment = 0;
	return STREAM_TRAILER;
}

enum stream_event stream_event(struct stream *s, msgpack_object *obj,
			       struct err *e)
{
	char at[96];
	enum stream_event ev;

	switch (msgin_next(&s->in, obj, &s->offset, e)) {
	case MSGIN_OBJECT:
		break;
	case MSGIN_END:
		if (!s->have_header) {
			err_fail(e, "%s: empty input: no vggpipe header", s->name);
			return STREAM_ERROR;
		}
		if (s->in_segment) {
			err_fail(e, "%s: the stream ends after record %" PRIu64
				 " without a trailer: it is incomplete (was its writer killed?)",
				 s->name, s->records);
			return STREAM_ERROR;
		}
		return STREAM_END;
	case MSGIN_TRUNCATED:
		if (!s->have_header)
			err_fail(e, "%s: truncated inside the header (the input ends at byte %" PRIu64 ")",
				 s->name, s->in.base + s->in.len);
		else
			err_fail(e, "%s: truncated after record %" PRIu64
				 ": the input ends inside the next object, at byte %" PRIu64
				 " (was its writer killed?)",
				 s->name, s->records, s->in.base + s->in.len);
		return STREAM_ERROR;
	default:
		where(s, at, sizeof at);
		err_context(e, "%s: %s (byte %" PRIu64 "): ", s->name, at, s->offset);
		return STREAM_ERROR;
	}

	if (obj->type != MSGPACK_OBJECT_MAP) {
		where(s, at, sizeof at);
		err_fail(e, "%s: %s: expected a map, found %s", s->name, at,
			 obj_type_name(obj));
		return STREAM_ERROR;
	}
	if (obj_get(obj, "vggpipe")) {
		ev = header(s, obj, e);
	} else if (!s->have_header) {
		err_fail(e, "not a vggpipe stream: the first object has no 'vggpipe' key");
		ev = STREAM_ERROR;
	} else if (!s->in_segment) {
		err_fail(e, "an object after the trailer that is not a header");
		ev = STREAM_ERROR;
	} else if (obj_get(obj, "end") && !obj_get(obj, "id")) {
		ev = trailer(s, obj, e);
	} else {
		s->records++;
		s->segment_records++;
		return STREAM_RECORD;
	}
	if (ev == STREAM_ERROR) {
		where(s, at, sizeof at);
		err_context(e, "%s: %s: ", s->name, at);
	}
	return ev;
}

int stream_ready(struct stream *s)
{
	return msgin_ready(&s->in);
}

int stream_record(struct stream *s, msgpack_object *obj, struct err *e)
{
	for (;;) {
		enum stream_event ev = stream_event(s, obj, e);

		if (ev == STREAM_RECORD)
			return 1;
		if (ev == STREAM_END)
			return 0;
		if (ev == STREAM_ERROR)
			return -1;
	}
}

static int record_fields(const struct stream *s, const msgpack_object *obj,
			 struct stream_record *r, struct err *e)
{
	const char *key;
	enum tensor_dtype want;
	int r_label;
	uint64_t copy;

	if (obj_get_bytes(obj, "id", 1, &r->id, &r->id_len, e))
		return -1;
	r_label = obj_get_bytes(obj, "label", 0, &r->label, &r->label_len, e);
	if (r_label < 0)
		return -1;
	if (r_label > 0) {
		r->label = NULL;
		r->label_len = 0;
	}
	r->copy = -1;
	switch (obj_get_uint(obj, "copy", 0, &copy, e)) {
	case -1:
		return -1;
	case 0:
		if (copy > INT64_MAX)
			return err_fail(e, "key 'copy': %" PRIu64 " is too large", copy);
		r->copy = (int64_t)copy;
		break;
	}
	if (!s->desc->tensor_key)
		return err_fail(e, "records of kind '%s' carry no tensor", s->kind);
	key = s->desc->tensor_key;
	want = s->desc->dtype;
	if (tensor_get(obj, key, 1, &r->tensor, e))
		return -1;
	if (r->tensor.dtype != want)
		return err_fail(e, "tensor '%s': dtype %s, expected %s", key,
				tensor_dtype_name(r->tensor.dtype), tensor_dtype_name(want));
	return s->desc->check_tensor ? s->desc->check_tensor(&r->tensor, e) : 0;
}

int stream_record_parse(const struct stream *s, const msgpack_object *obj,
			struct stream_record *r, struct err *e)
{
	if (record_fields(s, obj, r, e))
		return err_context(e, "%s: record %" PRIu64 ": ", s->name, s->records);
	return 0;
}
