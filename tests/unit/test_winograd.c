/* Winograd convolution (lib/winograd.c) against a float64 direct
 * convolution, on hand-checkable cases, random shapes with edge tiles,
 * the fused epilogue, strips and threads, for both tiles (F(4x4, 3x3) and
 * F(3x3, 3x3)) with every build of the kernels the processor runs, whose
 * transforms must give the same bits; then workspace bounds and the error
 * through VGG16's thirteen layers.
 *
 *   test_winograd                      the TAP tests
 *   test_winograd --bench [N [S [WS]]] ms per layer, im2col + SGEMM
 *                                      against Winograd, at VGG16's shapes
 *                                      for N images of S x S (1, 224) on 2
 *                                      threads, WS floats of workspace per
 *                                      thread (2^21)
 *   test_winograd --depth [S]          the error per layer through VGG16
 *                                      at S x S (224), random weights
 *
 * Timing is never asserted: the benchmark only prints. */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"
#include "kernels.h"
#include "pgemm.h"
#include "winograd.h"

/* The bound, per block, against the largest activation: what
 * --depth holds a run at any size to. */
#define DEPTH_BOUND 1e-3
/* What the test at 48x48 holds every layer to: the worst measured with
 * OpenBLAS's SkylakeX, Haswell, Sandybridge and Prescott kernels
 * (OPENBLAS_CORETYPE) is 3.1e-6; a coefficient of G wrong in its fourth
 * digit makes 1.3e-3. */
#define DEPTH_TOLERANCE 5e-5
/* The tile the tests below run with: main runs them with each. */
static int test_tile = WINOGRAD_F4;

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p) {
		fprintf(stderr, "test_winograd: out of memory\n");
		exit(1);
	}
	return p;
}

/* A fixed generator, so that a failure repeats. */
static uint64_t rng_state = 88172645463325252ull;

static double uniform(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

static float *random_floats(size_t n, double lo, double hi)
{
	float *p = xcalloc(n, sizeof *p);

	for (size_t i = 0; i < n; i++)
		p[i] = (float)(lo + (hi - lo) * uniform());
	return p;
}

/* in [n, h, w, cin] (float or double through the pointer pair),
 * kernel [3, 3, cin, cout], bias [cout] or NULL -> out [n, h, w, cout],
 * all in double, optionally ReLU'd. */
static void direct_forward(const float *inf, const double *ind, int n, int h,
			   int w, int cin, int cout, const float *kernel,
			   const float *bias, int relu, double *out)
{
	for (int b = 0; b < n; b++)
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++) {
				double *o = out + (((size_t)b * h + y) * w + x) * cout;

				for (int co = 0; co < cout; co++)
					o[co] = bias ? bias[co] : 0;
				for (int ky = 0; ky < 3; ky++)
					for (int kx = 0; kx < 3; kx++) {
						int yy = y + ky - 1, xx = x + kx - 1;
						size_t at = (((size_t)b * h + yy) * w + xx) * cin;

						if (yy < 0 || yy >= h || xx < 0 || xx >= w)
							continue;
						for (int ci = 0; ci < cin; ci++) {
							double v = inf ? inf[at + ci] : ind[at + ci];
							const float *k = kernel +
								((size_t)(ky * 3 + kx) * cin + ci) * cout;

							for (int co = 0; co < cout; co++)
								o[co] += v * k[co];
						}
					}
				if (relu)
					for (int co = 0; co < cout; co++)
						o[co] = o[co] > 0 ? o[co] : 0;
			}
}

/* in [n, h, w, c] -> out [n, h / 2, w / 2, c] */
static void maxpool_ref(const double *in, int n, int h, int w, int c, double *out)
{
	int oh = h / 2, ow = w / 2;

	for (int b = 0; b < n; b++)
		for (int y = 0; y < oh; y++)
			for (int x = 0; x < ow; x++)
				for (int k = 0; k < c; k++) {
					double m = -INFINITY;

					for (int dy = 0; dy < 2; dy++)
						for (int dx = 0; dx < 2; dx++) {
							double v = in[(((size_t)b * h + 2 * y + dy) * w +
								       2 * x + dx) * c + k];
							m = v > m ? v : m;
						}
					out[(((size_t)b * oh + y) * ow + x) * c + k] = m;
				}
}

/* A layer run on threads that claim tasks in turn, each with its own
 * workspace. A task is a strip of tiles and one of `cblocks` ranges of
 * output channels. */
struct run {
	struct winograd_layer l;
	const float *in;
	float *out, *ws;
	size_t tiles, strip, ws_floats;
	int cblocks;
	atomic_size_t next;
};

struct runner {
	struct run *r;
	int id;
};

static void *run_strips(void *arg)
{
	struct runner *me = arg;
	struct run *r = me->r;
	size_t tasks = (r->tiles + r->strip - 1) / r->strip * r->cblocks, j;
	/* Channel ranges start on the kernel's panels of 32 (pgemm.h). */
	int chunk = ((r->l.cout + r->cblocks - 1) / r->cblocks + PGEMM_PANEL - 1) /
		    PGEMM_PANEL * PGEMM_PANEL;

	while ((j = atomic_fetch_add(&r->next, 1)) < tasks) {
		size_t t0 = j / r->cblocks * r->strip;
		size_t t1 = t0 + r->strip < r->tiles ? t0 + r->strip : r->tiles;
		int c0 = (int)(j % r->cblocks) * chunk;
		int c1 = c0 + chunk < r->l.cout ? c0 + chunk : r->l.cout;

		winograd_conv3x3_forward(&r->l, r->in, t0, t1, c0, c1,
					 r->ws + me->id * r->ws_floats, r->out);
	}
	return NULL;
}

static void run_layer(struct run *r, int threads)
{
	pthread_t tid[8];
	struct runner me[8];

	atomic_init(&r->next, 0);
	for (int i = 0; i < threads; i++) {
		me[i].r = r;
		me[i].id = i;
	}
	for (int i = 1; i < threads; i++)
		if (pthread_create(&tid[i], NULL, run_strips, &me[i])) {
			fprintf(stderr, "test_winograd: pthread_create failed\n");
			exit(1);
		}
	run_strips(&me[0]);
	for (int i = 1; i < threads; i++)
		pthread_join(tid[i], NULL);
}

/* The whole layer: in [n, h, w, cin] -> out, strips of `strip` tiles (0:
 * split evenly over the threads), each cut into cblocks channel ranges. */
static void winograd_split(const float *in, int n, int h, int w, int cin,
			   int cout, const float *kernel, const float *bias,
			   int flags, int threads, size_t strip, int cblocks,
			   float *out)
{
	struct run r = { .l = { .h = h, .w = w, .cin = cin, .cout = cout, .tile = test_tile,
				.bias = bias, .flags = flags },
			 .in = in, .out = out, .cblocks = cblocks };
	float *u = xcalloc(winograd_kernel_floats(test_tile, cin, cout), sizeof *u);

	winograd_kernel_transform(test_tile, kernel, cin, cout, 0, cin, 0, cout, 0, u);
	r.l.u = u;
	r.tiles = winograd_tiles(test_tile, n, h, w);
	r.strip = strip ? strip : (r.tiles + threads - 1) / threads;
	r.ws_floats = winograd_workspace_floats(test_tile, cin, cout, r.strip);
	r.ws = xcalloc(threads * r.ws_floats, sizeof *r.ws);
	run_layer(&r, threads);
	free(r.ws);
	free(u);
}

