/* The VGG16 kernels on cases small enough to compute by hand. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"
#include "tap.h"
#include "vgg16.h"
#include "weights.h"

static int near(float a, float b)
{
	return fabsf(a - b) <= 1e-5f * (1 + fabsf(b));
}

static void test_conv_padding(void)
{
	/* One 3x3 single-channel image 1..9 and an all-ones kernel: each
	 * output is the sum of the window, the padding adding nothing. */
	float in[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, k[9], b = 0, out[9], col[81];
	float want[9] = { 12, 21, 16, 27, 45, 33, 24, 39, 28 };
	int good = 1;

	for (int i = 0; i < 9; i++)
		k[i] = 1;
	nn_conv3x3_forward(in, 3, 3, 1, 1, k, &b, 1, 0, 9, 0, 1, col, out);
	for (int i = 0; i < 9; i++)
		good &= near(out[i], want[i]);
	ok(good, "conv3x3: window sums with zero padding at corners and edges");

	/* A bias of -25 leaves only what exceeds 25; ReLU zeroes the rest. */
	b = -25;
	nn_conv3x3_forward(in, 3, 3, 1, 1, k, &b, 1, 0, 9, 0, 1, col, out);
	good = 1;
	for (int i = 0; i < 9; i++)
		good &= near(out[i], want[i] - 25 > 0 ? want[i] - 25 : 0);
	ok(good, "conv3x3: bias then ReLU");

	/* Only pixels [3, 6) are computed; the others stay as they were. */
	for (int i = 0; i < 9; i++)
		out[i] = -1;
	b = 0;
	nn_conv3x3_forward(in, 3, 3, 1, 1, k, &b, 1, 3, 6, 0, 1, col, out);
	ok(out[2] == -1 && out[6] == -1 && near(out[3], 27) && near(out[4], 45) &&
	   near(out[5], 33), "conv3x3: a strip of pixels writes only its rows");
}

static void test_conv_channels(void)
{
	/* Two images of 2x2 pixels, 2 channels; a kernel whose only tap is
	 * the centre, swapping the channels and weighting them 2 and 3; the
	 * left neighbour's channel 0 adds to output channel 0. Batches must
	 * not leak into each other through the padding. */
	float in[2 * 4 * 2], k[9 * 2 * 2] = { 0 }, b[2] = { 0.5f, -0.5f };
	float out[2 * 4 * 2], col[8 * 18];
	int good = 1;

	for (int i = 0; i < 16; i++)
		in[i] = (float)(i + 1);
	/* HWIO: k[((ky * 3 + kx) * cin + ci) * cout + co] */
	k[((1 * 3 + 1) * 2 + 1) * 2 + 0] = 2; /* centre, in 1 -> out 0 */
	k[((1 * 3 + 1) * 2 + 0) * 2 + 1] = 3; /* centre, in 0 -> out 1 */
	k[((1 * 3 + 0) * 2 + 0) * 2 + 0] = 1; /* left, in 0 -> out 0 */
	nn_conv3x3_forward(in, 2, 2, 2, 2, k, b, 1, 0, 8, 0, 2, col, out);
	for (int p = 0; p < 8; p++) {
		int x = p % 2;
		float left0 = x > 0 ? in[(p - 1) * 2] : 0;

		good &= near(out[2 * p], 2 * in[2 * p + 1] + left0 + 0.5f);
		good &= near(out[2 * p + 1], 3 * in[2 * p] - 0.5f);
	}
	ok(good, "conv3x3: channel mixing, HWIO order, batch of two");
}

static void test_maxpool(void)
{
	/* 1 image 3x5, 2 channels: floor pooling drops the last row and
	 * column. Channel 1 is channel 0 negated. */
	float in[3 * 5 * 2], out[1 * 2 * 2];

	for (int i = 0; i < 15; i++) {
		in[2 * i] = (float)((i * 7) % 11);
		in[2 * i + 1] = -in[2 * i];
	}
	/* values ch0: row0 0 7 3 10 6 / row1 2 9 5 1 8 / row2 4 ... */
	nn_maxpool2x2_forward(in, 3, 5, 2, 0, 1, out);
	ok(out[0] == 9 && out[2] == 10 && out[1] == 0 && out[3] == -1,
	   "maxpool2x2: 2x2 windows, floor, per channel");
}

static void test_global_pool(void)
{
	float in[3 * 2] = { 1, -4, 2, 5, 6, -1 }, out[2];

	nn_global_avgpool_forward(in, 3, 2, out);
	ok(near(out[0], 3) && near(out[1], 0), "global average pooling");
	nn_global_maxpool_forward(in, 3, 2, out);
	ok(out[0] == 6 && out[1] == 5, "global max pooling");
}

