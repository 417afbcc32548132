#include "featread.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int feat_reader_open(struct feat_reader *r, char *const *paths, int npaths, size_t cap,
		     struct err *e)
{
	static char *const stdin_path[] = { "-" };

	memset(r, 0, sizeof *r);
	r->paths = npaths ? paths : stdin_path;
	r->npaths = npaths ? npaths : 1;
	r->cap = cap;
	if (!(r->rows = err_calloc(cap, sizeof *r->rows, e)) ||
	    !(r->s = err_calloc(1, sizeof *r->s, e))) {
		feat_reader_close(r);
		return -1;
	}
	return 0;
}

int feat_reader_open_fds(struct feat_reader *r, char *const *names, const int *fds,
			 const off_t *starts, int n, size_t cap, struct err *e)
{
	if (feat_reader_open(r, names, n, cap, e))
		return -1;
	r->fds = fds;
	r->starts = starts;
	return 0;
}

int feat_reader_rewind(struct feat_reader *r, struct err *e)
{
	if (!r->fds)
		return err_fail(e, "%s: cannot be read again", r->paths[0]);
	if (r->open)
		stream_close(r->s);
	r->open = 0;
	r->next = 0;
	return 0;
}

/* The shape of the reference, first seen in file (NULL: a model's). */
static int set_shape(struct feat_reader *r, int rank, const uint32_t *shape,
		     const char *file, struct err *e)
{
	uint32_t dim = 0;

	free(r->shape_file);
	r->shape_file = NULL;
	if (file && !(r->shape_file = strdup(file)))
		return err_fail(e, "out of memory");
	if (feat_shape_dim(rank, shape, &dim, e))
		return -1;
	free(r->x);
	if (!(r->x = err_calloc(r->cap, (size_t)dim * sizeof *r->x, e)))
		return -1;
	r->rank = rank;
	memcpy(r->shape, shape, (size_t)rank * sizeof *shape);
	r->dim = dim;
	return 0;
}

int feat_reader_expect(struct feat_reader *r, const msgpack_object *provenance, int rank,
		       const uint32_t *shape, struct err *e)
{
	free(r->provenance_file);
	r->provenance_file = NULL;
	if (obj_hold(&r->provenance, provenance, e))
		return -1;
	return set_shape(r, rank, shape, NULL, e);
}

int feat_reader_like(struct feat_reader *r, const struct feat_reader *like, struct err *e)
{
	free(r->provenance_file);
	r->provenance_file = NULL;
	if (like->provenance.set) {
		if (obj_hold(&r->provenance, &like->provenance.obj, e))
			return -1;
		if (like->provenance_file &&
		    !(r->provenance_file = strdup(like->provenance_file)))
			return err_fail(e, "out of memory");
	}
	return like->rank ? set_shape(r, like->rank, like->shape, like->shape_file, e) : 0;
}

void feat_reader_close(struct feat_reader *r)
{
	if (r->s && r->open)
		stream_close(r->s);
	free(r->s);
	if (r->rows)
		for (size_t i = 0; i < r->cap; i++) {
			free(r->rows[i].id);
			free(r->rows[i].label);
		}
	free(r->rows);
	free(r->x);
	free(r->provenance_file);
	free(r->shape_file);
	obj_release(&r->provenance);
	memset(r, 0, sizeof *r);
}

/* The stream's provenance against the reference, or as the reference. */
static int check_provenance(struct feat_reader *r, struct err *e)
{
	const msgpack_object *got = NULL;

	if (feat_stream_provenance(r->s, &got, e))
		return -1;
	if (!r->provenance.set) {
		if (obj_hold(&r->provenance, got, e))
			return -1;
		if (!(r->provenance_file = strdup(r->s->name)))
			return err_fail(e, "out of memory");
		return 0;
	}
	return feat_provenance_agree(&r->provenance.obj, r->provenance_file, got, r->s->name, e);
}

static int keep_bytes(char **dst, size_t *cap, const char *p, size_t n, struct err *e)
{
	if (n + 1 > *cap) {
		char *q = realloc(*dst, n + 1);

		if (!q)
			return err_fail(e, "out of memory");
		*dst = q;
		*cap = n + 1;
	}
	memcpy(*dst, p, n);
	(*dst)[n] = 0;
	return 0;
}

static int read_row(struct feat_reader *r, const struct stream_record *rec, size_t i,
		    struct err *e)
{
	const struct tensor *t = &rec->tensor;
	struct feat_row *row = &r->rows[i];
	const char *name = r->s->name;
	uint64_t at = r->s->records;
	float *x;

	if (!r->rank && set_shape(r, t->rank, t->shape, name, e))
		return err_context(e, "%s: record %" PRIu64 ": ", name, at);
	x = r->x + i * r->dim;
	if (feat_check_shape(name, at, t, r->rank, r->shape, r->shape_file, e) ||
	    feat_read_finite(name, at, rec, x, r->dim, e))
		return -1;
	if (keep_bytes(&row->id, &row->id_cap, rec->id, rec->id_len, e))
		return -1;
	row->id_len = rec->id_len;
	row->has_label = rec->label != NULL;
	row->label_len = rec->label ? rec->label_len : 0;
	if (keep_bytes(&row->label, &row->label_cap, rec->label ? rec->label : "",
		       row->label_len, e))
		return -1;
	row->copy = rec->copy;
	row->file = strcmp(r->paths[r->next - 1], "-") ? r->paths[r->next - 1] : "stdin";
	row->record = at;
	return 0;
}

/* The next stream, by name or from its descriptor's start. */
static int open_next(struct feat_reader *r, struct err *e)
{
	int i = r->next++;
	const char *name = strcmp(r->paths[i], "-") ? r->paths[i] : "stdin";

	if (!r->fds)
		return stream_open(r->s, r->paths[i], feat_only, NULL, e);
	if (lseek(r->fds[i], r->starts[i], SEEK_SET) < 0)
		return err_fail(e, "%s: %s", name, strerror(errno));
	return stream_open_fd(r->s, r->fds[i], name, feat_only, NULL, e);
}

long feat_reader_fill(struct feat_reader *r, struct err *e)
{
	size_t n = 0;
	struct stream_record rec;
	msgpack_object obj;

	while (n < r->cap) {
		int rc;

		/* Input that pauses ends the fill: what came is classified
		 * now, not when cap rows have come. */
		if (n && r->open && !stream_ready(r->s))
			break;
		if (!r->open) {
			if (r->next == r->npaths)
				break;
			if (open_next(r, e))
				return -1;
			r->open = 1;
			r->checked = 0;
		}
		rc = stream_record(r->s, &obj, e);
		if (rc < 0)
			return -1;
		if (r->s->have_header && !r->checked) {
			if (check_provenance(r, e))
				return -1;
			r->checked = 1;
		}
		if (rc == 0) {
			stream_close(r->s);
			r->open = 0;
			continue;
		}
		if (stream_record_parse(r->s, &obj, &rec, e) || read_row(r, &rec, n, e))
			return -1;
		n++;
	}
	return (long)n;
}

size_t feat_reader_keep_plain(struct feat_reader *r, size_t n)
{
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		struct feat_row t;

		if (r->rows[i].copy > 0)
			continue;
		if (i != kept) {
			/* Swapped, not copied: each row keeps buffers of its own. */
			t = r->rows[kept];
			r->rows[kept] = r->rows[i];
			r->rows[i] = t;
			memcpy(r->x + kept * r->dim, r->x + i * r->dim, r->dim * sizeof *r->x);
		}
		kept++;
	}
	return kept;
}
