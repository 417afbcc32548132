/* Labelled sets of feature records for training and validation, held in
 * memory or indexed in their files. */
#ifndef KINDS_FEATSET_H
#define KINDS_FEATSET_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "feat.h"
#include "obj.h"
#include "tensor.h"

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
