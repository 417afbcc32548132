/* Winograd F(4x4, 3x3) convolution: the 3x3 'same' convolution (stride 1,
 * zero padding of 1) of lib/vgg16.h, NHWC, computed as 36 GEMMs over
 * transformed 6x6 input tiles, each yielding a 4x4 output tile. It needs
 * 36 multiplies per 16 outputs per channel pair where the direct
 * convolution needs 144: 4x fewer, paid for with transforms that are
 * linear in the channels and with a larger rounding error.
 *
 * Interpolation points 0, 1, -1, 1/2, -2 and infinity. With every row of
 * B^T and column of A^T scaled by a power of two (exact in floating point)
 * so that both are integer:
 *
 *   B^T = [ 2 -3 -4  3  2  0 ]   G = [  1/2    0     0   ]
 *         [ 0 -2  1  5  2  0 ]       [  1/6   1/6   1/6  ]
 *         [ 0  2 -5  1  2  0 ]       [ -1/6   1/6  -1/6  ]
 *         [ 0 -2 -1  2  1  0 ]       [ -2/15 -1/15 -1/30 ]
 *         [ 0  1 -2 -1  2  0 ]       [  1/30 -1/15  2/15 ]
 *         [ 0  2 -3 -4  3  2 ]       [   0     0    1/2  ]
 *
 *   A^T = [ 1  1  1  8  1  0 ]
 *         [ 0  1 -1  4 -2  0 ]
 *         [ 0  1  1  2  4  0 ]
 *         [ 0  1 -1  1 -8  1 ]
 *
 * and Y = A^T [ (G g G^T) .* (B^T d B) ] A summed over input channels.
 * Why these points: with Lavin and Gray's 0, +-1, +-2 the transforms'
 * entries run from 1/24 (G) to 8 (A^T) on the same two points; putting
 * 1/2 in place of 2, which Barabasz et al. (2018) found best for F(4, 3),
 * spreads them over both and halved the float32 error in our trials on
 * random 128-channel tiles, from about 6e-6 to 3e-6 of the largest output.
 * The price is a less symmetric B^T: a 1-D input transform takes 24
 * operations instead of about 14, little beside the GEMMs.
 *
 * Tiles are numbered over a batch [n, ceil(h / 4), ceil(w / 4)] in row-major
 * order; a strip is a range [t0, t1) of them. Every tile's outputs depend on
 * that tile alone, and the GEMMs (pgemm.h) sum each output in the same
 * order whatever rows and columns a call covers: any strips, in any
 * channel ranges, on any threads, give the same bits. The last row and
 * column of tiles run past the image on zeros; their outputs there are
 * not written. */
#ifndef NET_WINOGRAD_H
#define NET_WINOGRAD_H

#include <stddef.h>

#define WINOGRAD_TILE 4    /* output tile side */
#define WINOGRAD_ALPHA 6   /* input tile side: WINOGRAD_TILE + 3 - 1 */
#define WINOGRAD_POINTS 36 /* WINOGRAD_ALPHA squared: GEMMs per strip */

/* Epilogue of the output transform: bias is always added (NULL is a zero
 * bias); WINOGRAD_RELU then clamps at zero; WINOGRAD_POOL then takes the
 * 2x2 max-pool of stride 2 (floor of h / 2 and w / 2, as Keras' 'valid'
 * pooling), which a 4x4 tile holds whole. */
enum { WINOGRAD_RELU = 1, WINOGRAD_POOL = 2 };

/* Floats of one layer's transformed kernel: 36 * cin * cout with cout
 * rounded up to a multiple of 32, four times the plain kernel. */
size_t winograd_kernel_floats(int cin, int cout);

/* kernel HWIO [3, 3, cin, cout] -> u, the B matrices [cin, cout] of the
 * 36 GEMMs, each packed for pgemm (pgemm.h): [36, ceil(cout / 32), cin,
 * 32]; the rows of input channels [ci0, ci1) only, so that threads can
 * share a layer. Computed in double. */
void winograd_kernel_transform(const float *kernel, int cin, int cout, int ci0, int ci1,
			       float *u);

/* Tiles of a batch of n h x w images. */
size_t winograd_tiles(int n, int h, int w);

/* Floats of the workspace for strips of up to strip_tiles tiles: V
 * [36, strip_tiles, cin] and M [36, strip_tiles, cout] below, each of
 * the 36 matrices padded to whole cache lines, plus a line for
 * alignment; about 36 * strip_tiles * (cin + cout). */
size_t winograd_workspace_floats(int cin, int cout, size_t strip_tiles);

