/* Unit tests of lib/top/stats: Wilson's interval against scipy and its
 * coverage over seeded draws, the quantile against numpy, and the
 * bootstrap's draws, determinism and coverage.
 *
 * The Wilson references come from scipy 1.10:
 *
 *     from scipy.stats import binomtest
 *     binomtest(k, n).proportion_ci(level, method="wilson")
 *
 * and the quantiles from numpy.percentile([1, 2, 3, 4], [0, 25, 50,
 * 97.5, 100]) and numpy.percentile([3, 5, 11], [2.5, 97.5]). */
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mix.h"
#include "stats.h"
#include "tap.h"

static void test_wilson_scipy(void)
{
	static const struct {
		uint64_t k, n;
		double level, lo, hi;
	} cases[] = {
		{ 7, 32, 0.95, 0.11023836252604186, 0.3875499364924353 },
		{ 0, 10, 0.95, 0.0, 0.27753279986288926 },
		{ 10, 10, 0.95, 0.7224672001371109, 1.0 },
		{ 1, 1, 0.95, 0.20654931437723745, 1.0 },
		{ 50, 100, 0.99, 0.37527962504483986, 0.6247203749551602 },
		{ 3, 1000, 0.9, 0.0011995624784162675, 0.0074824913019056905 },
		{ 31, 32, 0.5, 0.9405568336201442, 0.9838017788536497 },
	};
	double worst = 0;
	int same = 1;

	/* The same formula on the same z (GSL's and scipy's inverse normal
	 * agree to the last bit or two): 1e-15 is a few ulps of the bounds. */
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct stats_interval ci = stats_wilson(cases[i].k, cases[i].n, cases[i].level);
		double d = fmax(fabs(ci.lo - cases[i].lo), fabs(ci.hi - cases[i].hi));

		worst = fmax(worst, d);
		if (d > 1e-15) {
			printf("#   %llu of %llu at %g: [%.17g, %.17g], scipy [%.17g, %.17g]\n",
			       (unsigned long long)cases[i].k, (unsigned long long)cases[i].n,
			       cases[i].level, ci.lo, ci.hi, cases[i].lo, cases[i].hi);
			same = 0;
		}
	}
	ok(same, "Wilson intervals equal scipy's to 1e-15 (worst %.2g)", worst);
	ok(stats_wilson(0, 10, 0.95).lo == 0 && stats_wilson(10, 10, 0.95).hi == 1 &&
	   stats_wilson(0, 3, 0.99).lo == 0 && stats_wilson(3, 3, 0.99).hi == 1,
	   "k = 0 starts at exactly 0, k = n ends at exactly 1");
	ok(isnan(stats_wilson(0, 0, 0.95).lo) && isnan(stats_wilson(0, 0, 0.95).hi),
	   "0 trials: no interval (NaN)");
}

/* The share of `draws` seeded Binomial(n, p) draws whose Wilson interval
 * holds p, and the exact probability of that (the binomial's mass on the
 * k whose interval holds p). */
static double wilson_coverage(double p, uint32_t n, int draws, uint64_t seed, double *exact)
{
	uint64_t s = mix_u64(seed);
	int held = 0;

	*exact = 0;
	for (uint32_t k = 0; k <= n; k++) {
		struct stats_interval ci = stats_wilson(k, n, 0.95);

		if (ci.lo <= p && p <= ci.hi)
			*exact += gsl_ran_binomial_pdf(k, p, n);
	}
	for (int d = 0; d < draws; d++) {
		uint64_t k = 0;
		struct stats_interval ci;

		for (uint32_t i = 0; i < n; i++)
			k += (double)(mix_splitmix64(&s) >> 11) * 0x1p-53 < p;
		ci = stats_wilson(k, n, 0.95);
		held += ci.lo <= p && p <= ci.hi;
	}
	return (double)held / draws;
}

static void test_wilson_coverage(void)
{
	static const double ps[] = { 0.8, 0.5 };

	for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) {
		double exact, share = wilson_coverage(ps[i], 32, 2000, 7 + i, &exact);

		ok(share >= 0.93, "the 95%% Wilson interval holds p = %g in %.4f of 2000 draws "
		   "of 32 (at least 0.93; exactly %.4f)", ps[i], share, exact);
	}
}

static void test_quantile(void)
{
	static const double v[] = { 1, 2, 3, 4 }, w[] = { 3, 5, 11 }, one[] = { 7 };

	ok(stats_quantile(v, 4, 0) == 1 && stats_quantile(v, 4, 0.25) == 1.75 &&
	   stats_quantile(v, 4, 0.5) == 2.5 && fabs(stats_quantile(v, 4, 0.975) - 3.925) < 1e-15 &&
	   stats_quantile(v, 4, 1) == 4, "quantiles of 1, 2, 3, 4 are numpy's");
	ok(fabs(stats_quantile(w, 3, 0.025) - 3.1) < 1e-15 &&
	   fabs(stats_quantile(w, 3, 0.975) - 10.7) < 1e-15, "quantiles of 3, 5, 11 are numpy's");
	ok(stats_quantile(one, 1, 0.025) == 7 && stats_quantile(one, 1, 0.975) == 7,
	   "the quantiles of one value are that value");
}

/* Statistics for the bootstrap's tests. */
static double mean(const uint32_t *idx, size_t n, const void *ctx)
{
	const double *v = ctx;
	double sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += v[idx[i]];
	return sum / (double)n;
}

/* Counts every index drawn, and records the first few resamples' means
 * of v. */
struct watch {
	const double *v;
	uint64_t *hits;
	size_t n, calls, out_of_range;
	double first[100];
};

