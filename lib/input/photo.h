/* The image adapter over libvips: any file libvips reads becomes a u8 RGB
 * [height, width, 3] array of a given size, and augmentation copies are
 * affine transforms of that array.
 *
 * Each call runs its own small pipeline in the calling thread (libvips'
 * thread pool is turned off): callers get parallelism by preparing
 * different images in different threads, which costs far less per image
 * than handing strips between threads inside libvips. What a thread can
 * reuse from one image to the next lives in its struct photo_cache. */
#ifndef INPUT_PHOTO_H
#define INPUT_PHOTO_H

#include <stdint.h>

#include "err.h"

enum photo_fit {
	PHOTO_FIT_CROP,   /* scale the shorter side to fit, cut the centre */
	PHOTO_FIT_SQUASH, /* scale each axis on its own */
	PHOTO_FIT_PAD,    /* scale the longer side to fit, centre on background */
};

enum photo_fill { PHOTO_FILL_CONSTANT, PHOTO_FILL_NEAREST, PHOTO_FILL_REFLECT, PHOTO_FILL_WRAP };

enum photo_icc {
	PHOTO_ICC_USE,    /* an embedded profile says what the numbers mean */
	PHOTO_ICC_IGNORE, /* embedded profiles are not read, as in Keras' load_img */
};

struct photo_spec {
	int width, height;
	enum photo_fit fit;
	enum photo_icc icc;
	unsigned char background[3]; /* RGB behind alpha, pads, constant fill */
	uint64_t max_pixels;         /* images that decode to more pixels (after
				      * shrink-on-load) are refused; 0: no limit */
	int documents;               /* read PDF, PostScript and SVG files too */
};

/* One augmentation, in the terms of Keras' apply_affine_transform: the
 * output pixel at p (from the image centre) takes the input at
 * R(rotation) T(shift) S(shear) Z(zoom) p, bilinear; then the flips. */
struct photo_transform {
	double rotation;         /* degrees; positive turns the picture clockwise */
	double shift_x, shift_y; /* fractions of width and height */
	double shear;            /* degrees */
	double zoom_x, zoom_y;   /* > 1 shows a smaller picture */
	int flip_h, flip_v;
};

/* The arithmetic of photo_prepare and photo_apply_transform, apart from
 * libvips, so that it can be checked on any dimensions. */
struct photo_rect {
	int left, top, width, height;
};

/* What the fit rule does to a w x h stored image whose EXIF orientation is
 * orient (1 to 8, as libvips reports it), in stored orientation: cut crop
 * out of it, scale that to place's size, put it at place in a tw x th
 * canvas, which orientation turns into spec's size. */
struct photo_fit_plan {
	struct photo_rect crop, place;
	int tw, th;
};

void photo_fit_plan(const struct photo_spec *spec, int orient, int w, int h,
		    struct photo_fit_plan *p);

/* The factor (1, 2, 4 or 8) a w x h JPEG of EXIF orientation orient is
 * decoded smaller by, while the fit still only shrinks it by half or more
 * afterwards. */
int photo_jpeg_shrink(const struct photo_spec *spec, int orient, int w, int h);

/* How photo_apply_transform samples a w x h image under t's affine part:
 * vips_affine's output-to-input matrix A and offsets, on an input extended
 * by margin pixels on every side, which every output pixel's sample lies
 * inside. -1 for a transform that is not finite, is degenerate, or
 * reaches too far outside the image. */
struct photo_affine_plan {
	double A[4];
	double idx, idy, odx, ody;
	int margin;
};

int photo_affine_plan(const struct photo_transform *t, int w, int h, struct photo_affine_plan *p,
		      struct err *e);

/* Start libvips once per process, before any thread uses it. */
int photo_init(const char *argv0, struct err *e);
void photo_shutdown(void);
/* Worker threads call this before they exit, to free libvips' per-thread
 * buffers. */
void photo_thread_done(void);

/* What one thread keeps from one image to the next: the verdicts on the
 * colour profiles it has met, and its last resizing pipeline, which the
 * next image of the same shape runs again. One per thread, never shared. */
struct photo_cache;

struct photo_cache *photo_cache_new(struct err *e);
void photo_cache_free(struct photo_cache *c);

/* Decode path, orient it by its EXIF tag, convert it to sRGB, flatten
 * alpha onto the background and fit it to spec's size. An embedded
 * profile that is sRGB's is not applied; another is applied to the fitted
 * image when the samples are 8-bit without alpha, as nearly every photo's
 * are, and before the fit otherwise. rgb holds height * width * 3 bytes. */
int photo_prepare(const char *path, const struct photo_spec *spec,
		  struct photo_cache *cache, unsigned char *rgb, struct err *e);

/* Transform an RGB image of spec's size into out (same size). Pixels from
 * outside the input come from the fill rule: the background colour,
 * the nearest edge, a mirror image or a repeat. */
int photo_apply_transform(const unsigned char *rgb, const struct photo_spec *spec,
			  const struct photo_transform *t, enum photo_fill fill,
			  unsigned char *out, struct err *e);

#endif
