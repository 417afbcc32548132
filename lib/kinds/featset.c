#include "featset.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "names.h"
#include "spool.h"

/* ---- labelled sets ---- */

void feat_set_free(struct feat_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->rec[i].id);
	free(s->rec);
	for (uint32_t i = 0; i < s->nnames; i++)
		free(s->names[i]);
	free(s->names);
	free(s->by_name);
	free(s->x);
	for (int i = 0; i < s->nfiles; i++) {
		if (s->fd && s->fd[i] > STDIN_FILENO)
			close(s->fd[i]);
		free(s->files[i]);
	}
	free(s->fd);
	free(s->files);
	free(s->first);
	free(s->members);
	free(s->provenance_file);
	obj_release(&s->provenance);
	memset(s, 0, sizeof *s);
}

/* The descriptor a set reads path from: held, the input read once;
 * indexed, one that can be read again at any offset (spool.h). *start is
 * the offset its stream begins at. */
static int open_input(const char *path, int hold, const char *tmpdir, off_t *start,
		      struct err *e)
{
	int fd;

	if (!hold)
		return spool_open(path, tmpdir, start, e);
	*start = 0;
	fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	return fd >= 0 ? fd : err_fail(e, "%s: %s", path, strerror(errno));
}

/* A label's index, new ones numbered in order of first appearance;
 * by_name keeps them in byte order for the lookup. */
static long set_label(struct feat_set *s, const char *p, size_t len, struct err *e)
{
	uint32_t lo;
	long found = names_search(s->names, s->by_name, s->nnames, p, len, &lo);
	char **names;
	uint32_t *by_name;

	if (found >= 0)
		return found;
	if (s->nnames == FEAT_MAX_LABELS)
		return err_fail(e, "more than %d different labels", FEAT_MAX_LABELS);
	if (!(names = realloc(s->names, (s->nnames + 1) * sizeof *names)))
		return err_fail(e, "out of memory");
	s->names = names;
	if (!(by_name = realloc(s->by_name, (s->nnames + 1) * sizeof *by_name)))
		return err_fail(e, "out of memory");
	s->by_name = by_name;
	if (!(s->names[s->nnames] = strndup(p, len)))
		return err_fail(e, "out of memory");
	memmove(by_name + lo + 1, by_name + lo, (s->nnames - lo) * sizeof *by_name);
	by_name[lo] = s->nnames;
	return s->nnames++;
}

static int set_grow(struct feat_set *s, size_t *cap, int hold, struct err *e)
{
	size_t want = *cap ? *cap * 2 : 256;
	struct feat_record *rec;
	float *x;

	if (hold && want > SIZE_MAX / sizeof(float) / s->dim)
		return err_fail(e, "too many records to hold in memory");
	if (!(rec = realloc(s->rec, want * sizeof *rec)))
		return err_fail(e, "out of memory for the index of %zu records", want);
	s->rec = rec;
	if (hold) {
		if (!(x = realloc(s->x, want * s->dim * sizeof *x)))
			return err_fail(e, "out of memory holding %zu records of %" PRIu32
					" features (%.1f MB)", want, s->dim,
					(double)want * s->dim * 4 / 1e6);
		s->x = x;
	}
	*cap = want;
	return 0;
}

static int set_record(struct feat_set *s, const struct stream *st, const struct stream_record *r,
		      int hold, size_t *cap, float *scratch, struct err *e)
{
	const struct tensor *t = &r->tensor;
	struct feat_record *rec;
	float *x;
	long label;

	if (!r->label)
		return err_fail(e, "%s: record %" PRIu64 ": no label (training and validation "
				"need labelled features)", st->name, st->records);
	if (!r->label_len || memchr(r->label, 0, r->label_len))
		return err_fail(e, "%s: record %" PRIu64 ": the label is empty or holds a NUL byte",
				st->name, st->records);
	if (feat_check_shape(st->name, st->records, t, s->rank, s->shape,
			     s->n ? s->files[s->rec[0].file] : st->name, e) ||
	    (s->n == *cap && set_grow(s, cap, hold, e)))
		return -1;
	x = hold ? s->x + s->n * s->dim : scratch;
	if (feat_read_finite(st->name, st->records, r, x, s->dim, e))
		return -1;
	if ((label = set_label(s, r->label, r->label_len, e)) < 0)
		return err_context(e, "%s: record %" PRIu64 ": ", st->name, st->records);
	rec = &s->rec[s->n];
	*rec = (struct feat_record){ .id_len = r->id_len, .copy = r->copy,
				     .label = (uint32_t)label, .file = (uint32_t)(s->nfiles - 1),
				     .record = st->records,
				     .offset = stream_offset_of(st, t->data) };
	if (!(rec->id = malloc(r->id_len + 1)))
		return err_fail(e, "out of memory");
	memcpy(rec->id, r->id, r->id_len);
	rec->id[r->id_len] = 0;
	s->n++;
	return 0;
}