static void winograd(const float *in, int n, int h, int w, int cin, int cout,
		     const float *kernel, const float *bias, int flags,
		     int threads, size_t strip, float *out)
{
	winograd_split(in, n, h, w, cin, cout, kernel, bias, flags, threads,
		       strip, 1, out);
}

/* max |got - want| / max |want| */
static double rel_error(const float *got, const double *want, size_t count)
{
	double err = 0, big = 0;

	for (size_t i = 0; i < count; i++) {
		double d = fabs(got[i] - want[i]);

		err = d > err ? d : err;
		big = fabs(want[i]) > big ? fabs(want[i]) : big;
	}
	return big > 0 ? err / big : err;
}

/* Sums of a few small integers, held to 1e-5: a few units in the last
 * place of the largest (17, whose unit is 1.9e-6), as measured (1.2e-6
 * and 1.9e-6; exact for the 1x1 image). */
static void test_hand(void)
{
	float box[9], ident[9] = { 0, 0, 0, 0, 1, 0, 0, 0, 0 }, bias = 0.5f;
	float one = 3, out1, in[35], out[35];
	int good = 1;

	for (int i = 0; i < 9; i++)
		box[i] = 1;
	/* A 1x1 image: only the centre tap meets a pixel. */
	winograd(&one, 1, 1, 1, 1, 1, box, &bias, 0, 1, 0, &out1);
	ok(fabsf(out1 - 3.5f) < 1e-5f, "1x1 image, box kernel: 3 + 0.5 (got %g)", out1);

	/* An all-ones 5x7 image under the box kernel counts each window's
	 * pixels: 4 in the corners, 6 on the edges, 9 inside. */
	for (int i = 0; i < 35; i++)
		in[i] = 1;
	winograd(in, 1, 5, 7, 1, 1, box, NULL, 0, 1, 0, out);
	for (int y = 0; y < 5; y++)
		for (int x = 0; x < 7; x++) {
			int edges = (y == 0 || y == 4) + (x == 0 || x == 6);
			float want = edges == 2 ? 4 : edges == 1 ? 6 : 9;

			good &= fabsf(out[y * 7 + x] - want) < 1e-5f;
		}
	ok(good, "5x7 image of ones, box kernel: 4 at corners, 6 on edges, 9 inside");

	/* The identity kernel returns the image; ReLU then drops the
	 * negative pixels. */
	for (int i = 0; i < 35; i++)
		in[i] = (float)(i - 17);
	winograd(in, 1, 5, 7, 1, 1, ident, NULL, WINOGRAD_RELU, 1, 0, out);
	good = 1;
	for (int i = 0; i < 35; i++)
		good &= fabsf(out[i] - (in[i] > 0 ? in[i] : 0)) < 1e-5f;
	ok(good, "5x7 image, identity kernel with ReLU: the image's positive part");
	if (test_tile != WINOGRAD_F4)
		return;

	/* Pooled (F(4x4, 3x3) only): the 2x3 maxima of 2x2 blocks, the last row and column
	 * dropped; pixel (y, x) is 7y + x - 17, so each maximum is its
	 * block's bottom right. */
	winograd(in, 1, 5, 7, 1, 1, ident, NULL, WINOGRAD_POOL, 1, 0, out);
	good = 1;
	for (int y = 0; y < 2; y++)
		for (int x = 0; x < 3; x++)
			good &= fabsf(out[y * 3 + x] - (float)(7 * (2 * y + 1) + 2 * x + 1 - 17)) < 1e-5f;
	ok(good, "5x7 image, identity kernel, pooled: 2x3 block maxima");
}

/* Outputs up to 33, held to 1e-4: the worst measured is 1.1e-5, three
 * units in its last place. */
static void test_channels(void)
{
	/* Three channels through a kernel whose centre tap is a permutation:
	 * output channel k is input channel (k + 1) % 3, times k + 1. */
	float k[9 * 3 * 3] = { 0 }, in[2 * 6 * 9 * 3], out[2 * 6 * 9 * 3];
	int good = 1;

	for (int c = 0; c < 3; c++)
		k[(4 * 3 + (c + 1) % 3) * 3 + c] = (float)(c + 1);
	for (size_t i = 0; i < sizeof in / sizeof *in; i++)
		in[i] = (float)(i % 23) - 11;
	winograd(in, 2, 6, 9, 3, 3, k, NULL, 0, 1, 0, out);
	for (size_t p = 0; p < 2 * 6 * 9; p++)
		for (int c = 0; c < 3; c++)
			good &= fabsf(out[p * 3 + c] - (c + 1) * in[p * 3 + (c + 1) % 3]) < 1e-4f;
	ok(good, "2 images of 6x9x3, permuting centre tap: channels move, images stay apart");
}

/* Random data against the float64 convolution; returns the error. */
static double random_case(int n, int h, int w, int cin, int cout, int flags,
			  size_t strip, int cblocks)
{
	size_t in_n = (size_t)n * h * w * cin, out_n = (size_t)n * h * w * cout;
	float *in = random_floats(in_n, -1, 1);
	float *k = random_floats((size_t)9 * cin * cout, -1, 1);
	float *bias = random_floats(cout, -0.5, 0.5);
	float *out = xcalloc(out_n, sizeof *out);
	double *want = xcalloc(out_n, sizeof *want), *pooled = NULL, err;

	/* Scaled as He's initialisation, so outputs stay near 1. */
	for (size_t i = 0; i < (size_t)9 * cin * cout; i++)
		k[i] *= (float)sqrt(6.0 / (9 * cin));
	winograd_split(in, n, h, w, cin, cout, k, bias, flags, 2, strip, cblocks, out);
	direct_forward(in, NULL, n, h, w, cin, cout, k, bias, flags & WINOGRAD_RELU, want);
	if (flags & WINOGRAD_POOL) {
		pooled = xcalloc(out_n, sizeof *pooled);
		maxpool_ref(want, n, h, w, cout, pooled);
		out_n = (size_t)n * (h / 2) * (w / 2) * cout;
	}
	err = rel_error(out, pooled ? pooled : want, out_n);
	free(in);
	free(k);
	free(bias);
	free(out);
	free(want);
	free(pooled);
	return err;
}

