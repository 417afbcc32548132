/* The GEMM of a constant right-hand side: C = A B, where B was packed
 * once into column panels and each call reads it as it lies. cblas_sgemm
 * copies B into its own layout on every call; where A has few rows (the
 * Winograd GEMMs of VGG16's last blocks at batch 1: 16 to 49 tiles by
 * 512 x 512 channels) that copy took as long as the products.
 *
 * A packed B [k, n] is [ceil(n / PGEMM_PANEL), k, PGEMM_PANEL]: panel p
 * holds columns [p * PGEMM_PANEL, (p + 1) * PGEMM_PANEL), row by row,
 * the columns past n zero.
 *
 * The products are computed by one kernel compiled for each build of
 * kernels.h, the one in use chosen there. Each element of C is a sum
 * over k in order, the same whichever rows or panels a call covers, so
 * that any split of the work between threads gives the same bits with
 * one build; the builds with fused multiply-adds round differently from
 * the baseline. */
#ifndef NET_PGEMM_H
#define NET_PGEMM_H

#include <stddef.h>

#define PGEMM_PANEL 32

/* n columns rounded up to whole panels. */
static inline int pgemm_padded_columns(int n)
{
	return (n + PGEMM_PANEL - 1) / PGEMM_PANEL * PGEMM_PANEL;
}

/* Floats of B [k, n] packed. */
size_t pgemm_packed_floats(size_t k, size_t n);

/* Where element (row, col) of a packed B [k, n] lies. */
static inline size_t pgemm_packed_index(size_t k, size_t row, size_t col)
{
	return (col / PGEMM_PANEL * k + row) * PGEMM_PANEL + col % PGEMM_PANEL;
}

/* count products C_q = A_q B_q of the same shapes, A_q [m, k] (row stride
 * lda; with a_transposed, stored as its transpose [k, m], row stride lda)
 * a_stride floats after A_{q-1}, and so on: columns [c0, c1) of each
 * C_q into c [m, c1 - c0] (row stride ldc). c0 is a multiple of
 * PGEMM_PANEL. One call does all, so that it can fetch each B ahead.
 * Either way of storing A gives the same bits. */
struct pgemm {
	size_t count, m, k;
	const float *a;
	size_t lda, a_stride;
	int a_transposed;
	const float *b; /* packed, pgemm_packed_floats(k, n) or more apart */
	size_t b_stride;
	int c0, c1;
	float *c;
	size_t ldc, c_stride;
};
void pgemm(const struct pgemm *g);

#endif
