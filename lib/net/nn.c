#include "nn.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "pgemm.h"
#include "threads.h"
#include "winograd.h"

/* ---- matrix products ---- */

/* Blocks of C per product, at most: enough for 1, 2, 3, 4 or 6 threads to
 * end together; the least work worth a block of its own (about a tenth of
 * a millisecond on one core); and the narrowest block, so that the GEMM
 * kernels keep their full width. */
#define GEMM_MAX_BLOCKS 12
#define GEMM_MIN_BLOCK_FLOPS ((size_t)1 << 24)
#define GEMM_MIN_BLOCK_COLS 64

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void set_blas_threads(void)
{
	openblas_set_num_threads(1);
}

void nn_blas_single_threaded(void)
{
	pthread_once(&blas_once, set_blas_threads);
}

struct gemm_job {
	int ta, tb;
	size_t m, n, k, rows, cols; /* rows x cols blocks */
	float alpha, beta;
	const float *a, *b;
	float *c;
};

static void gemm_block(void *ctx, size_t task, int thread)
{
	const struct gemm_job *g = ctx;
	size_t i = task / g->cols, j = task % g->cols;
	size_t r0 = g->m * i / g->rows, r1 = g->m * (i + 1) / g->rows;
	/* Column blocks start on multiples of 16, a whole vector register of
	 * floats, so that no block's kernel works on a ragged edge but the
	 * last. */
	size_t c0 = g->n * j / g->cols / 16 * 16;
	size_t c1 = j + 1 == g->cols ? g->n : g->n * (j + 1) / g->cols / 16 * 16;
	const float *a = g->ta ? g->a + r0 : g->a + r0 * g->k;
	const float *b = g->tb ? g->b + c0 * g->k : g->b + c0;

	(void)thread;
	if (r1 == r0 || c1 == c0)
		return;
	cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans,
		    g->tb ? CblasTrans : CblasNoTrans, (int)(r1 - r0), (int)(c1 - c0),
		    (int)g->k, g->alpha, a, (int)(g->ta ? g->m : g->k), b,
		    (int)(g->tb ? g->k : g->n), g->beta, g->c + r0 * g->n + c0, (int)g->n);
}

void nn_gemm(int threads, int ta, int tb, size_t m, size_t n, size_t k, float alpha,
	     const float *a, const float *b, float beta, float *c)
{
	struct gemm_job g = { .ta = ta, .tb = tb, .m = m, .n = n, .k = k, .alpha = alpha,
			      .beta = beta, .a = a, .b = b, .c = c, .rows = 1, .cols = 1 };
	double flops = 2.0 * (double)m * (double)n * (double)k;
	size_t want, best_cost = SIZE_MAX;

	/* An empty product has nothing to compute (and OpenBLAS refuses
	 * zero leading dimensions). */
	if (!m || !n || !k)
		return;
	nn_blas_single_threaded();
	want = flops >= (double)GEMM_MAX_BLOCKS * GEMM_MIN_BLOCK_FLOPS ? GEMM_MAX_BLOCKS
		: flops < (double)GEMM_MIN_BLOCK_FLOPS ? 1 : (size_t)(flops / GEMM_MIN_BLOCK_FLOPS);
	/* Each block packs its rows of A and its columns of B again: of the
	 * splits into `want` blocks (or fewer, where the shape does not
	 * allow that many), the one that packs least, which cuts the longer
	 * side. */
	for (; want > 1 && best_cost == SIZE_MAX; want--)
		for (size_t rows = 1; rows <= want; rows++) {
			size_t cols = want / rows, cost;

			if (rows * cols != want || rows > m ||
			    (cols > 1 && cols > n / GEMM_MIN_BLOCK_COLS))
				continue;
			cost = cols * m + rows * n;
			if (cost < best_cost) {
				best_cost = cost;
				g.rows = rows;
				g.cols = cols;
			}
		}
	threads_parallel(threads, g.rows * g.cols, gemm_block, &g);
}

/* ---- dense layers ---- */

void nn_dense_forward(int threads, const float *x, const float *w, const float *b,
		      size_t n, uint32_t in, uint32_t out, float *y)
{
	for (size_t r = 0; r < n; r++)
		memcpy(y + r * out, b, out * sizeof *y);
	nn_gemm(threads, 0, 0, n, out, in, 1.0f, x, w, 1.0f, y);
}

