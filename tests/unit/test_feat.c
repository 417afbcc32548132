/* Unit tests of the features kind: its header and records, the batch
 * reader a model reads them with (featread.h), and the labelled sets
 * training holds in memory or indexes in their files, a pipe spooled
 * first (featset.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "feat.h"
#include "featread.h"
#include "featset.h"
#include "scratch.h"
#include "tap.h"
#include "writer.h"

static char tmpdir[] = "/tmp/vp-feat.XXXXXX";

#define PATH_LEN 128
/* The largest record written: the spool test's [8, 8, 64]. */
#define DIM_MAX 4096

/* A record to write. Its features are a function of seed, so that what a
 * reader returns can be checked against the same function. */
struct rec {
	const char *id, *label;
	size_t label_len;       /* 0: strlen(label) */
	int64_t copy;
	int seed;
	int rank;               /* 0: [2, 2, 3] */
	uint32_t shape[3];
	float bad;              /* not 0: put at bad_at (a NaN, an infinity) */
	uint32_t bad_at;
};

static size_t rec_label_len(const struct rec *r)
{
	if (!r->label)
		return 0;
	return r->label_len ? r->label_len : strlen(r->label);
}

static int rec_shape(const struct rec *r, uint32_t *shape)
{
	static const uint32_t fallback[3] = { 2, 2, 3 };

	memcpy(shape, r->rank ? r->shape : fallback, sizeof fallback);
	return r->rank ? r->rank : 3;
}

/* The record's features, into x; returns their number. Every value is
 * exact in binary, so that comparisons can be bitwise. */
static uint32_t rec_features(const struct rec *r, float *x)
{
	uint32_t shape[3], dim = 1;
	int rank = rec_shape(r, shape);

	for (int k = 0; k < rank; k++)
		dim *= shape[k];
	for (uint32_t k = 0; k < dim; k++)
		x[k] = (float)r->seed * 64.0f + (float)(k % 512) * 0.25f - 5.5f;
	if (r->bad != 0)
		x[r->bad_at] = r->bad;
	return dim;
}

static struct feat_provenance prov_base(void)
{
	return (struct feat_provenance){
		.backbone = "vgg16", .weights = "sha256:aa", .layer = "block5_pool",
		.pooling = "none", .preprocess = "caffe", .width = 64, .height = 64,
		.fit = "crop", .fit_len = 4,
	};
}

static void header(struct buf *b, const struct feat_provenance *p)
{
	feat_header_write(&b->w, p, "vgg16.h5", NULL);
}

static void record(struct buf *b, const struct rec *r)
{
	uint32_t shape[3];
	float x[DIM_MAX];
	int rank = rec_shape(r, shape);

	rec_features(r, x);
	feat_record_write(&b->w, r->id, strlen(r->id), r->label, rec_label_len(r), r->copy,
			  rank, shape, x);
}

static void stream_bytes(struct buf *b, const struct feat_provenance *p, const struct rec *r,
			 size_t n)
{
	buf_open(b);
	header(b, p);
	for (size_t i = 0; i < n; i++)
		record(b, &r[i]);
	writer_trailer(&b->w);
	buf_close(b);
}

static void path_of(const char *name, char *path)
{
	snprintf(path, PATH_LEN, "%s/%s", tmpdir, name);
}

static void save(const char *path, const char *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n || close(fd)) {
		printf("Bail out! %s: %s\n", path, strerror(errno));
		exit(2);
	}
}

/* A one-segment stream of provenance p and records r, as tmpdir/name. */
static void make_file(const char *name, char *path, const struct feat_provenance *p,
		      const struct rec *r, size_t n)
{
	struct buf b;

	path_of(name, path);
	stream_bytes(&b, p, r, n);
	save(path, b.p, b.n);
	free(b.p);
}

/* The provenance map as a model or a reader holds it: copied out of a
 * header written by feat_header_write, so both sides spell it alike. */
