#include "stats.h"

#include <gsl/gsl_cdf.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

#include "mix.h"

struct stats_interval stats_wilson(uint64_t k, uint64_t n, double level)
{
	/* The argument spelled as scipy spells it, so that z is the same
	 * double there and here. */
	double z = gsl_cdf_ugaussian_Pinv(0.5 + 0.5 * level), z2 = z * z;
	double nn = (double)n, p, denom, centre, half;

	if (!n)
		return (struct stats_interval){ NAN, NAN };
	p = (double)k / nn;
	denom = 2 * (nn + z2);
	centre = (2 * nn * p + z2) / denom;
	half = z / denom * sqrt(4 * nn * p * (1 - p) + z2);
	/* The ends are exact there: rounding would put them an ulp outside
	 * [0, 1] or inside it. */
	return (struct stats_interval){ k ? centre - half : 0, k < n ? centre + half : 1 };
}

/* A uniform index below n: Lemire's multiply and shift of 32 random
 * bits, with the rejection that removes its bias, all in integers so
 * that every machine draws the same. */
static uint32_t below(uint64_t *s, uint32_t n)
{
	uint64_t m = (mix_splitmix64(s) >> 32) * n;

	if ((uint32_t)m < n) {
		uint32_t floor = (uint32_t)-n % n;

		while ((uint32_t)m < floor)
			m = (mix_splitmix64(s) >> 32) * n;
	}
	return (uint32_t)(m >> 32);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double stats_quantile(const double *sorted, size_t n, double p)
{
	double h = (double)(n - 1) * p;
	size_t i = (size_t)h;

	if (i + 1 >= n)
		return sorted[n - 1];
	return sorted[i] + (h - (double)i) * (sorted[i + 1] - sorted[i]);
}

int stats_bootstrap(size_t n, uint32_t samples, uint64_t seed, double level,
		    stats_statistic *f, const void *ctx, struct stats_interval *ci, struct err *e)
{
	uint32_t *idx;
	double *v;
	uint32_t b;

	ci->lo = ci->hi = NAN;
	if (!n || !samples)
		return 0;
	if (n > UINT32_MAX)
		return err_fail(e, "bootstrap: %zu records, more than %" PRIu32 " can be resampled",
				n, UINT32_MAX);
	idx = err_calloc(n, sizeof *idx, e);
	v = idx ? err_calloc(samples, sizeof *v, e) : NULL;
	if (!v) {
		free(idx);
		return -1;
	}
	for (b = 0; b < samples; b++) {
		uint64_t s = mix_u64(mix_u64(seed) ^ b);

		for (size_t i = 0; i < n; i++)
			idx[i] = below(&s, (uint32_t)n);
		v[b] = f(idx, n, ctx);
		if (isnan(v[b]))
			break;
	}
	if (b == samples) {
		qsort(v, samples, sizeof *v, cmp_double);
		ci->lo = stats_quantile(v, samples, (1 - level) / 2);
		ci->hi = stats_quantile(v, samples, (1 + level) / 2);
	}
	free(idx);
	free(v);
	return 0;
}

double stats_mean(const double *v, size_t n)
{
	double sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += v[i];
	return sum / (double)n;
}

double stats_sample_sd(const double *v, size_t n)
{
	double mean = stats_mean(v, n), sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += (v[i] - mean) * (v[i] - mean);
	return n > 1 ? sqrt(sum / (double)(n - 1)) : 0;
}
