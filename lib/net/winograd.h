/* Winograd convolution: the 3x3 'same' convolution (stride 1, zero
 * padding of 1) of lib/vgg16.h, NHWC, computed as GEMMs over transformed
 * input tiles, one GEMM per point of the tile. Two tile sizes:
 *
 *   F(4x4, 3x3): 6x6 input tiles, 36 points, 4x4 outputs. It needs 36
 *   multiplies per 16 outputs per channel pair where the direct
 *   convolution needs 144: 4x fewer.
 *   F(3x3, 3x3): 5x5 input tiles, 25 points, 3x3 outputs: 25 per 9, 2.8x
 *   fewer, but on maps whose side is a multiple of 3 and not of 4 (9x9,
 *   the 150x150 images' block 5) the 4x4 tiles run a third past the
 *   image, and the 3x3 ones then need fewer multiplies in all: 225 per
 *   channel pair of a 9x9 map against 324.
 *
 * Both pay with transforms that are linear in the channels and with a
 * larger rounding error than the direct sum.
 *
 * F(4x4, 3x3) interpolates at 0, 1, -1, 1/2, -2 and infinity. With every
 * row of B^T and column of A^T scaled by a power of two (exact in floating
 * point) so that both are integer:
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
 * F(3x3, 3x3) interpolates at 0, 1, -1, 2 and infinity (-2, 1/2 or -1/2
 * in place of 2 gave the same error within 10% on random tiles):
 *
 *   B^T = [ 2 -1 -2  1  0 ]   G = [ 1/2   0    0  ]   A^T = [ 1 1  1 1 0 ]
 *         [ 0  2  1 -1  0 ]       [ 1/2  1/2  1/2 ]         [ 0 1 -1 2 0 ]
 *         [ 0 -2  3 -1  0 ]       [ 1/6 -1/6  1/6 ]         [ 0 1  1 4 1 ]
 *         [ 0 -1  0  1  0 ]       [ 1/6  1/3  2/3 ]
 *         [ 0  2 -1 -2  1 ]       [  0    0    1  ]
 *
 * Tiles are numbered over a batch [n, ceil(h / m), ceil(w / m)] (m the
 * output tile's side) in row-major order; a strip is a range [t0, t1) of
 * them. Every tile's outputs depend on that tile alone, and the GEMMs
 * (pgemm.h) sum each output in the same order whatever rows and columns a
 * call covers: any strips, in any channel ranges, on any threads, give
 * the same bits. The last row and column of tiles run past the image on
 * zeros; their outputs there are not written.
 *
 * Below, P is the number of points: 36 or 25. */
#ifndef NET_WINOGRAD_H
#define NET_WINOGRAD_H

#include <stddef.h>

/* The output tile's side, the `tile` of every call below. */
enum { WINOGRAD_F3 = 3, WINOGRAD_F4 = 4 };
/* Points of the larger tile: what a caller's arrays of points hold. */
#define WINOGRAD_MAX_POINTS 36

/* Points of a tile: (tile + 2) squared, the GEMMs per strip. */
int winograd_points(int tile);

/* The tile that needs fewer multiplies on h x w maps, F(4x4, 3x3) on a
 * tie: F(3x3, 3x3) on 9x9, 6x6 and 5x5 maps, for example, and F(4x4,
 * 3x3) on 14x14 and 8x8. */
int winograd_best_tile(int h, int w);

/* Epilogue of the output transform: bias is always added (NULL is a zero
 * bias); WINOGRAD_RELU then clamps at zero; WINOGRAD_POOL then takes the
 * 2x2 max-pool of stride 2 (floor of h / 2 and w / 2, as Keras' 'valid'
 * pooling), which a 4x4 tile holds whole: F(4x4, 3x3) only. */
enum { WINOGRAD_RELU = 1, WINOGRAD_POOL = 2 };

/* Floats of one layer's transformed kernel: P * cin * cout with cout
 * rounded up to a multiple of 32, four (F(4x4, 3x3)) or 2.8 times the
 * plain kernel. */
size_t winograd_kernel_floats(int tile, int cin, int cout);

/* kernel HWIO [3, 3, cin, cout] -> u, the B matrices [cin, cout] of the
 * P GEMMs, each packed for pgemm (pgemm.h): [P, ceil(cout / 32), cin,
 * 32]; the rows of input channels [ci0, ci1) only, so that threads can
 * share a layer, and the columns of output channels [co0, co1) only (co0
 * a multiple of 32), which u holds alone, [P, ceil((co1 - co0) / 32),
 * cin, 32], so that a caller can transform a kernel a block of columns at
 * a time into a buffer of one block (0 and cout: all). Computed in
 * double. With turned set, kernel is [3, 3, cout, cin] instead and the
 * transform is of it turned by 180 degrees with its channels swapped: the
 * kernel of the input's gradient of a layer of cout input channels and
 * cin output ones, without writing it out. */
void winograd_kernel_transform(int tile, const float *kernel, int cin, int cout, int ci0,
			       int ci1, int co0, int co1, int turned, float *u);

/* Tiles of a batch of n h x w images. */
size_t winograd_tiles(int tile, int n, int h, int w);

/* Floats of the workspace for strips of up to strip_tiles tiles: V
 * [P, strip_tiles, cin] and M [P, strip_tiles, cout] below, each of
 * the P matrices padded to whole cache lines, plus a line for
 * alignment; about P * strip_tiles * (cin + cout). */
