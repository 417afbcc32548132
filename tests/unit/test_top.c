/* Unit tests of the top model: every layer type's gradient against central
 * finite differences of the objective, the convolution and pooling kernels
 * against direct loops, the block-wise GEMM on any number of threads, the
 * model file round trip, and the top-k order. */
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "nn.h"
#include "tap.h"
#include "model.h"
#include "modelfile.h"
#include "pass.h"
#include "split.h"
#include "train.h"

#define N 7       /* rows in the batch */
#define IN 5
#define K 3
#define SEED 42

static char *class_names[K] = { "cat", "dog", "emu" };

/* The objective at the current parameters, with the same dropout masks
 * every time (the rng restarts from SEED). */
static double objective(const struct model *m, struct pass *p, const float *x,
			const uint32_t *y, const float *cw, double l2, float *grad)
{
	double penalty;

	gsl_rng_set(p->rng, SEED);
	return train_loss_grad(m, p, x, N, y, cw, l2, 0, grad, &penalty);
}

/* Which side of its kink every ReLU input is on and which element wins
 * every pooling window: the objective is smooth only while these stay. */
static uint64_t kinks(const struct model *m, const struct pass *p, const float *x)
{
	uint64_t h = 1469598103934665603u;

	for (int i = 0; i < m->nlayers; i++) {
		const struct layer *l = &m->layers[i];
		const float *in = i ? p->act[i - 1] : x;

		if (l->kind == LAYER_RELU)
			for (size_t k = 0; k < N * l->in; k++)
				h = (h ^ (in[k] > 0)) * 1099511628211u;
		if (l->kind == LAYER_MAXPOOL2X2)
			for (size_t k = 0; k < N * l->out; k++) {
				size_t c = k % l->c, px = k / l->c, ow = l->w / 2, oh = l->h / 2;
				size_t img = px / (oh * ow), oy = px / ow % oh, ox = px % ow;
				const float *base = in + ((img * l->h + 2 * oy) * l->w + 2 * ox) * l->c + c;
				const float v[4] = { base[0], base[l->c], base[l->w * l->c],
						     base[(l->w + 1) * l->c] };
				int best = 0;

				for (int j = 1; j < 4; j++)
					best = v[j] > v[best] ? j : best;
				h = (h ^ (uint64_t)best) * 1099511628211u;
			}
	}
	return h;
}

/* Central differences of every trained parameter of m, which the caller
 * built with its classes, on a batch x of N rows, with steps of h;
 * parameters whose step crosses a kink are passed over. The objective is
 * computed in float, so the difference quotient carries its rounding over
 * 2h, which at h = 1e-3 outweighs the truncation error: the worst error
 * falls as h grows. The largest h that crosses few kinks keeps it least.
 * tol bounds the worst |numeric - analytic| / (1e-2 + |numeric|). */