static void test_random(void)
{
	/* Strips of one tile or half the tiles; output channels in one range
	 * or cut in cblocks. */
	static const struct { int n, h, w, cin, cout, flags, cblocks; } cases[] = {
		{ 1, 1, 1, 3, 5, 0, 1 },       { 1, 5, 7, 1, 1, 0, 1 },
		{ 2, 9, 13, 16, 24, WINOGRAD_RELU, 3 }, { 1, 17, 11, 13, 7, 0, 1 },
		{ 3, 8, 8, 64, 64, WINOGRAD_RELU, 1 }, { 1, 2, 3, 5, 9, 0, 2 },
		{ 1, 15, 15, 3, 64, WINOGRAD_RELU, 1 }, { 1, 14, 14, 512, 64, 0, 1 },
		{ 1, 30, 22, 128, 128, WINOGRAD_RELU, 1 }, { 2, 7, 7, 256, 512, 0, 2 },
		{ 1, 11, 9, 24, 40, WINOGRAD_RELU | WINOGRAD_POOL, 1 },
		{ 2, 16, 16, 64, 32, WINOGRAD_RELU | WINOGRAD_POOL, 1 },
		{ 3, 13, 7, 40, 72, WINOGRAD_RELU | WINOGRAD_POOL, 2 },
		/* Two kernel panels of 32 channels; the middle range [24, 48)
		 * takes from both. */
		{ 1, 10, 9, 32, 64, WINOGRAD_RELU, 3 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		if ((cases[i].flags & WINOGRAD_POOL) && test_tile != WINOGRAD_F4)
			continue;
		double err = random_case(cases[i].n, cases[i].h, cases[i].w,
					 cases[i].cin, cases[i].cout, cases[i].flags,
					 i % 3 == 0 ? 1 : 0, cases[i].cblocks);
		/* A layer's float32 error grows with the square root of the
		 * terms each output sums: measured 0.7e-7 to 7.6e-7 times
		 * sqrt(cin) over the avx512, avx2 and baseline builds of the
		 * GEMM kernel (9.4e-7 at one channel, the transforms' own on
		 * every processor). Four times the most of that (three at one
		 * channel), never above 5e-5; a coefficient wrong in its
		 * fourth digit makes 3.5e-4 or more. */
		double bound = fmin(5e-5, 3e-6 * sqrt(cases[i].cin));

		ok(err <= bound, "random n=%d %dx%d cin=%d cout=%d flags=%d channel ranges %d: error %.2e of the largest output (allowed %.1e)",
		   cases[i].n, cases[i].h, cases[i].w, cases[i].cin, cases[i].cout,
		   cases[i].flags, cases[i].cblocks, err, bound);
	}
}

/* The fused epilogue gives the very numbers of bias, ReLU and pooling
 * applied afterwards. */
static void test_fused(void)
{
	int n = 2, h = 13, w = 10, cin = 20, cout = 12, oh = h / 2, ow = w / 2;
	size_t px = (size_t)n * h * w;
	float *in = random_floats(px * cin, -1, 1);
	float *k = random_floats((size_t)9 * cin * cout, -0.3, 0.3);
	float *bias = random_floats(cout, -0.5, 0.5);
	float *plain = xcalloc(px * cout, sizeof *plain);
	float *fused = xcalloc(px * cout, sizeof *fused);
	int same = 1;

	winograd(in, n, h, w, cin, cout, k, NULL, 0, 1, 0, plain);
	for (size_t i = 0; i < px * cout; i++) {
		plain[i] += bias[i % cout];
		plain[i] = plain[i] > 0 ? plain[i] : 0;
	}
	winograd(in, n, h, w, cin, cout, k, bias, WINOGRAD_RELU, 1, 0, fused);
	ok(!memcmp(plain, fused, px * cout * sizeof *plain),
	   "bias and ReLU fused: identical to applying them after");
	if (test_tile != WINOGRAD_F4)
		goto done;

	winograd(in, n, h, w, cin, cout, k, bias, WINOGRAD_RELU | WINOGRAD_POOL, 1, 0, fused);
	for (int b = 0; b < n; b++)
		for (int y = 0; y < oh; y++)
			for (int x = 0; x < ow; x++)
				for (int c = 0; c < cout; c++) {
					float m = 0;

					for (int d = 0; d < 4; d++) {
						float v = plain[(((size_t)b * h + 2 * y + d / 2) * w +
								 2 * x + d % 2) * cout + c];
						m = v > m ? v : m;
					}
					same &= fused[(((size_t)b * oh + y) * ow + x) * cout + c] == m;
				}
	ok(same, "bias, ReLU and 2x2 pool fused on %dx%d: identical to pooling after", h, w);

	/* A one-row image pools to nothing: nothing written. */
	fused[0] = -7;
	winograd(in, 1, 1, w, cin, cout, k, bias, WINOGRAD_POOL, 1, 0, fused);
	ok(fused[0] == -7, "pooling a one-row image writes nothing");
done:
	free(in);
	free(k);
	free(bias);
	free(plain);
	free(fused);
}

/* The transform of a turned kernel (the input gradient's) read from the
 * kernel it is turned from, in channel ranges that cut its blocks of
 * rows, against the transform of the kernel turned by hand: the same
 * bits, with a last panel of 8 columns; and a panel of columns at a
 * time, packed alone. */
static void test_turned(void)
{
	enum { CIN = 40, COUT = 56 }; /* the turned kernel's: [3, 3, COUT, CIN] is turned */
	float *k = random_floats((size_t)9 * COUT * CIN, -1, 1);
	float *turned = xcalloc((size_t)9 * CIN * COUT, sizeof *turned);

	for (int tap = 0; tap < 9; tap++)
		for (int co = 0; co < COUT; co++)
			for (int ci = 0; ci < CIN; ci++)
				turned[((size_t)tap * CIN + ci) * COUT + co] =
					k[((size_t)(8 - tap) * COUT + co) * CIN + ci];
	for (int tile = WINOGRAD_F3; tile <= WINOGRAD_F4; tile++) {
		size_t floats = winograd_kernel_floats(tile, CIN, COUT);
		float *want = xcalloc(floats, sizeof *want), *got = xcalloc(floats, sizeof *got);
		size_t plane = floats / (size_t)winograd_points(tile), panel = (size_t)CIN * 32;
		int same = 1;

		winograd_kernel_transform(tile, turned, CIN, COUT, 0, CIN, 0, COUT, 0, want);
		winograd_kernel_transform(tile, k, CIN, COUT, 0, 7, 0, COUT, 1, got);
		winograd_kernel_transform(tile, k, CIN, COUT, 7, 30, 0, COUT, 1, got);
		winograd_kernel_transform(tile, k, CIN, COUT, 30, CIN, 0, COUT, 1, got);
		ok(!memcmp(want, got, floats * sizeof *got),
		   "F(%dx%d, 3x3) transform of a kernel turned on the way: as of one turned before, "
		   "bit for bit", tile, tile);
		/* Each panel of columns alone, its points one panel apart. */
		for (int c0 = 0; c0 < COUT; c0 += 32) {
			int c1 = c0 + 32 < COUT ? c0 + 32 : COUT;

			memset(got, 0xff, floats * sizeof *got);
			winograd_kernel_transform(tile, k, CIN, COUT, 0, 30, c0, c1, 1, got);
			winograd_kernel_transform(tile, k, CIN, COUT, 30, CIN, c0, c1, 1, got);
			for (int pt = 0; pt < winograd_points(tile); pt++)
				same &= !memcmp(got + pt * panel, want + pt * plane + c0 / 32 * panel,
						panel * sizeof *got);
		}
		ok(same, "F(%dx%d, 3x3) transform of one panel of columns at a time: the same bits "
			 "as that panel of the whole transform", tile, tile);
		free(want);
		free(got);
	}
	free(k);
	free(turned);
}


/* The transforms' stages that test_builds_agree compares. */
#define STAGES 6

/* A layer's stages of the transforms alone, each from a workspace
 * filled at random (as aligned as the tools' are): buf[0] the output
 * transform's workspace, then the output; buf[1] the input transform's;
 * buf[2] the kernel gradient's input transforms'; buf[3] its last
 * transform's workspace, then the kernel; buf[4] the kernel [3, 3, cin,
 * cout] transformed, buf[5] turned. */
static void transform_stages(const struct winograd_layer *l, const float *in, const float *dy,
			     const float *kernel, size_t tiles, const size_t floats[STAGES],
			     float *buf[STAGES])
{
	size_t ws_floats = winograd_workspace_floats(l->tile, l->cin, l->cout, tiles);
	size_t gws_floats = winograd_gradient_workspace_floats(l->tile, l->cin, l->cout, tiles);

	rng_state = 12345;
	for (int stage = 0; stage < STAGES; stage++) {
		buf[stage] = aligned_alloc(64, (floats[stage] * sizeof(float) + 63) / 64 * 64);
		if (!buf[stage]) {
			fprintf(stderr, "test_winograd: out of memory\n");
			exit(1);
		}
		for (size_t i = 0; i < floats[stage]; i++)
			buf[stage][i] = (float)(2 * uniform() - 1);
	}
	winograd_stage_output(l, 0, tiles, 0, tiles, buf[0], buf[0] + ws_floats);
	winograd_stage_input(l, in, 0, tiles, 0, tiles, buf[1]);
	winograd_gradient_stage_input(l, in, dy, 0, tiles, 0, tiles, buf[2]);
	winograd_gradient_stage_kernel(l, 0, tiles, 0, 0, l->cin, 0, buf[3], buf[3] + gws_floats);
	winograd_kernel_transform(l->tile, kernel, l->cin, l->cout, 0, l->cin, 0, l->cout, 0,
				  buf[4]);
	winograd_kernel_transform(l->tile, kernel, l->cout, l->cin, 0, l->cout, 0, l->cin, 1,
				  buf[5]);
}

/* The transforms compute every lane alone, without fused multiply-adds:
 * each build the processor runs gives the same bits as the baseline, on
 * channel counts that leave part of a vector at 8 and 16 lanes but not
 * at the baseline's 4 (12), and at every width (21). */
static void test_builds_agree(void)
{
	/* Ascending, so that the best build the processor runs is the one
	 * in use afterwards, as main wants for the tests after this. */
	static const char *const builds[] = { "avx2", "avx512" };
	const int n = 2, h = 7, w = 9, cin = 12, cout = 21;
	size_t pixels = (size_t)n * h * w;
	float *in = random_floats(pixels * cin, -1, 1), *dy = random_floats(pixels * cout, -1, 1);
	float *bias = random_floats((size_t)cout, -0.5, 0.5);
	float *kernel = random_floats((size_t)9 * cin * cout, -1, 1);

	for (int tile = WINOGRAD_F4; tile >= WINOGRAD_F3; tile--) {
		struct winograd_layer l = { .h = h, .w = w, .cin = cin, .cout = cout, .tile = tile,
					    .bias = bias,
					    .flags = WINOGRAD_RELU |
						     (tile == WINOGRAD_F4 ? WINOGRAD_POOL : 0) };
		size_t tiles = winograd_tiles(tile, n, h, w);
		size_t ws_floats = winograd_workspace_floats(tile, cin, cout, tiles);
		size_t gws_floats = winograd_gradient_workspace_floats(tile, cin, cout, tiles);
		const size_t floats[STAGES] = { ws_floats + pixels * cout, ws_floats, gws_floats,
						gws_floats + (size_t)9 * cin * cout,
						winograd_kernel_floats(tile, cin, cout),
						winograd_kernel_floats(tile, cout, cin) };
		float *want[STAGES];

		kernels_select("baseline");
		transform_stages(&l, in, dy, kernel, tiles, floats, want);
		for (size_t b = 0; b < sizeof builds / sizeof *builds; b++) {
			float *got[STAGES];
			int same = 1;

			if (kernels_select(builds[b]))
				continue;
			transform_stages(&l, in, dy, kernel, tiles, floats, got);
			for (int stage = 0; stage < STAGES; stage++) {
				same &= !memcmp(want[stage], got[stage], floats[stage] * sizeof(float));
				free(got[stage]);
			}
			ok(same, "F(%dx%d, 3x3): the %s build's transforms give the baseline's bits",
			   tile, tile, builds[b]);
		}
		for (int stage = 0; stage < STAGES; stage++)
			free(want[stage]);
	}
	free(in);
	free(dy);
	free(bias);
	free(kernel);
}

/* The choice between the tiles, and what each needs. */
static void test_tiles(void)
{
	static const struct { int h, w, tile; } best[] = {
		{ 9, 9, WINOGRAD_F3 },   { 6, 6, WINOGRAD_F3 },   { 5, 5, WINOGRAD_F3 },
		{ 14, 14, WINOGRAD_F4 }, { 8, 8, WINOGRAD_F4 },   { 18, 18, WINOGRAD_F4 },
		{ 224, 224, WINOGRAD_F4 }, { 12, 12, WINOGRAD_F4 }, { 9, 14, WINOGRAD_F3 },
		{ 3, 3, WINOGRAD_F3 },
	};
	int good = 1;

	for (size_t i = 0; i < sizeof best / sizeof *best; i++)
		good &= winograd_best_tile(best[i].h, best[i].w) == best[i].tile;
	ok(good, "best tile: 3x3 on 9x9, 9x14, 6x6, 5x5 and 3x3 maps, 4x4 on 14x14, 12x12, "
		 "8x8, 224x224 and on the tie at 18x18");
	ok(winograd_points(WINOGRAD_F4) == 36 && winograd_points(WINOGRAD_F3) == 25 &&
	   winograd_tiles(WINOGRAD_F3, 2, 9, 9) == 18 && winograd_tiles(WINOGRAD_F3, 1, 10, 4) == 8 &&
	   winograd_kernel_floats(WINOGRAD_F3, 24, 40) == (size_t)25 * 24 * 64 &&
	   winograd_gradient_workspace_floats(WINOGRAD_F3, 24, 40, 10) <
		   winograd_gradient_workspace_floats(WINOGRAD_F4, 24, 40, 10),
	   "3x3 tiles: 25 points, ceil(h / 3) * ceil(w / 3) tiles, 25 * cin * cout kernel floats");
}

static void test_workspace(void)
{
	enum { TILE = WINOGRAD_F4 };
	int h = 23, w = 18, cin = 24, cout = 40;
	size_t tiles = winograd_tiles(TILE, 1, h, w), px = (size_t)h * w;
	size_t one = winograd_workspace_floats(TILE, cin, cout, 1);
	size_t budget = 5 * one + one / 2, strip = winograd_strip_tiles(TILE, cin, cout, budget);
	float *in = random_floats(px * cin, -1, 1);
	float *k = random_floats((size_t)9 * cin * cout, -0.2, 0.2);
	float *u = xcalloc(winograd_kernel_floats(TILE, cin, cout), sizeof *u);
	float *ws = xcalloc(budget + 64, sizeof *ws);
	float *out = xcalloc(px * cout, sizeof *out), *whole = xcalloc(px * cout, sizeof *out);
	struct winograd_layer l = { .h = h, .w = w, .cin = cin, .cout = cout, .tile = TILE,
				    .u = u };
	int guard = 1;

	test_tile = TILE;
	ok(tiles == 6 * 5 && winograd_tiles(TILE, 3, 1, 1) == 3 &&
	   winograd_tiles(TILE, 2, 4, 8) == 4,
	   "tiles: ceil(h / 4) * ceil(w / 4) per image");
	/* V and M, 36 matrices each, padded by at most two 16-float cache
	 * lines apiece, and one line to align the start. */
	guard = 1;
	for (size_t t = 1; t < 300; t += 7) {
		size_t least = (size_t)36 * t * (cin + cout);
		size_t got = winograd_workspace_floats(TILE, cin, cout, t);

		guard &= got >= least && got <= least + 72 * 32 + 16;
	}
	ok(guard && winograd_kernel_floats(TILE, cin, cout) == (size_t)36 * cin * 64 &&
	   winograd_kernel_floats(TILE, cin, 64) == (size_t)36 * cin * 64,
	   "workspace about 36 * (cin + cout) floats per tile, kernel 36 * cin * cout "
	   "with cout rounded up to panels of 32");
	guard = 1;
	for (size_t b = one; b < 40 * one; b += one / 3) {
		size_t t = winograd_strip_tiles(TILE, cin, cout, b);

		guard &= winograd_workspace_floats(TILE, cin, cout, t) <= b &&
			 winograd_workspace_floats(TILE, cin, cout, t + 1) > b;
	}
	ok(guard && winograd_strip_tiles(TILE, cin, cout, 1) == 1 &&
	   winograd_strip_tiles(TILE, 512, 512, (size_t)1 << 21) == 56,
	   "strip_tiles: the most tiles a budget holds (%zu in 5.5 tiles' worth)", strip);

	/* Strips of that size in a workspace of exactly the budget leave the
	 * floats past it untouched, and give the one-strip result. */
	winograd_kernel_transform(TILE, k, cin, cout, 0, cin, 0, cout, 0, u);
	guard = 1;
	for (int i = 0; i < 64; i++)
		ws[budget + i] = -12345;
	for (size_t t0 = 0; t0 < tiles; t0 += strip)
		winograd_conv3x3_forward(&l, in, t0, t0 + strip < tiles ? t0 + strip : tiles,
					 0, cout, ws, out);
	for (int i = 0; i < 64; i++)
		guard &= ws[budget + i] == -12345;
	ok(guard, "strips of %zu tiles stay inside a %zu-float workspace", strip, budget);
	winograd(in, 1, h, w, cin, cout, k, NULL, 0, 1, tiles, whole);
	ok(!memcmp(out, whole, px * cout * sizeof *out),
	   "strips of %zu tiles: as one strip, bit for bit", strip);

	/* One strip writes its tiles' pixels only: tile 7 is rows 4..7,
	 * columns 8..11. */
	for (size_t i = 0; i < px * cout; i++)
		out[i] = -1;
	winograd_conv3x3_forward(&l, in, 7, 8, 0, cout, ws, out);
	guard = 1;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			int inside = y >= 4 && y < 8 && x >= 8 && x < 12;
			float v = out[((size_t)y * w + x) * cout];

			guard &= inside ? v == whole[((size_t)y * w + x) * cout] : v == -1;
		}
	ok(guard, "a strip of one tile writes that tile's 4x4 pixels only");

	/* Channels [32, 37) of tile 0, the second panel's first five: the
	 * others stay. */
	for (size_t i = 0; i < px * cout; i++)
		out[i] = -1;
	winograd_conv3x3_forward(&l, in, 0, 1, 32, 37, ws, out);
	guard = 1;
	for (int y = 0; y < 4; y++)
		for (int x = 0; x < 4; x++)
			for (int c = 0; c < cout; c++) {
				size_t at = ((size_t)y * w + x) * cout + c;

				guard &= c >= 32 && c < 37 ? out[at] == whole[at] : out[at] == -1;
			}
	ok(guard, "channels [32, 37) of a tile: those channels only, as in the whole");
	free(in);
	free(k);
	free(u);
	free(ws);
	free(out);
	free(whole);
}

