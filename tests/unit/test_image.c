/* The image adapter's arithmetic (lib/image.c) apart from libvips: cases
 * the fuzz target fuzz/fuzz_image.c found, kept here as regressions. */
#include <math.h>

#include "image.h"
#include "tap.h"

static int plan_fails(struct vp_transform t, const char *phrase)
{
	struct vp_affine_plan p;
	struct vp_err e;

	return vp_affine_plan(&t, 64, 48, &p, &e) == -1 && strstr(e.msg, phrase);
}

int main(void)
{
	struct vp_transform id = { .zoom_x = 1, .zoom_y = 1 }, t;
	struct vp_image_spec portrait = { .width = 4, .height = 8, .fit = VP_FIT_CROP };
	struct vp_affine_plan p;
	struct vp_err e;

	/* A landscape picture stored turned (32 x 64, orientation 6) to a
	 * portrait target: the decoded JPEG must not end up smaller than the
	 * target in either direction. */
	ok(vp_jpeg_shrink(&portrait, 6, 32, 64) == 4, "a turned JPEG shrinks by 4, not 8");
	ok(vp_jpeg_shrink(&portrait, 1, 64, 32) == 4, "as the same picture stored upright");

	t = id;
	t.rotation = 30;
	ok(vp_affine_plan(&t, 64, 48, &p, &e) == 0 && p.margin >= 2, "a rotation plans");
	t = id;
	t.rotation = NAN;
	ok(plan_fails(t, "not finite"), "a NaN rotation is refused");
	t = id;
	t.zoom_x = INFINITY;
	ok(plan_fails(t, "not finite"), "an infinite zoom is refused");
	t = id;
	t.shift_x = 1e300;
	ok(plan_fails(t, "too far"), "a shift beyond reach is refused");
	t = id;
	t.zoom_y = 0;
	ok(plan_fails(t, "degenerate"), "zoom 0 is refused");
	return tap_done();
}