static int keep_provenance(struct feat_set *s, const msgpack_object *got, const char *file,
			   struct err *e)
{
	if (obj_hold(&s->provenance, got, e))
		return -1;
	return (s->provenance_file = strdup(file)) ? 0 : err_fail(e, "out of memory");
}

/* The stream's provenance must be the reference's (like's, or the
 * first stream's, which becomes the reference). A set made like another
 * keeps its own provenance and file too, so that it can be the reference
 * of a third. */
static int set_provenance(struct feat_set *s, const struct feat_set *like,
			  const struct stream *st, struct err *e)
{
	const struct feat_set *ref = like ? like : s;
	const msgpack_object *got = NULL;

	if (feat_stream_provenance(st, &got, e))
		return -1;
	if (ref->provenance.set &&
	    feat_provenance_agree(&ref->provenance.obj, ref->provenance_file, got, st->name, e))
		return -1;
	return s->provenance.set ? 0 : keep_provenance(s, got, st->name, e);
}

static int set_shape_from(struct feat_set *s, const struct feat_set *like,
			  const struct tensor *t, float **scratch, struct err *e)
{
	uint32_t dim = 0;

	if (like && (t->rank != like->rank ||
		     memcmp(t->shape, like->shape, (size_t)t->rank * sizeof *t->shape))) {
		char want[64], got[64];

		tensor_shape_text(like->rank, like->shape, want, sizeof want);
		tensor_shape_text(t->rank, t->shape, got, sizeof got);
		return err_fail(e, "features of shape %s, those of %s are %s", got,
				like->provenance_file, want);
	}
	if (feat_shape_dim(t->rank, t->shape, &dim, e))
		return -1;
	s->rank = t->rank;
	memcpy(s->shape, t->shape, (size_t)t->rank * sizeof *t->shape);
	s->dim = dim;
	return (*scratch = err_calloc(dim, sizeof **scratch, e)) ? 0 : -1;
}

static int load_one(struct feat_set *s, const char *path, int hold, const struct feat_set *like,
		    const char *tmpdir, size_t *cap, float **scratch,
		    void (*progress)(uint64_t), struct err *e)
{
	const char *name = strcmp(path, "-") ? path : "stdin";
	struct stream st;
	struct stream_record r;
	msgpack_object obj;
	off_t start;
	int fd, rc, checked = 0, *fds;
	char **files;

	if ((fd = open_input(path, hold, tmpdir, &start, e)) < 0)
		return -1;
	fds = realloc(s->fd, (size_t)(s->nfiles + 1) * sizeof *fds);
	files = fds ? realloc(s->files, (size_t)(s->nfiles + 1) * sizeof *files) : NULL;
	if (fds)
		s->fd = fds;
	if (files)
		s->files = files;
	if (!files || !(s->files[s->nfiles] = strdup(name))) {
		if (fd > STDIN_FILENO)
			close(fd);
		return err_fail(e, "out of memory");
	}
	/* Kept open when indexed: the batches are read from it. */
	s->fd[s->nfiles++] = hold ? -1 : fd;
	if (stream_open_fd(&st, fd, name, feat_only, NULL, e))
		goto fail;
	while ((rc = stream_record(&st, &obj, e)) > 0) {
		if (!checked && set_provenance(s, like, &st, e))
			break;
		checked = 1;
		if (stream_record_parse(&st, &obj, &r, e))
			break;
		if (!s->rank && set_shape_from(s, like, &r.tensor, scratch, e)) {
			err_context(e, "%s: record %" PRIu64 ": ", name, st.records);
			break;
		}
		if (set_record(s, &st, &r, hold, cap, *scratch, e))
			break;
		s->rec[s->n - 1].offset += (uint64_t)start;
		if (progress && st.records % 256 == 0)
			progress(s->n);
	}
	if (rc == 0 && !checked && set_provenance(s, like, &st, e))
		rc = -1;
	stream_close(&st);
	if (rc == 0)
		goto done;
fail:
	if (hold && fd > STDIN_FILENO)
		close(fd);
	return -1;
done:
	if (hold && fd > STDIN_FILENO)
		close(fd);
	return 0;
}