/* Strips and channel ranges can go to any thread, and be of any size:
 * pgemm sums each output over the input channels in the same order
 * whichever rows and panels a call covers, so every way gives the same
 * bits. */
static void test_threads(void)
{
	int n = 2, h = 37, w = 29, cin = 64, cout = 80;
	size_t count = (size_t)n * h * w * cout;
	float *in = random_floats((size_t)n * h * w * cin, -1, 1);
	float *k = random_floats((size_t)9 * cin * cout, -0.1, 0.1);
	float *bias = random_floats(cout, -0.5, 0.5);
	float *one = xcalloc(count, sizeof *one), *out = xcalloc(count, sizeof *out);
	static const struct { int threads; size_t strip; int cblocks; } runs[] = {
		{ 2, 16, 1 }, { 3, 16, 1 }, { 2, 0, 1 }, { 3, 0, 1 }, { 2, 1, 1 },
		{ 2, 16, 3 }, { 3, 16, 2 }, { 2, 7, 2 },
	};

	winograd(in, n, h, w, cin, cout, k, bias, WINOGRAD_RELU, 1, 16, one);
	for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
		memset(out, 0, count * sizeof *out);
		winograd_split(in, n, h, w, cin, cout, k, bias, WINOGRAD_RELU, runs[i].threads,
			       runs[i].strip, runs[i].cblocks, out);
		ok(!memcmp(out, one, count * sizeof *out),
		   "%d threads, strips of %zu tiles in %d channel range(s): as 1 thread of 16-tile strips, bit for bit",
		   runs[i].threads, runs[i].strip ? runs[i].strip :
		   (winograd_tiles(test_tile, n, h, w) + runs[i].threads - 1) / runs[i].threads,
		   runs[i].cblocks);
	}
	free(in);
	free(k);
	free(bias);
	free(one);
	free(out);
}

