#include "images.h"

#include <string.h>

const char *const images_fit_names[] = { "crop", "squash", "pad", NULL };
const char *const images_fill_names[] = { "constant", "nearest", "reflect", "wrap", NULL };
const char *const images_flip_names[] = { "none", "h", "v", "hv", NULL };
const char *const images_icc_names[] = { "use", "ignore", NULL };

const char *const images_agreement_keys[] = { "size", "fit", "icc", NULL };

static void pack_range(msgpack_packer *pk, const char *key, struct vp_range r)
{
	vp_pack_cstr(pk, key);
	msgpack_pack_array(pk, 2);
	msgpack_pack_double(pk, r.lo);
	msgpack_pack_double(pk, r.hi);
}

void images_header_write(struct vp_writer *w, const struct vp_image_spec *spec,
			 char *const *classes, size_t nclasses, const struct vp_augment *aug)
{
	msgpack_packer *pk = &w->pk;
	int augmented = aug && aug->copies > 0, icc = spec->icc != VP_ICC_USE;

	vp_write_header(w, "images", 3 + (uint32_t)augmented + (uint32_t)icc);
	vp_pack_cstr(pk, "size");
	msgpack_pack_array(pk, 2);
	msgpack_pack_int(pk, spec->width);
	msgpack_pack_int(pk, spec->height);
	vp_pack_cstr(pk, "fit");
	vp_pack_cstr(pk, images_fit_names[spec->fit]);
	/* Written only when profiles are ignored, so that streams made before
	 * the key existed still agree with those made the same way now. */
	if (icc) {
		vp_pack_cstr(pk, "icc");
		vp_pack_cstr(pk, images_icc_names[spec->icc]);
	}
	vp_pack_cstr(pk, "classes");
	msgpack_pack_array(pk, nclasses);
	for (size_t i = 0; i < nclasses; i++)
		vp_pack_cstr(pk, classes[i]);
	if (!augmented)
		return;
	vp_pack_cstr(pk, "augment");
	msgpack_pack_map(pk, 11);
	vp_pack_cstr(pk, "copies");
	msgpack_pack_unsigned_int(pk, aug->copies);
	vp_pack_cstr(pk, "keep_original");
	if (aug->keep_original)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	vp_pack_cstr(pk, "seed");
	msgpack_pack_uint64(pk, aug->seed);
	pack_range(pk, "rotation", aug->rotation);
	pack_range(pk, "shift_x", aug->shift_x);
	pack_range(pk, "shift_y", aug->shift_y);
	pack_range(pk, "shear", aug->shear);
	pack_range(pk, "zoom", aug->zoom);
	vp_pack_cstr(pk, "flip");
	vp_pack_cstr(pk, images_flip_names[aug->flip_h | aug->flip_v << 1]);
	vp_pack_cstr(pk, "fill");
	vp_pack_cstr(pk, images_fill_names[aug->fill]);
	vp_pack_cstr(pk, "background");
	msgpack_pack_array(pk, 3);
	for (int i = 0; i < 3; i++)
		msgpack_pack_unsigned_char(pk, spec->background[i]);
}

void images_record_write(struct vp_writer *w, const char *id, size_t id_len,
			 const char *label, int height, int width, const unsigned char *rgb,
			 int64_t copy)
{
	uint32_t shape[3] = { (uint32_t)height, (uint32_t)width, 3 };

	vp_write_tensor_record(w, id, id_len, label, label ? strlen(label) : 0, copy, "image",
			       VP_U8, 3, shape, rgb);
}

int images_header_read(const msgpack_object *h, struct images_header *out,
		       struct vp_err *e)
{
	const msgpack_object *size = vp_map_get(h, "size"), *classes = vp_map_get(h, "classes");
	int rc;

	if (!size || size->type != MSGPACK_OBJECT_ARRAY || size->via.array.size != 2 ||
	    size->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    size->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    size->via.array.ptr[0].via.u64 - 1 >= VP_MAX_DIM ||
	    size->via.array.ptr[1].via.u64 - 1 >= VP_MAX_DIM)
		return vp_fail(e, "key 'size': expected [width, height]");
	out->width = (uint32_t)size->via.array.ptr[0].via.u64;
	out->height = (uint32_t)size->via.array.ptr[1].via.u64;
	if (vp_get_bytes(h, "fit", 1, &out->fit, &out->fit_len, e))
		return -1;
	rc = vp_get_bytes(h, "icc", 0, &out->icc, &out->icc_len, e);
	if (rc < 0)
		return -1;
	if (rc > 0)
		out->icc = NULL;
	if (classes && classes->type != MSGPACK_OBJECT_ARRAY)
		return vp_fail(e, "key 'classes': expected an array");
	out->classes = classes;
	return 0;
}