static void check_model_gradient(const char *name, struct model *m, enum nn_algo algo,
				 int weighted, double l2, double h, double tol)
{
	struct pass p;
	struct err e;
	uint32_t y[N];
	float cw[K] = { 0.5f, 2.0f, 1.25f }, *x, *grad, *scratch;
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937), *masks = gsl_rng_alloc(gsl_rng_mt19937);
	double worst = 0;
	size_t worst_at = 0, skipped = 0;
	uint64_t base;

	gsl_rng_set(rng, 1);
	train_init_params(m, rng);
	/* Away from the initial values, so that every term matters: biases,
	 * gamma and beta not at 0 and 1; convolutions drawn here. */
	for (size_t j = 0; j < m->ntrain; j++)
		m->params[j] += (float)(0.3 * (gsl_rng_uniform(rng) - 0.5));
	for (int i = 0; i < m->nlayers; i++)
		if (m->layers[i].kind == LAYER_STANDARDIZE)
			for (uint32_t c = 0; c < m->layers[i].c; c++) {
				m->layers[i].mean[c] = (float)(gsl_rng_uniform(rng) - 0.5);
				m->layers[i].scale[c] = (float)(0.5 + gsl_rng_uniform(rng));
			}
	for (size_t i = 0; i < N; i++)
		y[i] = (uint32_t)(i % K);
	if (pass_init(&p, m, N, 2, algo, PASS_TRAINING, &e)) {
		ok(0, "%s: pass: %s", name, e.msg);
		return;
	}
	p.rng = masks;
	x = calloc((size_t)N * m->in_dim, sizeof *x);
	grad = calloc(m->ntrain, sizeof *grad);
	scratch = calloc(m->ntrain, sizeof *scratch);
	for (size_t i = 0; i < N * m->in_dim; i++)
		x[i] = (float)(2 * gsl_rng_uniform(rng) - 1);
	objective(m, &p, x, y, weighted ? cw : NULL, l2, grad);
	base = kinks(m, &p, x);

	for (size_t j = 0; j < m->ntrain; j++) {
		float keep = m->params[j];
		double plus, minus, num, err;
		int smooth;

		m->params[j] = keep + (float)h;
		plus = objective(m, &p, x, y, weighted ? cw : NULL, l2, scratch);
		smooth = kinks(m, &p, x) == base;
		m->params[j] = keep - (float)h;
		minus = objective(m, &p, x, y, weighted ? cw : NULL, l2, scratch);
		smooth = smooth && kinks(m, &p, x) == base;
		m->params[j] = keep;
		if (!smooth) {
			skipped++;
			continue;
		}
		/* The step actually taken, after rounding to float. */
		num = (plus - minus) / ((double)(keep + (float)h) - (double)(keep - (float)h));
		err = fabs(num - grad[j]) / (1e-2 + fabs(num));
		if (err > worst) {
			worst = err;
			worst_at = j;
		}
	}
	if (!ok(worst < tol && skipped * 10 < m->ntrain,
		"%s: %zu gradients match central differences (worst relative error %.2g, "
		"allowed %g; %zu at a kink passed over)", name, m->ntrain - skipped, worst, tol,
		skipped))
		printf("#   parameter %zu: analytic %g\n", worst_at, grad[worst_at]);
	free(x);
	free(grad);
	free(scratch);
	pass_free(&p, m);
	model_free(m);
	gsl_rng_free(rng);
	gsl_rng_free(masks);
}

/* Dense models take steps of 4e-3, where none crosses a kink and the
 * rounding over 2h is a quarter of that at 1e-3. */
static void check_gradient(const char *name, const uint32_t *hidden, int nhidden,
			   int batchnorm, double dropout, int weighted, double l2, double tol)
{
	struct model m;
	struct err e;
	uint32_t shape[1] = { IN };

	struct model_top top = { .standardize = 1, .hidden = hidden, .nhidden = nhidden,
				 .batchnorm = batchnorm, .dropout = dropout };

	if (!ok(model_build(&m, 1, shape, &top, K, class_names, &e) == 0, "%s: model built",
		name)) {
		printf("#   %s\n", e.msg);
		return;
	}
	check_model_gradient(name, &m, NN_WINOGRAD, weighted, l2, 4e-3, tol);
}

/* Block 5 in small: convolutions, ReLU and the pool on a map, then a
 * standardised dense top. Steps of 1e-3: at 2e-3 more than a tenth of the
 * parameters cross a kink (a ReLU or a pool's winner). The worst relative
 * error measured is 3.5e-4; a conv bias gradient 2% off measures 1.7e-2. */
