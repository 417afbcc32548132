/* The image adapter (lib/image.c): its arithmetic apart from libvips,
 * with cases the fuzz target fuzz/fuzz_image.c found kept as regressions,
 * and images prepared from two threads at once, each thread running its
 * pipeline again from image to image. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <vips/vips.h>

#include "image.h"
#include "tap.h"

#define IMAGES 8
#define ROUNDS 120
#define SIDE 16

/* IMAGES PNGs of 40 x 30 in a temporary folder: each reduced to SIDE x
 * SIDE in both directions, the vertical pass being the one libvips
 * compiles with liborc. */
static char dir[4096], paths[IMAGES][4200];
static const struct vp_image_spec spec = { .width = SIDE, .height = SIDE, .fit = VP_FIT_CROP };
static unsigned char expected[IMAGES][SIDE * SIDE * 3];

struct worker {
	int failures;
	char first[320]; /* the first failure */
};

static void failure(struct worker *w, int image, const char *what)
{
	if (!w->failures++)
		snprintf(w->first, sizeof w->first, "image %d: %.256s", image, what);
}

/* Each thread prepares every image ROUNDS times; the pixels must be the
 * ones one thread alone gives. */
static void *prepare_all(void *arg)
{
	struct worker *w = arg;
	unsigned char rgb[SIDE * SIDE * 3];
	struct vp_err e;
	struct vp_image_cache *cache = vp_image_cache_new(&e);

	for (int r = 0; r < ROUNDS && cache; r++)
		for (int i = 0; i < IMAGES; i++)
			if (vp_image_prepare(paths[i], &spec, cache, rgb, &e))
				failure(w, i, e.msg);
			else if (memcmp(rgb, expected[i], sizeof rgb))
				failure(w, i, "other pixels than one thread's");
	if (!cache)
		failure(w, 0, e.msg);
	vp_image_cache_free(cache);
	vp_image_thread_done();
	return NULL;
}

static void test_threads(void)
{
	struct worker w[2] = { { 0 } };
	struct vp_image_cache *fresh;
	pthread_t tid;
	struct vp_err e;
	int made = 0, ready = 0;

	if ((size_t)snprintf(dir, sizeof dir, "%s/vp-image.XXXXXX",
			     getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") >= sizeof dir ||
	    !mkdtemp(dir)) {
		ok(0, "a temporary folder");
		return;
	}
	for (int i = 0; i < IMAGES; i++) {
		unsigned char px[30][40][3];
		VipsImage *img;

		for (int y = 0; y < 30; y++)
			for (int x = 0; x < 40; x++)
				for (int c = 0; c < 3; c++)
					px[y][x][c] = (unsigned char)(x * 6 + y * 5 + c * 70 + i * 30);
		snprintf(paths[i], sizeof paths[i], "%s/%d.png", dir, i);
		img = vips_image_new_from_memory(px, sizeof px, 40, 30, 3, VIPS_FORMAT_UCHAR);
		made += img && !vips_pngsave(img, paths[i], NULL);
		if (img)
			g_object_unref(img);
		/* Each with a pipeline of its own: the threads below run theirs
		 * again from image to image, and must get the same pixels. */
		fresh = vp_image_cache_new(&e);
		ready += fresh && !vp_image_prepare(paths[i], &spec, fresh, expected[i], &e);
		vp_image_cache_free(fresh);
	}
	ok(made == IMAGES && ready == IMAGES, "%d images written and prepared", IMAGES);
	if (pthread_create(&tid, NULL, prepare_all, &w[1])) {
		ok(0, "a second thread");
	} else {
		prepare_all(&w[0]);
		pthread_join(tid, NULL);
		ok(w[0].failures + w[1].failures == 0,
		   "two threads prepare %d images %d times each, as one thread does (%s %s)",
		   IMAGES, ROUNDS, w[0].first, w[1].first);
	}
	for (int i = 0; i < IMAGES; i++)
		unlink(paths[i]);
	rmdir(dir);
}

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

	if (vp_image_init("test_image", &e)) {
		ok(0, "libvips starts: %s", e.msg);
	} else {
		test_threads();
		vp_image_shutdown();
	}
	return tap_done();
}
