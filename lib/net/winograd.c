#include "winograd.h"

#include <stdint.h>
#include <string.h>

#include "kernels.h"
#include "pgemm.h"

/* Loops over the points or a tile's rows, unrolled, so that the loads
 * and stores have constant offsets: a third of the input transform's
 * time went to loop control and address arithmetic. */
#define UNROLLED _Pragma("GCC unroll 36")

/* Floats in a 64-byte cache line, and the workspace's alignment. */
#define LINE_FLOATS 16

/* The input tile's side of the larger tile. */
#define MAX_ALPHA 6

/* Each transform below is written once for a `const int tile` and
 * always inlined into a function that calls it with the constant 3 or 4,
 * so that every loop over points has a constant count and unrolls as it
 * did when the code knew one tile only. */
#define ALWAYS_INLINE static inline __attribute__((always_inline))

int winograd_points(int tile)
{
	return (tile + 2) * (tile + 2);
}

/* Tiles along a side of n pixels. */
static size_t tiles_along(int tile, int n)
{
	return (size_t)(n + tile - 1) / (size_t)tile;
}

int winograd_best_tile(int h, int w)
{
	size_t f3 = tiles_along(WINOGRAD_F3, h) * tiles_along(WINOGRAD_F3, w) *
		    (size_t)winograd_points(WINOGRAD_F3);
	size_t f4 = tiles_along(WINOGRAD_F4, h) * tiles_along(WINOGRAD_F4, w) *
		    (size_t)winograd_points(WINOGRAD_F4);

	return f3 < f4 ? WINOGRAD_F3 : WINOGRAD_F4;
}

size_t winograd_kernel_floats(int tile, int cin, int cout)
{
	return (size_t)winograd_points(tile) * pgemm_packed_floats((size_t)cin, (size_t)cout);
}

/* One dimension of G g, on the three taps g0, g1, g2, to the tile's
 * points o[0], o[os], ... o[(tile + 1) os]: G's rows (winograd.h) written
 * out without their zeros and ones, a third of the operations of the
 * full product. In double, so that U is rounded once. */
ALWAYS_INLINE void kernel_1d(const int tile, double g0, double g1, double g2, double *o,
			     size_t os)
{
	double s = g0 + g2;

	if (tile == WINOGRAD_F3) {
		o[0] = g0 * (1.0 / 2);
		o[os] = (s + g1) * (1.0 / 2);
		o[2 * os] = (s - g1) * (1.0 / 6);
		o[3 * os] = (g0 + 2 * g1 + 4 * g2) * (1.0 / 6);
		o[4 * os] = g2;
	} else {
		o[0] = g0 * (1.0 / 2);
		o[os] = (s + g1) * (1.0 / 6);
		o[2 * os] = (g1 - s) * (1.0 / 6);
		o[3 * os] = (4 * g0 + 2 * g1 + g2) * (-1.0 / 30);
		o[4 * os] = (g0 - 2 * g1 + 4 * g2) * (1.0 / 30);
		o[5 * os] = g2 * (1.0 / 2);
	}
}

/* nb (input, output) channel pairs with consecutive output channels, each
 * pair's 3x3 taps to its G g G^T: g is the first pair's tap (0, 0), the
 * taps g_plane floats apart; u is its first point, the points u_plane
 * floats apart. Pairs are the inner loop so that each loop reads and
 * writes contiguous floats; called with a constant nb, it becomes vector
 * code, inlined into each build of winograd_kernel_transform. */
ALWAYS_INLINE void kernel_block(const int tile, const float *g, size_t g_plane, float *u,
			       size_t u_plane, size_t nb)
{
	const int alpha = tile + 2;
	double t[MAX_ALPHA][3][PGEMM_PANEL], r[WINOGRAD_MAX_POINTS][PGEMM_PANEL];

	for (int kx = 0; kx < 3; kx++) {
		const float *g0 = g + kx * g_plane;
		const float *g1 = g0 + 3 * g_plane, *g2 = g0 + 6 * g_plane;

		for (size_t b = 0; b < nb; b++)
			kernel_1d(tile, g0[b], g1[b], g2[b], &t[0][kx][b], 3 * PGEMM_PANEL);
	}
	for (int i = 0; i < alpha; i++)
		for (size_t b = 0; b < nb; b++)
			kernel_1d(tile, t[i][0][b], t[i][1][b], t[i][2][b], &r[i * alpha][b],
				  PGEMM_PANEL);
	for (int k = 0; k < alpha * alpha; k++)
		for (size_t b = 0; b < nb; b++)
			u[k * u_plane + b] = (float)r[k][b];
}

