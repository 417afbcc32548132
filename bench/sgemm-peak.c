/* The machine's SGEMM peak, through the OpenBLAS vggpipe links: C = A B
 * on n x n matrices (A, B, C [n, n], row-major), the best of a few runs,
 * as GFLOP/s (2 n^3 a product). bench/run measures it once, so that each
 * rate in the table can say how far it is from what the cores can do.
 *
 *   sgemm-peak [N [RUNS]]     (default 4096 3; threads: OPENBLAS_NUM_THREADS)
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 4096, runs = argc > 2 ? atoi(argv[2]) : 3;
	size_t size = (size_t)n * (size_t)n;
	float *a, *b, *c;
	double best = 0;

	if (n < 64 || n > 16384 || runs < 1) {
		fprintf(stderr, "usage: sgemm-peak [N (64..16384) [RUNS]]\n");
		return 2;
	}
	a = malloc(size * sizeof *a);
	b = malloc(size * sizeof *b);
	c = malloc(size * sizeof *c);
	if (!a || !b || !c) {
		fprintf(stderr, "sgemm-peak: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < size; i++) {
		a[i] = (float)(i % 7) * 0.25f;
		b[i] = (float)(i % 5) * 0.5f;
	}
	/* The first product warms the threads and the pages up; it counts
	 * only if it is the fastest. */
	for (int r = 0; r < runs + 1; r++) {
		double t = now(), rate;

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n,
			    0.0f, c, n);
		rate = 2.0 * n * (double)n * n / (now() - t) / 1e9;
		best = rate > best ? rate : best;
	}
	printf("%.1f\n", best);
	free(a);
	free(b);
	free(c);
	return 0;
}