static void prov_held(struct obj_held *h, const struct feat_provenance *p)
{
	struct buf b;
	msgpack_unpacked u;
	const msgpack_object *prov;
	struct err e = { .msg = "" };

	buf_open(&b);
	header(&b, p);
	buf_close(&b);
	msgpack_unpacked_init(&u);
	memset(h, 0, sizeof *h);
	if (msgpack_unpack_next(&u, b.p, b.n, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    !(prov = obj_get(&u.data, "provenance")) || obj_hold(h, prov, &e)) {
		printf("Bail out! the provenance of a written header: %s\n", e.msg);
		exit(2);
	}
	msgpack_unpacked_destroy(&u);
	free(b.p);
}

/* Bitwise, naming the first difference. */
static int same_floats(const float *got, const float *want, uint32_t n, const char *what)
{
	for (uint32_t k = 0; k < n; k++)
		if (memcmp(&got[k], &want[k], sizeof *got)) {
			printf("#   %s: feature %u is %.9g, expected %.9g\n", what, k, got[k], want[k]);
			return 0;
		}
	return 1;
}

static int same_sizes(const size_t *got, const size_t *want, size_t n, const char *what)
{
	for (size_t k = 0; k < n; k++)
		if (got[k] != want[k]) {
			printf("#   %s[%zu] is %zu, expected %zu\n", what, k, got[k], want[k]);
			return 0;
		}
	return 1;
}

/* ---- the batch reader ---- */

static int row_is(const struct feat_reader *r, size_t i, const struct rec *w, const char *file,
		  uint64_t record_no)
{
	const struct feat_row *row = &r->rows[i];
	size_t llen = rec_label_len(w);
	float x[DIM_MAX];
	uint32_t dim = rec_features(w, x);
	int good = 1;

	if (row->id_len != strlen(w->id) || memcmp(row->id, w->id, row->id_len) ||
	    row->id[row->id_len]) {
		printf("#   id '%s', expected '%s'\n", row->id, w->id);
		good = 0;
	}
	if (row->has_label != (w->label != NULL) || row->label_len != llen ||
	    memcmp(row->label, w->label ? w->label : "", llen) || row->label[llen]) {
		printf("#   label '%s' (has_label %d), expected '%s'\n", row->label,
		       row->has_label, w->label ? w->label : "(none)");
		good = 0;
	}
	if (row->copy != w->copy) {
		printf("#   copy %lld, expected %lld\n", (long long)row->copy, (long long)w->copy);
		good = 0;
	}
	if (strcmp(row->file, file) || row->record != record_no) {
		printf("#   %s record %llu, expected %s record %llu\n", row->file,
		       (unsigned long long)row->record, file, (unsigned long long)record_no);
		good = 0;
	}
	if (r->dim != dim) {
		printf("#   %u features a row, expected %u\n", r->dim, dim);
		return 0;
	}
	return same_floats(r->x + i * r->dim, x, dim, w->id) && good;
}

static void test_reader_round_trip(void)
{
	static const struct rec one[] = {
		{ .id = "a.jpg", .label = "cat", .copy = -1, .seed = 1 },
		{ .id = "b.jpg", .label = "dog", .copy = 0, .seed = 2 },
		{ .id = "b.jpg", .label = "dog", .copy = 3, .seed = 3 },
	}, two[] = {
		{ .id = "c.jpg", .label = NULL, .copy = -1, .seed = 4 },
		/* Not UTF-8, so written as bin; an empty label is still one. */
		{ .id = "caf\xe9.jpg", .label = "", .copy = 1, .seed = 5 },
	};
	static const long counts[] = { 2, 2, 1, 0 };
	struct feat_provenance p = prov_base();
	char p1[PATH_LEN], p2[PATH_LEN];
	char *paths[] = { p1, p2 };
	struct {
		const struct rec *rec;
		const char *file;
		uint64_t record;
	} want[] = {
		{ &one[0], p1, 1 }, { &one[1], p1, 2 }, { &one[2], p1, 3 },
		{ &two[0], p2, 1 }, { &two[1], p2, 2 },
	};
	struct feat_reader r;
	struct err e = { .msg = "" };
	size_t at = 0;

	make_file("one.feat", p1, &p, one, 3);
	make_file("two.feat", p2, &p, two, 2);
	ok(feat_reader_open(&r, paths, 2, 2, &e) == 0, "a reader opens on two files");
	for (int f = 0; f < 4; f++) {
		long got = feat_reader_fill(&r, &e);
		int good = 1;

		if (!ok(got == counts[f], "fill %d: %ld rows", f + 1, counts[f])) {
			printf("#   %ld: %s\n", got, e.msg);
			break;
		}
		for (long i = 0; i < got; i++, at++)
			good &= row_is(&r, (size_t)i, want[at].rec, want[at].file, want[at].record);
		if (got)
			ok(good, "fill %d: ids, labels, copies, files, record numbers and floats "
			   "as written", f + 1);
	}
	ok(r.rank == 3 && r.shape[0] == 2 && r.shape[1] == 2 && r.shape[2] == 3 && r.dim == 12,
	   "the shape is the first record's, [2, 2, 3]");
	ok(feat_reader_fill(&r, &e) == 0, "and the reader stays at its end");
	feat_reader_close(&r);
}

/* A reader told what the model takes, or not; the first fill's result and
 * message. */
static long read_once(char **paths, int npaths, const struct obj_held *prov, int rank,
		      const uint32_t *shape, struct err *e)
{
	struct feat_reader r;
	long got;

	e->msg[0] = 0;
	if (feat_reader_open(&r, paths, npaths, 8, e))
		return -2;
	if (prov && feat_reader_expect(&r, &prov->obj, rank, shape, e)) {
		feat_reader_close(&r);
		return -2;
	}
	got = feat_reader_fill(&r, e);
	feat_reader_close(&r);
	return got;
}

static void test_reader_refusals(void)
{
	static const struct rec recs[] = {
		{ .id = "a.jpg", .label = "cat", .copy = -1, .seed = 1 },
		{ .id = "b.jpg", .label = "dog", .copy = -1, .seed = 2 },
	}, odd[] = {
		{ .id = "a.jpg", .label = "cat", .copy = -1, .seed = 1 },
		{ .id = "long.jpg", .label = "cat", .copy = -1, .seed = 2, .rank = 1, .shape = { 12 } },
	}, flat[] = {
		{ .id = "flat.jpg", .label = "cat", .copy = -1, .seed = 3, .rank = 1, .shape = { 3 } },
	};
	static const uint32_t shape[3] = { 2, 2, 3 }, wider[3] = { 2, 2, 4 };
	struct feat_provenance p = prov_base(), q = prov_base();
	char same[PATH_LEN], other[PATH_LEN], mixed[PATH_LEN], small[PATH_LEN], want[512];
	struct obj_held model;
	struct err e;
	long got;

	q.weights = "sha256:bb";
	make_file("same.feat", same, &p, recs, 2);
	make_file("other-weights.feat", other, &q, recs, 2);
	make_file("mixed-shapes.feat", mixed, &p, odd, 2);
	make_file("flat.feat", small, &p, flat, 1);
	prov_held(&model, &p);

	got = read_once((char *[]){ same }, 1, &model, 3, shape, &e);
	if (!ok(got == 2, "features made like the model's are read"))
		printf("#   %ld: %s\n", got, e.msg);

	ok(read_once((char *[]){ other }, 1, &model, 3, shape, &e) == -1,
	   "features of other weights than the model's are refused");
	ok_contains(e.msg, "were not made like the model's", "saying so");
	ok_contains(e.msg, "provenance.weights: \"sha256:bb\" here, \"sha256:aa\" before",
		    "naming the key that differs and both values");
	ok_contains(e.msg, other, "and the file");

	ok(read_once((char *[]){ same }, 1, &model, 3, wider, &e) == -1,
	   "features of another shape than the model's are refused");
	ok_contains(e.msg, "record 1: features of shape [2, 2, 3]; the model takes [2, 2, 4]",
		    "naming the record and both shapes");

	ok(read_once((char *[]){ same, other }, 2, NULL, 0, NULL, &e) == -1,
	   "without a model, a second file of another provenance is refused");
	snprintf(want, sizeof want, "%s: features made differently from those of %s", other, same);
	ok_contains(e.msg, want, "naming both files");
	ok_contains(e.msg, "provenance.weights", "and the key");

	ok(read_once((char *[]){ mixed }, 1, NULL, 0, NULL, &e) == -1,
	   "a record of another shape than the first record's is refused");
	ok_contains(e.msg, "record 2: features of a different shape ([12]) from the first "
		    "record's ([2, 2, 3])", "naming the record and both shapes");
	ok(read_once((char *[]){ same, small }, 2, NULL, 0, NULL, &e) == -1,
	   "as it is in a later file");
	snprintf(want, sizeof want, "%s: record 1: features of shape [3]; those of %s are "
		 "[2, 2, 3]", small, same);
	ok_contains(e.msg, want, "naming that file's record and the file of the first");
	obj_release(&model);
}

/* ---- shared checks ---- */

static void test_not_finite(void)
{
	static const struct rec nan_recs[] = {
		{ .id = "fine.jpg", .label = "cat", .copy = -1, .seed = 1 },
		{ .id = "nan.jpg", .label = "cat", .copy = -1, .seed = 2, .bad = NAN, .bad_at = 5 },
	}, inf_recs[] = {
		{ .id = "inf.jpg", .label = "cat", .copy = -1, .seed = 3, .bad = -INFINITY,
		  .bad_at = 11 },
	};
	struct feat_provenance p = prov_base();
	char pn[PATH_LEN], pi[PATH_LEN], want[256];
	struct feat_set s;
	struct err e = { .msg = "" };

	make_file("nan.feat", pn, &p, nan_recs, 2);
	make_file("inf.feat", pi, &p, inf_recs, 1);
	ok(read_once((char *[]){ pn }, 1, NULL, 0, NULL, &e) == -1, "the reader refuses a NaN");
	snprintf(want, sizeof want, "%s: record 2 (id 'nan.jpg'): feature 5 is NaN", pn);
	ok_contains(e.msg, want, "naming the file, the record, the id and the feature");
	ok(read_once((char *[]){ pi }, 1, NULL, 0, NULL, &e) == -1,
	   "the reader refuses an infinity");
	ok_contains(e.msg, "record 1 (id 'inf.jpg'): feature 11 is infinite", "saying so");
	for (int hold = 1; hold >= 0; hold--) {
		e.msg[0] = 0;
		ok(feat_set_load(&s, (char *[]){ pn }, 1, hold, NULL, tmpdir, NULL, &e) == -1,
		   "%s: a set refuses a NaN", hold ? "held" : "indexed");
		ok_contains(e.msg, "record 2 (id 'nan.jpg'): feature 5 is NaN", "saying where");
		ok(feat_set_load(&s, (char *[]){ pi }, 1, hold, NULL, tmpdir, NULL, &e) == -1,
		   "and an infinity");
		ok_contains(e.msg, "record 1 (id 'inf.jpg'): feature 11 is infinite", "saying where");
	}
}

static void test_provenance_check(void)
{
	struct feat_provenance p = prov_base(), q;
	struct obj_held want, got;
	struct err e;

	prov_held(&want, &p);
	prov_held(&got, &p);
	ok(feat_provenance_check(&want.obj, &got.obj, &e) == 0, "a provenance agrees with itself");
	obj_release(&got);

	q = prov_base();
	q.layer = "block4_pool";
	q.pooling = "avg";
	prov_held(&got, &q);
	e.msg[0] = 0;
	ok(feat_provenance_check(&want.obj, &got.obj, &e) == -1, "another layer is refused");
	ok_contains(e.msg, "features cut at block4_pool; this needs block5_pool features "
		    "(vggfeat --layer block5_pool)", "saying which layer is needed, before "
		    "any other difference");
	obj_release(&got);

	q = prov_base();
	q.pooling = "avg";
	prov_held(&got, &q);
	e.msg[0] = 0;
	ok(feat_provenance_check(&want.obj, &got.obj, &e) == -1, "another pooling is refused");
	ok_contains(e.msg, "provenance.pooling: \"avg\" here, \"none\" before",
		    "naming the key path and both values");
	e.msg[0] = 0;
	ok(feat_provenance_agree(&want.obj, NULL, &got.obj, "x.feat", &e) == -1,
	   "features that disagree with a model's are refused");
	ok_contains(e.msg, "x.feat: these features were not made like the model's",
		    "naming the file and the model");
	ok_contains(e.msg, "provenance.pooling", "and the key");
	obj_release(&got);

	q = prov_base();
	q.icc = "ignore";
	q.icc_len = 6;
	prov_held(&got, &q);
	e.msg[0] = 0;
	ok(feat_provenance_check(&want.obj, &got.obj, &e) == -1,
	   "features of images whose profiles were ignored are refused");
	ok_contains(e.msg, "provenance.icc: present here, absent before", "naming the key");
	obj_release(&got);

	q = prov_base();
	q.width = 48;
	prov_held(&got, &q);
	e.msg[0] = 0;
	ok(feat_provenance_check(&want.obj, &got.obj, &e) == -1, "another size is refused");
	ok_contains(e.msg, "provenance.size", "naming the key");
	obj_release(&got);
	obj_release(&want);
}

/* ---- labelled sets ---- */

static uint64_t last_progress;

static void note_progress(uint64_t records)
{
	last_progress = records;
}

/* The set against the records it was loaded from, in order. */
static int set_is(const struct feat_set *s, const struct rec *const *w, size_t n,
		  const uint32_t *file, const uint64_t *record_no)
{
	int good = 1;

	if (s->n != n) {
		printf("#   %zu records, expected %zu\n", s->n, n);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const struct feat_record *r = &s->rec[i];
		const char *label = r->label < s->nnames ? s->names[r->label] : "(out of range)";

		if (strcmp(r->id, w[i]->id) || r->id_len != strlen(w[i]->id) ||
		    strcmp(label, w[i]->label) || r->copy != w[i]->copy || r->file != file[i] ||
		    r->record != record_no[i]) {
			printf("#   record %zu: id '%s' label '%s' copy %lld file %u record %llu; "
			       "expected '%s' '%s' %lld %u %llu\n", i, r->id, label,
			       (long long)r->copy, r->file, (unsigned long long)r->record, w[i]->id,
			       w[i]->label, (long long)w[i]->copy, file[i],
			       (unsigned long long)record_no[i]);
			good = 0;
		}
	}
	return good;
}

/* What the file holds at a record's offset: where feat_set_read will
 * look for its floats. */
static int floats_at_offset(const char *path, uint64_t offset, const struct rec *w)
{
	float want[DIM_MAX], got[DIM_MAX];
	uint32_t dim = rec_features(w, want);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : pread(fd, got, dim * sizeof *got, (off_t)offset);

	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)(dim * sizeof *got)) {
		printf("#   %s: %zd bytes at %llu\n", path, n, (unsigned long long)offset);
		return 0;
	}
	tensor_f32_from_le(got, dim);
	return same_floats(got, want, dim, w->id);
}