/* Input channels the turned kernel is gathered for at a time: 9 taps of
 * 16 x 32 floats, 18 KB, which stay in the first-level cache. */
#define TURN_ROWS 16

/* Taps of input channels [ci, ci + rows) and output channels [co, co +
 * nb) of the turned kernel, kernel being the [3, 3, cout, cin] it is
 * turned from -> buf [9, TURN_ROWS, PGEMM_PANEL]: buf[tap][i][b] =
 * kernel[8 - tap][co + b][ci + i]. Along the kernel's rows, so that the
 * reads run on contiguous floats and only the cached buffer is written
 * across. */
static inline void turned_taps(const float *kernel, int cin, int cout, int ci, int rows,
			       int co, int nb, float *buf)
{
	size_t plane = (size_t)cin * cout;

	for (int tap = 0; tap < 9; tap++)
		for (int b = 0; b < nb; b++) {
			const float *src = kernel + (8 - tap) * plane + (size_t)(co + b) * cin + ci;

			for (int i = 0; i < rows; i++)
				buf[(tap * TURN_ROWS + i) * PGEMM_PANEL + b] = src[i];
		}
}

ALWAYS_INLINE void kernel_panels(const int tile, const float *kernel, int cin, int cout,
				int ci0, int ci1, int co0, int co1, int turned, float *u)
{
	size_t plane = (size_t)cin * cout;
	size_t u_plane = pgemm_packed_floats((size_t)cin, (size_t)(co1 - co0));
	size_t g_plane = turned ? TURN_ROWS * PGEMM_PANEL : plane;
	int padded = co0 + pgemm_padded_columns(co1 - co0);
	float buf[9 * TURN_ROWS * PGEMM_PANEL];

	/* Panel by panel, so that each point's writes run on through the
	 * panel's rows rather than jump from panel to panel: 1.6 times
	 * faster. The reads of a kernel then jump a row at a time, which the
	 * hardware prefetchers do not follow: the taps of the row after next
	 * are asked for ahead. */
	for (int co = co0; co < padded; co += PGEMM_PANEL) {
		int nb = cout - co < PGEMM_PANEL ? cout - co : PGEMM_PANEL;

		for (int c0 = ci0; c0 < ci1; c0 += TURN_ROWS) {
			int rows = ci1 - c0 < TURN_ROWS ? ci1 - c0 : TURN_ROWS;

			if (turned)
				turned_taps(kernel, cin, cout, c0, rows, co, nb, buf);
			for (int ci = c0; ci < c0 + rows; ci++) {
				const float *g = turned ? buf + (ci - c0) * PGEMM_PANEL
							: kernel + (size_t)ci * cout + co;
				float *d = u + pgemm_packed_index((size_t)cin, (size_t)ci,
								  (size_t)(co - co0));

				if (!turned && ci + 2 < ci1)
					for (int tap = 0; tap < 9; tap++) {
						const float *ahead = kernel + tap * plane +
								     (size_t)(ci + 2) * cout + co;

						__builtin_prefetch(ahead);
						__builtin_prefetch(ahead + PGEMM_PANEL - 1);
					}
				if (nb == PGEMM_PANEL) {
					kernel_block(tile, g, g_plane, d, u_plane, PGEMM_PANEL);
				} else {
					kernel_block(tile, g, g_plane, d, u_plane, (size_t)nb);
					for (int k = 0; k < winograd_points(tile); k++)
						memset(d + k * u_plane + nb, 0,
						       (size_t)(PGEMM_PANEL - nb) * sizeof *d);
				}
			}
		}
	}
}

size_t winograd_tiles(int tile, int n, int h, int w)
{
	return (size_t)n * tiles_along(tile, h) * tiles_along(tile, w);
}

/* Floats from one of the P matrices of V or M to the next, for tiles
 * rows of channels each: whole cache lines, and an odd number of them.
 * The transforms touch all P at once, one vector in each; 36 matrices a
 * power of two apart (64 channels times a power-of-two strip) would all
 * fall in the same set of the L1 cache, which holds 12 of them, and the
 * input transform ran twice as slow. An odd number of lines walks
 * through every set. */