static void check_conv_gradient(enum nn_algo algo)
{
	static const uint32_t shape[3] = { 4, 6, 3 };
	struct model m;
	struct err e;

	if (!ok(model_start(&m, 3, shape, K, class_names, &e) == 0 &&
		model_add(&m, LAYER_CONV3X3, 4, 0, &e) == 0 &&
		model_add(&m, LAYER_RELU, 0, 0, &e) == 0 &&
		model_add(&m, LAYER_CONV3X3, 5, 0, &e) == 0 &&
		model_add(&m, LAYER_RELU, 0, 0, &e) == 0 &&
		model_add(&m, LAYER_MAXPOOL2X2, 0, 0, &e) == 0 &&
		model_add(&m, LAYER_STANDARDIZE, 0, 0, &e) == 0 &&
		model_add(&m, LAYER_DENSE, 6, 0, &e) == 0 &&
		model_add(&m, LAYER_RELU, 0, 0, &e) == 0 &&
		model_add(&m, LAYER_DENSE, K, 0, &e) == 0 &&
		model_add(&m, LAYER_SOFTMAX, 0, 0, &e) == 0 &&
		model_finish(&m, &e) == 0, "conv model built")) {
		printf("#   %s\n", e.msg);
		return;
	}
	ok(m.layers[5].h == 2 && m.layers[5].w == 3 && m.layers[5].c == 5 &&
	   m.layers[6].in == 30, "pooling halves the map; dense sees it flattened");
	ok(model_top_start(&m) == 5, "the top starts after the pool");
	check_model_gradient(algo == NN_WINOGRAD ? "Winograd conv3x3, relu, maxpool2x2, standardize, dense"
						 : "im2col conv3x3, relu, maxpool2x2, standardize, dense",
			     &m, algo, 1, 0.01, 1e-3, 5e-3);
}

/* nn_conv3x3_batch_forward and its gradients against direct loops. The
 * worst differences measured with OpenBLAS's SkylakeX, Haswell,
 * Sandybridge and Prescott kernels: im2col 1.8e-7 forward and 2e-7 in the
 * gradients, Winograd 8.6e-7 and 7.9e-7 (its dx is a Winograd convolution
 * too, and its dkernel a sum of Winograd tiles, which may round as much as
 * its forward). db, the same for both, is
 * a plain float sum of 40 values of dy, the same on every processor:
 * 1.1e-7 off for sums of 2.4 and 1.1. */
static void check_conv_kernels(enum nn_algo algo)
{
	const char *name = algo == NN_WINOGRAD ? "Winograd" : "im2col";
	const double tol = algo == NN_WINOGRAD ? 7e-6 : 4e-6, db_tol = 1e-6;
	enum { B = 2, H = 5, W = 4, CI = 3, CO = 2 };
	float x[B * H * W * CI], k[9 * CI * CO], b[CO], y[B * H * W * CO], want[B * H * W * CO];
	float dy[B * H * W * CO], dk[9 * CI * CO], db[CO], dx[B * H * W * CI];
	float flipped[9 * CI * CO];
	float *col = calloc(nn_conv3x3_weight_floats(algo, B, H, W, CI, CO), sizeof *col);
	size_t f1 = nn_conv3x3_batch_floats(algo, B, H, W, CI, CO);
	size_t f2 = nn_conv3x3_batch_floats(algo, B, H, W, CO, CI);
	float *scratch = calloc(f1 > f2 ? f1 : f2, sizeof *scratch);
	double wdk[9 * CI * CO] = { 0 }, wdx[B * H * W * CI] = { 0 }, wdb[CO] = { 0 }, worst = 0;
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);

	for (size_t i = 0; i < sizeof x / sizeof *x; i++)
		x[i] = (float)(gsl_rng_uniform(rng) - 0.5);
	for (size_t i = 0; i < sizeof k / sizeof *k; i++)
		k[i] = (float)(gsl_rng_uniform(rng) - 0.5);
	for (size_t i = 0; i < sizeof dy / sizeof *dy; i++)
		dy[i] = (float)(gsl_rng_uniform(rng) - 0.5);
	b[0] = 0.25f;
	b[1] = -0.5f;
	for (int n = 0; n < B; n++)
		for (int py = 0; py < H; py++)
			for (int px = 0; px < W; px++)
				for (int co = 0; co < CO; co++) {
					double s = b[co];
					size_t at = (((size_t)n * H + py) * W + px) * CO + co;

					wdb[co] += dy[at];
					for (int ky = 0; ky < 3; ky++)
						for (int kx = 0; kx < 3; kx++)
							for (int ci = 0; ci < CI; ci++) {
								int yy = py + ky - 1, xx = px + kx - 1;
								size_t kat = ((size_t)(ky * 3 + kx) * CI + ci) * CO + co;
								size_t xat;

								if (yy < 0 || yy >= H || xx < 0 || xx >= W)
									continue;
								xat = (((size_t)n * H + yy) * W + xx) * CI + ci;
								s += (double)x[xat] * k[kat];
								wdk[kat] += (double)x[xat] * dy[at];
								wdx[xat] += (double)k[kat] * dy[at];
							}
					want[at] = (float)s;
				}
	nn_conv3x3_batch_forward(3, algo, x, B, H, W, CI, CO, k, b, scratch, y);
	for (size_t i = 0; i < sizeof y / sizeof *y; i++)
		worst = fmax(worst, fabs(y[i] - want[i]));
	ok(worst < tol, "%s conv3x3 forward on a batch equals the direct sum (%.2g, allowed %g)",
	   name, worst, tol);
	nn_conv3x3_weight_backward(2, algo, x, B, H, W, CI, CO, dy, col, dk, db);
	nn_conv3x3_input_gradient(2, algo, dy, B, H, W, CI, CO, k, flipped, scratch, dx);
	worst = 0;
	for (size_t i = 0; i < sizeof dk / sizeof *dk; i++)
		worst = fmax(worst, fabs(dk[i] - wdk[i]));
	for (size_t i = 0; i < sizeof dx / sizeof *dx; i++)
		worst = fmax(worst, fabs(dx[i] - wdx[i]));
	ok(worst < tol, "%s conv3x3 kernel and input gradients equal the direct sums (%.2g, "
	   "allowed %g)", name, worst, tol);
	if (algo == NN_IM2COL) {
		worst = 0;
		for (int co = 0; co < CO; co++)
			worst = fmax(worst, fabs(db[co] - wdb[co]));
		ok(worst < db_tol, "conv3x3 bias gradient is the sum of dy over batch and pixels "
		   "(%.2g, allowed %g)", worst, db_tol);
	}
	free(scratch);
	free(col);
	gsl_rng_free(rng);
}