static void test_held_and_indexed(void)
{
	/* Labels whose byte order (upper case first, a prefix before its
	 * extension) differs from their order of appearance. */
	static const struct rec one[] = {
		{ .id = "z1.jpg", .label = "zebra", .copy = -1, .seed = 11 },
		{ .id = "a1.jpg", .label = "ant", .copy = 0, .seed = 12 },
		{ .id = "m1.jpg", .label = "Mole", .copy = -1, .seed = 13 },
	}, two[] = {
		{ .id = "e1.jpg", .label = "antelope", .copy = 2, .seed = 14 },
		{ .id = "a2.jpg", .label = "ant", .copy = -1, .seed = 15 },
	};
	static const struct rec *const all[] = { &one[0], &one[1], &one[2], &two[0], &two[1] };
	static const char *const names[] = { "zebra", "ant", "Mole", "antelope" };
	static const uint32_t by_name[] = { 2, 1, 3, 0 }, labels[] = { 0, 1, 2, 3, 1 };
	static const uint32_t file[] = { 0, 0, 0, 1, 1 };
	static const uint64_t record_no[] = { 1, 2, 3, 1, 2 };
	static const size_t idx[] = { 4, 0, 2 };
	struct feat_provenance p = prov_base();
	char p1[PATH_LEN], p2[PATH_LEN];
	char *paths[] = { p1, p2 };
	struct feat_set set[2];
	float got[2][3 * 12], want[3 * 12];
	struct err e = { .msg = "" };

	make_file("set1.feat", p1, &p, one, 3);
	make_file("set2.feat", p2, &p, two, 2);
	for (uint32_t i = 0; i < 3; i++)
		rec_features(all[idx[i]], want + i * 12);
	for (int hold = 1; hold >= 0; hold--) {
		struct feat_set *s = &set[hold];
		const char *how = hold ? "held" : "indexed";
		int good = 1;

		last_progress = 0;
		if (!ok(feat_set_load(s, paths, 2, hold, NULL, tmpdir, note_progress, &e) == 0,
			"%s: a set loads two files", how)) {
			printf("#   %s\n", e.msg);
			return;
		}
		ok(last_progress == 5, "%s: progress is told the 5 records at the end", how);
		ok(set_is(s, all, 5, file, record_no), "%s: ids, labels, copies, files and record "
		   "numbers as written", how);
		good = s->nnames == 4;
		for (uint32_t k = 0; good && k < 4; k++)
			good = !strcmp(s->names[k], names[k]) && s->by_name[k] == by_name[k];
		if (!ok(good, "%s: labels named in order of first appearance, indexed in byte "
			"order", how))
			for (uint32_t k = 0; k < s->nnames; k++)
				printf("#   names[%u] '%s', by_name[%u] %u\n", k, s->names[k], k,
				       s->by_name[k]);
		good = 1;
		for (size_t i = 0; i < s->n; i++)
			if (s->rec[i].label != labels[i]) {
				printf("#   record %zu: label %u, expected %u\n", i, s->rec[i].label,
				       labels[i]);
				good = 0;
			}
		ok(good, "%s: every record's label index", how);
		ok(s->rank == 3 && s->shape[0] == 2 && s->shape[1] == 2 && s->shape[2] == 3 &&
		   s->dim == 12, "%s: shape [2, 2, 3], 12 features", how);
		ok(s->provenance.set && s->provenance_file && !strcmp(s->provenance_file, p1),
		   "%s: the provenance is the first file's", how);
		ok(s->nfiles == 2 && !strcmp(s->files[0], p1) && !strcmp(s->files[1], p2),
		   "%s: both files named", how);
		if (!ok(feat_set_read(s, idx, 3, got[hold], &e) == 0, "%s: records 4, 0, 2 read",
			how))
			printf("#   %s\n", e.msg);
		ok(same_floats(got[hold], want, 3 * 12, how), "%s: their floats as written", how);
	}
	ok(!memcmp(got[0], got[1], sizeof got[0]), "held and indexed sets read the same floats");
	ok(set[1].x != NULL && set[1].fd[0] == -1 && set[1].fd[1] == -1,
	   "the held set has its floats in memory and no file open");
	ok(set[0].x == NULL && set[0].fd[0] >= 0 && set[0].fd[1] >= 0,
	   "the indexed set keeps no floats, but its files open");
	{
		int good = 1;

		for (size_t i = 0; i < 5; i++)
			good &= floats_at_offset(set[0].rec[i].file ? p2 : p1, set[0].rec[i].offset,
						 all[i]);
		ok(good, "every indexed record's offset is where its floats are in its file");
	}
	feat_set_free(&set[0]);
	feat_set_free(&set[1]);
}