static size_t plane_stride(size_t tiles, int channels)
{
	size_t lines = (tiles * channels + LINE_FLOATS - 1) / LINE_FLOATS;

	return (lines | 1) * LINE_FLOATS;
}

size_t winograd_workspace_floats(int tile, int cin, int cout, size_t strip_tiles)
{
	return (size_t)winograd_points(tile) *
		       (plane_stride(strip_tiles, cin) + plane_stride(strip_tiles, cout)) +
	       LINE_FLOATS;
}

size_t winograd_strip_tiles(int tile, int cin, int cout, size_t ws_floats)
{
	size_t t = ws_floats / ((size_t)winograd_points(tile) * ((size_t)cin + cout));

	while (t > 1 && winograd_workspace_floats(tile, cin, cout, t) > ws_floats)
		t--;
	return t ? t : 1;
}

/* Where tile t starts: image, first output row and column. */
static void tile_origin(int tile, int h, int w, size_t t, size_t *img, int *y0, int *x0)
{
	size_t tw = tiles_along(tile, w), th = tiles_along(tile, h);

	*img = t / (th * tw);
	*y0 = (int)(t / tw % th) * tile;
	*x0 = (int)(t % tw) * tile;
}

/* Asks for the cache lines of tile t's window ahead of its transform.
 * Each of its rows is a run of contiguous pixels, but the transform
 * reads them one vector of channels at a time across all the window's
 * pixels, a pattern the hardware prefetchers do not follow: the loads
 * waited on memory for a third of the input transform's time. */
static void prefetch_window(int tile, const float *in, int h, int w, int cin, size_t t)
{
	const int alpha = tile + 2;
	size_t img;
	int y0, x0, first, end;

	tile_origin(tile, h, w, t, &img, &y0, &x0);
	/* The window's columns inside the image, [first, end). */
	first = x0 > 0 ? x0 - 1 : 0;
	end = x0 - 1 + alpha < w ? x0 - 1 + alpha : w;
	for (int y = y0 > 0 ? y0 - 1 : 0; y < y0 - 1 + alpha && y < h; y++) {
		const float *row = in + ((img * h + y) * w) * cin;

		for (size_t f = (size_t)first * cin; f < (size_t)end * cin; f += LINE_FLOATS)
			__builtin_prefetch(row + f);
	}
}

/* The window of tile t, which starts one pixel above and left of the
 * tile's outputs: its pixels in in [n, h, w, cin], NULL for the padding
 * outside the image. */
static inline void tile_window(int tile, const float *in, int h, int w, int cin, size_t t,
			       const float *px[WINOGRAD_MAX_POINTS])
{
	const int alpha = tile + 2;
	size_t img;
	int y0, x0;

	tile_origin(tile, h, w, t, &img, &y0, &x0);
	for (int i = 0; i < alpha; i++) {
		int y = y0 - 1 + i;

		for (int j = 0; j < alpha; j++) {
			int x = x0 - 1 + j;

			px[i * alpha + j] = y >= 0 && y < h && x >= 0 && x < w
				? in + ((img * h + y) * w + x) * cin : NULL;
		}
	}
}

/* The transforms, built for each processor build of kernels.h at the
 * width of its vector registers (winograd_lanes.inc): the entry points
 * input_transform_avx512 and so on. */
#define LANES 16
#define KERNEL(name) name##_avx512
#define TARGET __attribute__((target(KERNELS_AVX512_FEATURES)))
#include "winograd_lanes.inc"
#undef LANES
#undef KERNEL
#undef TARGET

#define LANES 8
#define KERNEL(name) name##_avx2
#define TARGET __attribute__((target(KERNELS_AVX2_FEATURES)))
#include "winograd_lanes.inc"
#undef LANES
#undef KERNEL
#undef TARGET

#define LANES 4
#define KERNEL(name) name##_baseline
#define TARGET
#include "winograd_lanes.inc"
#undef LANES
#undef KERNEL
#undef TARGET