/* The im2col baseline as lib/vgg16.c has it: strips of pixels, col
 * [pixels, 3, 3, cin], one SGEMM against the HWIO kernel, then bias and
 * ReLU (in vectors, as there) and a separate 2x2 max-pool. */
struct im2col {
	const float *in, *k, *bias;
	float *out, *col;
	int h, w, cin, cout;
	size_t pixels, strip, col_floats;
	atomic_size_t next;
};

struct im2col_runner {
	struct im2col *r;
	int id;
};

typedef float vf8 __attribute__((vector_size(32)));
typedef int32_t vi8 __attribute__((vector_size(32)));

static void im2col_strip(struct im2col *r, size_t p0, size_t p1, float *col)
{
	size_t hw = (size_t)r->h * r->w, row = (size_t)9 * r->cin;
	const vf8 zero = { 0 };

	for (size_t p = p0; p < p1; p++) {
		size_t img = p / hw;
		int y = (int)(p % hw / r->w), x = (int)(p % r->w);

		for (int t = 0; t < 9; t++) {
			int yy = y + t / 3 - 1, xx = x + t % 3 - 1;
			float *d = col + (p - p0) * row + (size_t)t * r->cin;

			if (yy < 0 || yy >= r->h || xx < 0 || xx >= r->w)
				memset(d, 0, r->cin * sizeof *d);
			else
				memcpy(d, r->in + ((img * r->h + yy) * r->w + xx) * r->cin,
				       r->cin * sizeof *d);
		}
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(p1 - p0),
		    r->cout, 9 * r->cin, 1.0f, col, 9 * r->cin, r->k, r->cout,
		    0.0f, r->out + p0 * r->cout, r->cout);
	/* Every VGG16 layer's cout is a multiple of 8. */
	for (size_t p = p0; p < p1; p++) {
		float *o = r->out + p * r->cout;

		for (int c = 0; c < r->cout; c += 8) {
			vf8 v, b;

			memcpy(&v, o + c, sizeof v);
			memcpy(&b, r->bias + c, sizeof b);
			v += b;
			v = (vf8)((vi8)v & (v > zero));
			memcpy(o + c, &v, sizeof v);
		}
	}
}