/* x [n, h, w, cin] by algo -> y [n, h, w, cout] (no bias), through a
 * scratch of the size nn_conv3x3_batch_floats asks for. */
static float *batch_conv(enum nn_algo algo, const float *x, int n, int h, int w, int cin,
			 int cout, const float *k)
{
	float *scratch = calloc(nn_conv3x3_batch_floats(algo, n, h, w, cin, cout), sizeof *scratch);
	float *y = calloc((size_t)n * h * w * cout, sizeof *y);

	nn_conv3x3_batch_forward(2, algo, x, n, h, w, cin, cout, k, NULL, scratch, y);
	free(scratch);
	return y;
}

/* Winograd on more channels than one block of the kernel's transform
 * (nn.c's column blocks): forward with 160 output channels (a block and
 * a part), input gradient with 136 (a block and a part of a panel), each
 * against im2col on the same numbers, relative to the largest output.
 * Measured 3.4e-6 and 4.5e-6 (3x3 tiles: their error grows with the
 * channels, as test_winograd bounds it, 3e-6 sqrt(cin)). */
static void check_conv_blocks(void)
{
	enum { B = 2, H = 5, W = 4, CI = 136, CO = 160 };
	const double tol = 2e-5;
	size_t nx = (size_t)B * H * W * CI, ny = (size_t)B * H * W * CO, nk = (size_t)9 * CI * CO;
	float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy);
	float *k = malloc(nk * sizeof *k), *turned = malloc(nk * sizeof *turned);
	float *dx[2], *y[2];
	double worst[2] = { 0 }, big[2] = { 0 };
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);

	for (size_t i = 0; i < nx; i++)
		x[i] = (float)(gsl_rng_uniform(rng) - 0.5);
	for (size_t i = 0; i < ny; i++)
		dy[i] = (float)(gsl_rng_uniform(rng) - 0.5);
	for (size_t i = 0; i < nk; i++)
		k[i] = (float)(gsl_rng_uniform(rng) - 0.5);
	for (int a = 0; a < 2; a++) {
		enum nn_algo algo = a ? NN_WINOGRAD : NN_IM2COL;
		float *scratch = calloc(nn_conv3x3_batch_floats(algo, B, H, W, CO, CI),
					sizeof *scratch);

		y[a] = batch_conv(algo, x, B, H, W, CI, CO, k);
		dx[a] = calloc(nx, sizeof *dx[a]);
		nn_conv3x3_input_gradient(2, algo, dy, B, H, W, CI, CO, k, turned, scratch, dx[a]);
		free(scratch);
	}
	for (size_t i = 0; i < ny; i++) {
		worst[0] = fmax(worst[0], fabs(y[1][i] - y[0][i]));
		big[0] = fmax(big[0], fabs(y[0][i]));
	}
	for (size_t i = 0; i < nx; i++) {
		worst[1] = fmax(worst[1], fabs(dx[1][i] - dx[0][i]));
		big[1] = fmax(big[1], fabs(dx[0][i]));
	}
	ok(worst[0] / big[0] < tol && worst[1] / big[1] < tol,
	   "Winograd in blocks of output channels: forward (%d -> %d) and input gradient (%d "
	   "-> %d) as im2col's within %.2g and %.2g of the largest (allowed %g)",
	   CI, CO, CO, CI, worst[0] / big[0], worst[1] / big[1], tol);
	for (int a = 0; a < 2; a++) {
		free(y[a]);
		free(dx[a]);
	}
	free(x);
	free(dy);
	free(k);
	free(turned);
	gsl_rng_free(rng);
}