void nn_dense_backward(int threads, const float *x, const float *w, const float *dy,
		       size_t n, uint32_t in, uint32_t out, float *dx, float *dw, float *db)
{
	/* dw = x^T dy, db = the column sums of dy, dx = dy w^T */
	if (dw)
		nn_gemm(threads, 1, 0, in, out, n, 1.0f, x, dy, 0.0f, dw);
	if (db) {
		memset(db, 0, out * sizeof *db);
		for (size_t r = 0; r < n; r++)
			for (uint32_t j = 0; j < out; j++)
				db[j] += dy[r * out + j];
	}
	if (dx)
		nn_gemm(threads, 0, 1, n, in, out, 1.0f, dy, w, 0.0f, dx);
}

/* ---- batch normalisation ---- */

void nn_batchnorm_forward(const float *x, const float *gamma, const float *beta,
			  const float *mean, const float *var, float eps, size_t n,
			  uint32_t c, float *batch_mean, float *batch_var, float *y)
{
	if (batch_mean) {
		memset(batch_mean, 0, c * sizeof *batch_mean);
		memset(batch_var, 0, c * sizeof *batch_var);
		for (size_t r = 0; r < n; r++)
			for (uint32_t j = 0; j < c; j++)
				batch_mean[j] += x[r * c + j];
		for (uint32_t j = 0; j < c; j++)
			batch_mean[j] /= (float)n;
		for (size_t r = 0; r < n; r++)
			for (uint32_t j = 0; j < c; j++) {
				float d = x[r * c + j] - batch_mean[j];

				batch_var[j] += d * d;
			}
		for (uint32_t j = 0; j < c; j++)
			batch_var[j] /= (float)n;
		mean = batch_mean;
		var = batch_var;
	}
	for (size_t r = 0; r < n; r++)
		for (uint32_t j = 0; j < c; j++)
			y[r * c + j] = gamma[j] * (x[r * c + j] - mean[j]) / sqrtf(var[j] + eps) +
				       beta[j];
}

/* With xhat = (x - mean) istd, the batch statistics' own dependence on x
 * gives dx = gamma istd / n (n dy - dbeta - xhat dgamma). */
void nn_batchnorm_backward(const float *x, const float *gamma, float eps,
			   const float *batch_mean, const float *batch_var,
			   const float *dy, size_t n, uint32_t c, float *dx,
			   float *dgamma, float *dbeta)
{
	memset(dgamma, 0, c * sizeof *dgamma);
	memset(dbeta, 0, c * sizeof *dbeta);
	for (size_t r = 0; r < n; r++)
		for (uint32_t j = 0; j < c; j++) {
			float xhat = (x[r * c + j] - batch_mean[j]) / sqrtf(batch_var[j] + eps);

			dbeta[j] += dy[r * c + j];
			dgamma[j] += dy[r * c + j] * xhat;
		}
	if (!dx)
		return;
	for (size_t r = 0; r < n; r++)
		for (uint32_t j = 0; j < c; j++) {
			float istd = 1 / sqrtf(batch_var[j] + eps);
			float xhat = (x[r * c + j] - batch_mean[j]) * istd;

			dx[r * c + j] = gamma[j] * istd / (float)n *
					((float)n * dy[r * c + j] - dbeta[j] - xhat * dgamma[j]);
		}
}

void nn_batchnorm_inference_backward(const float *dy, const float *gamma, const float *var,
				     float eps, size_t n, uint32_t c, float *dx)
{
	for (size_t r = 0; r < n; r++)
		for (uint32_t j = 0; j < c; j++)
			dx[r * c + j] = dy[r * c + j] * gamma[j] / sqrtf(var[j] + eps);
}

/* ---- elementwise layers ---- */

/* Four floats: one SSE register, which every x86-64 has (wider vectors
 * went through the stack in the baseline build). */
typedef float relu_vf __attribute__((vector_size(16)));
typedef int32_t relu_vi __attribute__((vector_size(16)));

/* out [i] = value [i] where test [i] > 0, else +0 (NaN too), 4 at a time
 * through a mask: the scalar branch mispredicted on half the elements of
 * a layer's input, and ReLU took 4% of fine-tuning's time. Each chunk is
 * loaded whole before it is stored, so out may be value or test. */
static void keep_where_positive(const float *test, const float *value, float *out,
				size_t count)
{
	size_t i = 0;

	for (; i + 4 <= count; i += 4) {
		relu_vf t, v;

		memcpy(&t, test + i, sizeof t);
		memcpy(&v, value + i, sizeof v);
		v = (relu_vf)((relu_vi)v & (t > (relu_vf){ 0 }));
		memcpy(out + i, &v, sizeof v);
	}
	for (; i < count; i++)
		out[i] = test[i] > 0 ? value[i] : 0;
}

void nn_relu_forward(const float *x, float *y, size_t count)
{
	keep_where_positive(x, x, y, count);
}

