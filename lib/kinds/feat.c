#include "feat.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The header key every segment of a stream must share. */
static const char *const agreement_keys[] = { "provenance", NULL };

const struct stream_kind feat_kind = {
	.name = "features", .agreement_keys = agreement_keys, .tensor_key = "features",
	.dtype = TENSOR_F32,
};

const struct stream_kind *const feat_only[] = { &feat_kind, NULL };

void feat_header_write(struct writer *w, const struct feat_provenance *p,
		       const char *weights_file, const msgpack_object *classes)
{
	struct emit *t = &w->emit;

	writer_header(w, "features", 2 + (weights_file != NULL));
	emit_key(t, "provenance");
	emit_map(t, 7 + (p->icc != NULL));
	emit_key(t, "backbone");
	emit_str(t, p->backbone);
	emit_key(t, "weights");
	emit_str(t, p->weights);
	emit_key(t, "layer");
	emit_str(t, p->layer);
	emit_key(t, "pooling");
	emit_str(t, p->pooling);
	emit_key(t, "preprocess");
	emit_str(t, p->preprocess);
	emit_key(t, "size");
	emit_uint_array(t, 2, (uint32_t[]){ p->width, p->height });
	emit_key(t, "fit");
	emit_bytes(t, p->fit, p->fit_len);
	/* Images that ignored their profiles make other features, which must
	 * not be mixed with these; the default leaves the key out. */
	if (p->icc) {
		emit_key(t, "icc");
		emit_bytes(t, p->icc, p->icc_len);
	}
	emit_end(t);
	if (weights_file) {
		emit_key(t, "weights_file");
		emit_str(t, weights_file);
	}
	emit_key(t, "classes");
	if (classes) {
		emit_object(t, classes);
	} else {
		emit_array(t, 0);
		emit_end(t);
	}
	emit_end(t);
}

void feat_record_write(struct writer *w, const char *id, size_t id_len, const char *label,
		       size_t label_len, int64_t copy, int rank, const uint32_t *shape,
		       const float *features)
{
	writer_tensor_record(w, id, id_len, label, label_len, copy, "features", TENSOR_F32,
			     rank, shape, features);
}

int feat_provenance_check(const msgpack_object *want, const msgpack_object *got,
			  struct err *e)
{
	const msgpack_object *wl = obj_get(want, "layer"), *gl = obj_get(got, "layer");
	char diff[512];

	/* The one difference a user fixes with an option: say which. */
	if (wl && gl && wl->type == MSGPACK_OBJECT_STR && gl->type == MSGPACK_OBJECT_STR &&
	    !msgpack_object_equal(*wl, *gl))
		return err_fail(e, "features cut at %.*s; this needs %.*s features "
				"(vggfeat --layer %.*s)", (int)(gl->via.str.size > 32 ? 32 : gl->via.str.size),
				gl->via.str.ptr, (int)(wl->via.str.size > 32 ? 32 : wl->via.str.size),
				wl->via.str.ptr, (int)(wl->via.str.size > 32 ? 32 : wl->via.str.size),
				wl->via.str.ptr);
	if (obj_diff(want, got, "provenance", diff, sizeof diff))
		return err_fail(e, "%s", diff);
	return 0;
}

int feat_provenance_agree(const msgpack_object *want, const char *want_file,
			  const msgpack_object *got, const char *got_file, struct err *e)
{
	if (feat_provenance_check(want, got, e) == 0)
		return 0;
	if (want_file)
		return err_context(e, "%s: features made differently from those of %s "
				   "(\"here\" is %s, \"before\" is %s): ", got_file, want_file,
				   got_file, want_file);
	return err_context(e, "%s: these features were not made like the model's "
			   "(\"here\" is the features, \"before\" the model): ", got_file);
}

/* The floats of a record of this shape, at most UINT32_MAX. */
int feat_shape_dim(int rank, const uint32_t *shape, uint32_t *dim, struct err *e)
{
	size_t d = 1;

	for (int k = 0; k < rank; k++) {
		d *= shape[k];
		if (d > UINT32_MAX)
			return err_fail(e, "more than %u features per record are too many", UINT32_MAX);
	}
	*dim = (uint32_t)d;
	return 0;
}

/* A record's shape against the reference: a stream's first record's, or
 * the model's. */
int feat_check_shape(const char *name, uint64_t at, const struct tensor *t, int rank,
		     const uint32_t *shape, const char *ref_file, struct err *e)
{
	char want[64], got[64];

	if (t->rank == rank && !memcmp(t->shape, shape, (size_t)rank * sizeof *shape))
		return 0;
	tensor_shape_text(rank, shape, want, sizeof want);
	tensor_shape_text(t->rank, t->shape, got, sizeof got);
	if (!ref_file)
		return err_fail(e, "%s: record %" PRIu64 ": features of shape %s; the model "
				"takes %s", name, at, got, want);
	if (strcmp(ref_file, name))
		return err_fail(e, "%s: record %" PRIu64 ": features of shape %s; those of %s "
				"are %s", name, at, got, ref_file, want);
	return err_fail(e, "%s: record %" PRIu64 ": features of a different shape (%s) from "
			"the first record's (%s)", name, at, got, want);
}

/* The record's features into x [dim], every one finite. */
int feat_read_finite(const char *name, uint64_t at, const struct stream_record *r, float *x,
		       uint32_t dim, struct err *e)
{
	tensor_to_f32(&r->tensor, x);
	for (uint32_t k = 0; k < dim; k++)
		if (!isfinite(x[k]))
			return err_fail(e, "%s: record %" PRIu64 " (id '%.*s'): feature %" PRIu32
					" is %s", name, at, (int)(r->id_len > 200 ? 200 : r->id_len),
					r->id, k, isnan(x[k]) ? "NaN" : "infinite");
	return 0;
}

/* The provenance map of a stream's header: required, since nothing can be
 * checked against what is not there. */
int feat_stream_provenance(const struct stream *st, const msgpack_object **prov,
			     struct err *e)
{
	const msgpack_object *p = obj_get(&st->first_header, "provenance");

	if (!p || p->type != MSGPACK_OBJECT_MAP)
		return err_fail(e, "%s: header: key 'provenance': %s", st->name,
				p ? "expected a map" : "missing");
	*prov = p;
	return 0;
}