static void check_maxpool_backward(void)
{
	/* One 3x5 map of 1 channel: the odd last row and column are dropped,
	 * a tie goes to the first element in row order. */
	const float x[15] = { 1, 5, 2, 2, 9,
			      3, 0, 2, 2, 9,
			      9, 9, 9, 9, 9 };
	const float dy[2] = { 10, 20 };
	float dx[15];
	const float want[15] = { 0, 10, 20, 0, 0,
				 0, 0, 0, 0, 0,
				 0, 0, 0, 0, 0 };

	nn_maxpool2x2_backward(x, dy, 1, 3, 5, 1, dx);
	ok(!memcmp(dx, want, sizeof want), "maxpool2x2 backward: to the largest, first of ties");
}

/* The same product on 1, 2 and 5 threads, bit for bit. */
static void check_gemm_threads(void)
{
	enum { M = 301, NC = 200, KD = 777 };
	float *a = malloc(sizeof(float) * M * KD), *b = malloc(sizeof(float) * KD * NC);
	float *c[3];
	int threads[3] = { 1, 2, 5 }, same = 1;
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);

	for (size_t i = 0; i < (size_t)M * KD; i++)
		a[i] = (float)(gsl_rng_uniform(rng) - 0.5);
	for (size_t i = 0; i < (size_t)KD * NC; i++)
		b[i] = (float)(gsl_rng_uniform(rng) - 0.5);
	for (int t = 0; t < 3; t++) {
		c[t] = calloc((size_t)M * NC, sizeof(float));
		nn_gemm(threads[t], 0, 0, M, NC, KD, 1.0f, a, b, 0.0f, c[t]);
		same = same && !memcmp(c[0], c[t], sizeof(float) * M * NC);
	}
	ok(same, "nn_gemm: the same bits on 1, 2 and 5 threads");
	/* c0^T c0 into c1 and c2 on other thread counts, after the first. */
	nn_gemm(1, 1, 0, NC, NC, M, 1.0f, c[0], c[0], 0.0f, a);
	for (int t = 1; t < 3; t++) {
		nn_gemm(threads[t], 1, 0, NC, NC, M, 1.0f, c[0], c[0], 0.0f, c[t]);
		same = same && !memcmp(a, c[t], sizeof(float) * NC * NC);
	}
	ok(same, "nn_gemm with a transposed operand: the same bits on any thread count");
	for (int t = 0; t < 3; t++)
		free(c[t]);
	free(a);
	free(b);
	gsl_rng_free(rng);
}