void nn_relu_backward(const float *y, const float *dy, float *dx, size_t count)
{
	keep_where_positive(y, dy, dx, count);
}

void nn_dropout_forward(const float *x, const float *mask, float *y, size_t count)
{
	for (size_t i = 0; i < count; i++)
		y[i] = x[i] * mask[i];
}

void nn_dropout_backward(const float *mask, const float *dy, float *dx, size_t count)
{
	for (size_t i = 0; i < count; i++)
		dx[i] = dy[i] * mask[i];
}

void nn_softmax_forward(const float *x, float *y, size_t n, uint32_t k)
{
	for (size_t r = 0; r < n; r++) {
		const float *xr = x + r * k;
		float *yr = y + r * k, max = xr[0];
		double sum = 0;

		for (uint32_t j = 1; j < k; j++)
			max = xr[j] > max ? xr[j] : max;
		for (uint32_t j = 0; j < k; j++) {
			yr[j] = expf(xr[j] - max);
			sum += yr[j];
		}
		for (uint32_t j = 0; j < k; j++)
			yr[j] = (float)(yr[j] / sum);
	}
}

/* dz = w_{y_i} (prob - onehot(y)) / n */
void nn_softmax_xent_backward(const float *prob, const uint32_t *y, const float *class_w,
			      float *dz, size_t n, uint32_t k)
{
	for (size_t r = 0; r < n; r++) {
		float s = (class_w ? class_w[y[r]] : 1.0f) / (float)n;

		for (uint32_t j = 0; j < k; j++)
			dz[r * k + j] = s * (prob[r * k + j] - (j == y[r]));
	}
}

void nn_standardize_forward(const float *x, const float *mean, const float *scale,
			    size_t rows, uint32_t c, float *y)
{
	for (size_t r = 0; r < rows; r++)
		for (uint32_t j = 0; j < c; j++)
			y[r * c + j] = (x[r * c + j] - mean[j]) * scale[j];
}

void nn_standardize_backward(const float *dy, const float *scale, size_t rows, uint32_t c,
			     float *dx)
{
	for (size_t r = 0; r < rows; r++)
		for (uint32_t j = 0; j < c; j++)
			dx[r * c + j] = dy[r * c + j] * scale[j];
}

void nn_normalize_forward(float *x, size_t n, uint32_t d)
{
	for (size_t r = 0; r < n; r++) {
		float *row = x + r * d;
		double ss = 0;

		for (uint32_t j = 0; j < d; j++)
			ss += (double)row[j] * row[j];
		/* The scale stays in double: that of a row of subnormals
		 * would overflow a float. */
		if (ss > 0) {
			double s = 1 / sqrt(ss);

			for (uint32_t j = 0; j < d; j++)
				row[j] = (float)(row[j] * s);
		}
	}
}

/* ---- 3x3 convolution ---- */

/* col [(p1 - p0), 3, 3, c] from x [n, h, w, c]: row r holds the 3x3
 * window around pixel p0 + r of the batch (stride 1, zero padding 1),
 * zeros where it leaves the image. The (ky, kx, ci) order of a row is the
 * row order of an HWIO kernel. */
static void im2col3x3(const float *x, int h, int w, int c, size_t p0, size_t p1, float *col)
{
	size_t hw = (size_t)h * w, rowlen = (size_t)3 * c;

	for (size_t p = p0; p < p1; p++) {
		size_t img = p / hw, rem = p % hw;
		int py = (int)(rem / w), px = (int)(rem % w);
		const float *base = x + img * hw * c;

		for (int ky = 0; ky < 3; ky++, col += rowlen) {
			int yy = py + ky - 1;
			const float *src = base + ((size_t)yy * w + px - 1) * c;

			if (yy < 0 || yy >= h) {
				memset(col, 0, rowlen * sizeof *col);
			} else if (px > 0 && px < w - 1) {
				/* The three columns of a window row are adjacent. */
				memcpy(col, src, rowlen * sizeof *col);
			} else {
				for (int kx = 0; kx < 3; kx++) {
					int xx = px + kx - 1;

					if (xx < 0 || xx >= w)
						memset(col + kx * c, 0, c * sizeof *col);
					else
						memcpy(col + kx * c, src + (size_t)kx * c,
						       c * sizeof *col);
				}
			}
		}
	}
}

/* Four lanes: what the baseline x86-64 (SSE2) and AArch64 (NEON) do in
 * one instruction; wider vectors are split into scalar code without AVX. */
typedef float vf4 __attribute__((vector_size(16)));
typedef int32_t vi4 __attribute__((vector_size(16)));