/* The most tiles per strip that a workspace of ws_floats holds, at least 1
 * (a workspace must then hold winograd_workspace_floats(cin, cout, 1)). */
size_t winograd_strip_tiles(int cin, int cout, size_t ws_floats);

/* One layer: an h x w input of cin channels, the transformed kernel u
 * (winograd_kernel_transform), bias [cout] (NULL for none) and
 * WINOGRAD_RELU / WINOGRAD_POOL. */
struct winograd_layer {
	int h, w, cin, cout;
	const float *u;
	const float *bias;
	int flags;
};

/* in [n, h, w, cin] -> output channels [c0, c1) (c0 a multiple of 32, the
 * kernel's panels) of tiles [t0, t1) of out,
 * which is [n, h, w, cout], or [n, h / 2, w / 2, cout] with WINOGRAD_POOL:
 * for each tile, V = B^T d B of its 6x6 window (which starts one pixel
 * above and left of the tile's outputs; zeros outside the image), M = V U
 * by 36 GEMMs, then A^T M A, plus bias, then the flags' epilogue. ws holds
 * winograd_workspace_floats(cin, cout, t1 - t0): V [36, t1 - t0, cin], then
 * M [36, t1 - t0, c1 - c0].
 *
 * The unit of work for the caller's threads is a strip, or a strip and a
 * range of output channels. Splitting the channels repeats the strip's
 * input transform but divides the transformed kernel between the threads:
 * on small maps (VGG16's last blocks at batch 1) the 36 GEMMs have few
 * rows and reading u is what they spend their time on. */
void winograd_conv3x3_forward(const struct winograd_layer *l, const float *in,
			      size_t t0, size_t t1, int c0, int c1, float *ws,
			      float *out);

/* The same in three stages for a strip of tiles [s0, s1) and every output
 * channel, for a caller that spreads each stage over its threads: the
 * input transform of tiles [t0, t1) of the strip, then the GEMMs of
 * points [k0, k1), then the output transform of tiles [t0, t1). ws holds
 * winograd_workspace_floats(cin, cout, s1 - s0). Every part of a stage
 * computes the same numbers however the stage is cut, and as
 * winograd_conv3x3_forward does on the strip. */
void winograd_stage_input(const struct winograd_layer *l, const float *in, size_t s0,
			  size_t s1, size_t t0, size_t t1, float *ws);
void winograd_stage_multiply(const struct winograd_layer *l, size_t s0, size_t s1, int k0,
			     int k1, float *ws);
void winograd_stage_output(const struct winograd_layer *l, size_t s0, size_t s1, size_t t0,
			   size_t t1, float *ws, float *out);

/* The kernel's gradient, for training: x [n, h, w, cin] the layer's
 * input, dy [n, h, w, cout] the gradient of its output (before bias and
 * ReLU) -> dkernel [3, 3, cin, cout]. Since Y = A^T [U .* V] A summed
 * over tiles, dU = sum over tiles of V .* Z with Z = A dY A^T, and dg =
 * G^T dU G: for each point, the GEMM dU_k [cin, cout] = V_k^T [cin, tiles]
 * Z_k [tiles, cout], a quarter of the multiplications of im2col's
 * col(x)^T dy at 4x4 tiles, summed over the tiles.
 *
 * For each strip of tiles [s0, s1): the transforms of tiles [t0, t1) of
 * the strip (V^T, and Z packed for pgemm), then, block by block of at
 * most WINOGRAD_GRADIENT_ROWS input channels from r0, the GEMMs of points
 * [k0, k1) into the block's dU, then rows [i0, i1) of the block to
 * dkernel, added to it but for the first strip. ws holds
 * winograd_gradient_workspace_floats(cin, cout, s1 - s0). Every part of a
 * stage computes the same numbers however the stage is cut. */
#define WINOGRAD_GRADIENT_ROWS 64
size_t winograd_gradient_workspace_floats(int cin, int cout, size_t strip_tiles);
/* The most tiles per strip that a workspace of ws_floats holds, at least 1. */
size_t winograd_gradient_strip_tiles(int cin, int cout, size_t ws_floats);
void winograd_gradient_stage_input(const struct winograd_layer *l, const float *in,
				   const float *dy, size_t s0, size_t s1, size_t t0, size_t t1,
				   float *ws);
void winograd_gradient_stage_multiply(const struct winograd_layer *l, size_t s0, size_t s1,
				      int r0, int r1, int k0, int k1, float *ws);
void winograd_gradient_stage_kernel(const struct winograd_layer *l, size_t s0, size_t s1,
				    int r0, int i0, int i1, int accumulate, float *ws,
				    float *dkernel);

#endif