static void check_round_trip(void)
{
	static const uint32_t shape[3] = { 4, 2, 3 };
	char path[] = "/tmp/vp-topmodel.XXXXXX";
	struct model m, back;
	struct err e;
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	msgpack_object_kv kv = {
		.key = { .type = MSGPACK_OBJECT_STR, .via.str = { .size = 8, .ptr = "backbone" } },
		.val = { .type = MSGPACK_OBJECT_STR, .via.str = { .size = 5, .ptr = "vgg16" } },
	};
	msgpack_object prov = { .type = MSGPACK_OBJECT_MAP, .via.map = { .size = 1, .ptr = &kv } };
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	model_start(&m, 3, shape, K, class_names, &e);
	model_add(&m, LAYER_CONV3X3, 2, 0, &e);
	model_add(&m, LAYER_RELU, 0, 0, &e);
	model_add(&m, LAYER_MAXPOOL2X2, 0, 0, &e);
	model_add(&m, LAYER_STANDARDIZE, 0, 0, &e);
	model_add(&m, LAYER_DENSE, 4, 0, &e);
	model_add(&m, LAYER_BATCHNORM, 0, LAYER_BN_EPS, &e);
	model_add(&m, LAYER_RELU, 0, 0, &e);
	model_add(&m, LAYER_DROPOUT, 0, 0.25f, &e);
	model_add(&m, LAYER_DENSE, K, 0, &e);
	model_add(&m, LAYER_SOFTMAX, 0, 0, &e);
	model_finish(&m, &e);
	model_set_provenance(&m, &prov, &e);
	gsl_rng_set(rng, 3);
	for (size_t j = 0; j < m.nparams; j++)
		m.params[j] = (float)gsl_rng_uniform(rng);
	ok(modelfile_write(&m, NULL, NULL, f, &e) == 0, "the model writer counts right");
	fclose(f);
	if (!ok(modelfile_load(&back, path, &e) == 0, "written model loads")) {
		printf("#   %s\n", e.msg);
		return;
	}
	ok(back.nparams == m.nparams && back.ntrain == m.ntrain &&
	   !memcmp(back.params, m.params, m.nparams * sizeof *m.params),
	   "every parameter survives the round trip exactly");
	ok(back.nlayers == m.nlayers && back.layers[0].kind == LAYER_CONV3X3 &&
	   back.layers[0].oc == 2 && back.layers[2].kind == LAYER_MAXPOOL2X2 &&
	   back.layers[3].kind == LAYER_STANDARDIZE && back.layers[3].c == 2 &&
	   back.layers[5].kind == LAYER_BATCHNORM && back.layers[5].eps == LAYER_BN_EPS &&
	   back.layers[7].rate == 0.25f, "layer chain, shapes, epsilon and dropout rate survive");
	ok(back.input_rank == 3 && back.in_dim == 24 && !strcmp(back.classes[2], "emu") &&
	   model_class_index(&back, "dog", 3) == 1 && model_class_index(&back, "do", 2) == -1,
	   "input shape and classes survive");
	ok(back.provenance.set && msgpack_object_equal(back.provenance.obj, prov),
	   "provenance survives");
	model_free(&back);
	model_free(&m);
	gsl_rng_free(rng);
	unlink(path);
}

static void check_topk(void)
{
	struct model m = { .nclass = 5, .nlayers = 1 };
	float probs[5] = { 0.1f, 0.3f, 0.1f, 0.4f, 0.1f };
	float *act[1] = { probs };
	struct pass p = { .act = act };
	uint32_t idx[5];

	pass_row_topk(&m, &p, 0, 5, idx);
	ok(idx[0] == 3 && idx[1] == 1 && idx[2] == 0 && idx[3] == 2 && idx[4] == 4,
	   "top-k: best first, ties in class order");
	pass_row_topk(&m, &p, 0, 2, idx);
	ok(idx[0] == 3 && idx[1] == 1, "top-k with k below the class count");
	ok(pass_row_argmax(&m, &p, 0) == 3, "argmax");
}

/* A set of images in copies, by hand: image i has copies[i] records,
 * copy numbers from first_copy, class cls[i]. */
struct toy_set {
	struct feat_set s;
	struct feat_record rec[64];
	size_t first[33], members[64];
	uint32_t y[64];
	char ids[32][8];
};

static void toy_set(struct toy_set *t, int n, const int *copies, int first_copy,
		    const uint32_t *cls)
{
	size_t r = 0;

	memset(t, 0, sizeof *t);
	for (int i = 0; i < n; i++) {
		snprintf(t->ids[i], sizeof t->ids[i], "im%02d", i % 100);
		t->first[i] = r;
		for (int k = 0; k < copies[i]; k++, r++) {
			t->rec[r] = (struct feat_record){ .id = t->ids[i], .id_len = 4,
							  .copy = first_copy + k };
			t->members[r] = r;
			t->y[r] = cls[i];
		}
	}
	t->first[n] = r;
	t->s = (struct feat_set){ .n = r, .rec = t->rec, .images = (size_t)n, .first = t->first,
				  .members = t->members };
}