/* y [m, n] (rows ldy apart) += bias [n], then ReLU when relu is set, while
 * the strip is still in cache. Written with vectors because GCC's -O2
 * leaves the plain loop scalar, and it was an eighth of the run time. */
static void bias_relu_forward(float *y, size_t ldy, const float *bias, size_t m, int n,
			      int relu)
{
	const vf4 zero = { 0 };

	for (size_t r = 0; r < m; r++, y += ldy) {
		int k = 0;

		for (; k + 4 <= n; k += 4) {
			vf4 v, b;

			memcpy(&v, y + k, sizeof v);
			memcpy(&b, bias + k, sizeof b);
			v += b;
			if (relu)
				v = (vf4)((vi4)v & (v > zero));
			memcpy(y + k, &v, sizeof v);
		}
		for (; k < n; k++) {
			y[k] += bias[k];
			if (relu && !(y[k] > 0))
				y[k] = 0;
		}
	}
}

void nn_conv3x3_forward(const float *x, int h, int w, int cin, int cout,
			const float *kernel, const float *bias, int relu, size_t p0,
			size_t p1, int c0, int c1, float *col, float *y)
{
	size_t m = p1 - p0;
	float *out = y + p0 * cout + c0;

	im2col3x3(x, h, w, cin, p0, p1, col);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, c1 - c0,
		    9 * cin, 1.0f, col, 9 * cin, kernel + c0, cout, 0.0f, out, cout);
	bias_relu_forward(out, (size_t)cout, bias + c0, m, c1 - c0, relu);
}

/* Floats of the im2col rows of a batch: [n * h * w, 9 * c]. */
static size_t col_floats(size_t n, int h, int w, int c)
{
	return n * (size_t)h * w * 9 * (size_t)c;
}

/* Pixels per im2col task: a few hundred rows of columns, small enough to
 * spread over the threads and large enough to amortise claiming one. */
#define IM2COL_TASK_PIXELS 64

struct im2col_job {
	const float *x;
	int h, w, c;
	size_t pixels;
	float *col;
};

static void im2col_task(void *ctx, size_t task, int thread)
{
	const struct im2col_job *j = ctx;
	size_t p0 = task * IM2COL_TASK_PIXELS;
	size_t p1 = p0 + IM2COL_TASK_PIXELS < j->pixels ? p0 + IM2COL_TASK_PIXELS : j->pixels;

	(void)thread;
	im2col3x3(j->x, j->h, j->w, j->c, p0, p1, j->col + p0 * 9 * (size_t)j->c);
}

/* x [n, h, w, c] -> col [n * h * w, 9 * c] on threads */
static void im2col_batch(int threads, const float *x, size_t n, int h, int w, int c,
			 float *col)
{
	struct im2col_job j = { .x = x, .h = h, .w = w, .c = c,
				.pixels = n * (size_t)h * w, .col = col };

	threads_parallel(threads, (j.pixels + IM2COL_TASK_PIXELS - 1) / IM2COL_TASK_PIXELS,
		    im2col_task, &j);
}

/* The most floats the V and M of one strip of tiles may take (32 MB): a
 * batch of fine-tuning's 9x9 maps is one strip. */
#define WINOGRAD_STRIP_FLOATS ((size_t)8 << 20)
/* Tiles per task of the input and output transforms, and input channels
 * per task of the kernel transform. */
#define TRANSFORM_TILES 8
#define TRANSFORM_CHANNELS 64
/* Output channels per block of a one-strip batch's kernel transform and
 * GEMMs: U for 512 input channels at 3x3 tiles is 6.5 MB instead of 26.
 * Fine-tuning block 5 (150x150, batch 16, 2 threads): the same speed as
 * the whole U at once (three runs each, 121 to 122 images/s against 118
 * to 122), peak memory 19 MB lower (make bench: 258 MB against 277);
 * blocks of 64 columns were 4% slower, of 32 columns 12% (more thread
 * hand-overs, each GEMM over fewer panels). */
#define WINOGRAD_COLUMN_BLOCK 128

/* Tiles per strip: by the shape alone, never by the thread count. */
static size_t winograd_strip(int tile, size_t n, int h, int w, int cin, int cout)
{
	size_t tiles = winograd_tiles(tile, (int)n, h, w);
	size_t strip = winograd_strip_tiles(tile, cin, cout, WINOGRAD_STRIP_FLOATS);

	return strip < tiles ? strip : tiles ? tiles : 1;
}

