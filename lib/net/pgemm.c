#include "pgemm.h"

#include <stdlib.h>
#include <string.h>

/* Sixteen columns: one AVX-512 register, two AVX2 ones, four SSE ones. */
#define LANES 16
typedef float vf __attribute__((vector_size(LANES * 4)));
typedef float vf_unaligned __attribute__((vector_size(LANES * 4), aligned(4), may_alias));

/* The most rows of A one block of the kernel holds in registers. */
#define MAX_ROWS 12

size_t pgemm_packed_floats(size_t k, size_t n)
{
	return (n + PGEMM_PANEL - 1) / PGEMM_PANEL * k * PGEMM_PANEL;
}

void pgemm_pack(const float *b, size_t ldb, size_t k, size_t n, float *packed)
{
	size_t panels = (n + PGEMM_PANEL - 1) / PGEMM_PANEL;

	for (size_t p = 0; p < panels; p++) {
		size_t width = n - p * PGEMM_PANEL < PGEMM_PANEL ? n - p * PGEMM_PANEL : PGEMM_PANEL;

		for (size_t r = 0; r < k; r++) {
			float *d = packed + (p * k + r) * PGEMM_PANEL;

			memcpy(d, b + r * ldb + p * PGEMM_PANEL, width * sizeof *d);
			memset(d + width, 0, (PGEMM_PANEL - width) * sizeof *d);
		}
	}
}

/* a [rows, k] (row stride lda), b the first of vectors x 16 columns of
 * a packed panel [k, 32] -> c [rows, cols] (row stride ldc), cols at most
 * vectors x 16. rows and vectors are constants where it is inlined, so
 * that the sums stay in registers: rows x vectors of them. Meanwhile the
 * first `ahead` cache lines from `next` are asked for, part of the panel
 * the next blocks will read: the first block down a panel read it from
 * memory at 10 bytes a cycle, twice what one core's share of the memory
 * delivers, and the kernel ran at half its speed on the 512 x 512 GEMMs of
 * a few rows. */
static inline __attribute__((always_inline)) void
block(int rows, int vectors, size_t k, const float *a, size_t lda, const float *b, int cols,
      float *c, size_t ldc, const float *next, size_t ahead)
{
	vf sum[MAX_ROWS][2];

	_Pragma("GCC unroll 12")
	for (int r = 0; r < rows; r++)
		for (int v = 0; v < vectors; v++)
			sum[r][v] = (vf){ 0 };
	for (size_t p = 0; p < k; p++) {
		vf col[2];

		if (p < ahead)
			__builtin_prefetch(next + p * LANES);
		for (int v = 0; v < vectors; v++)
			col[v] = *(const vf_unaligned *)(b + p * PGEMM_PANEL + v * LANES);
		_Pragma("GCC unroll 12")
		for (int r = 0; r < rows; r++) {
			float x = a[r * lda + p];

			for (int v = 0; v < vectors; v++)
				sum[r][v] += x * col[v];
		}
	}
	_Pragma("GCC unroll 12")
	for (int r = 0; r < rows; r++)
		for (int v = 0; v < vectors; v++) {
			int n = cols - v * LANES;

			if (n >= LANES)
				*(vf_unaligned *)(c + r * ldc + v * LANES) = sum[r][v];
			else if (n > 0)
				memcpy(c + r * ldc + v * LANES, &sum[r][v], (size_t)n * sizeof(float));
		}
}

/* A block of any row count up to `most`, each count built as a constant
 * so that it too keeps its sums in registers. */
static inline __attribute__((always_inline)) void
any_block(int most, int rows, int vectors, size_t k, const float *a, size_t lda,
	  const float *b, int cols, float *c, size_t ldc, const float *next, size_t ahead)
{
	switch (rows < most ? rows : most) {
#define ROWS_CASE(n) \
	case n: block(n, vectors, k, a, lda, b, cols, c, ldc, next, ahead); break;
	ROWS_CASE(1) ROWS_CASE(2) ROWS_CASE(3) ROWS_CASE(4) ROWS_CASE(5) ROWS_CASE(6)
	ROWS_CASE(7) ROWS_CASE(8) ROWS_CASE(9) ROWS_CASE(10) ROWS_CASE(11) ROWS_CASE(12)
#undef ROWS_CASE
	}
}