static void check_holdout(void)
{
	/* Class 0: 10 images, class 1: 5, class 2: 1; copies 0..2 (0 the
	 * plain one) or 1..3 (none plain). */
	static const uint32_t cls[16] = { 0, 1, 0, 0, 2, 0, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0 };
	static const int copies[16] = { 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3 };
	struct toy_set a, b;
	struct split sp, again, other;
	struct err e;
	size_t per[3] = { 0 }, plain = 0, kept = 0;
	int same = 1;

	toy_set(&a, 16, copies, 0, cls);
	if (!ok(split_holdout(&a.s, a.y, 0.2, 7, &sp, &e) == 0, "a holdout of a fifth")) {
		printf("#   %s\n", e.msg);
		return;
	}
	for (size_t i = 0; i < sp.nvalid; i++) {
		per[cls[sp.valid_images[i]]]++;
		plain += a.rec[sp.valid_records[i]].copy == 0 &&
			 sp.valid_records[i] >= a.first[sp.valid_images[i]] &&
			 sp.valid_records[i] < a.first[sp.valid_images[i] + 1];
	}
	ok(per[0] == 2 && per[1] == 1 && per[2] == 0 && sp.ntrain == 13,
	   "each class in proportion: 2 of 10, 1 of 5, none of a class of one image "
	   "(%zu, %zu, %zu)", per[0], per[1], per[2]);
	ok(plain == sp.nvalid, "validation reads each held-out image's plain copy");
	for (size_t i = 0; i < sp.ntrain; i++)
		for (size_t k = 0; k < sp.nvalid; k++)
			kept += sp.train_images[i] == sp.valid_images[k];
	ok(kept == 0 && sp.ntrain + sp.nvalid == 16, "no image on both sides");
	split_holdout(&a.s, a.y, 0.2, 7, &again, &e);
	split_holdout(&a.s, a.y, 0.2, 8, &other, &e);
	for (size_t i = 0; i < sp.nvalid; i++)
		same = same && again.valid_images[i] == sp.valid_images[i];
	ok(same, "the same seed holds out the same images");
	same = other.nvalid == sp.nvalid;
	for (size_t i = 0; same && i < sp.nvalid; i++)
		same = other.valid_images[i] == sp.valid_images[i];
	ok(!same, "another seed, others");
	split_free(&again);
	split_free(&other);
	/* The same images with their records in another order, copies
	 * numbered from 1: the choice follows the ids, and the first copy
	 * stands in for the plain one. */
	toy_set(&b, 16, copies, 1, cls);
	for (int i = 0; i < 8; i++) {
		char tmp[8];

		memcpy(tmp, b.ids[i], sizeof tmp);
		memcpy(b.ids[i], b.ids[15 - i], sizeof tmp);
		memcpy(b.ids[15 - i], tmp, sizeof tmp);
	}
	for (int i = 0; i < 16; i++)
		for (size_t r = b.first[i]; r < b.first[i + 1]; r++)
			b.y[r] = cls[15 - i];
	split_holdout(&b.s, b.y, 0.2, 7, &other, &e);
	same = other.nvalid == sp.nvalid;
	for (size_t i = 0; same && i < sp.nvalid; i++)
		same = !strcmp(b.ids[other.valid_images[sp.nvalid - 1 - i]],
			       a.ids[sp.valid_images[i]]) &&
		       b.rec[other.valid_records[sp.nvalid - 1 - i]].copy == 1;
	ok(same, "the images held out follow their ids, not the order of the records");
	split_free(&other);
	split_free(&sp);
}

/* Batch normalisation's running statistics after a training step: the
 * batch's mean, and its variance made unbiased (PyTorch's), each folded in
 * with weight 1 - LAYER_BN_MOMENTUM. */