static void *im2col_run(void *arg)
{
	struct im2col_runner *me = arg;
	struct im2col *r = me->r;
	size_t s;

	while ((s = atomic_fetch_add(&r->next, 1)) * r->strip < r->pixels) {
		size_t p0 = s * r->strip;

		im2col_strip(r, p0, p0 + r->strip < r->pixels ? p0 + r->strip : r->pixels,
			     r->col + me->id * r->col_floats);
	}
	return NULL;
}

static void im2col_layer(struct im2col *r, int threads)
{
	pthread_t tid[8];
	struct im2col_runner me[8];

	atomic_init(&r->next, 0);
	for (int i = 0; i < threads; i++) {
		me[i].r = r;
		me[i].id = i;
	}
	for (int i = 1; i < threads; i++)
		if (pthread_create(&tid[i], NULL, im2col_run, &me[i])) {
			fprintf(stderr, "test_winograd: pthread_create failed\n");
			exit(1);
		}
	im2col_run(&me[0]);
	for (int i = 1; i < threads; i++)
		pthread_join(tid[i], NULL);
}

/* in [n, h, w, c] -> out [n, h / 2, w / 2, c] */
static void maxpool_float(const float *in, int n, int h, int w, int c, float *out)
{
	int oh = h / 2, ow = w / 2;

	for (int b = 0; b < n; b++)
		for (int y = 0; y < oh; y++)
			for (int x = 0; x < ow; x++) {
				const float *p = in + (((size_t)b * h + 2 * y) * w + 2 * x) * c;
				const float *q = p + (size_t)w * c;
				float *d = out + (((size_t)b * oh + y) * ow + x) * c;

				for (int k = 0; k < c; k++) {
					float m1 = p[k] > p[c + k] ? p[k] : p[c + k];
					float m2 = q[k] > q[c + k] ? q[k] : q[c + k];

					d[k] = m1 > m2 ? m1 : m2;
				}
			}
}

/* The whole layer by im2col, with ReLU: in [n, h, w, cin] -> out
 * [n, h, w, cout]. */
static void im2col(const float *in, int n, int h, int w, int cin, int cout,
		   const float *kernel, const float *bias, int threads, float *out)
{
	size_t px = (size_t)n * h * w, col = (size_t)1 << 21;
	struct im2col c = { .in = in, .k = kernel, .bias = bias, .out = out, .h = h,
			    .w = w, .cin = cin, .cout = cout, .pixels = px,
			    .col_floats = col };

	c.strip = col / (9 * cin);
	c.col = xcalloc(threads * col, sizeof *c.col);
	im2col_layer(&c, threads);
	free(c.col);
}

/* VGG16's layers: input and output channels, and whether a pool ends
 * the block. */
static const struct { int cin, cout, pool; } vgg[13] = {
	{ 3, 64, 0 },    { 64, 64, 1 },   { 64, 128, 0 },  { 128, 128, 1 },
	{ 128, 256, 0 }, { 256, 256, 0 }, { 256, 256, 1 }, { 256, 512, 0 },
	{ 512, 512, 0 }, { 512, 512, 1 }, { 512, 512, 0 }, { 512, 512, 0 },
	{ 512, 512, 1 },
};

/* Random He-scaled weights for layer i: kernel [3, 3, cin, cout] and
 * bias [cout]. */
static void vgg_weights(int i, float **k, float **bias)
{
	size_t nk = (size_t)9 * vgg[i].cin * vgg[i].cout;
	double lim = sqrt(6.0 / (9 * vgg[i].cin));

	*k = random_floats(nk, -lim, lim);
	*bias = random_floats(vgg[i].cout, -0.05, 0.05);
}

/* Winograd (and im2col, for scale) through all 13 layers of an s x s
 * image, each fed its own previous output, against float64 all the way;
 * err[i] and err_im2col[i] are layer i's errors against its largest
 * activation, after the pool where a block ends. Returns Winograd's
 * worst. */
