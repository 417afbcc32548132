/* The maps kind of stream (vggpipe(5)), which topcam writes and vggplot
 * draws: for each record, where on the grid of the model's last spatial
 * activation the evidence for one class lies (a Grad-CAM map), with the
 * prediction beside it, so that a picture needs only the images and this. */
#ifndef KINDS_MAPS_H
#define KINDS_MAPS_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "stream.h"
#include "writer.h"

/* The kind as the stream layer reads it. */
extern const struct stream_kind maps_kind;

/* What each record's map explains: the predicted class, the record's own
 * label, or one class the user named. Indexed by enum maps_explained. */
enum maps_explained { MAPS_PREDICTED, MAPS_LABEL, MAPS_CLASS };
extern const char *const maps_explained_names[];

/* The header: the provenance of the features the model reads (copied),
 * the activation the maps lie on (a layer's name), the model's classes
 * and what the maps explain. */
void maps_header_write(struct writer *w, const msgpack_object *provenance, const char *layer,
		       char *const *classes, uint32_t nclass, enum maps_explained explained);

/* One record's explanation: the class explained and its probability, the
 * predicted class and its probability, the cross-entropy of the label
 * (NaN: no label the model knows), and the map [h, w], 0 to 1. */
struct maps_record {
	const char *id, *label;      /* label NULL: none */
	size_t id_len, label_len;
	int64_t copy;                /* -1: none */
	const char *explained, *predicted;
	double explained_probability, probability, loss;
	uint32_t h, w;
	const float *map;
};

void maps_record_write(struct writer *w, const struct maps_record *r);

#endif
