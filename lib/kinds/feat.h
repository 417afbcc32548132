/* The features kind of stream (vggpipe(5)): its header and records, and
 * the agreement of provenances. Reading them: featread.h for a model's
 * batches, featset.h for training sets. */
#ifndef KINDS_FEAT_H
#define KINDS_FEAT_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "obj.h"
#include "stream.h"
#include "tensor.h"
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

/* The same, and the message a reader gives: want came from want_file
 * (NULL: from a model), got from got_file. */
int feat_provenance_agree(const msgpack_object *want, const char *want_file,
			  const msgpack_object *got, const char *got_file, struct err *e);

/* Shared by the reader (featread.h) and the sets (featset.h). */

/* The values of a record of this shape, refused above UINT32_MAX. */
int feat_shape_dim(int rank, const uint32_t *shape, uint32_t *dim, struct err *e);
/* A record's shape against the reference: that of the first record of
 * the stream ref_file, or (ref_file NULL) the model's; the message names
 * the stream and the record, and ref_file when it is another stream. */
int feat_check_shape(const char *name, uint64_t at, const struct tensor *t, int rank,
		     const uint32_t *shape, const char *ref_file, struct err *e);
/* The record's features into x [dim], every one finite. */
int feat_read_finite(const char *name, uint64_t at, const struct stream_record *r, float *x,
		     uint32_t dim, struct err *e);
/* The provenance map of a stream's (first) header: required, since
 * nothing can be checked against what is not there. */
int feat_stream_provenance(const struct stream *st, const msgpack_object **prov,
			   struct err *e);

#endif
