#include "images.h"

#include <string.h>

const char *const images_fit_names[] = { "crop", "squash", "pad", NULL };
const char *const images_fill_names[] = { "constant", "nearest", "reflect", "wrap", NULL };
const char *const images_flip_names[] = { "none", "h", "v", "hv", NULL };
const char *const images_icc_names[] = { "use", "ignore", NULL };

/* The header keys every segment of a stream must share: two images of
 * another size, fit or colour handling are not one data set. */
static const char *const agreement_keys[] = { "size", "fit", "icc", NULL };

static int check_image(const struct tensor *t, struct err *e)
{
	if (t->rank != 3 || t->shape[2] != 3)
		return err_fail(e, "tensor 'image': shape must be [height, width, 3]");
	return 0;
}

const struct stream_kind images_kind = {
	.name = "images", .agreement_keys = agreement_keys, .tensor_key = "image",
	.dtype = TENSOR_U8, .check_tensor = check_image,
};

const struct stream_kind *const images_only[] = { &images_kind, NULL };

static void emit_augment(struct emit *t, const struct photo_spec *spec,
			 const struct augment *aug)
{
	emit_key(t, "augment");
	emit_map(t, 11);
	emit_key(t, "copies");
	emit_uint(t, aug->copies);
	emit_key(t, "keep_original");
	emit_bool(t, aug->keep_original);
	emit_key(t, "seed");
	emit_uint(t, aug->seed);
	emit_key_pair(t, "rotation", aug->rotation.lo, aug->rotation.hi);
	emit_key_pair(t, "shift_x", aug->shift_x.lo, aug->shift_x.hi);
	emit_key_pair(t, "shift_y", aug->shift_y.lo, aug->shift_y.hi);
	emit_key_pair(t, "shear", aug->shear.lo, aug->shear.hi);
	emit_key_pair(t, "zoom", aug->zoom.lo, aug->zoom.hi);
	emit_key(t, "flip");
	emit_str(t, images_flip_names[aug->flip_h | aug->flip_v << 1]);
	emit_key(t, "fill");
	emit_str(t, images_fill_names[aug->fill]);
	emit_key(t, "background");
	emit_array(t, 3);
	for (int i = 0; i < 3; i++)
		emit_uint(t, spec->background[i]);
	emit_end(t);
	emit_end(t);
}

void images_header_write(struct writer *w, const struct photo_spec *spec,
			 char *const *classes, size_t nclasses, const struct augment *aug)
{
	struct emit *t = &w->emit;
	int augmented = aug && aug->copies > 0, icc = spec->icc != PHOTO_ICC_USE;

	writer_header(w, "images", 3 + (uint32_t)augmented + (uint32_t)icc);
	emit_key(t, "size");
	emit_uint_array(t, 2, (uint32_t[]){ (uint32_t)spec->width, (uint32_t)spec->height });
	emit_key(t, "fit");
	emit_str(t, images_fit_names[spec->fit]);
	/* Written only when profiles are ignored, so that streams made before
	 * the key existed still agree with those made the same way now. */
	if (icc) {
		emit_key(t, "icc");
		emit_str(t, images_icc_names[spec->icc]);
	}
	emit_key(t, "classes");
	emit_array(t, (uint32_t)nclasses);
	for (size_t i = 0; i < nclasses; i++)
		emit_str(t, classes[i]);
	emit_end(t);
	if (augmented)
		emit_augment(t, spec, aug);
	emit_end(t);
}

void images_record_write(struct writer *w, const char *id, size_t id_len,
			 const char *label, int height, int width, const unsigned char *rgb,
			 int64_t copy)
{
	uint32_t shape[3] = { (uint32_t)height, (uint32_t)width, 3 };

	writer_tensor_record(w, id, id_len, label, label ? strlen(label) : 0, copy, "image",
			     TENSOR_U8, 3, shape, rgb);
}

int images_header_read(const msgpack_object *h, struct images_header *out,
		       struct err *e)
{
	const msgpack_object *size = obj_get(h, "size"), *classes = obj_get(h, "classes");
	int rc;

	if (!size || size->type != MSGPACK_OBJECT_ARRAY || size->via.array.size != 2 ||
	    size->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    size->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    size->via.array.ptr[0].via.u64 - 1 >= TENSOR_MAX_DIM ||
	    size->via.array.ptr[1].via.u64 - 1 >= TENSOR_MAX_DIM)
		return err_fail(e, "key 'size': expected [width, height]");
	out->width = (uint32_t)size->via.array.ptr[0].via.u64;
	out->height = (uint32_t)size->via.array.ptr[1].via.u64;
	if (obj_get_bytes(h, "fit", 1, &out->fit, &out->fit_len, e))
		return -1;
	rc = obj_get_bytes(h, "icc", 0, &out->icc, &out->icc_len, e);
	if (rc < 0)
		return -1;
	if (rc > 0)
		out->icc = NULL;
	if (classes && classes->type != MSGPACK_OBJECT_ARRAY)
		return err_fail(e, "key 'classes': expected an array");
	out->classes = classes;
	return 0;
}