/* NN_AUTO: Winograd on maps of 3x3 and more, whose 3x3 or 4x4 tiles the
 * map fills; on smaller ones most of a tile is padding. Fine-tuning block
 * 5 on 640 records, 10 epochs, 2 threads: on 2x2 maps (32x32 images) 18.3
 * s with im2col against 19.0 s with Winograd, on 3x3 maps 24.2 against
 * 19.2, on 4x4 maps 33.6 against 27.4; on 9x9 maps Winograd is twice as
 * fast (make bench). */
#define WINOGRAD_MIN_PIXELS 9

/* Output channels the kernel is transformed for at a time: a block where
 * the batch is one strip, else all of them, once for every strip. */
static int column_block(size_t tiles, size_t strip, int cout)
{
	return tiles <= strip && cout > WINOGRAD_COLUMN_BLOCK ? WINOGRAD_COLUMN_BLOCK : cout;
}

static enum nn_algo batch_algo(enum nn_algo algo, int h, int w)
{
	if (algo != NN_AUTO)
		return algo;
	return (size_t)h * w < WINOGRAD_MIN_PIXELS ? NN_IM2COL : NN_WINOGRAD;
}

size_t nn_conv3x3_batch_floats(enum nn_algo algo, size_t n, int h, int w, int cin, int cout)
{
	int tile = winograd_best_tile(h, w);
	size_t strip = winograd_strip(tile, n, h, w, cin, cout);

	if (batch_algo(algo, h, w) == NN_IM2COL)
		return col_floats(n, h, w, cin);
	return winograd_kernel_floats(tile, cin,
				      column_block(winograd_tiles(tile, (int)n, h, w), strip, cout)) +
	       winograd_workspace_floats(tile, cin, cout, strip);
}

struct winograd_job {
	const float *kernel, *x;
	int turned;
	float *ws, *y;
	struct winograd_layer layer;
	size_t s0, s1;
	int c0, c1;
};

static void transform_task(void *ctx, size_t task, int thread)
{
	const struct winograd_job *j = ctx;
	int ci0 = (int)task * TRANSFORM_CHANNELS, cin = j->layer.cin;

	(void)thread;
	winograd_kernel_transform(j->layer.tile, j->kernel, cin, j->layer.cout, ci0,
				  ci0 + TRANSFORM_CHANNELS < cin ? ci0 + TRANSFORM_CHANNELS : cin,
				  j->c0, j->c1, j->turned, (float *)j->layer.u);
}

static void input_task(void *ctx, size_t task, int thread)
{
	const struct winograd_job *j = ctx;
	size_t t0 = j->s0 + task * TRANSFORM_TILES;

	(void)thread;
	winograd_stage_input(&j->layer, j->x, j->s0, j->s1, t0,
			     t0 + TRANSFORM_TILES < j->s1 ? t0 + TRANSFORM_TILES : j->s1, j->ws);
}

/* The GEMMs are shared out by point and by half of the columns, so that
 * the 25 points of 3x3 tiles share evenly between two threads: by point
 * alone one thread did 13 while the other waited, and fine-tuning block 5
 * kept 1.84 of 2 cores busy against 1.88 by halves (perf stat, three runs
 * each on an AMD Zen 4). Columns [c0, c1) ->
 * half `part` of them, [*h0, *h1), split at a panel, the second empty when
 * there is one panel. */
#define COLUMN_HALVES 2
static void column_half(int c0, int c1, int part, int *h0, int *h1)
{
	int split = c0 + pgemm_padded_columns((c1 - c0 + 1) / 2);

	if (split > c1)
		split = c1;
	*h0 = part ? split : c0;
	*h1 = part ? c1 : split;
}

static void multiply_task(void *ctx, size_t task, int thread)
{
	const struct winograd_job *j = ctx;
	int k = (int)(task / COLUMN_HALVES), h0, h1;

	(void)thread;
	column_half(j->c0, j->c1, (int)(task % COLUMN_HALVES), &h0, &h1);
	if (h0 < h1)
		winograd_stage_multiply(&j->layer, j->s0, j->s1, k, k + 1, j->c0, j->c1, h0, h1,
					j->ws);
}

static void output_task(void *ctx, size_t task, int thread)
{
	const struct winograd_job *j = ctx;
	size_t t0 = j->s0 + task * TRANSFORM_TILES;

	(void)thread;
	winograd_stage_output(&j->layer, j->s0, j->s1, t0,
			      t0 + TRANSFORM_TILES < j->s1 ? t0 + TRANSFORM_TILES : j->s1, j->ws,
			      j->y);
}

