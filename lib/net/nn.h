/* The numeric kernels of both networks, the VGG16 base and the top model:
 * each is named thing_forward or thing_backward and states its tensor
 * shapes. Matrices are row-major; a batch of maps is NHWC, [n, h, w, c],
 * which as a matrix is [n * h * w, c] and as rows of features [n, h * w * c]
 * (the order of Keras' Flatten).
 *
 * A backward kernel overwrites its outputs with the gradient of the
 * objective given dy, the gradient with respect to the layer's output. */
#ifndef NET_NN_H
#define NET_NN_H

#include <stddef.h>
#include <stdint.h>

/* C [m, n] = alpha op(A) op(B) + beta C: A [m, k] (or [k, m] when ta),
 * B [k, n] (or [n, k] when tb), each stored with its own width as its
 * leading dimension. C is cut into blocks fixed by the shape alone, each
 * one single-threaded GEMM over the whole of k, run on `threads` threads:
 * so every bit of C is the same on any number of threads (OpenBLAS's own
 * threading does not promise that). */
void nn_gemm(int threads, int ta, int tb, size_t m, size_t n, size_t k, float alpha,
	     const float *a, const float *b, float beta, float *c);
/* Every GEMM of ours runs inside a task of our threads: OpenBLAS's own
 * threads on top would oversubscribe the cores. Called by the kernels
 * that need it; OpenBLAS keeps the setting for the whole process. */
void nn_blas_single_threaded(void);

/* x [n, in], w [in, out], b [out] -> y [n, out] = x w + b */
void nn_dense_forward(int threads, const float *x, const float *w, const float *b,
		      size_t n, uint32_t in, uint32_t out, float *y);
/* x [n, in], w [in, out], dy [n, out] -> dx [n, in], dw [in, out],
 * db [out], each skipped when NULL */
void nn_dense_backward(int threads, const float *x, const float *w, const float *dy,
		       size_t n, uint32_t in, uint32_t out, float *dx, float *dw, float *db);

/* x, y [n, c]; gamma, beta [c]. Inference (batch_mean NULL): mean and var
 * [c] are the running statistics. Training: the batch's mean and biased
 * variance are computed into batch_mean and batch_var [c] and used. */
void nn_batchnorm_forward(const float *x, const float *gamma, const float *beta,
			  const float *mean, const float *var, float eps, size_t n,
			  uint32_t c, float *batch_mean, float *batch_var, float *y);
/* x, dy, dx [n, c] (dx skipped when NULL); gamma [c]; the batch mean and
 * biased variance [c] of the forward pass -> dgamma, dbeta [c] */
void nn_batchnorm_backward(const float *x, const float *gamma, float eps,
			   const float *batch_mean, const float *batch_var,
			   const float *dy, size_t n, uint32_t c, float *dx,
			   float *dgamma, float *dbeta);

/* In inference the layer is affine, y = gamma (x - mean) / sqrt(var + eps)
 * + beta with the running statistics: dy, dx [n, c]; gamma, var [c]. */
void nn_batchnorm_inference_backward(const float *dy, const float *gamma, const float *var,
				     float eps, size_t n, uint32_t c, float *dx);

/* x, y [count]; y may be x */
void nn_relu_forward(const float *x, float *y, size_t count);
/* y (the forward output), dy, dx [count] */
void nn_relu_backward(const float *y, const float *dy, float *dx, size_t count);

/* x, mask, y [count]: y = x * mask, where the mask holds 0 for a dropped
 * unit and 1 / (1 - rate) for a kept one (inverted dropout: inference is
 * then the identity). */
void nn_dropout_forward(const float *x, const float *mask, float *y, size_t count);
/* mask, dy, dx [count] */
void nn_dropout_backward(const float *mask, const float *dy, float *dx, size_t count);

/* x [n, k] logits -> y [n, k] probabilities */
void nn_softmax_forward(const float *x, float *y, size_t n, uint32_t k);
/* prob [n, k], labels [n], class weights [k] (NULL: 1) -> dz [n, k], the
 * gradient of (1/n) sum_i w_{y_i} (-log softmax(z)_{i, y_i}) with respect
 * to the logits z */
void nn_softmax_xent_backward(const float *prob, const uint32_t *y, const float *class_w,
			      float *dz, size_t n, uint32_t k);

/* x, y [rows, c]; mean, scale [c]: y = (x - mean) * scale, channel by
 * channel (the last dimension). y may be x. */
void nn_standardize_forward(const float *x, const float *mean, const float *scale,
			    size_t rows, uint32_t c, float *y);

/* dy, dx [rows, c]; scale [c]: dx = dy * scale */
void nn_standardize_backward(const float *dy, const float *scale, size_t rows, uint32_t c,
			     float *dx);

