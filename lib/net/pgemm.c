#include "pgemm.h"

#include <string.h>

#include "kernels.h"

/* The most rows of A one block of the kernel holds in registers. */
#define MAX_ROWS 12

/* Floats in a 64-byte cache line. */
#define LINE_FLOATS 16

size_t pgemm_packed_floats(size_t k, size_t n)
{
	return (size_t)pgemm_padded_columns((int)n) * k;
}

/* 16 floats to a vector, for AVX-512. */
#define LANES 16
#define KERNEL(name) name##16
#include "pgemm_kernel.inc"
#undef LANES
#undef KERNEL

/* 8 floats to a vector, for AVX2. */
#define LANES 8
#define KERNEL(name) name##8
#include "pgemm_kernel.inc"
#undef LANES
#undef KERNEL

/* 4 floats to a vector, for SSE. */
#define LANES 4
#define KERNEL(name) name##4
#include "pgemm_kernel.inc"
#undef LANES
#undef KERNEL

/* AVX-512: 12 rows by 32 columns, 24 of the 32 registers. */
__attribute__((target(KERNELS_AVX512_FEATURES))) static void
product_avx512(const struct pgemm *g)
{
	product16(12, 2, g);
}

/* AVX2: 6 rows by 16 columns, 12 of the 16 registers. */
__attribute__((target(KERNELS_AVX2_FEATURES))) static void
product_avx2(const struct pgemm *g)
{
	product8(6, 2, g);
}

/* Any x86-64 (SSE2): 4 rows by 8 columns, 8 of the 16 registers. */
static void product_baseline(const struct pgemm *g)
{
	product4(4, 2, g);
}

static void (*const products[KERNELS_BUILDS])(const struct pgemm *g) = {
	[KERNELS_AVX512] = product_avx512,
	[KERNELS_AVX2] = product_avx2,
	[KERNELS_BASELINE] = product_baseline,
};

void pgemm(const struct pgemm *g)
{
	if (g->m && g->c1 > g->c0)
		products[kernels_build()](g);
}
