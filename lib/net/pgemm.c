#include "pgemm.h"

#include <stdlib.h>
#include <string.h>

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

typedef void product_fn(const struct pgemm *g);

/* The instruction sets each build is compiled for, named as both GCC and
 * clang accept them in a target attribute and in __builtin_cpu_supports
 * (clang 14 knows no "x86-64-v4" there). */
#define AVX512_FEATURES "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"
#define AVX2_FEATURES "avx2,fma"

/* AVX-512: 12 rows by 32 columns, 24 of the 32 registers. */
__attribute__((target(AVX512_FEATURES))) static void
product_avx512(const struct pgemm *g)
{
	product16(12, 2, g);
}

/* AVX2: 6 rows by 16 columns, 12 of the 16 registers. */
__attribute__((target(AVX2_FEATURES))) static void
product_avx2(const struct pgemm *g)
{
	product8(6, 2, g);
}

/* Any x86-64 (SSE2): 4 rows by 8 columns, 8 of the 16 registers. */
static void product_baseline(const struct pgemm *g)
{
	product4(4, 2, g);
}

static int runs_avx512(void)
{
	return __builtin_cpu_supports("avx512f") &&
	       __builtin_cpu_supports("avx512vl") &&
	       __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512dq") &&
	       __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int runs_avx2(void)
{
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int runs_anywhere(void)
{
	return 1;
}

/* The builds, best first, and whether the processor runs each. */
static const struct {
	const char *name;
	int (*runs)(void);
	product_fn *product;
} builds[] = {
	{ "avx512", runs_avx512, product_avx512 },
	{ "avx2", runs_avx2, product_avx2 },
	{ "baseline", runs_anywhere, product_baseline },
};
#define BUILDS (sizeof builds / sizeof *builds)

/* The build in use, an index into builds plus one; 0 before the first
 * product. Threads that race to set it store the same value. */
static _Atomic int chosen;

static int runs_here(size_t i)
{
	__builtin_cpu_init();
	return builds[i].runs();
}

int pgemm_select(const char *name)
{
	for (size_t i = 0; i < BUILDS; i++)
		if (!strcmp(builds[i].name, name)) {
			if (!runs_here(i))
				return -1;
			chosen = (int)i + 1;
			return 0;
		}
	return -1;
}

/* The best build the processor runs, or the one VGGPIPE_KERNELS names
 * where the processor runs that. */
static int choose(void)
{
	const char *want = getenv("VGGPIPE_KERNELS");
	size_t i = 0;

	if (want)
		for (size_t j = 0; j < BUILDS; j++)
			if (!strcmp(builds[j].name, want) && runs_here(j))
				i = j;
	for (; i < BUILDS && !runs_here(i); i++)
		;
	return (int)i + 1;
}

const char *pgemm_kernels(void)
{
	if (!chosen)
		chosen = choose();
	return builds[chosen - 1].name;
}

void pgemm(const struct pgemm *g)
{
	if (!chosen)
		chosen = choose();
	if (g->m && g->c1 > g->c0)
		builds[chosen - 1].product(g);
}
