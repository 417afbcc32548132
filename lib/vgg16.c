#include "vgg16.h"
#include "winograd.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const char *const vgg16_preprocess_names[] = { "caffe", "torch", "rescale", NULL };
const char *const vgg16_pool_names[] = { "none", "avg", "max", NULL };
const char *const vgg16_algo_names[] = { "im2col", "winograd", "auto", NULL };

const struct vgg16_conv_spec vgg16_convs[VGG16_CONVS] = {
	{ "block1_conv1", 1, 3, 64, 0 },     { "block1_conv2", 1, 64, 64, 2 },
	{ "block2_conv1", 2, 64, 128, 5 },   { "block2_conv2", 2, 128, 128, 7 },
	{ "block3_conv1", 3, 128, 256, 10 }, { "block3_conv2", 3, 256, 256, 12 },
	{ "block3_conv3", 3, 256, 256, 14 }, { "block4_conv1", 4, 256, 512, 17 },
	{ "block4_conv2", 4, 512, 512, 19 }, { "block4_conv3", 4, 512, 512, 21 },
	{ "block5_conv1", 5, 512, 512, 24 }, { "block5_conv2", 5, 512, 512, 26 },
	{ "block5_conv3", 5, 512, 512, 28 },
};

int vgg16_weights_alloc(struct vgg16_weights *w, struct vp_err *e)
{
	size_t off = 0;

	memset(w, 0, sizeof *w);
	for (int i = 0; i < VGG16_CONVS; i++)
		off += (size_t)9 * vgg16_convs[i].cin * vgg16_convs[i].cout +
		       vgg16_convs[i].cout;
	w->count = off;
	w->data = vp_calloc(off, sizeof *w->data, e);
	if (!w->data)
		return -1;
	off = 0;
	for (int i = 0; i < VGG16_CONVS; i++) {
		w->kernel[i] = w->data + off;
		off += (size_t)9 * vgg16_convs[i].cin * vgg16_convs[i].cout;
		w->bias[i] = w->data + off;
		off += vgg16_convs[i].cout;
	}
	return 0;
}

void vgg16_weights_free(struct vgg16_weights *w)
{
	free(w->data);
	memset(w, 0, sizeof *w);
}

void preprocess_forward(enum vgg16_preprocess mode, const uint8_t *rgb,
			size_t pixels, float *out)
{
	static const float caffe_bgr_mean[3] = { 103.939f, 116.779f, 123.68f };
	static const float torch_mean[3] = { 0.485f, 0.456f, 0.406f };
	static const float torch_std[3] = { 0.229f, 0.224f, 0.225f };

	for (size_t p = 0; p < pixels; p++) {
		const uint8_t *s = rgb + 3 * p;
		float *d = out + 3 * p;

		for (int c = 0; c < 3; c++) {
			switch (mode) {
			case VGG16_CAFFE:
				d[c] = (float)s[2 - c] - caffe_bgr_mean[c];
				break;
			case VGG16_TORCH:
				d[c] = ((float)s[c] / 255.0f - torch_mean[c]) / torch_std[c];
				break;
			case VGG16_RESCALE:
				d[c] = (float)s[c] / 255.0f;
				break;
			}
		}
	}
}

void global_avgpool_forward(const float *in, size_t pixels, int c, float *out)
{
	/* Summed in double: a large map has too many terms for float. */
	for (int k = 0; k < c; k++) {
		double sum = 0;

		for (size_t p = 0; p < pixels; p++)
			sum += in[p * c + k];
		out[k] = (float)(sum / (double)pixels);
	}
}

void global_maxpool_forward(const float *in, size_t pixels, int c, float *out)
{
	memcpy(out, in, (size_t)c * sizeof *out);
	for (size_t p = 1; p < pixels; p++)
		for (int k = 0; k < c; k++)
			if (in[p * c + k] > out[k])
				out[k] = in[p * c + k];
}

/* col [(p1 - p0), 3, 3, cin] from in [n, h, w, cin]: row r holds the 3x3
 * window around output pixel p0 + r, zeros where it leaves the image. The
 * (ky, kx, ci) order of a row is the row order of an HWIO kernel. */