static double depth_errors(int s, double err[13], double err_im2col[13])
{
	size_t cap = (size_t)s * s * 64;
	float *a = xcalloc(cap, sizeof *a), *b = xcalloc(cap, sizeof *b);
	float *ia = xcalloc(cap, sizeof *ia), *ib = xcalloc(cap, sizeof *ib);
	double *ra = xcalloc(cap, sizeof *ra), *rb = xcalloc(cap, sizeof *rb);
	double worst = 0;
	int h = s, w = s;

	/* vggfeat's tile, which holds the pools. */
	test_tile = WINOGRAD_F4;

	for (size_t i = 0; i < (size_t)s * s * 3; i++)
		ra[i] = ia[i] = a[i] = (float)(2 * uniform() - 1);
	for (int i = 0; i < 13; i++) {
		float *k, *bias, *ft;
		double *dt;
		int flags = WINOGRAD_RELU | (vgg[i].pool ? WINOGRAD_POOL : 0);
		size_t count;

		vgg_weights(i, &k, &bias);
		winograd(a, 1, h, w, vgg[i].cin, vgg[i].cout, k, bias, flags, 2, 0, b);
		im2col(ia, 1, h, w, vgg[i].cin, vgg[i].cout, k, bias, 2, ib);
		direct_forward(NULL, ra, 1, h, w, vgg[i].cin, vgg[i].cout, k, bias, 1, rb);
		if (vgg[i].pool) {
			maxpool_float(ib, 1, h, w, vgg[i].cout, ia);
			maxpool_ref(rb, 1, h, w, vgg[i].cout, ra);
			h /= 2;
			w /= 2;
		} else {
			memcpy(ia, ib, (size_t)h * w * vgg[i].cout * sizeof *ia);
			memcpy(ra, rb, (size_t)h * w * vgg[i].cout * sizeof *ra);
		}
		count = (size_t)h * w * vgg[i].cout;
		err[i] = rel_error(b, ra, count);
		err_im2col[i] = rel_error(ia, ra, count);
		worst = err[i] > worst ? err[i] : worst;
		ft = a, a = b, b = ft;
		dt = rb, rb = ra, ra = dt;
		/* ra holds the reference input of the next layer again. */
		memcpy(ra, rb, count * sizeof *ra);
		free(k);
		free(bias);
	}
	free(a);
	free(b);
	free(ia);
	free(ib);
	free(ra);
	free(rb);
	return worst;
}