static void test_preprocess(void)
{
	uint8_t rgb[3] = { 10, 20, 255 };
	float out[3];

	vgg16_preprocess_forward(VGG16_CAFFE, rgb, 1, out);
	ok(near(out[0], 255 - 103.939f) && near(out[1], 20 - 116.779f) &&
	   near(out[2], 10 - 123.68f), "caffe: BGR minus the mean");
	vgg16_preprocess_forward(VGG16_TORCH, rgb, 1, out);
	ok(near(out[0], (10 / 255.f - 0.485f) / 0.229f) &&
	   near(out[1], (20 / 255.f - 0.456f) / 0.224f) &&
	   near(out[2], (1 - 0.406f) / 0.225f), "torch: RGB, mean and deviation");
	vgg16_preprocess_forward(VGG16_RESCALE, rgb, 1, out);
	ok(near(out[0], 10 / 255.f) && near(out[2], 1), "rescale: RGB / 255");
}

static void test_shapes(void)
{
	int h, w, c;

	vgg16_output_shape(5, 224, 224, &h, &w, &c);
	ok(h == 7 && w == 7 && c == 512, "224x224 gives 7x7x512");
	vgg16_output_shape(5, 150, 150, &h, &w, &c);
	ok(h == 4 && w == 4 && c == 512, "150x150 gives 4x4x512");
	vgg16_output_shape(5, 100, 150, &h, &w, &c);
	ok(h == 3 && w == 4, "100 high, 150 wide gives 3x4");
	vgg16_output_shape(1, 224, 224, &h, &w, &c);
	ok(h == 112 && c == 64, "block1_pool: 112x112x64");
	vgg16_output_shape(3, 32, 32, &h, &w, &c);
	ok(h == 4 && c == 256, "block3_pool of 32x32: 4x4x256");
}

static void test_network(void)
{
	struct vgg16_weights a, b;
	struct vgg16 net;
	struct err e;
	double sum = 0, sq = 0;
	size_t n = 9 * 3 * 64;
	float *in = calloc(2 * 40 * 36 * 3, sizeof *in), out1[512 * 2], out2[512 * 2];
	uint8_t *rgb = malloc(40 * 36 * 3);
	float maxdiff = 0, maxval = 0;

	ok(weights_random(5, &a, &e) == 0 && weights_random(5, &b, &e) == 0,
	   "random weights");
	ok(!memcmp(a.data, b.data, a.count * sizeof *a.data), "same seed, same weights");
	ok(!strcmp(a.id, "random:5"), "provenance says random:5");
	for (size_t i = 0; i < n; i++) {
		sum += a.kernel[0][i];
		sq += (double)a.kernel[0][i] * a.kernel[0][i];
	}
	ok(fabs(sqrt(sq / n) - sqrt(2.0 / 27)) < 0.1 * sqrt(2.0 / 27) && fabs(sum / n) < 0.05,
	   "He initialisation: deviation sqrt(2 / fan_in)");
	vgg16_weights_free(&b);
	weights_random(6, &b, &e);
	ok(memcmp(a.data, b.data, a.count * sizeof *a.data), "another seed, other weights");
	vgg16_weights_free(&b);

	for (int i = 0; i < 40 * 36 * 3; i++)
		rgb[i] = (uint8_t)(i * 31 % 251);
	vgg16_preprocess_forward(VGG16_CAFFE, rgb, 40 * 36, in);
	memcpy(in + 40 * 36 * 3, in, 40 * 36 * 3 * sizeof *in);
	ok(vgg16_init(&net, &a, 5, 1, &e) == 0, "network on one thread");
	ok(vgg16_forward(&net, in, 1, 36, 40, out1, &e) == 0, "forward 40x36");
	vgg16_free(&net);
	vgg16_init(&net, &a, 5, 2, &e);
	vgg16_forward(&net, in, 2, 36, 40, out2, &e);
	/* Float rounding differs with the GEMMs' shapes: bounded relative to
	 * the largest feature, as the test suite states it. */
	for (int i = 0; i < 512; i++) {
		float d1 = fabsf(out1[i] - out2[i]), d2 = fabsf(out1[i] - out2[512 + i]);

		maxdiff = fmaxf(maxdiff, fmaxf(d1, d2));
		maxval = fmaxf(maxval, fabsf(out1[i]));
	}
	ok(maxval > 0 && maxdiff <= 1e-5f * maxval,
	   "an image's features do not depend on its batch or the threads");
	ok(vgg16_forward(&net, in, 1, 31, 40, out2, &e) == -1, "31 rows are refused");
	ok_contains(e.msg, "smaller than 32x32", "the message says the limit");
	vgg16_free(&net);
	vgg16_weights_free(&a);
	free(in);
	free(rgb);
}

int main(void)
{
	test_conv_padding();
	test_conv_channels();
	test_maxpool();
	test_global_pool();
	test_preprocess();
	test_shapes();
	test_network();
	return tap_done();
}