static void im2col3x3(const float *in, int h, int w, int cin, size_t p0,
		      size_t p1, float *col)
{
	size_t hw = (size_t)h * w, rowlen = (size_t)3 * cin;

	for (size_t p = p0; p < p1; p++) {
		size_t img = p / hw, rem = p % hw;
		int y = (int)(rem / w), x = (int)(rem % w);
		const float *base = in + img * hw * cin;

		for (int ky = 0; ky < 3; ky++, col += rowlen) {
			int yy = y + ky - 1;
			const float *src = base + ((size_t)yy * w + x - 1) * cin;

			if (yy < 0 || yy >= h) {
				memset(col, 0, rowlen * sizeof *col);
			} else if (x > 0 && x < w - 1) {
				/* The three columns of a window row are adjacent. */
				memcpy(col, src, rowlen * sizeof *col);
			} else {
				for (int kx = 0; kx < 3; kx++) {
					int xx = x + kx - 1;

					if (xx < 0 || xx >= w)
						memset(col + kx * cin, 0, cin * sizeof *col);
					else
						memcpy(col + kx * cin, src + (size_t)kx * cin,
						       cin * sizeof *col);
				}
			}
		}
	}
}

/* Four lanes: what the baseline x86-64 (SSE2) and AArch64 (NEON) do in
 * one instruction; wider vectors are split into scalar code without AVX. */
typedef float vf4 __attribute__((vector_size(16)));
typedef int32_t vi4 __attribute__((vector_size(16)));

/* c [m, n] (rows ldc apart) += bias [n], then ReLU, while the strip is
 * still in cache. Written with vectors because GCC's -O2 leaves the plain
 * loop scalar, and it was an eighth of the run time. */
static void bias_relu_forward(float *c, size_t ldc, const float *bias, size_t m, int n)
{
	const vf4 zero = { 0 };

	for (size_t r = 0; r < m; r++, c += ldc) {
		int k = 0;

		for (; k + 4 <= n; k += 4) {
			vf4 v, b;

			memcpy(&v, c + k, sizeof v);
			memcpy(&b, bias + k, sizeof b);
			v += b;
			v = (vf4)((vi4)v & (v > zero));
			memcpy(c + k, &v, sizeof v);
		}
		for (; k < n; k++)
			c[k] = c[k] + bias[k] > 0 ? c[k] + bias[k] : 0;
	}
}

void conv3x3_forward(const float *in, int h, int w, int cin, int cout,
		     const float *kernel, const float *bias, size_t p0,
		     size_t p1, int c0, int c1, float *col, float *out)
{
	size_t m = p1 - p0;
	float *c = out + p0 * cout + c0;

	im2col3x3(in, h, w, cin, p0, p1, col);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, c1 - c0,
		    9 * cin, 1.0f, col, 9 * cin, kernel + c0, cout, 0.0f, c, cout);
	bias_relu_forward(c, (size_t)cout, bias + c0, m, c1 - c0);
}