static void test_copies(void)
{
	/* An image's copies may be far apart, in other files; "a" and "ab"
	 * are different images though one is a prefix of the other. */
	static const struct rec one[] = {
		{ .id = "c", .label = "cat", .copy = 0, .seed = 1 },
		{ .id = "a", .label = "ant", .copy = 0, .seed = 2 },
		{ .id = "c", .label = "cat", .copy = 1, .seed = 3 },
	}, two[] = {
		{ .id = "ab", .label = "bee", .copy = 0, .seed = 4 },
		{ .id = "a", .label = "ant", .copy = 1, .seed = 5 },
	};
	static const size_t first[] = { 0, 2, 4, 5 }, members[] = { 0, 2, 1, 4, 3 };
	struct feat_provenance p = prov_base();
	char p1[PATH_LEN], p2[PATH_LEN], pe[PATH_LEN];
	struct feat_set s;
	struct err e = { .msg = "" };

	make_file("copies1.feat", p1, &p, one, 3);
	make_file("copies2.feat", p2, &p, two, 2);
	for (int hold = 1; hold >= 0; hold--) {
		const char *how = hold ? "held" : "indexed";

		if (!ok(feat_set_load(&s, (char *[]){ p1, p2 }, 2, hold, NULL, tmpdir, NULL, &e) == 0,
			"%s: a set with copies loads", how)) {
			printf("#   %s\n", e.msg);
			continue;
		}
		if (!ok(s.images == 3, "%s: 5 records are 3 images", how))
			printf("#   %zu images\n", s.images);
		/* Only 3 images have a first[3] to compare. */
		ok(s.images == 3 && same_sizes(s.first, first, 4, "first"),
		   "%s: images in order of first appearance (c, a, ab)", how);
		ok(s.images == 3 && same_sizes(s.members, members, 5, "members"),
		   "%s: each image's records in stream order", how);
		feat_set_free(&s);
	}

	make_file("empty.feat", pe, &p, NULL, 0);
	if (!ok(feat_set_load(&s, (char *[]){ pe }, 1, 0, NULL, tmpdir, NULL, &e) == 0,
		"a stream of no records loads"))
		printf("#   %s\n", e.msg);
	ok(s.n == 0 && s.images == 0 && s.first && s.first[0] == 0 && s.provenance.set,
	   "as no images, its provenance known");
	feat_set_free(&s);
}