/* The transforms of the build in use. */
static const struct transforms {
	void (*input)(int tile, const float *in, int h, int w, int cin, size_t t0, size_t t1,
		      float *v, size_t stride);
	void (*output)(const struct winograd_layer *l, const float *m, size_t stride,
		       size_t t0, size_t t1, int c0, int c1, float *out);
	void (*gradient)(int tile, const float *dy, int h, int w, int cout, size_t s0,
			 size_t nt, size_t t0, size_t t1, float *z, size_t stride);
	void (*kernel_gradient)(int tile, const float *du, size_t stride, int cin, int cout,
				int r0, int i0, int i1, int accumulate, float *dkernel);
	void (*kernel)(int tile, const float *kernel, int cin, int cout, int ci0, int ci1,
		       int co0, int co1, int turned, float *u);
} transforms[KERNELS_BUILDS] = {
#define BUILD(suffix) \
	{ input_transform_##suffix, output_transform_##suffix, gradient_transform_##suffix, \
	  kernel_gradient_##suffix, kernel_transform_##suffix }
	[KERNELS_AVX512] = BUILD(avx512),
	[KERNELS_AVX2] = BUILD(avx2),
	[KERNELS_BASELINE] = BUILD(baseline),
#undef BUILD
};

static const struct transforms *transforms_in_use(void)
{
	return &transforms[kernels_build()];
}

void winograd_kernel_transform(int tile, const float *kernel, int cin, int cout, int ci0,
			       int ci1, int co0, int co1, int turned, float *u)
{
	transforms_in_use()->kernel(tile, kernel, cin, cout, ci0, ci1, co0, co1, turned, u);
}

/* Where V and M sit in a workspace for a strip of nt tiles and nc output
 * channels. */
struct planes {
	float *v, *m;
	size_t v_stride, m_stride;
};

static void planes(const struct winograd_layer *l, size_t nt, int nc, float *ws,
		   struct planes *p)
{
	p->v_stride = plane_stride(nt, l->cin);
	p->m_stride = plane_stride(nt, nc);
	/* Whole vectors then never straddle two cache lines. */
	p->v = ws + (LINE_FLOATS - (uintptr_t)ws / sizeof *ws % LINE_FLOATS) % LINE_FLOATS;
	p->m = p->v + (size_t)winograd_points(l->tile) * p->v_stride;
}

/* M = V U for points [k0, k1) and columns [c0, c1) of l->u, whose
 * planes hold u_cols columns: into m, M's planes from column c0 on, ldc
 * floats to a row. */
static void multiply(const struct winograd_layer *l, int u_cols, const struct planes *p,
		     size_t nt, int c0, int c1, int k0, int k1, float *m, size_t ldc)
{
	size_t u_plane = pgemm_packed_floats((size_t)l->cin, (size_t)u_cols);
	struct pgemm g = {
		.count = (size_t)(k1 - k0), .m = nt, .k = (size_t)l->cin,
		.a = p->v + k0 * p->v_stride, .lda = (size_t)l->cin, .a_stride = p->v_stride,
		.b = l->u + k0 * u_plane, .b_stride = u_plane, .c0 = c0, .c1 = c1,
		.c = m + k0 * p->m_stride, .ldc = ldc, .c_stride = p->m_stride,
	};

	pgemm(&g);
}

void winograd_conv3x3_forward(const struct winograd_layer *l, const float *in,
			      size_t t0, size_t t1, int c0, int c1, float *ws,
			      float *out)
{
	struct planes p;

	if (t1 <= t0 || c1 <= c0)
		return;
	planes(l, t1 - t0, c1 - c0, ws, &p);
	transforms_in_use()->input(l->tile, in, l->h, l->w, l->cin, t0, t1, p.v, p.v_stride);
	multiply(l, l->cout, &p, t1 - t0, c0, c1, 0, winograd_points(l->tile), p.m,
		 (size_t)(c1 - c0));
	transforms_in_use()->output(l, p.m, p.m_stride, t0, t1, c0, c1, out);
}

void winograd_stage_input(const struct winograd_layer *l, const float *in, size_t s0,
			  size_t s1, size_t t0, size_t t1, float *ws)
{
	struct planes p;

	planes(l, s1 - s0, l->cout, ws, &p);
	transforms_in_use()->input(l->tile, in, l->h, l->w, l->cin, t0, t1,
				   p.v + (t0 - s0) * l->cin, p.v_stride);
}

void winograd_stage_multiply(const struct winograd_layer *l, size_t s0, size_t s1, int k0,
			     int k1, int u0, int u1, int c0, int c1, float *ws)
{
	struct planes p;

	planes(l, s1 - s0, l->cout, ws, &p);
	multiply(l, u1 - u0, &p, s1 - s0, c0 - u0, c1 - u0, k0, k1, p.m + c0, (size_t)l->cout);
}

void winograd_stage_output(const struct winograd_layer *l, size_t s0, size_t s1, size_t t0,
			   size_t t1, float *ws, float *out)
{
	struct planes p;

	planes(l, s1 - s0, l->cout, ws, &p);
	transforms_in_use()->output(l, p.m + (t0 - s0) * l->cout, p.m_stride, t0, t1, 0, l->cout,
				    out);
}

/* ---- the kernel's gradient ---- */

/* Where V, Z and dU sit in a workspace for a strip of nt tiles. */
struct gradient_planes {
	float *v, *z, *du;
	size_t v_stride, z_stride, du_stride;
};

static void gradient_planes(int tile, int cin, int cout, size_t nt, float *ws,
			    struct gradient_planes *p)
{
	size_t points = (size_t)winograd_points(tile);

	p->v_stride = plane_stride(nt, cin);
	p->z_stride = plane_stride(nt, pgemm_padded_columns(cout));
	p->du_stride = plane_stride(WINOGRAD_GRADIENT_ROWS, cout);
	p->v = ws + (LINE_FLOATS - (uintptr_t)ws / sizeof *ws % LINE_FLOATS) % LINE_FLOATS;
	p->z = p->v + points * p->v_stride;
	p->du = p->z + points * p->z_stride;
}

size_t winograd_gradient_workspace_floats(int tile, int cin, int cout, size_t strip_tiles)
{
	int padded = pgemm_padded_columns(cout);

	return (size_t)winograd_points(tile) * (plane_stride(strip_tiles, cin) +
						plane_stride(strip_tiles, padded) +
						plane_stride(WINOGRAD_GRADIENT_ROWS, cout)) +
	       LINE_FLOATS;
}

size_t winograd_gradient_strip_tiles(int tile, int cin, int cout, size_t ws_floats)
{
	size_t fixed = winograd_gradient_workspace_floats(tile, cin, cout, 0);
	size_t per_tile = (size_t)winograd_points(tile) * ((size_t)cin + cout + PGEMM_PANEL);
	size_t t = ws_floats > fixed ? (ws_floats - fixed) / per_tile : 1;

	while (t > 1 && winograd_gradient_workspace_floats(tile, cin, cout, t) > ws_floats)
		t--;
	return t ? t : 1;
}

void winograd_gradient_stage_input(const struct winograd_layer *l, const float *in,
				   const float *dy, size_t s0, size_t s1, size_t t0, size_t t1,
				   float *ws)
{
	struct gradient_planes p;

	gradient_planes(l->tile, l->cin, l->cout, s1 - s0, ws, &p);
	transforms_in_use()->input(l->tile, in, l->h, l->w, l->cin, t0, t1,
				   p.v + (t0 - s0) * l->cin, p.v_stride);
	transforms_in_use()->gradient(l->tile, dy, l->h, l->w, l->cout, s0, s1 - s0, t0, t1, p.z,
				      p.z_stride);
}

void winograd_gradient_stage_multiply(const struct winograd_layer *l, size_t s0, size_t s1,
				      int r0, int r1, int k0, int k1, int c0, int c1, float *ws)
{
	struct gradient_planes p;
	size_t nt = s1 - s0;

	gradient_planes(l->tile, l->cin, l->cout, nt, ws, &p);
	pgemm(&(struct pgemm){
		.count = (size_t)(k1 - k0), .m = (size_t)(r1 - r0), .k = nt,
		.a = p.v + k0 * p.v_stride + r0, .lda = (size_t)l->cin, .a_stride = p.v_stride,
		.a_transposed = 1,
		.b = p.z + k0 * p.z_stride, .b_stride = p.z_stride, .c0 = c0, .c1 = c1,
		.c = p.du + k0 * p.du_stride + c0, .ldc = (size_t)l->cout, .c_stride = p.du_stride,
	});
}

void winograd_gradient_stage_kernel(const struct winograd_layer *l, size_t s0, size_t s1,
				    int r0, int i0, int i1, int accumulate, float *ws,
				    float *dkernel)
{
	struct gradient_planes p;

	gradient_planes(l->tile, l->cin, l->cout, s1 - s0, ws, &p);
	transforms_in_use()->kernel_gradient(l->tile, p.du, p.du_stride, l->cin, l->cout, r0, i0,
					     i1, accumulate, dkernel);
}