static double watched(const uint32_t *idx, size_t n, const void *ctx)
{
	/* The bootstrap hands back the caller's own, writable, watch. */
	struct watch *w = (struct watch *)ctx;
	double m = mean(idx, n, w->v);

	for (size_t i = 0; i < n; i++) {
		if (idx[i] < w->n)
			w->hits[idx[i]]++;
		else
			w->out_of_range++;
	}
	if (w->calls < 100)
		w->first[w->calls] = m;
	w->calls++;
	return m;
}

static double not_a_number(const uint32_t *idx, size_t n, const void *ctx)
{
	(void)idx, (void)n, (void)ctx;
	return NAN;
}

static void test_bootstrap_draws(void)
{
	enum { N = 37, B = 2000 };
	double v[N], first[100], chi2 = 0;
	uint64_t hits[N] = { 0 };
	struct watch w = { v, hits, N, 0, 0, { 0 } };
	struct stats_interval a, b, c;
	struct err e;
	int fine;

	for (int i = 0; i < N; i++)
		v[i] = i;
	fine = !stats_bootstrap(N, 100, 3, 0.95, watched, &w, &a, &e);
	for (int i = 0; i < 100; i++)
		first[i] = w.first[i];
	w.calls = 0;
	fine = fine && !stats_bootstrap(N, B, 3, 0.95, watched, &w, &b, &e);
	ok(fine && w.calls == B && !w.out_of_range, "B resamples, every index below n");
	ok(!memcmp(first, w.first, sizeof first),
	   "the first 100 resamples are the same whatever the number of resamples");
	/* Every index equally likely: Pearson's statistic over the 37
	 * indices of the 2100 resamples' draws, each index expected 2100
	 * times (36 degrees of freedom: 99.9% of its values are below
	 * 67.99). */
	for (int i = 0; i < N; i++)
		chi2 += ((double)hits[i] - (B + 100)) * ((double)hits[i] - (B + 100)) / (B + 100);
	ok(chi2 < 67.99, "indices uniform: chi-squared %.1f on 36 degrees of freedom", chi2);
	stats_bootstrap(N, B, 3, 0.95, mean, v, &a, &e);
	stats_bootstrap(N, B, 3, 0.95, mean, v, &c, &e);
	ok(a.lo == c.lo && a.hi == c.hi && a.lo == b.lo && a.hi == b.hi,
	   "the same seed gives the same interval");
	stats_bootstrap(N, B, 4, 0.95, mean, v, &c, &e);
	ok(a.lo != c.lo && a.hi != c.hi, "another seed, another interval");
	ok(a.lo < 18 && 18 < a.hi, "the interval of the mean holds the mean, 18: [%g, %g]",
	   a.lo, a.hi);
	stats_bootstrap(N, B, 3, 0.95, not_a_number, NULL, &a, &e);
	stats_bootstrap(0, B, 3, 0.95, mean, v, &b, &e);
	stats_bootstrap(N, 0, 3, 0.95, mean, v, &c, &e);
	ok(isnan(a.lo) && isnan(a.hi) && isnan(b.lo) && isnan(b.hi) && isnan(c.lo) && isnan(c.hi),
	   "a NaN statistic, no records or no resamples: no interval");
}

/* The mean of 1000 values spread evenly over [0, 1): the bootstrap's
 * interval is the normal one, mean +- z s / sqrt(n) with s the values'
 * standard deviation (taken over n, the bootstrap's plug-in). */
static void test_bootstrap_normal(void)
{
	enum { N = 1000 };
	double v[N], m = 0, var = 0, half;
	struct stats_interval ci;
	struct err e;

	for (int i = 0; i < N; i++)
		m += (v[i] = (i + 0.5) / N) / N;
	for (int i = 0; i < N; i++)
		var += (v[i] - m) * (v[i] - m) / N;
	half = 1.959963984540054 * sqrt(var / N);
	stats_bootstrap(N, 4000, 1, 0.95, mean, v, &ci, &e);
	/* The bounds' Monte Carlo error at B = 4000 is 2.0% of the
	 * half-width (root mean square over seeds 1 to 50, 5.2% at worst);
	 * 8% is four of those. A 90% interval would be 16% narrower. */
	ok(fabs(ci.lo - (m - half)) < 0.08 * half && fabs(ci.hi - (m + half)) < 0.08 * half,
	   "the mean's bootstrap interval is the normal one: [%.5f, %.5f], normal [%.5f, %.5f]",
	   ci.lo, ci.hi, m - half, m + half);
}

/* A percentile bootstrap of a proportion over 32 records: its coverage,
 * printed, with a floor below which it would be broken rather than
 * merely small-sample. Measured over 2000 draws it is 0.92 at p = 0.8
 * (0.84 with 16 records, 0.95 with 128), 0.96 at p = 0.5; over these
 * 400 its standard error is 0.014, and the floor three of those below. */
static void test_bootstrap_coverage(void)
{
	enum { N = 32, DRAWS = 400 };
	double v[N];
	uint64_t s = mix_u64(11);
	int held = 0;
	struct err e;

	for (int d = 0; d < DRAWS; d++) {
		struct stats_interval ci;

		for (int i = 0; i < N; i++)
			v[i] = (double)(mix_splitmix64(&s) >> 11) * 0x1p-53 < 0.8;
		stats_bootstrap(N, 1000, (uint64_t)d, 0.95, mean, v, &ci, &e);
		held += ci.lo <= 0.8 && 0.8 <= ci.hi;
	}
	ok((double)held / DRAWS >= 0.88, "the 95%% percentile bootstrap holds p = 0.8 in %.4f "
	   "of %d draws of 32 (at least 0.88)", (double)held / DRAWS, DRAWS);
}

int main(void)
{
	test_wilson_scipy();
	test_wilson_coverage();
	test_quantile();
	test_bootstrap_draws();
	test_bootstrap_normal();
	test_bootstrap_coverage();
	return tap_done();
}
