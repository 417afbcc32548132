#include "maps.h"

#include <math.h>

/* Maps of one stream are over one activation of features made one way. */
static const char *const agreement_keys[] = { "provenance", "layer", NULL };

static int check_map(const struct tensor *t, struct err *e)
{
	if (t->rank != 2)
		return err_fail(e, "tensor 'map': shape must be [height, width]");
	return 0;
}

const struct stream_kind maps_kind = {
	.name = "maps", .agreement_keys = agreement_keys, .tensor_key = "map",
	.dtype = TENSOR_F32, .check_tensor = check_map,
};

const char *const maps_explained_names[] = { "predicted", "label", "class", NULL };

void maps_header_write(struct writer *w, const msgpack_object *provenance, const char *layer,
		       char *const *classes, uint32_t nclass, enum maps_explained explained)
{
	struct emit *t = &w->emit;

	writer_header(w, "maps", 4);
	emit_key(t, "provenance");
	emit_object(t, provenance);
	emit_key(t, "layer");
	emit_str(t, layer);
	emit_key(t, "classes");
	emit_array(t, nclass);
	for (uint32_t c = 0; c < nclass; c++)
		emit_str(t, classes[c]);
	emit_end(t);
	emit_key(t, "explained");
	emit_str(t, maps_explained_names[explained]);
	emit_end(t);
}

void maps_record_write(struct writer *w, const struct maps_record *r)
{
	struct emit *t = &w->emit;
	int has_loss = !isnan(r->loss);

	writer_record_begin(w, r->id, r->id_len, r->label, r->label_len, r->copy, 5 + has_loss);
	emit_key(t, "class");
	emit_str(t, r->explained);
	emit_key(t, "class_probability");
	emit_double(t, r->explained_probability);
	emit_key(t, "predicted");
	emit_str(t, r->predicted);
	emit_key(t, "probability");
	emit_double(t, r->probability);
	if (has_loss) {
		emit_key(t, "loss");
		emit_double(t, r->loss);
	}
	emit_key(t, "map");
	emit_tensor(t, TENSOR_F32, 2, (uint32_t[]){ r->h, r->w }, r->map);
	writer_record_end(w);
}