static int same_id(const struct feat_record *a, const struct feat_record *b)
{
	return a->id_len == b->id_len && !memcmp(a->id, b->id, a->id_len);
}

/* Records by id, then by position: an image's copies end up together, in
 * stream order. */
static int cmp_by_id(const void *a, const void *b, void *arg)
{
	const struct feat_record *rec = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	size_t li = rec[i].id_len, lj = rec[j].id_len;
	int c = memcmp(rec[i].id, rec[j].id, li < lj ? li : lj);

	if (c)
		return c;
	if (li != lj)
		return li < lj ? -1 : 1;
	return (i > j) - (i < j);
}

struct run {
	size_t head, start, len; /* first record; its place and length in by_id */
};

static int cmp_run_head(const void *a, const void *b)
{
	const struct run *x = a, *y = b;

	return (x->head > y->head) - (x->head < y->head);
}

/* Images: the runs of one id, in the order of their first records. */
static int set_group(struct feat_set *s, struct err *e)
{
	size_t n = s->n ? s->n : 1, nimg = 0;
	size_t *by_id = err_calloc(n, sizeof *by_id, e);
	struct run *runs = by_id ? err_calloc(n, sizeof *runs, e) : NULL;
	int rc = -1;

	if (!runs || !(s->members = err_calloc(n, sizeof *s->members, e)))
		goto out;
	for (size_t i = 0; i < s->n; i++)
		by_id[i] = i;
	qsort_r(by_id, s->n, sizeof *by_id, cmp_by_id, s->rec);
	for (size_t i = 0; i < s->n; i++) {
		if (i && same_id(&s->rec[by_id[i - 1]], &s->rec[by_id[i]])) {
			runs[nimg - 1].len++;
			continue;
		}
		runs[nimg++] = (struct run){ .head = by_id[i], .start = i, .len = 1 };
	}
	qsort(runs, nimg, sizeof *runs, cmp_run_head);
	if (!(s->first = err_calloc(nimg + 1, sizeof *s->first, e)))
		goto out;
	for (size_t i = 0, k = 0; i < nimg; i++) {
		s->first[i] = k;
		memcpy(s->members + k, by_id + runs[i].start, runs[i].len * sizeof *by_id);
		k += runs[i].len;
		s->first[i + 1] = k;
	}
	s->images = nimg;
	rc = 0;
out:
	free(by_id);
	free(runs);
	return rc;
}

int feat_set_load(struct feat_set *s, char *const *paths, int npaths, int hold,
		  const struct feat_set *like, const char *tmpdir,
		  void (*progress)(uint64_t records), struct err *e)
{
	static char *const stdin_path[] = { "-" };
	size_t cap = 0;
	float *scratch = NULL;

	memset(s, 0, sizeof *s);
	if (!npaths) {
		paths = stdin_path;
		npaths = 1;
	}
	for (int i = 0; i < npaths; i++)
		if (load_one(s, paths[i], hold, like, tmpdir, &cap, &scratch, progress, e))
			goto fail;
	free(scratch);
	if (progress)
		progress(s->n);
	if (set_group(s, e))
		goto fail;
	return 0;
fail:
	free(scratch);
	feat_set_free(s);
	return -1;
}

int feat_set_read(const struct feat_set *s, const size_t *idx, size_t n, float *x,
		  struct err *e)
{
	size_t bytes = (size_t)s->dim * sizeof *x;

	for (size_t i = 0; i < n; i++) {
		const struct feat_record *r = &s->rec[idx[i]];
		float *row = x + i * s->dim;
		size_t done = 0;

		if (s->x) {
			memcpy(row, s->x + idx[i] * s->dim, bytes);
			continue;
		}
		while (done < bytes) {
			ssize_t got = pread(s->fd[r->file], (char *)row + done, bytes - done,
					    (off_t)(r->offset + done));

			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				return err_fail(e, "%s: record %" PRIu64 ": %s", s->files[r->file],
						r->record, got < 0 ? strerror(errno) :
						"the file is shorter than when it was read");
			done += (size_t)got;
		}
		tensor_f32_from_le(row, s->dim);
		/* The file was checked when it was indexed; one changed since
		 * must not feed a NaN into training. */
		for (uint32_t k = 0; k < s->dim; k++)
			if (!isfinite(row[k]))
				return err_fail(e, "%s: record %" PRIu64 ": feature %" PRIu32 " is not "
						"finite (has the file changed since it was read?)",
						s->files[r->file], r->record, k);
	}
	return 0;
}