/* x [n, d], in place: each row scaled to unit Euclidean length (its sum
 * of squares taken in double), so that the product of two rows is their
 * cosine similarity; a row of zeros stays zeros, alike to nothing. */
void nn_normalize_forward(float *x, size_t n, uint32_t d);

/* The 3x3 'same' convolution with bias on output pixels [p0, p1) of a
 * batch and output channels [c0, c1), then ReLU when relu is set:
 * x [n, h, w, cin], kernel HWIO [3, 3, cin, cout], bias [cout] (NULL: 0),
 * y [n, h, w, cout], col [(p1 - p0), 9 * cin] scratch. */
void nn_conv3x3_forward(const float *x, int h, int w, int cin, int cout,
			const float *kernel, const float *bias, int relu, size_t p0,
			size_t p1, int c0, int c1, float *col, float *y);
/* How a batch's convolutions run: im2col and one GEMM, or Winograd
 * F(4x4, 3x3) or F(3x3, 3x3) (winograd.h), with about 2 to 3 times fewer
 * multiplications on small maps and 10 times the rounding error (a few
 * 1e-6 of the largest output). NN_AUTO is the faster as measured: for
 * the batch kernels below, Winograd on maps of 3x3 and more, im2col on
 * smaller ones; VGG16 chooses layer by layer (vgg16_set_algo). */
enum nn_algo { NN_IM2COL, NN_WINOGRAD, NN_AUTO };
/* Their names on the command line and in a model file, NULL-terminated. */
extern const char *const nn_algo_names[];

/* The same as nn_conv3x3_forward over a whole batch of n maps on `threads`
 * threads, with bias (NULL: 0) and no ReLU: x [n, h, w, cin], kernel HWIO
 * [3, 3, cin, cout] -> y [n, h, w, cout]. Winograd transforms the kernel on
 * every call, since training changes it. scratch holds
 * nn_conv3x3_batch_floats(algo, ...) floats. The work is cut by the shape
 * alone, so y is the same on any number of threads. */
size_t nn_conv3x3_batch_floats(enum nn_algo algo, size_t n, int h, int w, int cin, int cout);
void nn_conv3x3_batch_forward(int threads, enum nn_algo algo, const float *x, size_t n,
			      int h, int w, int cin, int cout, const float *kernel,
			      const float *bias, float *scratch, float *y);
/* The kernel's gradient: x [n, h, w, cin], dy [n, h, w, cout] ->
 * dkernel [3, 3, cin, cout] = col(x)^T dy, dbias [cout]: by im2col and one
 * GEMM, or by Winograd (winograd.h), as algo and the map's size choose for
 * the forward pass. scratch holds nn_conv3x3_weight_floats(algo, ...)
 * floats; dkernel is the same on any number of threads. */
size_t nn_conv3x3_weight_floats(enum nn_algo algo, size_t n, int h, int w, int cin, int cout);
void nn_conv3x3_weight_backward(int threads, enum nn_algo algo, const float *x, size_t n,
				int h, int w, int cin, int cout, const float *dy,
				float *scratch, float *dkernel, float *dbias);
/* The input's gradient: dy [n, h, w, cout] -> dx [n, h, w, cin], dy
 * convolved with the kernel [3, 3, cin, cout] turned by 180 degrees and
 * its input and output channels swapped, a 'same' convolution again.
 * Winograd transforms the turned kernel straight from kernel; im2col
 * writes it to turned [3, 3, cout, cin] first. scratch holds
 * nn_conv3x3_batch_floats(algo, n, h, w, cout, cin) floats. */
void nn_conv3x3_input_gradient(int threads, enum nn_algo algo, const float *dy, size_t n,
			       int h, int w, int cin, int cout, const float *kernel,
			       float *turned, float *scratch, float *dx);

/* x [n, h, w, c] -> y [n, h / 2, w / 2, c], output rows [r0, r1) of the
 * n * (h / 2); an odd last row or column is dropped, as Keras' 'valid'
 * pooling does. */
void nn_maxpool2x2_forward(const float *x, int h, int w, int c, size_t r0, size_t r1,
			   float *y);
/* x [n, h, w, c], dy [n, h / 2, w / 2, c] -> dx [n, h, w, c]: each window's
 * gradient goes to its largest element, the first of equal ones in row
 * order (as PyTorch does); dropped rows and columns get 0. */
void nn_maxpool2x2_backward(const float *x, const float *dy, size_t n, int h, int w,
			    int c, float *dx);

/* x [pixels, c] -> y [c]: the mean or the maximum over the pixels, as
 * Keras' pooling='avg' / 'max'. */
void nn_global_avgpool_forward(const float *x, size_t pixels, int c, float *y);
void nn_global_maxpool_forward(const float *x, size_t pixels, int c, float *y);

#endif