/* Strip by strip, each stage spread over the threads: the transforms by
 * tiles, the GEMMs by point, one whole GEMM of the strip's tiles by a
 * block of output channels each, so that each point's part of the
 * transformed kernel is read and packed once. Where the batch is one
 * strip (fine-tuning's), the kernel is transformed a block of output
 * channels at a time, just before the GEMMs read that block, into a
 * buffer of one block (column_block); over several strips, whole, once.
 * The tile is the one with fewer
 * multiplies on the map (winograd_best_tile): fine-tuning's 9x9 maps of
 * 150x150 images take 3x3 tiles, 1.3 times as fast (make bench). */
static void winograd_batch_forward(int threads, const float *x, size_t n, int h, int w,
				   int cin, int cout, const float *kernel, int turned,
				   const float *bias, float *scratch, float *y)
{
	int tile = winograd_best_tile(h, w);
	size_t tiles = winograd_tiles(tile, (int)n, h, w);
	size_t strip = winograd_strip(tile, n, h, w, cin, cout);
	int block = column_block(tiles, strip, cout);
	struct winograd_job j = { .kernel = kernel, .turned = turned, .x = x, .y = y,
				  .ws = scratch + winograd_kernel_floats(tile, cin, block) };

	j.layer = (struct winograd_layer){ .h = h, .w = w, .cin = cin, .cout = cout,
					   .tile = tile, .u = scratch, .bias = bias };
	for (j.s0 = 0; j.s0 < tiles; j.s0 = j.s1) {
		size_t tasks;

		j.s1 = j.s0 + strip < tiles ? j.s0 + strip : tiles;
		tasks = (j.s1 - j.s0 + TRANSFORM_TILES - 1) / TRANSFORM_TILES;
		threads_parallel(threads, tasks, input_task, &j);
		for (j.c0 = 0; j.c0 < cout; j.c0 = j.c1) {
			j.c1 = j.c0 + block < cout ? j.c0 + block : cout;
			if (j.s0 == 0)
				threads_parallel(threads,
						 ((size_t)cin + TRANSFORM_CHANNELS - 1) /
							 TRANSFORM_CHANNELS,
						 transform_task, &j);
			threads_parallel(threads, (size_t)winograd_points(tile) * COLUMN_HALVES,
					 multiply_task, &j);
		}
		threads_parallel(threads, tasks, output_task, &j);
	}
}

void nn_conv3x3_batch_forward(int threads, enum nn_algo algo, const float *x, size_t n,
			      int h, int w, int cin, int cout, const float *kernel,
			      const float *bias, float *scratch, float *y)
{
	size_t pixels = n * (size_t)h * w;

	if (batch_algo(algo, h, w) == NN_WINOGRAD) {
		nn_blas_single_threaded();
		winograd_batch_forward(threads, x, n, h, w, cin, cout, kernel, 0, bias, scratch, y);
		return;
	}
	im2col_batch(threads, x, n, h, w, cin, scratch);
	for (size_t p = 0; p < pixels; p++) {
		if (bias)
			memcpy(y + p * cout, bias, (size_t)cout * sizeof *y);
		else
			memset(y + p * cout, 0, (size_t)cout * sizeof *y);
	}
	nn_gemm(threads, 0, 0, pixels, (size_t)cout, (size_t)9 * cin, 1.0f, scratch, kernel,
		1.0f, y);
}

/* Tiles per strip of the kernel's gradient, as even as the tiles allow:
 * by the shape alone. */
static size_t winograd_gradient_strip(int tile, size_t n, int h, int w, int cin, int cout)
{
	size_t tiles = winograd_tiles(tile, (int)n, h, w);
	size_t most = winograd_gradient_strip_tiles(tile, cin, cout, WINOGRAD_STRIP_FLOATS);
	size_t strips = (tiles + most - 1) / most;

	return strips ? (tiles + strips - 1) / strips : 1;
}

size_t nn_conv3x3_weight_floats(enum nn_algo algo, size_t n, int h, int w, int cin, int cout)
{
	int tile = winograd_best_tile(h, w);

	if (batch_algo(algo, h, w) == NN_IM2COL)
		return col_floats(n, h, w, cin);
	return winograd_gradient_workspace_floats(tile, cin, cout,
						  winograd_gradient_strip(tile, n, h, w, cin, cout));
}

/* Tiles per task of the kernel gradient's transforms, points per task of
 * its GEMMs (each task half of the columns, as the forward pass's: 25
 * points make 18 tasks, the last two of one point), and input channels
 * per task of its last transform. */
#define GRADIENT_TILES 16
#define GRADIENT_POINTS 3
#define GRADIENT_CHANNELS 8

struct gradient_job {
	const float *x, *dy;
	float *ws, *dkernel;
	struct winograd_layer layer;
	size_t s0, s1;
	int r0, r1;
};