/* Point by point, panel by panel, and down each panel in blocks of at
 * most `most` rows of A (as even as m allows: a last block of one row
 * would stream the panel again for a twelfth of the work) by `vectors`
 * x 16 columns. The panel (k x 128 bytes) is read from memory once and
 * from cache by the other blocks, while they ask for the next panel; a
 * block's rows of A stay in the first-level cache. */
static inline __attribute__((always_inline)) void
product(int most, int vectors, const struct pgemm *g)
{
	size_t blocks = (g->m + most - 1) / most;
	size_t passes = blocks * (PGEMM_PANEL / (vectors * LANES));
	int first = g->c0 / PGEMM_PANEL, last = (g->c1 + PGEMM_PANEL - 1) / PGEMM_PANEL;
	/* Lines of a panel each block asks for. */
	size_t lines = g->k * PGEMM_PANEL / LANES, ahead = (lines + passes - 1) / passes;

	for (size_t q = 0; q < g->count; q++)
		for (int pn = first; pn < last; pn++) {
			const float *panel = g->b + q * g->b_stride + (size_t)pn * g->k * PGEMM_PANEL;
			const float *next = pn + 1 < last ? panel + g->k * PGEMM_PANEL
				: q + 1 < g->count ? g->b + (q + 1) * g->b_stride +
						     (size_t)first * g->k * PGEMM_PANEL
				: NULL;
			size_t pass = 0;

			for (int j = 0; j < PGEMM_PANEL; j += vectors * LANES) {
				int p0 = pn * PGEMM_PANEL + j;
				int cols = g->c1 - p0 < vectors * LANES ? g->c1 - p0 : vectors * LANES;
				float *dst = g->c + q * g->c_stride + (p0 - g->c0);

				for (size_t i = 0, bl = 0; bl < blocks; bl++, pass++) {
					int rows = (int)((g->m * (bl + 1)) / blocks - i);
					size_t from = pass * ahead;
					size_t n = !next || from >= lines ? 0
						: lines - from < ahead ? lines - from : ahead;

					if (cols > 0)
						any_block(most, rows, vectors, g->k,
							  g->a + q * g->a_stride + i * g->lda, g->lda,
							  panel + j, cols, dst + i * g->ldc, g->ldc,
							  next ? next + from * LANES : NULL, n);
					i += (size_t)rows;
				}
			}
		}
}

typedef void product_fn(const struct pgemm *g);

/* AVX-512: 12 rows by 32 columns, 24 of the 32 registers. */
__attribute__((target("arch=x86-64-v4"))) static void
product_avx512(const struct pgemm *g)
{
	product(12, 2, g);
}

/* AVX2: 6 rows by 16 columns, 12 of the 16 registers. */
__attribute__((target("arch=x86-64-v3"))) static void
product_avx2(const struct pgemm *g)
{
	product(6, 1, g);
}

/* Any x86-64 (SSE2): 2 rows by 16 columns, 8 of the 16 registers. */
static void product_baseline(const struct pgemm *g)
{
	product(2, 1, g);
}

/* The builds, best first, and the x86-64 level each needs. */
static const struct {
	const char *name;
	int level;
	product_fn *product;
} builds[] = {
	{ "avx512", 4, product_avx512 },
	{ "avx2", 3, product_avx2 },
	{ "baseline", 1, product_baseline },
};
#define BUILDS (sizeof builds / sizeof *builds)

/* The build in use, an index into builds plus one; 0 before the first
 * product. Threads that race to set it store the same value. */
static _Atomic int chosen;

static int runs_here(size_t i)
{
	__builtin_cpu_init();
	return builds[i].level <= (__builtin_cpu_supports("x86-64-v4") ? 4
				   : __builtin_cpu_supports("x86-64-v3") ? 3 : 1);
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