static void check_batchnorm_running(void)
{
	static const uint32_t shape[1] = { 2 };
	struct model m;
	struct pass p;
	struct err e;
	const struct layer *bn;
	float x[N * 2];
	double worst = 0;
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);

	if (!ok(model_start(&m, 1, shape, 2, class_names, &e) == 0 &&
		model_add(&m, LAYER_BATCHNORM, 0, LAYER_BN_EPS, &e) == 0 &&
		model_add(&m, LAYER_SOFTMAX, 0, 0, &e) == 0 && model_finish(&m, &e) == 0 &&
		pass_init(&p, &m, N, 1, NN_IM2COL, PASS_TRAINING, &e) == 0,
		"a batchnorm model and its training pass")) {
		printf("#   %s\n", e.msg);
		return;
	}
	bn = &m.layers[0];
	for (int i = 0; i < N * 2; i++)
		x[i] = (float)(3 * gsl_rng_uniform(rng) + i % 2);
	p.rng = rng;
	pass_forward(&m, &p, x, N);
	layer_descs[LAYER_BATCHNORM].after_step(&m.layers[0], p.kept[0], N);
	for (int c = 0; c < 2; c++) {
		double mean = 0, var = 0;

		for (int r = 0; r < N; r++)
			mean += x[r * 2 + c] / (double)N;
		for (int r = 0; r < N; r++)
			var += (x[r * 2 + c] - mean) * (x[r * 2 + c] - mean) / (N - 1);
		worst = fmax(worst, fabs(bn->mean[c] - (1 - LAYER_BN_MOMENTUM) * mean));
		worst = fmax(worst, fabs(bn->var[c] - (LAYER_BN_MOMENTUM + (1 - LAYER_BN_MOMENTUM) * var)));
	}
	ok(worst < 1e-6, "batchnorm's running mean and unbiased variance follow the batch (%.2g)",
	   worst);
	pass_free(&p, &m);
	model_free(&m);
	gsl_rng_free(rng);
}

static void check_diverged(void)
{
	ok(!train_diverged(0.3, 0.2, 10) && !train_diverged(1.0, 0.2, 10) &&
	   train_diverged(1.5, 0.2, 10) && train_diverged(NAN, 0.2, 10) &&
	   train_diverged(INFINITY, 0.2, 10),
	   "far above the start: more than twice it and half of chance's loss above it");
	ok(!train_diverged(3.9, 2.0, 10) && train_diverged(4.1, 2.0, 10),
	   "near chance, twice the start is what counts");
}

int main(void)
{
	static const uint32_t one[] = { 4 }, two[] = { 4, 3 };

	/* Each model's tolerance is about 15 times the worst relative error
	 * measured on it with OpenBLAS's SkylakeX, Haswell, Sandybridge and
	 * Prescott kernels (OPENBLAS_CORETYPE), which round the objective
	 * differently: from 5e-5 (l2) to 8.4e-4 (two hidden layers). Batch
	 * normalisation makes the most: the bias of the dense layer before it
	 * has no gradient, and its difference quotient is only the rounding of
	 * the normalised activations. */
	check_gradient("standardize, dense + softmax cross-entropy", NULL, 0, 0, 0, 0, 0, 2e-3);
	check_gradient("dense, class weights, l2", NULL, 0, 0, 0, 1, 0.05, 1e-3);
	check_gradient("dense + relu", one, 1, 0, 0, 0, 0, 3e-3);
	check_gradient("dense + relu + dropout", one, 1, 0, 0.3, 0, 0, 2e-3);
	check_gradient("dense + batchnorm + relu", one, 1, 1, 0, 0, 0, 6e-3);
	check_gradient("two hidden layers, every dense layer type, weights, l2", two, 2, 1, 0.3, 1,
		       0.01, 1.5e-2);
	check_conv_gradient(NN_IM2COL);
	check_conv_gradient(NN_WINOGRAD);
	check_conv_kernels(NN_IM2COL);
	check_conv_kernels(NN_WINOGRAD);
	check_conv_blocks();
	check_maxpool_backward();
	check_gemm_threads();
	check_round_trip();
	check_topk();
	check_holdout();
	check_batchnorm_running();
	check_diverged();
	return tap_done();
}