static void test_depth(void)
{
	double err[13], e2[13], worst = depth_errors(48, err, e2);

	for (int i = 0; i < 13; i++)
		printf("# layer %2d (%3d -> %3d%s): error %.2e of the largest activation (im2col %.2e)\n",
		       i + 1, vgg[i].cin, vgg[i].cout, vgg[i].pool ? ", pooled" : "", err[i], e2[i]);
	ok(worst <= DEPTH_TOLERANCE, "VGG16's 13 layers at 48x48, random weights: worst error %.2e <= %g",
	   worst, DEPTH_TOLERANCE);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double least(double a, double b)
{
	return a < b ? a : b;
}

/* The best of `reps` runs on each of VGG16's layers of im2col (pool
 * separate) and of Winograd (pool fused) two ways: strips spread over
 * our threads ("tiles"), and each strip's output channels spread over
 * them ("chans").
 * Timing on a shared machine is noisy: the minimum is the least disturbed
 * run. */
static int bench(int n, int s, size_t ws_floats, int threads)
{
	const int reps = 5;
	int h = s, w = s;
	double tot[3] = { 0 }, tot_best = 0, flops_all = 0;

	/* im2col's GEMMs run inside our threads, one OpenBLAS thread each. */
	openblas_set_num_threads(1);
	printf("# VGG16's layers, %d image(s) of %dx%d, %d threads, best of %d runs, OpenBLAS %s\n",
	       n, s, s, threads, reps, openblas_get_corename());
	printf("# workspace %zu floats per thread; ms per image; GFLOP/s counts the direct convolution's multiply-adds\n",
	       ws_floats);
	printf("layer  cin cout  size  im2col  wino-tiles  wino-chans  speed-up  GFLOP/s\n");
	for (int i = 0; i < 13; i++) {
		int cin = vgg[i].cin, cout = vgg[i].cout;
		size_t px = (size_t)n * h * w, budget;
		float *k, *bias, *in = random_floats(px * cin, 0, 1);
		float *out = xcalloc(px * cout, sizeof *out);
		float *pooled = xcalloc(px * cout / 4 + 1, sizeof *pooled);
		float *u = xcalloc(winograd_kernel_floats(WINOGRAD_F4, cin, cout), sizeof *u);
		struct run r = { .l = { .h = h, .w = w, .cin = cin, .cout = cout,
					.tile = WINOGRAD_F4, .u = u },
				 .in = in, .out = out };
		struct im2col c = { .in = in, .out = out, .h = h, .w = w, .cin = cin,
				    .cout = cout, .pixels = px, .col_floats = ws_floats };
		double t[3] = { 1e30, 1e30, 1e30 }, best, flops = 2.0 * px * 9 * cin * cout;

		vgg_weights(i, &k, &bias);
		winograd_kernel_transform(WINOGRAD_F4, k, cin, cout, 0, cin, 0, cout, 0, u);
		r.l.bias = bias;
		r.l.flags = WINOGRAD_RELU | (vgg[i].pool ? WINOGRAD_POOL : 0);
		r.tiles = winograd_tiles(WINOGRAD_F4, n, h, w);
		budget = winograd_strip_tiles(WINOGRAD_F4, cin, cout, ws_floats);
		r.ws_floats = winograd_workspace_floats(WINOGRAD_F4, cin, cout, budget);
		r.ws = xcalloc(threads * r.ws_floats, sizeof *r.ws);
		c.k = k;
		c.bias = bias;
		c.strip = least(ws_floats / (9 * cin), (px + threads - 1) / threads);
		c.col = xcalloc(threads * ws_floats, sizeof *c.col);
		for (int rep = 0; rep <= reps; rep++) {
			double t0, t1, t2, t3;

			t0 = now_ms();
			im2col_layer(&c, threads);
			if (vgg[i].pool)
				maxpool_float(out, n, h, w, cout, pooled);
			t1 = now_ms();
			r.strip = least(budget, (r.tiles + threads - 1) / threads);
			r.cblocks = 1;
			run_layer(&r, threads);
			t2 = now_ms();
			r.strip = budget;
			r.cblocks = threads;
			run_layer(&r, threads);
			t3 = now_ms();
			/* The first run pages the buffers in. */
			if (rep) {
				t[0] = least(t[0], t1 - t0);
				t[1] = least(t[1], t2 - t1);
				t[2] = least(t[2], t3 - t2);
			}
		}
		best = least(t[1], t[2]);
		printf("%5d %4d %4d %5d %7.2f %11.2f %11.2f %9.2f %8.1f\n", i + 1, cin, cout, h,
		       t[0] / n, t[1] / n, t[2] / n, t[0] / best, flops / best / 1e6);
		for (int j = 0; j < 3; j++)
			tot[j] += t[j];
		tot_best += best;
		flops_all += flops;
		if (vgg[i].pool) {
			h /= 2;
			w /= 2;
		}
		free(k);
		free(bias);
		free(in);
		free(out);
		free(pooled);
		free(u);
		free(r.ws);
		free(c.col);
	}
	printf("total            %7.2f %11.2f %11.2f %9.2f %8.1f\n", tot[0] / n, tot[1] / n,
	       tot[2] / n, tot[0] / tot_best, flops_all / tot_best / 1e6);
	printf("# speed-up and GFLOP/s: im2col against the best Winograd way per layer (total %.2f ms)\n",
	       tot_best / n);
	return 0;
}

/* x [n, h, w, cin], dy [n, h, w, cout] -> dk [3, 3, cin, cout] by the
 * stages of winograd.h: strips of `strip` tiles, the transforms `cut`
 * tiles at a time, the GEMMs `points` points and `cols` columns (a
 * multiple of 32) at a time, the kernel's rows `rows` at a time. */
static void gradient(const float *x, const float *dy, int n, int h, int w, int cin, int cout,
		     size_t strip, size_t cut, int points, int cols, int rows, float *dk)
{
	struct winograd_layer l = { .h = h, .w = w, .cin = cin, .cout = cout, .tile = test_tile };
	size_t tiles = winograd_tiles(test_tile, n, h, w);
	float *ws = xcalloc(winograd_gradient_workspace_floats(test_tile, cin, cout, strip),
			    sizeof *ws);
	int all = winograd_points(test_tile);

	for (size_t s0 = 0, s1; s0 < tiles; s0 = s1) {
		s1 = s0 + strip < tiles ? s0 + strip : tiles;
		for (size_t t0 = s0; t0 < s1; t0 += cut)
			winograd_gradient_stage_input(&l, x, dy, s0, s1, t0,
						      t0 + cut < s1 ? t0 + cut : s1, ws);
		for (int r0 = 0, r1; r0 < cin; r0 = r1) {
			r1 = r0 + WINOGRAD_GRADIENT_ROWS < cin ? r0 + WINOGRAD_GRADIENT_ROWS : cin;
			for (int k0 = 0; k0 < all; k0 += points)
				for (int c0 = 0; c0 < cout; c0 += cols)
					winograd_gradient_stage_multiply(
						&l, s0, s1, r0, r1, k0,
						k0 + points < all ? k0 + points : all, c0,
						c0 + cols < cout ? c0 + cols : cout, ws);
			for (int i0 = 0; i0 < r1 - r0; i0 += rows)
				winograd_gradient_stage_kernel(&l, s0, s1, r0, i0,
							       i0 + rows < r1 - r0 ? i0 + rows : r1 - r0,
							       s0 > 0, ws, dk);
		}
	}
	free(ws);
}

/* The kernel's gradient against a float64 direct sum, on a batch with
 * edge tiles, channel counts that span two blocks of rows and pad the
 * last panel, in one strip and in several; then the same bits however
 * each stage is cut. Measured 6.9e-7 to 1.5e-6 of the largest with the
 * three builds of the GEMM kernel at 4x4 tiles, 7.0e-7 to 2.0e-6 at 3x3
 * tiles, as much as the forward pass rounds; G with -1/15 as -0.0667 is
 * off by 7.3e-4. */
static void test_gradient(void)
{
	enum { N = 3, H = 9, W = 7, CIN = 80, COUT = 40 };
	size_t pixels = (size_t)N * H * W, taps = (size_t)9 * CIN * COUT;
	float *x = random_floats(pixels * CIN, -1, 1), *dy = random_floats(pixels * COUT, -1, 1);
	float *dk = xcalloc(taps, sizeof *dk), *again = xcalloc(taps, sizeof *again);
	double *want = xcalloc(taps, sizeof *want);
	size_t tiles = winograd_tiles(test_tile, N, H, W);

	for (int b = 0; b < N; b++)
		for (int y = 0; y < H; y++)
			for (int xx = 0; xx < W; xx++) {
				const float *g = dy + (((size_t)b * H + y) * W + xx) * COUT;

				for (int tap = 0; tap < 9; tap++) {
					int iy = y + tap / 3 - 1, ix = xx + tap % 3 - 1;
					const float *in = x + (((size_t)b * H + iy) * W + ix) * CIN;

					if (iy < 0 || iy >= H || ix < 0 || ix >= W)
						continue;
					for (int ci = 0; ci < CIN; ci++)
						for (int co = 0; co < COUT; co++)
							want[((size_t)tap * CIN + ci) * COUT + co] +=
								(double)in[ci] * g[co];
				}
			}
	gradient(x, dy, N, H, W, CIN, COUT, tiles, tiles, winograd_points(test_tile), COUT,
		 WINOGRAD_GRADIENT_ROWS, dk);
	ok(rel_error(dk, want, taps) < 5e-6,
	   "kernel gradient, one strip: within 5e-6 of the largest (%.2g)",
	   rel_error(dk, want, taps));
	gradient(x, dy, N, H, W, CIN, COUT, tiles, 1, 1, 32, 1, again);
	ok(!memcmp(dk, again, taps * sizeof *dk),
	   "kernel gradient: the same bits however the stages are cut");
	gradient(x, dy, N, H, W, CIN, COUT, 4, 3, 5, COUT, 7, dk);
	ok(rel_error(dk, want, taps) < 5e-6,
	   "kernel gradient, strips of 4 tiles: within 5e-6 of the largest (%.2g)",
	   rel_error(dk, want, taps));
	free(x);
	free(dy);
	free(dk);
	free(again);
	free(want);
}

int main(int argc, char **argv)
{
	/* Lines out as they come, so that a crash shows where it happened. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "--bench"))
		return bench(argc > 2 ? atoi(argv[2]) : 1, argc > 3 ? atoi(argv[3]) : 224,
			     argc > 4 ? strtoul(argv[4], NULL, 10) : (size_t)1 << 21, 2);
	if (argc > 1 && !strcmp(argv[1], "--depth")) {
		double err[13], e2[13];
		int s = argc > 2 ? atoi(argv[2]) : 224;
		double worst;

		openblas_set_num_threads(1);
		worst = depth_errors(s, err, e2);
		printf("# error against the largest activation, random weights, %dx%d\n", s, s);
		printf("layer  cin cout  winograd    im2col\n");
		for (int i = 0; i < 13; i++)
			printf("%5d %4d %4d  %.2e  %.2e%s\n", i + 1, vgg[i].cin, vgg[i].cout,
			       err[i], e2[i], vgg[i].pool ? "  block end" : "");
		printf("worst %.2e, bound %g\n", worst, DEPTH_BOUND);
		return worst <= DEPTH_BOUND ? 0 : 1;
	}
	/* Our own threads split the strips; OpenBLAS's on top would
	 * oversubscribe the cores. */
	openblas_set_num_threads(1);
	/* Every build of the kernels the processor runs (kernels.h): the
	 * best one for the depth test, last. */
	for (int i = 2; i >= 0; i--) {
		static const char *const builds[] = { "avx512", "avx2", "baseline" };

		if (kernels_select(builds[i])) {
			printf("# GEMM kernels %s: not run by this processor\n", builds[i]);
			continue;
		}
		for (test_tile = WINOGRAD_F4; test_tile >= WINOGRAD_F3; test_tile--) {
			printf("# GEMM kernels %s, F(%dx%d, 3x3)\n", builds[i], test_tile, test_tile);
			test_hand();
			test_channels();
			test_random();
			test_fused();
			test_threads();
			test_gradient();
		}
	}
	test_tiles();
	test_builds_agree();
	test_turned();
	test_workspace();
	test_depth();
	return tap_done();
}
