/* The image adapter over libvips: any file libvips reads becomes a u8 RGB
 * [height, width, 3] array of a given size, and augmentation copies are
 * affine transforms of that array.
 *
 * Each call runs its own small pipeline in the calling thread (libvips'
 * thread pool is turned off): callers get parallelism by preparing
 * different images in different threads, which costs far less per image
 * than handing strips between threads inside libvips. What a thread can
 * reuse from one image to the next lives in its struct vp_image_cache. */
#ifndef VP_IMAGE_H
#define VP_IMAGE_H

#include <stdint.h>

#include "err.h"

enum vp_fit {
	VP_FIT_CROP,   /* scale the shorter side to fit, cut the centre */
	VP_FIT_SQUASH, /* scale each axis on its own */
	VP_FIT_PAD,    /* scale the longer side to fit, centre on background */
};

enum vp_fill { VP_FILL_CONSTANT, VP_FILL_NEAREST, VP_FILL_REFLECT, VP_FILL_WRAP };

enum vp_icc {
	VP_ICC_USE,    /* an embedded profile says what the numbers mean */
	VP_ICC_IGNORE, /* embedded profiles are not read, as in Keras' load_img */
};

struct vp_image_spec {
	int width, height;
	enum vp_fit fit;
	enum vp_icc icc;
	unsigned char background[3]; /* RGB behind alpha, pads, constant fill */
	uint64_t max_pixels;         /* larger inputs are refused; 0: no limit */
};

/* One augmentation, in the terms of Keras' apply_affine_transform: the
 * output pixel at p (from the image centre) takes the input at
 * R(rotation) T(shift) S(shear) Z(zoom) p, bilinear; then the flips. */
struct vp_transform {
	double rotation;         /* degrees; positive turns the picture clockwise */
	double shift_x, shift_y; /* fractions of width and height */
	double shear;            /* degrees */
	double zoom_x, zoom_y;   /* > 1 shows a smaller picture */
	int flip_h, flip_v;
};

/* The arithmetic of vp_image_prepare and vp_image_transform, apart from
 * libvips, so that it can be checked on any dimensions. */
struct vp_rect {
	int left, top, width, height;
};

/* What the fit rule does to a w x h stored image whose EXIF orientation is
 * orient (1 to 8, as libvips reports it), in stored orientation: cut crop
 * out of it, scale that to place's size, put it at place in a tw x th
 * canvas, which orientation turns into spec's size. */
struct vp_fit_plan {
	struct vp_rect crop, place;
	int tw, th;
};

void vp_fit_plan(const struct vp_image_spec *spec, int orient, int w, int h,
		 struct vp_fit_plan *p);

/* The factor (1, 2, 4 or 8) a w x h JPEG of EXIF orientation orient is
 * decoded smaller by, while the fit still only shrinks it by half or more
 * afterwards. */
int vp_jpeg_shrink(const struct vp_image_spec *spec, int orient, int w, int h);

/* How vp_image_transform samples a w x h image under t's affine part:
 * vips_affine's output-to-input matrix A and offsets, on an input extended
 * by margin pixels on every side, which every output pixel's sample lies
 * inside. -1 for a transform that is not finite, is degenerate, or
 * reaches too far outside the image. */
struct vp_affine_plan {
	double A[4];
	double idx, idy, odx, ody;
	int margin;
};

int vp_affine_plan(const struct vp_transform *t, int w, int h, struct vp_affine_plan *p,
		   struct vp_err *e);

/* Start libvips once per process, before any thread uses it. */
int vp_image_init(const char *argv0, struct vp_err *e);
void vp_image_shutdown(void);
/* Worker threads call this before they exit, to free libvips' per-thread
 * buffers. */
void vp_image_thread_done(void);

/* What one thread keeps from one image to the next: the verdicts on the
 * colour profiles it has met, and its last resizing pipeline, which the
 * next image of the same shape runs again. One per thread, never shared. */
struct vp_image_cache;

struct vp_image_cache *vp_image_cache_new(struct vp_err *e);
void vp_image_cache_free(struct vp_image_cache *c);

/* Decode path, orient it by its EXIF tag, convert it to sRGB, flatten
 * alpha onto the background and fit it to spec's size. An embedded
 * profile that is sRGB's is not applied; another is applied to the fitted
 * image when the samples are 8-bit without alpha, as nearly every photo's
 * are, and before the fit otherwise. rgb holds height * width * 3 bytes. */
int vp_image_prepare(const char *path, const struct vp_image_spec *spec,
		     struct vp_image_cache *cache, unsigned char *rgb, struct vp_err *e);

/* Transform an RGB image of spec's size into out (same size). Pixels from
 * outside the input come from the fill rule: the background colour,
 * the nearest edge, a mirror image or a repeat. */
int vp_image_transform(const unsigned char *rgb, const struct vp_image_spec *spec,
		       const struct vp_transform *t, enum vp_fill fill,
		       unsigned char *out, struct vp_err *e);

#endif