/* A child that writes the bytes to the FIFO and exits: the other end of
 * the pipe a set is loaded from. */
static pid_t feed_fifo(const char *fifo, const char *p, size_t n)
{
	pid_t pid = fork();

	if (pid < 0) {
		printf("Bail out! fork: %s\n", strerror(errno));
		exit(2);
	}
	if (pid == 0) {
		int fd;

		/* A reader that gives up early must not kill the child
		 * before it can say so. */
		signal(SIGPIPE, SIG_IGN);
		fd = open(fifo, O_WRONLY | O_CLOEXEC);
		for (size_t done = 0; fd >= 0 && done < n;) {
			ssize_t put = write(fd, p + done, n - done);

			if (put < 0 && errno == EINTR)
				continue;
			if (put < 0)
				_exit(1);
			done += (size_t)put;
		}
		_exit(fd < 0 || close(fd) ? 1 : 0);
	}
	return pid;
}

static int child_ok(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* An indexed load from the FIFO that must fail; the writer may be cut
 * off, so its status does not count. */
static int spool_fails(const char *fifo, const struct buf *b, const char *dir, struct err *e)
{
	struct feat_set s;
	pid_t pid = feed_fifo(fifo, b->p, b->n);
	int rc;

	e->msg[0] = 0;
	rc = feat_set_load(&s, (char *[]){ (char *)fifo }, 1, 0, NULL, dir, NULL, e);
	child_ok(pid);
	if (rc == 0)
		feat_set_free(&s);
	return rc == -1;
}

static void test_spool(void)
{
	enum { N = 24, DIM = 8 * 8 * 64 };
	static char ids[N][24];
	static struct rec recs[N];
	static float want[N * DIM], got[N * DIM];
	static size_t all[N];
	struct feat_provenance p = prov_base();
	char regular[PATH_LEN], fifo[PATH_LEN], spool[PATH_LEN], nowhere[PATH_LEN];
	char msg[2 * PATH_LEN + 64];
	const char *old_tmpdir = getenv("TMPDIR");
	char *keep = old_tmpdir ? strdup(old_tmpdir) : NULL;
	struct feat_set reg, s;
	struct err e = { .msg = "" };
	struct stat st;
	struct buf b;
	pid_t pid;
	int good = 1;

	/* Larger than a pipe's buffer, so the spool is written a piece at a
	 * time while the child blocks. */
	for (int i = 0; i < N; i++) {
		snprintf(ids[i], sizeof ids[i], "img%02d.jpg", i);
		recs[i] = (struct rec){ .id = ids[i], .label = i % 3 ? "cat" : "dog",
					.copy = -1, .seed = 100 + i, .rank = 3,
					.shape = { 8, 8, 64 } };
		rec_features(&recs[i], want + (size_t)i * DIM);
		all[i] = (size_t)i;
	}
	stream_bytes(&b, &p, recs, N);
	path_of("spool-src.feat", regular);
	save(regular, b.p, b.n);
	path_of("fifo", fifo);
	path_of("spool", spool);
	path_of("no-such-dir", nowhere);
	if (mkfifo(fifo, 0600) || mkdir(spool, 0700)) {
		printf("Bail out! %s: %s\n", fifo, strerror(errno));
		exit(2);
	}

	if (!ok(feat_set_load(&reg, (char *[]){ regular }, 1, 0, NULL, spool, NULL, &e) == 0,
		"the stream indexed in a regular file"))
		printf("#   %s\n", e.msg);

	pid = feed_fifo(fifo, b.p, b.n);
	if (!ok(feat_set_load(&s, (char *[]){ fifo }, 1, 0, NULL, spool, NULL, &e) == 0,
		"the same stream indexed from a FIFO"))
		printf("#   %s\n", e.msg);
	ok(child_ok(pid), "the writer wrote it all");
	ok(s.n == N && s.nfiles == 1 && !strcmp(s.files[0], fifo) && s.x == NULL,
	   "%d records, indexed, named by the FIFO", N);
	ok(fstat(s.fd[0], &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 0 &&
	   (size_t)st.st_size == b.n, "they are read from an unnamed regular file of the "
	   "stream's %zu bytes", b.n);
	ok(entries(spool) == 0, "which has no name in the temporary directory");
	for (size_t i = 0; i < s.n && i < reg.n; i++)
		if (s.rec[i].offset != reg.rec[i].offset) {
			printf("#   record %zu at %llu, %llu in the file\n", i,
			       (unsigned long long)s.rec[i].offset,
			       (unsigned long long)reg.rec[i].offset);
			good = 0;
		}
	ok(good && s.n == reg.n, "every record at the offset it has in the regular file");
	if (!ok(feat_set_read(&s, all, N, got, &e) == 0, "all records read from the spool"))
		printf("#   %s\n", e.msg);
	ok(same_floats(got, want, N * DIM, "spooled"), "their floats as written");
	memset(got, 0, sizeof got);
	ok(feat_set_read(&reg, all, N, got, &e) == 0 &&
	   same_floats(got, want, N * DIM, "regular"), "as from the regular file");
	feat_set_free(&s);
	ok(entries(spool) == 0, "nothing is left in the temporary directory");

	/* Held in memory, a pipe is read as it comes: with nothing to spool,
	 * a temporary directory that does not exist does not matter. */
	pid = feed_fifo(fifo, b.p, b.n);
	ok(feat_set_load(&s, (char *[]){ fifo }, 1, 1, NULL, nowhere, NULL, &e) == 0 &&
	   child_ok(pid) && s.n == N, "a held set reads the FIFO without a temporary file");
	ok(feat_set_read(&s, all, N, got, &e) == 0 && same_floats(got, want, N * DIM, "held"),
	   "the same floats");
	feat_set_free(&s);

	/* A directory that does not exist shows which one was used, and
	 * that the failure is reported. */
	free(b.p);
	stream_bytes(&b, &p, recs, 1);
	snprintf(msg, sizeof msg, "%s: cannot make a temporary file in %s", fifo, nowhere);
	setenv("TMPDIR", spool, 1);
	ok(spool_fails(fifo, &b, nowhere, &e), "tmpdir is used before $TMPDIR");
	ok_contains(e.msg, msg, "and a failure names the stream and the directory");
	setenv("TMPDIR", nowhere, 1);
	ok(spool_fails(fifo, &b, NULL, &e), "without tmpdir, $TMPDIR is used");
	ok_contains(e.msg, msg, "and named");
	if (keep)
		setenv("TMPDIR", keep, 1);
	else
		unsetenv("TMPDIR");
	free(keep);
	feat_set_free(&reg);
	free(b.p);
}

/* A load that must fail, and its message. */
static int load_fails(const char *path, const struct feat_set *like, struct err *e)
{
	struct feat_set s;
	int rc;

	e->msg[0] = 0;
	rc = feat_set_load(&s, (char *[]){ (char *)path }, 1, 1, like, tmpdir, NULL, e);
	if (rc == 0) {
		feat_set_free(&s);
		return 0;
	}
	/* Freed already: a second free must find nothing to free. */
	if (s.n || s.rec || s.names || s.files || s.provenance.set) {
		printf("#   a failed load left its set filled\n");
		return 0;
	}
	return 1;
}

static void test_set_refusals(void)
{
	static const struct rec unlabelled[] = {
		{ .id = "a.jpg", .label = "cat", .copy = -1, .seed = 1 },
		{ .id = "b.jpg", .label = NULL, .copy = -1, .seed = 2 },
	}, empty[] = {
		{ .id = "a.jpg", .label = "", .copy = -1, .seed = 1 },
	}, nul[] = {
		{ .id = "a.jpg", .label = "c\0t", .label_len = 3, .copy = -1, .seed = 1 },
	}, good[] = {
		{ .id = "a.jpg", .label = "cat", .copy = -1, .seed = 1 },
	}, flat[] = {
		{ .id = "a.jpg", .label = "cat", .copy = -1, .seed = 1, .rank = 1, .shape = { 12 } },
	};
	struct feat_provenance p = prov_base(), q = prov_base();
	char pu[PATH_LEN], pe[PATH_LEN], pn[PATH_LEN], pg[PATH_LEN], po[PATH_LEN];
	char pf[PATH_LEN], pb[PATH_LEN], want[512];
	struct feat_set ref, s;
	struct err e = { .msg = "" };
	struct buf b;

	q.weights = "sha256:bb";
	make_file("unlabelled.feat", pu, &p, unlabelled, 2);
	make_file("empty-label.feat", pe, &p, empty, 1);
	make_file("nul-label.feat", pn, &p, nul, 1);
	make_file("good.feat", pg, &p, good, 1);
	make_file("other.feat", po, &q, good, 1);
	make_file("flat.feat", pf, &p, flat, 1);
	/* A header with nothing to check the records against. */
	buf_open(&b);
	writer_header(&b.w, "features", 0);
	emit_end(&b.w.emit);
	record(&b, &good[0]);
	writer_trailer(&b.w);
	buf_close(&b);
	path_of("bare.feat", pb);
	save(pb, b.p, b.n);
	free(b.p);

	ok(load_fails(pu, NULL, &e), "a record without a label is refused");
	snprintf(want, sizeof want, "%s: record 2: no label", pu);
	ok_contains(e.msg, want, "naming the file and record");
	ok(load_fails(pe, NULL, &e), "an empty label is refused");
	ok_contains(e.msg, "record 1: the label is empty or holds a NUL byte", "saying so");
	ok(load_fails(pn, NULL, &e), "a label holding a NUL byte is refused");
	ok_contains(e.msg, "record 1: the label is empty or holds a NUL byte", "saying so");
	ok(load_fails(pb, NULL, &e), "a header without provenance is refused");
	ok_contains(e.msg, "header: key 'provenance': missing", "saying so");

	if (!ok(feat_set_load(&ref, (char *[]){ pg }, 1, 1, NULL, tmpdir, NULL, &e) == 0,
		"a first set loads")) {
		printf("#   %s\n", e.msg);
		return;
	}
	if (!ok(feat_set_load(&s, (char *[]){ pg }, 1, 0, &ref, tmpdir, NULL, &e) == 0,
		"a second set made like it loads"))
		printf("#   %s\n", e.msg);
	else
		feat_set_free(&s);
	ok(load_fails(po, &ref, &e), "a second set of another provenance is refused");
	snprintf(want, sizeof want, "%s: features made differently from those of %s", po, pg);
	ok_contains(e.msg, want, "naming both files");
	ok_contains(e.msg, "provenance.weights", "and the key");
	ok(load_fails(pf, &ref, &e), "a second set of another shape is refused");
	snprintf(want, sizeof want, "%s: record 1: features of shape [12], those of %s are "
		 "[2, 2, 3]", pf, pg);
	ok_contains(e.msg, want, "naming both files and shapes");
	feat_set_free(&ref);

	e.msg[0] = 0;
	ok(feat_set_load(&s, (char *[]){ pg, po }, 2, 1, NULL, tmpdir, NULL, &e) == -1,
	   "without like, a second file of another provenance is refused");
	snprintf(want, sizeof want, "%s: features made differently from those of %s", po, pg);
	ok_contains(e.msg, want, "naming both files");
	ok(feat_set_load(&s, (char *[]){ pg, pf }, 2, 0, NULL, tmpdir, NULL, &e) == -1,
	   "as is a second file of another shape");
	snprintf(want, sizeof want, "%s: record 1: features of shape [12]; those of %s are "
		 "[2, 2, 3]", pf, pg);
	ok_contains(e.msg, want, "saying so, with both files");
}

static void test_changed_files(void)
{
	static const struct rec recs[] = {
		{ .id = "a.jpg", .label = "cat", .copy = -1, .seed = 1 },
		{ .id = "b.jpg", .label = "dog", .copy = -1, .seed = 2 },
		{ .id = "c.jpg", .label = "cat", .copy = -1, .seed = 3 },
	};
	static const size_t first_two[] = { 0, 1 }, third[] = { 2 }, second[] = { 1 };
	struct feat_provenance p = prov_base();
	char pt[PATH_LEN], pn[PATH_LEN], want[256];
	struct feat_set idx, held;
	float x[3 * 12], nan_le = NAN;
	struct err e = { .msg = "" };
	int fd;

	make_file("truncated.feat", pt, &p, recs, 3);
	if (feat_set_load(&idx, (char *[]){ pt }, 1, 0, NULL, tmpdir, NULL, &e) ||
	    feat_set_load(&held, (char *[]){ pt }, 1, 1, NULL, tmpdir, NULL, &e)) {
		ok(0, "sets to change the files of load");
		printf("#   %s\n", e.msg);
		return;
	}
	if (truncate(pt, (off_t)idx.rec[2].offset + 4)) {
		printf("Bail out! truncate %s: %s\n", pt, strerror(errno));
		exit(2);
	}
	ok(feat_set_read(&idx, first_two, 2, x, &e) == 0,
	   "records before the cut of a truncated file still read");
	e.msg[0] = 0;
	ok(feat_set_read(&idx, third, 1, x, &e) == -1, "a record cut off is an error");
	snprintf(want, sizeof want, "%s: record 3: the file is shorter than when it was read", pt);
	ok_contains(e.msg, want, "naming the file and record");
	ok(feat_set_read(&held, third, 1, x, &e) == 0, "a held set does not read the file again");
	feat_set_free(&idx);
	feat_set_free(&held);

	make_file("overwritten.feat", pn, &p, recs, 3);
	if (feat_set_load(&idx, (char *[]){ pn }, 1, 0, NULL, tmpdir, NULL, &e)) {
		ok(0, "a set to overwrite loads");
		printf("#   %s\n", e.msg);
		return;
	}
	/* The format's bytes: the same swap turns a float into them. */
	tensor_f32_from_le(&nan_le, 1);
	fd = open(pn, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || pwrite(fd, &nan_le, 4, (off_t)idx.rec[1].offset + 3 * 4) != 4 || close(fd)) {
		printf("Bail out! %s: %s\n", pn, strerror(errno));
		exit(2);
	}
	ok(feat_set_read(&idx, first_two, 1, x, &e) == 0, "an untouched record still reads");
	e.msg[0] = 0;
	ok(feat_set_read(&idx, second, 1, x, &e) == -1, "a NaN written since loading is refused");
	snprintf(want, sizeof want, "%s: record 2: feature 3 is not finite", pn);
	ok_contains(e.msg, want, "naming the file, record and feature");
	feat_set_free(&idx);
}

int main(void)
{
	scratch_dir(tmpdir);
	test_reader_round_trip();
	test_reader_refusals();
	test_not_finite();
	test_provenance_check();
	test_held_and_indexed();
	test_copies();
	test_spool();
	test_set_refusals();
	test_changed_files();
	if (scratch_remove_tree(tmpdir)) {
		perror(tmpdir);
		return 2;
	}
	return tap_done();
}