size_t winograd_workspace_floats(int tile, int cin, int cout, size_t strip_tiles);

/* The most tiles per strip that a workspace of ws_floats holds, at least 1
 * (a workspace must then hold winograd_workspace_floats(tile, cin, cout,
 * 1)). */
size_t winograd_strip_tiles(int tile, int cin, int cout, size_t ws_floats);

/* One layer: an h x w input of cin channels, its tile (WINOGRAD_F4 or
 * WINOGRAD_F3), the transformed kernel u (winograd_kernel_transform of
 * that tile), bias [cout] (NULL for none) and WINOGRAD_RELU /
 * WINOGRAD_POOL. */
struct winograd_layer {
	int h, w, cin, cout, tile;
	const float *u;
	const float *bias;
	int flags;
};

/* in [n, h, w, cin] -> output channels [c0, c1) (c0 a multiple of 32, the
 * kernel's panels) of tiles [t0, t1) of out,
 * which is [n, h, w, cout], or [n, h / 2, w / 2, cout] with WINOGRAD_POOL:
 * for each tile, V = B^T d B of its 6x6 or 5x5 window (which starts one
 * pixel above and left of the tile's outputs; zeros outside the image),
 * M = V U by P GEMMs, then A^T M A, plus bias, then the flags' epilogue.
 * ws holds winograd_workspace_floats(tile, cin, cout, t1 - t0): V [P,
 * t1 - t0, cin], then M [P, t1 - t0, c1 - c0].
 *
 * The unit of work for the caller's threads is a strip, or a strip and a
 * range of output channels. Splitting the channels repeats the strip's
 * input transform but divides the transformed kernel between the threads:
 * on small maps (VGG16's last blocks at batch 1) the P GEMMs have few
 * rows and reading u is what they spend their time on. */
void winograd_conv3x3_forward(const struct winograd_layer *l, const float *in,
			      size_t t0, size_t t1, int c0, int c1, float *ws,
			      float *out);

/* The same in three stages for a strip of tiles [s0, s1) and every output
 * channel, for a caller that spreads each stage over its threads: the
 * input transform of tiles [t0, t1) of the strip, then the GEMMs of
 * points [k0, k1) and output channels [c0, c1) of the block [u0, u1)
 * whose transform l->u holds alone, as winograd_kernel_transform writes
 * it for co0 = u0, co1 = u1 (u0 and c0 multiples of 32), then the
 * output transform of tiles [t0, t1). ws holds
 * winograd_workspace_floats(tile, cin, cout, s1 - s0). Every part of a stage
 * computes the same numbers however the stage is cut, and as
 * winograd_conv3x3_forward does on the strip. */
void winograd_stage_input(const struct winograd_layer *l, const float *in, size_t s0,
			  size_t s1, size_t t0, size_t t1, float *ws);
void winograd_stage_multiply(const struct winograd_layer *l, size_t s0, size_t s1, int k0,
			     int k1, int u0, int u1, int c0, int c1, float *ws);
void winograd_stage_output(const struct winograd_layer *l, size_t s0, size_t s1, size_t t0,
			   size_t t1, float *ws, float *out);

/* The kernel's gradient, for training: x [n, h, w, cin] the layer's
 * input, dy [n, h, w, cout] the gradient of its output (before bias and
 * ReLU) -> dkernel [3, 3, cin, cout]. Since Y = A^T [U .* V] A summed
 * over tiles, dU = sum over tiles of V .* Z with Z = A dY A^T, and dg =
 * G^T dU G: for each point, the GEMM dU_k [cin, cout] = V_k^T [cin, tiles]
 * Z_k [tiles, cout] (V_k read as the forward pass lays it out, pgemm's
 * a_transposed), a quarter of the multiplications of im2col's
 * col(x)^T dy at 4x4 tiles (fewer still at 3x3 tiles on a 9x9 map),
 * summed over the tiles.
 *
 * For each strip of tiles [s0, s1): the transforms of tiles [t0, t1) of
 * the strip (V, and Z packed for pgemm), then, block by block of at
 * most WINOGRAD_GRADIENT_ROWS input channels from r0, the GEMMs of points
 * [k0, k1) and output channels [c0, c1) (c0 a multiple of 32) into the
 * block's dU, then rows [i0, i1) of the block to
 * dkernel, added to it but for the first strip. ws holds
 * winograd_gradient_workspace_floats(tile, cin, cout, s1 - s0). Every
 * part of a stage computes the same numbers however the stage is cut. */
#define WINOGRAD_GRADIENT_ROWS 64
size_t winograd_gradient_workspace_floats(int tile, int cin, int cout, size_t strip_tiles);
/* The most tiles per strip that a workspace of ws_floats holds, at least 1. */
size_t winograd_gradient_strip_tiles(int tile, int cin, int cout, size_t ws_floats);
void winograd_gradient_stage_input(const struct winograd_layer *l, const float *in,
				   const float *dy, size_t s0, size_t s1, size_t t0, size_t t1,
				   float *ws);
void winograd_gradient_stage_multiply(const struct winograd_layer *l, size_t s0, size_t s1,
				      int r0, int r1, int k0, int k1, int c0, int c1, float *ws);
void winograd_gradient_stage_kernel(const struct winograd_layer *l, size_t s0, size_t s1,
				    int r0, int i0, int i1, int accumulate, float *ws,
				    float *dkernel);

#endif
