/* The images kind of stream (vggpipe(5)), which imgprep writes and
 * vggfeat reads: the spellings its header uses, writing its header and
 * records, reading its header back, and the keys on which segments must
 * agree. */
#ifndef KINDS_IMAGES_H
#define KINDS_IMAGES_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "augment.h"
#include "err.h"
#include "photo.h"
#include "stream.h"
#include "writer.h"

/* NULL-terminated, indexed by enum photo_fit, enum photo_fill, flip_h | flip_v
 * << 1 and enum photo_icc. */
extern const char *const images_fit_names[];
extern const char *const images_fill_names[];
extern const char *const images_flip_names[];
extern const char *const images_icc_names[];

/* The kind as the stream layer reads it. */
extern const struct stream_kind images_kind;
/* The list stream_open takes to read images and nothing else. */
extern const struct stream_kind *const images_only[];

/* A header for images of spec's size, fit and colour handling; classes
 * the sorted class names seen; aug NULL or without copies: no augment
 * map. */
void images_header_write(struct writer *w, const struct photo_spec *spec,
			 char *const *classes, size_t nclasses, const struct augment *aug);
/* A record: rgb [height, width, 3]; label NULL for none, copy -1 for
 * none. */
void images_record_write(struct writer *w, const char *id, size_t id_len,
			 const char *label, int height, int width, const unsigned char *rgb,
			 int64_t copy);

/* What a reader takes from a header, checked: strings point into it. */
struct images_header {
	uint32_t width, height;
	const char *fit;
	size_t fit_len;
	const char *icc;               /* NULL when absent (profiles used) */
	size_t icc_len;
	const msgpack_object *classes; /* an array, or NULL */
};

int images_header_read(const msgpack_object *h, struct images_header *out,
		       struct err *e);

#endif
