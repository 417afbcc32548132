/* The features kind of stream (vggpipe(5)): its header, the agreement of
 * provenances, and reading feature records in batches, for a model that
 * must have been trained on features made the same way, or for a trainer
 * whose inputs must all be made the same way. */
#ifndef KINDS_FEAT_H
#define KINDS_FEAT_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "obj.h"
#include "tensor.h"
#include "stream.h"
#include "writer.h"

/* How features were made: the header's provenance map. The images'
 * size, fit and colour handling (icc, NULL when profiles were used) come
 * from their stream's header. */
struct feat_provenance {
	const char *backbone, *weights, *layer, *pooling, *preprocess;
	uint32_t width, height;
	const char *fit, *icc;
	size_t fit_len, icc_len;
};

/* The header key every segment of a stream must share. */
extern const char *const feat_agreement_keys[];
/* The kind as the stream layer reads it. */
extern const struct stream_kind feat_kind;
/* The list stream_open takes to read features and nothing else. */
extern const struct stream_kind *const feat_only[];

/* A features header. weights_file (for people, never compared) may be
 * NULL; classes (the image stream's list) NULL writes an empty list. */
void feat_header_write(struct writer *w, const struct feat_provenance *p,
		       const char *weights_file, const msgpack_object *classes);
/* A record: label NULL for none, copy -1 for none; the features f32 of the
 * given shape. */
void feat_record_write(struct writer *w, const char *id, size_t id_len, const char *label,
		       size_t label_len, int64_t copy, int rank, const uint32_t *shape,
		       const float *features);

/* 0 when features of provenance `got` may be read by something made
 * from features of provenance `want`; otherwise -1 and a message that
 * names the key and both values ("here" is got, "before" want), or, when
 * the features were cut at another layer, the layer `want` needs. */
int feat_provenance_check(const msgpack_object *want, const msgpack_object *got,
			  struct err *e);

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
	struct obj_held provenance;     /* the reference */
	char *provenance_file;        /* where it came from; NULL: a model */
	int rank;                     /* 0 until the reference shape is known */
	uint32_t shape[TENSOR_MAX_RANK];
	uint32_t dim;                 /* values per record */
	size_t cap;
	float *x;                     /* [cap, dim], allocated with the shape */
	struct feat_row *rows;        /* [cap] */
};

/* npaths 0 reads standard input. */
int feat_reader_open(struct feat_reader *r, char *const *paths, int npaths, size_t cap,
		     struct err *e);
/* The provenance and record shape a model was trained on. */
int feat_reader_expect(struct feat_reader *r, const msgpack_object *provenance, int rank,
		       const uint32_t *shape, struct err *e);
/* The next rows into r->x and r->rows: their count, 0 after the last
 * record of the last stream, -1 on error. */
long feat_reader_fill(struct feat_reader *r, struct err *e);
void feat_reader_close(struct feat_reader *r);

/* Labels a set may hold: as many classes as a model may have. */
#define FEAT_MAX_LABELS 65536

/* A labelled set of records for training or validation: every record's
 * label, id and copy number, and its features either held in memory or
 * left in their files, indexed, and read a batch at a time (fine-tuning's
 * block4_pool features of augmented copies run to gigabytes). A stream on
 * a pipe is first copied to an unnamed temporary file, which goes away
 * however the process ends. */
struct feat_record {
	char *id;               /* NUL-terminated copy */
	size_t id_len;
	int64_t copy;           /* -1: none */
	uint32_t label;         /* index into the set's names */
	uint32_t file;          /* index into the set's files */
	uint64_t record;        /* 1-based, in its stream */
	uint64_t offset;        /* where its floats start in the file */
};

struct feat_set {
	size_t n;
	struct feat_record *rec;     /* [n] */
	char **names;                /* labels, in order of first appearance */
	uint32_t *by_name;           /* their indices in byte order */
	uint32_t nnames;
	int rank;
	uint32_t shape[TENSOR_MAX_RANK];
	uint32_t dim;
	struct obj_held provenance;
	char *provenance_file;
	float *x;                    /* [n, dim] when held in memory, else NULL */
	int nfiles;
	int *fd;                     /* the open files, when indexed */
	char **files;                /* their names, for messages ("stdin") */
	/* Copies of one image (records with the same id): image i's records
	 * are members[first[i] .. first[i + 1]), in stream order; images in
	 * order of first appearance. */
	size_t images;
	size_t *first, *members;
};

/* Load the records of paths (npaths 0: standard input), which must all
 * be labelled and made alike; like (NULL: none) is a set they must be
 * made like, too. hold: keep the features in memory. tmpdir: where a pipe
 * is spooled (NULL: $TMPDIR, else /tmp). progress (may be NULL) is called
 * with the records read so far. */
int feat_set_load(struct feat_set *s, char *const *paths, int npaths, int hold,
		  const struct feat_set *like, const char *tmpdir,
		  void (*progress)(uint64_t records), struct err *e);
/* The features of records idx[0 .. n) into x [n, dim]. */
int feat_set_read(const struct feat_set *s, const size_t *idx, size_t n, float *x,
		  struct err *e);
void feat_set_free(struct feat_set *s);


#endif