static void gradient_input_task(void *ctx, size_t task, int thread)
{
	const struct gradient_job *j = ctx;
	size_t t0 = j->s0 + task * GRADIENT_TILES;

	(void)thread;
	winograd_gradient_stage_input(&j->layer, j->x, j->dy, j->s0, j->s1, t0,
				      t0 + GRADIENT_TILES < j->s1 ? t0 + GRADIENT_TILES : j->s1,
				      j->ws);
}

static void gradient_multiply_task(void *ctx, size_t task, int thread)
{
	const struct gradient_job *j = ctx;
	int k0 = (int)(task / COLUMN_HALVES) * GRADIENT_POINTS;
	int points = winograd_points(j->layer.tile), h0, h1;

	(void)thread;
	column_half(0, j->layer.cout, (int)(task % COLUMN_HALVES), &h0, &h1);
	if (h0 < h1)
		winograd_gradient_stage_multiply(&j->layer, j->s0, j->s1, j->r0, j->r1, k0,
						 k0 + GRADIENT_POINTS < points
							 ? k0 + GRADIENT_POINTS
							 : points,
						 h0, h1, j->ws);
}

static void gradient_kernel_task(void *ctx, size_t task, int thread)
{
	const struct gradient_job *j = ctx;
	int i0 = (int)task * GRADIENT_CHANNELS, rows = j->r1 - j->r0;

	(void)thread;
	winograd_gradient_stage_kernel(&j->layer, j->s0, j->s1, j->r0, i0,
				       i0 + GRADIENT_CHANNELS < rows ? i0 + GRADIENT_CHANNELS : rows,
				       j->s0 > 0, j->ws, j->dkernel);
}

/* Strip by strip and, within a strip, block by block of input channels,
 * each stage spread over the threads: the transforms by tiles, the GEMMs
 * by points, the kernel's rows by channels. */
static void winograd_weight_backward(int threads, const float *x, size_t n, int h, int w,
				     int cin, int cout, const float *dy, float *ws,
				     float *dkernel)
{
	int tile = winograd_best_tile(h, w);
	size_t tiles = winograd_tiles(tile, (int)n, h, w);
	size_t strip = winograd_gradient_strip(tile, n, h, w, cin, cout);
	struct gradient_job j = { .x = x, .dy = dy, .ws = ws, .dkernel = dkernel,
				  .layer = { .h = h, .w = w, .cin = cin, .cout = cout,
					     .tile = tile } };

	for (j.s0 = 0; j.s0 < tiles; j.s0 = j.s1) {
		j.s1 = j.s0 + strip < tiles ? j.s0 + strip : tiles;
		threads_parallel(threads, (j.s1 - j.s0 + GRADIENT_TILES - 1) / GRADIENT_TILES,
				 gradient_input_task, &j);
		for (j.r0 = 0; j.r0 < cin; j.r0 = j.r1) {
			j.r1 = j.r0 + WINOGRAD_GRADIENT_ROWS < cin ? j.r0 + WINOGRAD_GRADIENT_ROWS
								   : cin;
			threads_parallel(threads,
					 (size_t)(winograd_points(tile) + GRADIENT_POINTS - 1) /
						 GRADIENT_POINTS * COLUMN_HALVES,
					 gradient_multiply_task, &j);
			threads_parallel(threads,
					 (size_t)(j.r1 - j.r0 + GRADIENT_CHANNELS - 1) /
						 GRADIENT_CHANNELS,
					 gradient_kernel_task, &j);
		}
	}
}

void nn_conv3x3_weight_backward(int threads, enum nn_algo algo, const float *x, size_t n,
				int h, int w, int cin, int cout, const float *dy,
				float *scratch, float *dkernel, float *dbias)
{
	size_t pixels = n * (size_t)h * w;

	memset(dbias, 0, (size_t)cout * sizeof *dbias);
	for (size_t p = 0; p < pixels; p++)
		for (int j = 0; j < cout; j++)
			dbias[j] += dy[p * cout + j];
	if (batch_algo(algo, h, w) == NN_WINOGRAD) {
		winograd_weight_backward(threads, x, n, h, w, cin, cout, dy, scratch, dkernel);
		return;
	}
	/* dkernel [9 cin, cout] = col(x)^T dy */
	im2col_batch(threads, x, n, h, w, cin, scratch);
	nn_gemm(threads, 1, 0, (size_t)9 * cin, (size_t)cout, pixels, 1.0f, scratch, dy, 0.0f,
		dkernel);
}

/* The side of the blocks turn_kernel transposes. */
#define FLIP_BLOCK 16

/* kernel [3, 3, cin, cout] -> flipped [3, 3, cout, cin]: turned by 180
 * degrees, input and output channels swapped. */
