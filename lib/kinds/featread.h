/* Reading feature records in batches, for a model that must have been
 * trained on features made the same way (classify, topeval), with memory
 * that stays the same whatever the number of records. */
#ifndef KINDS_FEATREAD_H
#define KINDS_FEATREAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "feat.h"
#include "obj.h"
#include "stream.h"
#include "tensor.h"

/* One record as read: its id, label and copy number kept until the next
 * fill; its features are row i of the reader's x. */
struct feat_row {
	char *id, *label;       /* NUL-terminated copies */
	size_t id_len, label_len, id_cap, label_cap;
	int has_label;
	int64_t copy;           /* augmentation copy, -1 when the record has none */
	const char *file;       /* the stream's name, for messages */
	uint64_t record;        /* 1-based, in its stream */
};

/* Records of several streams read in turn, cap rows at a time, so that
 * memory stays the same whatever their number. Every stream must have
 * the reference provenance and every record the reference shape: the
 * model's, when given with feat_reader_expect, else the first stream's
 * and the first record's. */
struct feat_reader {
	char *const *paths;
	int npaths, next;
	struct stream *s;          /* the open stream */
	int open, checked;
	const int *fds;               /* NULL: the paths are opened by name */
	const off_t *starts;          /* where each descriptor's stream begins */
	struct obj_held provenance;     /* the reference */
	char *provenance_file;        /* where it came from; NULL: a model */
	int rank;                     /* 0 until the reference shape is known */
	char *shape_file;             /* where that came from; NULL: a model */
	uint32_t shape[TENSOR_MAX_RANK];
	uint32_t dim;                 /* values per record */
	size_t cap;
	float *x;                     /* [cap, dim], allocated with the shape */
	struct feat_row *rows;        /* [cap] */
};

/* npaths 0 reads standard input. */
int feat_reader_open(struct feat_reader *r, char *const *paths, int npaths, size_t cap,
		     struct err *e);
/* The same over descriptors that read their streams again from starts[i]
 * (spool_open's), named for messages by names[i] ("-": stdin), so that
 * feat_reader_rewind can read them all again. They stay the caller's. */
int feat_reader_open_fds(struct feat_reader *r, char *const *names, const int *fds,
			 const off_t *starts, int n, size_t cap, struct err *e);
/* Back before the first record of the first stream, keeping the reference. */
int feat_reader_rewind(struct feat_reader *r, struct err *e);
/* The provenance and record shape a model was trained on. */
int feat_reader_expect(struct feat_reader *r, const msgpack_object *provenance, int rank,
		       const uint32_t *shape, struct err *e);
/* The reference of another reader (its provenance, and its shape when it
 * has read a record): two sets of features that must be made alike. */
int feat_reader_like(struct feat_reader *r, const struct feat_reader *like, struct err *e);
/* The next rows into r->x and r->rows: their count, 0 after the last
 * record of the last stream, -1 on error. */
long feat_reader_fill(struct feat_reader *r, struct err *e);
/* Of the n rows filled, keep those of no augmentation copy or copy 0, in
 * order, at the front (rows and x); returns how many. */
size_t feat_reader_keep_plain(struct feat_reader *r, size_t n);
void feat_reader_close(struct feat_reader *r);

#endif