void maxpool2x2_forward(const float *in, int h, int w, int c, size_t r0,
			size_t r1, float *out)
{
	size_t oh = (size_t)h / 2, ow = (size_t)w / 2;

	for (size_t r = r0; r < r1; r++) {
		size_t img = r / oh, oy = r % oh;
		const float *top = in + ((img * h + 2 * oy) * w) * c;
		const float *bot = top + (size_t)w * c;
		float *d = out + r * ow * c;

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

void vgg16_output_shape(int blocks, int h, int w, int *oh, int *ow, int *oc)
{
	for (int b = 0; b < blocks; b++) {
		h /= 2;
		w /= 2;
	}
	*oh = h;
	*ow = w;
	*oc = blocks >= 4 ? 512 : 64 << (blocks - 1);
}

int vgg16_init(struct vgg16 *net, const struct vgg16_weights *w, int blocks,
	       int threads, struct vp_err *e)
{
	memset(net, 0, sizeof *net);
	net->w = w;
	net->blocks = blocks;
	net->threads = threads < 1 ? 1 : threads > VGG16_MAX_THREADS ? VGG16_MAX_THREADS : threads;
	net->col = vp_calloc((size_t)net->threads * VGG16_COL_FLOATS,
			     sizeof *net->col, e);
	if (!net->col)
		return -1;
	/* The strips are spread over our own threads, each calling a
	 * single-threaded GEMM: OpenBLAS's threads on top would oversubscribe
	 * the cores. OpenBLAS keeps this setting process-wide. */
	openblas_set_num_threads(1);
	return 0;
}

void vgg16_free(struct vgg16 *net)
{
	free(net->col);
	free(net->u[1]);
	free(net->act[0]);
	free(net->act[1]);
	free(net->mid);
	memset(net, 0, sizeof *net);
}

/* fn on the calling thread and on n - 1 more, each given its element of
 * args (size bytes apart; 0: all the same), then joined. fn claims its
 * work in turn, so a thread that cannot be started only leaves more to
 * the others. */
static void run_threads(int n, void *(*fn)(void *), void *args, size_t size)
{
	pthread_t tid[VGG16_MAX_THREADS];
	int started[VGG16_MAX_THREADS] = { 0 };

	for (int i = 1; i < n; i++)
		started[i] = !pthread_create(&tid[i], NULL, fn, (char *)args + i * size);
	fn(args);
	for (int i = 1; i < n; i++)
		if (started[i])
			pthread_join(tid[i], NULL);
}

/* The layers' kernel transforms, claimed in turn by the threads, the
 * last (largest) layers first so that they end together. */
struct transform {
	struct vgg16 *net;
	atomic_int next;
};

static void *transform_run(void *arg)
{
	struct transform *tr = arg;
	int i;

	while ((i = VGG16_CONVS - 1 - atomic_fetch_add(&tr->next, 1)) > 0)
		if (tr->net->u[i])
			winograd_kernel_transform(tr->net->w->kernel[i], vgg16_convs[i].cin,
						  vgg16_convs[i].cout, tr->net->u[i]);
	return NULL;
}

/* VGG16_AUTO: Winograd on every layer it may take. Measured layer by
 * layer in vggfeat (224x224, batch 1, 2 threads), F(4x4, 3x3) took 1.3 to
 * 3.1 times less time than im2col + SGEMM on each of layers 2..13, with
 * OpenBLAS's AVX-512 kernels and with its Haswell ones; block 5, whose 16
 * tiles leave the GEMMs few rows to pay for reading a kernel four times
 * larger, is where it gains least (with the AVX-512 kernels, 2.8 ms a
 * layer against 3.7). The first layer, with 3 input channels, would leave
 * the GEMMs 3 columns deep and stays on im2col.
 *
 * Memory: the transformed kernels stay resident beside the plain ones
 * (the weights the caller loaded, whose layer 1 and biases are still
 * used). Transforming the kernels each time a batch runs, into one
 * buffer of the largest layer's size, would save about 200 MB but cost
 * about 0.1 s of processor time per batch (11 ms per 512x512 layer), as
 * much as the convolutions of a 224x224 image; freeing the plain kernels
 * after the transform would not lower the peak, which the transform
 * itself reaches with both in memory.
 * So the peak at batch 1 is about 235 MB more than im2col's for
 * block5_pool (less for an earlier cut: only the layers the cut reaches
 * are transformed). */
int vgg16_set_algo(struct vgg16 *net, enum vgg16_algo algo, struct vp_err *e)
{
	size_t floats = 0, page = (size_t)sysconf(_SC_PAGESIZE);
	struct transform tr = { .net = net };
	float *u;
	uintptr_t first, end;

	free(net->u[1]);
	memset(net->u, 0, sizeof net->u);
	if (algo == VGG16_IM2COL)
		return 0;
	for (int i = 1; i < VGG16_CONVS && vgg16_convs[i].block <= net->blocks; i++)
		floats += winograd_kernel_floats(vgg16_convs[i].cin, vgg16_convs[i].cout);
	u = vp_calloc(floats, sizeof *u, e);
	if (!u)
		return vp_context(e, "Winograd kernels: ");
	/* Huge pages where the system gives them on request: writing the
	 * 235 MB the first time, one page fault per 4 KiB page, took longer
	 * than the transform itself (117 against 11 ms for a 512x512 layer;
	 * 32 to 55 ms with huge pages). A hint: without them, the same. */
	first = ((uintptr_t)u + page - 1) / page * page;
	end = ((uintptr_t)(u + floats)) / page * page;
	if (end > first)
		madvise((void *)first, end - first, MADV_HUGEPAGE);
	for (int i = 1; i < VGG16_CONVS && vgg16_convs[i].block <= net->blocks; i++) {
		net->u[i] = u;
		u += winograd_kernel_floats(vgg16_convs[i].cin, vgg16_convs[i].cout);
	}
	atomic_init(&tr.next, 0);
	run_threads(net->threads, transform_run, &tr, 0);
	return 0;
}

/* A stage of the forward pass cut into tasks that threads claim in turn:
 * strips of pixels (im2col) or of tiles (Winograd, wl.u set), or output
 * rows (pool), and for a convolution on a map too small to give every
 * thread a strip, parts of the output channels. */
struct stage {
	struct vgg16 *net;
	const float *in;
	float *out;
	int h, w, cin, cout, conv;
	struct winograd_layer wl;
	size_t total, per_task;
	int parts;
	atomic_size_t next;
};

struct worker {
	struct stage *st;
	int thread;
};

static void *stage_run(void *arg)
{
	struct worker *wk = arg;
	struct stage *st = wk->st;
	size_t t, ntasks = (st->total + st->per_task - 1) / st->per_task * st->parts;

	while ((t = atomic_fetch_add(&st->next, 1)) < ntasks) {
		size_t a = t / st->parts * st->per_task;
		size_t b = a + st->per_task < st->total ? a + st->per_task : st->total;
		int part = (int)(t % st->parts);
		int c0 = st->cout / st->parts * part, c1 = st->cout / st->parts * (part + 1);
		float *scratch = st->net->col + (size_t)wk->thread * VGG16_COL_FLOATS;

		if (st->conv < 0)
			maxpool2x2_forward(st->in, st->h, st->w, st->cin, a, b, st->out);
		else if (st->wl.u)
			winograd_conv3x3_forward(&st->wl, st->in, a, b, c0, c1, scratch,
						 st->out);
		else
			conv3x3_forward(st->in, st->h, st->w, st->cin, st->cout,
					st->net->w->kernel[st->conv],
					st->net->w->bias[st->conv], a, b, c0, c1, scratch,
					st->out);
	}
	return NULL;
}

/* Run a stage on the net's threads, tasks of at most max_per_task pixels,
 * tiles or rows; a convolution of fewer than threads x min_per_thread of
 * them shares the output channels instead (below). */
static void stage_parallel(struct stage *st, size_t max_per_task, size_t min_per_thread)
{
	struct worker wk[VGG16_MAX_THREADS];
	int n = st->net->threads;
	size_t strips = (st->total + max_per_task - 1) / max_per_task;

	/* Strips in a multiple of the threads, so that none idles at the end;
	 * where there are fewer strips than threads, the threads share the
	 * output channels (a multiple of 16 each: every VGG16 layer's count
	 * splits so) rather than each packing the whole kernel for a few
	 * rows. */
	st->parts = 1;
	if (st->conv >= 0 && strips < (size_t)n && st->total < (size_t)n * min_per_thread) {
		while (st->parts * 2 <= n / (int)strips && st->cout % (32 * st->parts) == 0)
			st->parts *= 2;
	}
	strips = (strips + n / st->parts - 1) / (n / st->parts) * (n / st->parts);
	st->per_task = (st->total + strips - 1) / strips;
	if (st->per_task == 0)
		st->per_task = 1;
	atomic_init(&st->next, 0);
	for (int i = 0; i < n; i++) {
		wk[i].st = st;
		wk[i].thread = i;
	}
	run_threads(n, stage_run, wk, sizeof *wk);
}

/* Floats of workspace that one Winograd strip may use. Where the
 * transformed kernel is no larger than VGG16_STRIP_FLOATS (blocks 1 and
 * 2), a strip's V and M are held to that size too, so that the output
 * transform finds M in cache; packing the kernel again for each of the
 * extra strips costs less than the misses did (224x224, OpenBLAS's
 * Haswell kernels: block1_conv2 took 13.4 ms on strips of 784 tiles, 9.3
 * to 10 on strips of 48 to 256). A larger kernel is better read as few
 * times as the buffer allows. */
static size_t winograd_strip_budget(int cin, int cout)
{
	return winograd_kernel_floats(cin, cout) <= VGG16_STRIP_FLOATS ? VGG16_STRIP_FLOATS
								       : VGG16_COL_FLOATS;
}

static int block_channels(int b)
{
	return b >= 4 ? 512 : 64 << (b - 1);
}

/* Blocks first..last on a batch: in [n, h, w, c] -> out [n, h >> k,
 * w >> k, c'], k = last - first + 1, through act[0] and act[1]. */
static void run_blocks(struct vgg16 *net, const float *in, int n, int h, int w,
		       int first, int last, float *out)
{
	const float *src = in;
	int conv = 0;

	while (vgg16_convs[conv].block < first)
		conv++;
	for (int b = first; b <= last; b++) {
		struct stage st = { .net = net, .h = h, .w = w };
		int pooled = 0;

		for (; conv < VGG16_CONVS && vgg16_convs[conv].block == b; conv++) {
			int cin = vgg16_convs[conv].cin, cout = vgg16_convs[conv].cout;

			/* Winograd's output transform takes the block's max-pool
			 * along, on the 4x4 tile it holds: no pass over the full
			 * map. */
			pooled = net->u[conv] && (conv + 1 == VGG16_CONVS ||
						  vgg16_convs[conv + 1].block != b);
			st.in = src;
			st.out = pooled && b == last ? out : net->act[src == net->act[0]];
			st.cin = cin;
			st.cout = cout;
			st.conv = conv;
			st.wl = (struct winograd_layer){ .h = h, .w = w, .cin = cin,
				.cout = cout, .u = net->u[conv], .bias = net->w->bias[conv],
				.flags = WINOGRAD_RELU | (pooled ? WINOGRAD_POOL : 0) };
			if (st.wl.u) {
				st.total = winograd_tiles(n, h, w);
				stage_parallel(&st, winograd_strip_tiles(cin, cout,
							winograd_strip_budget(cin, cout)),
					       VGG16_MIN_TILES);
			} else {
				st.total = (size_t)n * h * w;
				stage_parallel(&st, VGG16_STRIP_ROWS, VGG16_STRIP_ROWS);
			}
			src = st.out;
		}
		h /= 2;
		w /= 2;
		if (pooled)
			continue;
		st.in = src;
		st.out = b == last ? out : net->act[src == net->act[0]];
		st.cin = st.cout;
		st.conv = -1;
		st.total = (size_t)n * (st.h / 2);
		stage_parallel(&st, st.total, 0);
		src = st.out;
	}
}

static int grow(float **p, size_t *cap, size_t need, struct vp_err *e)
{
	if (need <= *cap)
		return 0;
	free(*p);
	*cap = 0;
	*p = vp_calloc(need, sizeof **p, e);
	if (!*p)
		return -1;
	*cap = need;
	return 0;
}

int vgg16_forward(struct vgg16 *net, const float *in, int n, int h, int w,
		  float *out, struct vp_err *e)
{
	int split = 1, hs = h, ws = w, oh, ow, oc;
	size_t single = 0, batched = 0, mid = 0;

	if (h < VGG16_MIN_SIZE || w < VGG16_MIN_SIZE)
		return vp_fail(e, "a %dx%d image is smaller than %dx%d, the smallest VGG16 takes",
			       w, h, VGG16_MIN_SIZE, VGG16_MIN_SIZE);
	if ((size_t)h * w > VGG16_MAX_PIXELS)
		return vp_fail(e, "a %dx%d image has more than the %zu pixels vggfeat takes",
			       w, h, VGG16_MAX_PIXELS);
	/* Large maps go through one image at a time, so that a batch does not
	 * multiply the biggest activations and they stay in cache; from the
	 * first block whose maps are small, the batch is stacked, so that
	 * its GEMMs have rows enough. */
	while (split <= net->blocks && (size_t)hs * ws >= VGG16_BATCH_PIXELS) {
		split++;
		hs /= 2;
		ws /= 2;
	}
	if (split > 1)
		single = (size_t)h * w * 64;
	if (split <= net->blocks) {
		batched = (size_t)n * hs * ws * block_channels(split);
		if (split > 1)
			mid = (size_t)n * hs * ws * block_channels(split - 1);
	}
	if (grow(&net->act[0], &net->act_cap[0], single > batched ? single : batched, e) ||
	    grow(&net->act[1], &net->act_cap[1], single > batched ? single : batched, e) ||
	    grow(&net->mid, &net->mid_cap, mid, e))
		return vp_context(e, "activations of %d %dx%d images: ", n, w, h);
	vgg16_output_shape(net->blocks, h, w, &oh, &ow, &oc);
	for (int i = 0; split > 1 && i < n; i++) {
		if (split > net->blocks)
			run_blocks(net, in + (size_t)i * h * w * 3, 1, h, w, 1, net->blocks,
				   out + (size_t)i * oh * ow * oc);
		else
			run_blocks(net, in + (size_t)i * h * w * 3, 1, h, w, 1, split - 1,
				   net->mid + (size_t)i * hs * ws * block_channels(split - 1));
	}
	if (split <= net->blocks)
		run_blocks(net, split > 1 ? net->mid : in, n, hs, ws, split, net->blocks, out);
	return 0;
}