static void turn_kernel(const float *kernel, int cin, int cout, float *flipped)
{
	/* flipped [ky, kx, co, ci] = kernel [2 - ky, 2 - kx, ci, co] */
	for (int ky = 0; ky < 3; ky++)
		for (int kx = 0; kx < 3; kx++) {
			const float *src = kernel + (size_t)((2 - ky) * 3 + 2 - kx) * cin * cout;
			float *dst = flipped + (size_t)(ky * 3 + kx) * cout * cin;

			/* In blocks of FLIP_BLOCK x FLIP_BLOCK, whose rows on both
			 * sides stay in cache: element by element, every write
			 * of a 512 x 512 tap went to another cache line, and the
			 * kernel took 12.9 ms to flip instead of 1.7 (32 x 32
			 * blocks: 5.3). */
			for (int ci0 = 0; ci0 < cin; ci0 += FLIP_BLOCK)
				for (int co0 = 0; co0 < cout; co0 += FLIP_BLOCK)
					for (int ci = ci0; ci < cin && ci < ci0 + FLIP_BLOCK; ci++)
						for (int co = co0; co < cout && co < co0 + FLIP_BLOCK;
						     co++)
							dst[(size_t)co * cin + ci] =
								src[(size_t)ci * cout + co];
		}
}

void nn_conv3x3_input_gradient(int threads, enum nn_algo algo, const float *dy, size_t n,
			       int h, int w, int cin, int cout, const float *kernel,
			       float *turned, float *scratch, float *dx)
{
	if (batch_algo(algo, h, w) == NN_WINOGRAD) {
		nn_blas_single_threaded();
		winograd_batch_forward(threads, dy, n, h, w, cout, cin, kernel, 1, NULL, scratch,
				       dx);
		return;
	}
	turn_kernel(kernel, cin, cout, turned);
	nn_conv3x3_batch_forward(threads, algo, dy, n, h, w, cout, cin, turned, NULL, scratch, dx);
}

/* ---- pooling ---- */

void nn_maxpool2x2_forward(const float *x, int h, int w, int c, size_t r0, size_t r1,
			   float *y)
{
	size_t oh = (size_t)h / 2, ow = (size_t)w / 2;

	for (size_t r = r0; r < r1; r++) {
		size_t img = r / oh, oy = r % oh;
		const float *top = x + ((img * h + 2 * oy) * w) * c;
		const float *bot = top + (size_t)w * c;
		float *d = y + r * ow * c;

		for (size_t ox = 0; ox < ow; ox++, d += c) {
			const float *a = top + 2 * ox * c, *b = bot + 2 * ox * c;

			for (int k = 0; k < c; k++) {
				float m = a[k] > a[c + k] ? a[k] : a[c + k];
				float m2 = b[k] > b[c + k] ? b[k] : b[c + k];

				d[k] = m > m2 ? m : m2;
			}
		}
	}
}

void nn_maxpool2x2_backward(const float *x, const float *dy, size_t n, int h, int w,
			    int c, float *dx)
{
	size_t oh = (size_t)h / 2, ow = (size_t)w / 2;

	memset(dx, 0, n * (size_t)h * w * c * sizeof *dx);
	for (size_t r = 0; r < n * oh; r++) {
		size_t img = r / oh, oy = r % oh;
		size_t top = (img * h + 2 * oy) * w, bot = top + (size_t)w;

		for (size_t ox = 0; ox < ow; ox++) {
			/* The window's pixels in row order. */
			size_t at[4] = { top + 2 * ox, top + 2 * ox + 1, bot + 2 * ox,
					 bot + 2 * ox + 1 };
			const float *g = dy + (r * ow + ox) * c;

			for (int k = 0; k < c; k++) {
				int best = 0;

				for (int i = 1; i < 4; i++)
					if (x[at[i] * c + k] > x[at[best] * c + k])
						best = i;
				dx[at[best] * c + k] = g[k];
			}
		}
	}
}

void nn_global_avgpool_forward(const float *x, size_t pixels, int c, float *y)
{
	/* Summed in double: a large map has too many terms for float. */
	for (int k = 0; k < c; k++) {
		double sum = 0;

		for (size_t p = 0; p < pixels; p++)
			sum += x[p * c + k];
		y[k] = (float)(sum / (double)pixels);
	}
}

void nn_global_maxpool_forward(const float *x, size_t pixels, int c, float *y)
{
	memcpy(y, x, (size_t)c * sizeof *y);
	for (size_t p = 1; p < pixels; p++)
		for (int k = 0; k < c; k++)
			if (x[p * c + k] > y[k])
				y[k] = x[p * c + k];
}
