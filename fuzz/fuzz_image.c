/* libFuzzer target: imgprep's arithmetic over what libvips reports, apart
 * from libvips' decoders: the fit plan (crop, scale, pad) for an image's
 * dimensions and EXIF orientation, the JPEG shrink factor, and the affine
 * plan of an augmentation drawn from arbitrary ranges. Dimensions reach
 * libvips' own bound (VIPS_MAX_COORD) and target sides go beyond imgprep's.
 *
 * The input, read in order (zeros once it ends): image width and height,
 * target width and height, orientation, fit, then per augmentation range
 * (rotation, shift x and y, shear, zoom) its two ends, then flips, seed,
 * copy number, and the rest as the image's relative path. Each dimension
 * is a byte choosing a telling value (1, 3, 100000, the bound...) or, with
 * its top bit set, the next 4 bytes; each range end is a byte choosing a
 * value in imgprep's limits or, with its top bit set, any double. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "augment.h"
#include "photo.h"

struct input {
	const uint8_t *p;
	size_t left;
};

static uint64_t bytes(struct input *in, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++) {
		v |= (uint64_t)(in->left ? *in->p : 0) << 8 * i;
		if (in->left)
			in->p++, in->left--;
	}
	return v;
}

static int side(struct input *in, int max)
{
	static const int telling[] = { 1, 2, 3, 7, 32, 224, 100000, 65535, 8192, 1 << 20 };
	unsigned b = (unsigned)bytes(in, 1);
	long v = b & 0x80 ? (long)(bytes(in, 4) % (uint64_t)max) + 1 :
		 b % 16 < 10 ? telling[b % 16] : max - (long)(b % 16 - 10);

	return v > max ? max : (int)v;
}

static double end(struct input *in, double limit)
{
	unsigned b = (unsigned)bytes(in, 1);
	uint64_t u;
	double d;

	if (b & 0x80) {
		u = bytes(in, 8);
		memcpy(&d, &u, sizeof d);
		return d;
	}
	return limit * ((double)(int)(b & 0x7f) - 64) / 64;
}

static struct augment_range range(struct input *in, double limit)
{
	struct augment_range r;

	r.lo = end(in, limit);
	r.hi = end(in, limit);
	return r;
}

static int rect_inside(const struct photo_rect *r, int w, int h)
{
	return r->left >= 0 && r->top >= 0 && r->width >= 1 && r->height >= 1 &&
	       (long)r->left + r->width <= w && (long)r->top + r->height <= h;
}

static void check_fit(const struct photo_spec *sp, int orient, int w, int h)
{
	struct photo_fit_plan p;
	int swap = orient >= 5;

	photo_fit_plan(sp, orient, w, h, &p);
	if (p.tw != (swap ? sp->height : sp->width) || p.th != (swap ? sp->width : sp->height) ||
	    !rect_inside(&p.crop, w, h) || !rect_inside(&p.place, p.tw, p.th))
		abort();
	/* Only crop cuts and only pad leaves a margin. */
	if ((sp->fit != PHOTO_FIT_CROP &&
	     (p.crop.width != w || p.crop.height != h)) ||
	    (sp->fit != PHOTO_FIT_PAD && (p.place.width != p.tw || p.place.height != p.th)))
		abort();
}

/* A JPEG decoded smaller is still only ever reduced afterwards. */
static void check_shrink(const struct photo_spec *sp, int orient, int w, int h)
{
	int s = photo_jpeg_shrink(sp, orient, w, h), sw, sh;
	struct photo_fit_plan p;

	if (s != 1 && s != 2 && s != 4 && s != 8)
		abort();
	if (s == 1)
		return;
	sw = (w + s - 1) / s;
	sh = (h + s - 1) / s;
	photo_fit_plan(sp, orient, sw, sh, &p);
	if (p.crop.width < p.place.width || p.crop.height < p.place.height)
		abort();
}

/* Every output pixel's sample, with the bilinear neighbours, lies in the
 * input extended by the margin. */
static void check_affine(const struct photo_transform *t, int w, int h)
{
	struct photo_affine_plan p;
	struct err e;
	double det, L[4];

	if (photo_affine_plan(t, w, h, &p, &e))
		return;
	det = p.A[0] * p.A[3] - p.A[1] * p.A[2];
	if (!isfinite(det) || det == 0 || p.margin < 2 || p.margin > 1000003 ||
	    !isfinite(p.idx) || !isfinite(p.idy))
		abort();
	L[0] = p.A[3] / det, L[1] = -p.A[1] / det, L[2] = -p.A[2] / det, L[3] = p.A[0] / det;
	for (int k = 0; k < 4; k++) {
		double ox = (k & 1 ? w - 1 : 0) - p.odx, oy = (k & 2 ? h - 1 : 0) - p.ody;
		double ix = L[0] * ox + L[1] * oy - p.idx, iy = L[2] * ox + L[3] * oy - p.idy;
		double slack = 1e-6 * (1 + fabs(ix) + fabs(iy));

		if (!(ix >= -slack && ix <= w + 2.0 * p.margin - 1 + slack &&
		      iy >= -slack && iy <= h + 2.0 * p.margin - 1 + slack))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct photo_spec sp = { 0 };
	struct augment a = { 0 };
	struct photo_transform t;
	int w, h, orient;
	unsigned copy;

	w = side(&in, VIPS_MAX_COORD);
	h = side(&in, VIPS_MAX_COORD);
	sp.width = side(&in, 65535);
	sp.height = side(&in, 65535);
	orient = (int)(bytes(&in, 1) % 8) + 1;
	sp.fit = (enum photo_fit)(bytes(&in, 1) % 3);
	check_fit(&sp, orient, w, h);
	check_shrink(&sp, orient, w, h);

	a.rotation = range(&in, 360);
	a.shift_x = range(&in, 1);
	a.shift_y = range(&in, 1);
	a.shear = range(&in, 80);
	a.zoom = range(&in, 10);
	a.flip_h = (int)bytes(&in, 1) & 1;
	a.flip_v = (int)bytes(&in, 1) & 1;
	a.seed = bytes(&in, 8);
	copy = (unsigned)bytes(&in, 4);
	augment_draw(&a, (const char *)in.p, in.left, copy, &t);
	check_affine(&t, sp.width, sp.height);
	return 0;
}
