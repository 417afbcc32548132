/* The image adapter (lib/image.c): its arithmetic apart from libvips,
 * with cases the fuzz target fuzz/fuzz_image.c found kept as regressions,
 * and images prepared from two threads at once, each thread running its
 * pipeline again from image to image. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <vips/vips.h>

#include "photo.h"
#include "tap.h"

#define IMAGES 8
#define ROUNDS 120
#define SIDE 16

/* IMAGES PNGs of 40 x 30 in a temporary folder: each reduced to SIDE x
 * SIDE in both directions, the vertical pass being the one libvips
 * compiles with liborc. */
static char dir[4096], paths[IMAGES][4200];
static const struct photo_spec spec = { .width = SIDE, .height = SIDE, .fit = PHOTO_FIT_CROP };
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
	struct err e;
	struct photo_cache *cache = photo_cache_new(&e);

	for (int r = 0; r < ROUNDS && cache; r++)
		for (int i = 0; i < IMAGES; i++)
			if (photo_prepare(paths[i], &spec, cache, rgb, &e))
				failure(w, i, e.msg);
			else if (memcmp(rgb, expected[i], sizeof rgb))
				failure(w, i, "other pixels than one thread's");
	if (!cache)
		failure(w, 0, e.msg);
	photo_cache_free(cache);
	photo_thread_done();
	return NULL;
}

/* JPEGs of many sizes: decoded at each scale libjpeg offers for a SIDE x
 * SIDE crop (1/2 from 32 pixels on the shorter side, 1/4 from 64, 1/8 from
 * 128), one turned by its EXIF tag, one enlarged, and two on either side
 * of a pixel limit. One thread preparing them in turn, its stage two
 * built for one shape after another and kept with its buffers in
 * between, must give each the pixels that a fresh thread gives it, and
 * refuse the same one with the same message. */
static void test_mixed_sizes(void)
{
	static const int size[][3] = { /* width, height, EXIF orientation */
		{ 31, 40, 1 }, { 32, 40, 1 }, { 63, 70, 1 }, { 64, 64, 1 }, { 200, 300, 1 },
		{ 65, 90, 1 }, { 129, 130, 1 }, { 5, 7, 1 }, { 130, 127, 1 }, { 40, 140, 6 },
		{ 320, 312, 1 }, { 320, 328, 1 },
	};
	enum { N = sizeof size / sizeof *size };
	struct photo_spec sp = spec;
	unsigned char want[N][SIDE * SIDE * 3], got[SIDE * SIDE * 3];
	char wmsg[N][sizeof(struct err)], path[N][4200];
	int wrc[N], made = 0, same = 0, refused = 0;
	struct photo_cache *c;
	struct err e;

	/* Checked on the decoded size: 40x39 and 40x41 at 1/8. */
	sp.max_pixels = 1600;
	for (int i = 0; i < N; i++) {
		int w = size[i][0], h = size[i][1];
		unsigned char *px = malloc((size_t)w * h * 3);
		VipsImage *img = px ? vips_image_new_from_memory(px, (size_t)w * h * 3, w, h, 3,
								 VIPS_FORMAT_UCHAR) : NULL;

		for (int k = 0; px && k < w * h * 3; k++)
			px[k] = (unsigned char)((k / 3 % w) * 255 / w + (k / 3 / w) * 3 + k % 3 * 60);
		snprintf(path[i], sizeof path[i], "%s/s%d.jpg", dir, i);
		if (img && size[i][2] > 1)
			vips_image_set_int(img, VIPS_META_ORIENTATION, size[i][2]);
		made += img && !vips_jpegsave(img, path[i], NULL);
		if (img)
			g_object_unref(img);
		free(px);
		c = photo_cache_new(&e);
		wrc[i] = c ? photo_prepare(path[i], &sp, c, want[i], &e) : -1;
		snprintf(wmsg[i], sizeof wmsg[i], "%s", wrc[i] ? e.msg : "");
		refused += wrc[i] != 0;
		photo_cache_free(c);
	}
	ok(made == N && refused == 1 && strstr(wmsg[N - 1], "320 x 328 pixels, even decoded"),
	   "%d JPEGs written, the one over the limit refused (%s)", N, wmsg[N - 1]);
	c = photo_cache_new(&e);
	for (int r = 0; c && r < 4 * N; r++) {
		/* Forwards, backwards, then every fifth. */
		int i = r < N ? r : r < 2 * N ? 2 * N - 1 - r : (r - 2 * N) * 5 % N;
		int rc = photo_prepare(path[i], &sp, c, got, &e);

		same += rc == wrc[i] &&
			(rc ? !strcmp(e.msg, wmsg[i]) : !memcmp(got, want[i], sizeof got));
	}
	photo_cache_free(c);
	ok(same == 4 * N, "one thread prepares %d JPEGs of mixed sizes in turn as fresh "
	   "threads do (%d of %d the same)", N, same, 4 * N);
	for (int i = 0; i < N; i++)
		unlink(path[i]);
}

static void test_threads(void)
{
	struct worker w[2] = { { 0 } };
	struct photo_cache *fresh;
	pthread_t tid;
	struct err e;
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
		fresh = photo_cache_new(&e);
		ready += fresh && !photo_prepare(paths[i], &spec, fresh, expected[i], &e);
		photo_cache_free(fresh);
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
	test_mixed_sizes();
	rmdir(dir);
}

static int plan_fails(struct photo_transform t, const char *phrase)
{
	struct photo_affine_plan p;
	struct err e;

	return photo_affine_plan(&t, 64, 48, &p, &e) == -1 && strstr(e.msg, phrase);
}

int main(void)
{
	struct photo_transform id = { .zoom_x = 1, .zoom_y = 1 }, t;
	struct photo_spec portrait = { .width = 4, .height = 8, .fit = PHOTO_FIT_CROP };
	struct photo_affine_plan p;
	struct err e;

	/* A landscape picture stored turned (32 x 64, orientation 6) to a
	 * portrait target: the decoded JPEG must not end up smaller than the
	 * target in either direction. */
	ok(photo_jpeg_shrink(&portrait, 6, 32, 64) == 4, "a turned JPEG shrinks by 4, not 8");
	ok(photo_jpeg_shrink(&portrait, 1, 64, 32) == 4, "as the same picture stored upright");

	t = id;
	t.rotation = 30;
	ok(photo_affine_plan(&t, 64, 48, &p, &e) == 0 && p.margin >= 2, "a rotation plans");
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

	if (photo_init("test_image", &e)) {
		ok(0, "libvips starts: %s", e.msg);
	} else {
		test_threads();
		photo_shutdown();
	}
	return tap_done();
}
