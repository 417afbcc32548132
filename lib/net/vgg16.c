#include "vgg16.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "nn.h"
#include "pgemm.h"
#include "threads.h"
#include "winograd.h"

const char *const vgg16_preprocess_names[] = { "caffe", "torch", "rescale", NULL };
const char *const vgg16_pool_names[] = { "none", "avg", "max", NULL };

const struct vgg16_conv_spec vgg16_convs[VGG16_CONVS] = {
	{ "block1_conv1", 1, 3, 64, 0 },     { "block1_conv2", 1, 64, 64, 2 },
	{ "block2_conv1", 2, 64, 128, 5 },   { "block2_conv2", 2, 128, 128, 7 },
	{ "block3_conv1", 3, 128, 256, 10 }, { "block3_conv2", 3, 256, 256, 12 },
	{ "block3_conv3", 3, 256, 256, 14 }, { "block4_conv1", 4, 256, 512, 17 },
	{ "block4_conv2", 4, 512, 512, 19 }, { "block4_conv3", 4, 512, 512, 21 },
	{ "block5_conv1", 5, 512, 512, 24 }, { "block5_conv2", 5, 512, 512, 26 },
	{ "block5_conv3", 5, 512, 512, 28 },
};

int vgg16_weights_alloc(struct vgg16_weights *w, struct err *e)
{
	size_t off = 0;

	memset(w, 0, sizeof *w);
	for (int i = 0; i < VGG16_CONVS; i++)
		off += (size_t)9 * vgg16_convs[i].cin * vgg16_convs[i].cout +
		       vgg16_convs[i].cout;
	w->count = off;
	w->data = err_calloc(off, sizeof *w->data, e);
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

void vgg16_preprocess_forward(enum vgg16_preprocess mode, const uint8_t *rgb,
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
	       int threads, struct err *e)
{
	memset(net, 0, sizeof *net);
	net->w = w;
	net->blocks = blocks;
	net->threads = threads < 1 ? 1 : threads > THREADS_MAX ? THREADS_MAX : threads;
	net->col = err_calloc((size_t)net->threads * VGG16_COL_FLOATS,
			      sizeof *net->col, e);
	if (!net->col)
		return -1;
	nn_blas_single_threaded();
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

/* The layers' kernel transforms, claimed in turn by the threads, the
 * last (largest) layers first so that they end together. */
static void transform_task(void *ctx, size_t task, int thread)
{
	struct vgg16 *net = ctx;
	int i = VGG16_CONVS - 1 - (int)task;

	(void)thread;
	if (net->u[i])
		winograd_kernel_transform(WINOGRAD_F4, net->w->kernel[i], vgg16_convs[i].cin,
					  vgg16_convs[i].cout, 0, vgg16_convs[i].cin, 0,
					  vgg16_convs[i].cout, 0, net->u[i]);
}

/* NN_AUTO: Winograd on every layer it may take. Measured layer by
 * layer (test_winograd --bench: 224x224, batch 1, 2 threads), F(4x4, 3x3)
 * took 2.8 to 4.5 times less time than im2col + SGEMM on each of layers
 * 2..13 with the AVX-512 GEMM kernel; block 5, whose 16 tiles leave the
 * GEMMs few rows to pay for reading a kernel four times larger, is where
 * it gains least (1.3 ms a layer against 3.9). The first layer, with 3
 * input channels, would leave the GEMMs 3 columns deep and stays on
 * im2col. F(4x4, 3x3) on every layer: a block's max-pool rides on its
 * 4x4 tiles, and the kernels are transformed here, before any image's
 * size is known. 3x3 tiles would gain only on maps such as 150x150
 * images' 9x9 block 5, on two of its three layers: about 2% of the
 * network's multiplies.
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
int vgg16_set_algo(struct vgg16 *net, enum nn_algo algo, struct err *e)
{
	size_t floats = 0, page = (size_t)sysconf(_SC_PAGESIZE);
	float *u;
	uintptr_t first, end;

	free(net->u[1]);
	memset(net->u, 0, sizeof net->u);
	if (algo == NN_IM2COL)
		return 0;
	for (int i = 1; i < VGG16_CONVS && vgg16_convs[i].block <= net->blocks; i++)
		floats += winograd_kernel_floats(WINOGRAD_F4, vgg16_convs[i].cin, vgg16_convs[i].cout);
	u = err_calloc(floats, sizeof *u, e);
	if (!u)
		return err_context(e, "Winograd kernels: ");
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
		u += winograd_kernel_floats(WINOGRAD_F4, vgg16_convs[i].cin, vgg16_convs[i].cout);
	}
	threads_parallel(net->threads, VGG16_CONVS - 1, transform_task, net);
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
};

static void stage_task(void *ctx, size_t t, int thread)
{
	const struct stage *st = ctx;
	size_t a = t / st->parts * st->per_task;
	size_t b = a + st->per_task < st->total ? a + st->per_task : st->total;
	int part = (int)(t % st->parts);
	int c0 = st->cout / st->parts * part, c1 = st->cout / st->parts * (part + 1);
	float *scratch = st->net->col + (size_t)thread * VGG16_COL_FLOATS;

	if (st->conv < 0)
		nn_maxpool2x2_forward(st->in, st->h, st->w, st->cin, a, b, st->out);
	else if (st->wl.u)
		winograd_conv3x3_forward(&st->wl, st->in, a, b, c0, c1, scratch, st->out);
	else
		nn_conv3x3_forward(st->in, st->h, st->w, st->cin, st->cout,
				   st->net->w->kernel[st->conv], st->net->w->bias[st->conv], 1,
				   a, b, c0, c1, scratch, st->out);
}

/* Run a stage on the net's threads, tasks of at most max_per_task pixels,
 * tiles or rows; a convolution of fewer than threads x min_per_thread of
 * them shares the output channels instead (below). */
static void stage_parallel(struct stage *st, size_t max_per_task, size_t min_per_thread)
{
	int n = st->net->threads;
	size_t strips = (st->total + max_per_task - 1) / max_per_task;

	/* Strips in a multiple of the threads, so that none idles at the end;
	 * where there are fewer strips than threads, the threads share the
	 * output channels (a multiple of 32 each, the transformed kernel's
	 * panels: every VGG16 layer's count splits so) rather than each
	 * reading the whole kernel for a few rows. */
	st->parts = 1;
	if (st->conv >= 0 && strips < (size_t)n && st->total < (size_t)n * min_per_thread) {
		while (st->parts * 2 <= n / (int)strips &&
		       st->cout % (2 * PGEMM_PANEL * st->parts) == 0)
			st->parts *= 2;
	}
	strips = (strips + n / st->parts - 1) / (n / st->parts) * (n / st->parts);
	st->per_task = (st->total + strips - 1) / strips;
	if (st->per_task == 0)
		st->per_task = 1;
	threads_parallel(n, (st->total + st->per_task - 1) / st->per_task * st->parts, stage_task, st);
}

/* Floats of workspace that one Winograd strip may use. Where the
 * transformed kernel is small (blocks 1 and 2), a strip's V and M are
 * held to VGG16_STRIP_FLOATS, so that the GEMMs find V and the output
 * transform finds M in cache; reading the kernel again for each of the
 * extra strips costs less than the misses did (224x224, batch 1:
 * block1_conv2 took 4.5 ms on strips of 512 KiB, 7.4 on strips of 4 MiB,
 * 5.2 on strips of 256 KiB). A larger kernel is better read as few times
 * as the buffer allows. */
static size_t winograd_strip_budget(int cin, int cout)
{
	return winograd_kernel_floats(WINOGRAD_F4, cin, cout) <= VGG16_SMALL_KERNEL_FLOATS
		       ? VGG16_STRIP_FLOATS
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
				.cout = cout, .tile = WINOGRAD_F4, .u = net->u[conv],
				.bias = net->w->bias[conv],
				.flags = WINOGRAD_RELU | (pooled ? WINOGRAD_POOL : 0) };
			if (st.wl.u) {
				st.total = winograd_tiles(WINOGRAD_F4, n, h, w);
				stage_parallel(&st, winograd_strip_tiles(WINOGRAD_F4, cin, cout,
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

static int grow(float **p, size_t *cap, size_t need, struct err *e)
{
	if (need <= *cap)
		return 0;
	free(*p);
	*cap = 0;
	*p = err_calloc(need, sizeof **p, e);
	if (!*p)
		return -1;
	*cap = need;
	return 0;
}

int vgg16_forward(struct vgg16 *net, const float *in, int n, int h, int w,
		  float *out, struct err *e)
{
	int split = 1, hs = h, ws = w, oh, ow, oc;
	size_t single = 0, batched = 0, mid = 0;

	if (h < VGG16_MIN_SIZE || w < VGG16_MIN_SIZE)
		return err_fail(e, "a %dx%d image is smaller than %dx%d, the smallest VGG16 takes",
				w, h, VGG16_MIN_SIZE, VGG16_MIN_SIZE);
	if ((size_t)h * w > VGG16_MAX_PIXELS)
		return err_fail(e, "a %dx%d image has more than the %zu pixels vggfeat takes",
				w, h, VGG16_MAX_PIXELS);
	/* Large maps go through one image at a time, so that a batch does not
	 * multiply the biggest activations and they stay in cache; from the
	 * first block whose maps are small, the batch is stacked, so that
	 * its GEMMs have rows enough. */
	while (split <= net->blocks && (size_t)hs * ws > VGG16_BATCH_PIXELS) {
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
		return err_context(e, "activations of %d %dx%d images: ", n, w, h);
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
