/* Writing the stream contract (vggpipe(5)): segments of a header, records
 * and a trailer that counts them. Everything goes through the counted
 * emitter (emit.h): a map declared with the wrong number of keys is
 * reported by writer_finish rather than written silently. */
#ifndef STREAM_WRITER_H
#define STREAM_WRITER_H

#include <stdint.h>
#include <stdio.h>

#include "emit.h"
#include "err.h"
#include "tensor.h"

struct writer {
	struct emit emit;
	uint64_t segment_records;
	int64_t copy;   /* the open record's, written by writer_record_end */
};

void writer_init(struct writer *w, FILE *f);

/* Open a header map of 2 + extra_pairs pairs, "vggpipe" and "kind"
 * written: the caller writes the kind's pairs through w->emit, then
 * closes it with emit_end. */
void writer_header(struct writer *w, const char *kind, uint32_t extra_pairs);
/* A whole record of the keys every kind's records have: id, label (NULL:
 * none), the kind's tensor under tensor_key, and copy (-1: none). */
void writer_tensor_record(struct writer *w, const char *id, size_t id_len,
			  const char *label, size_t label_len, int64_t copy,
			  const char *tensor_key, enum tensor_dtype dtype, int rank,
			  const uint32_t *shape, const void *data);
/* A record of the keys every kind's records have, id, label (NULL: none)
 * and copy (-1: none), and room for `pairs` more, which the caller writes
 * through w->emit before closing it with writer_record_end. */
void writer_record_begin(struct writer *w, const char *id, size_t id_len,
			 const char *label, size_t label_len, int64_t copy, uint32_t pairs);
void writer_record_end(struct writer *w);
/* The segment's trailer, {"end": records written since the header}. */
void writer_trailer(struct writer *w);
/* 0, or -1 when a map or array was miscounted (a bug, reported rather
 * than left in the stream); the bytes themselves are checked by
 * outfile_commit. */
int writer_finish(struct writer *w, struct err *e);

#endif
