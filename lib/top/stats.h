/* Confidence intervals for an evaluation's numbers: Wilson's score
 * interval for a proportion, and a seeded percentile bootstrap for any
 * statistic of a set of records. Both are two-sided at a confidence level
 * in (0, 1), 0.95 for 95%; an interval that cannot be had (nothing to
 * count, nothing to resample) is NaN at both ends. */
#ifndef TOP_STATS_H
#define TOP_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct stats_interval {
	double lo, hi;
};

/* Wilson's score interval for k successes in n trials (Wilson 1927;
 * Newcombe 1998's formula, as scipy's binomtest(k, n).proportion_ci(
 * method="wilson")), with z the standard normal's (1 + level) / 2
 * quantile. It starts at exactly 0 when k = 0 and ends at exactly 1 when
 * k = n. */
struct stats_interval stats_wilson(uint64_t k, uint64_t n, double level);

/* A statistic of one resample: n indices into the caller's records,
 * drawn with replacement (repeats are the point). */
typedef double stats_statistic(const uint32_t *idx, size_t n, const void *ctx);

/* The percentile bootstrap (Efron): `samples` resamples of the n records,
 * f of each, and the (1 - level) / 2 and (1 + level) / 2 quantiles of
 * those values (stats_quantile). Resample b draws its indices from the
 * SplitMix64 stream seeded by the seed and b, so that the interval is
 * the same bits on every machine and the first resamples do not change
 * with their number. f is called in turn on the caller's thread. n = 0,
 * samples = 0 or a statistic that is NaN give NaN; n above 2^32 - 1 is an
 * error. */
int stats_bootstrap(size_t n, uint32_t samples, uint64_t seed, double level,
		    stats_statistic *f, const void *ctx, struct stats_interval *ci, struct err *e);

/* The p-quantile of n >= 1 values sorted ascending, linear between the
 * order statistics at (n - 1) p (Hyndman and Fan's definition 7, numpy's
 * and R's default). */
double stats_quantile(const double *sorted, size_t n, double p);

/* The mean of v [n], and its sample standard deviation (divided by
 * n - 1: v is a sample, such as cross-validation's folds; 0 for n 1). */
double stats_mean(const double *v, size_t n);
double stats_sample_sd(const double *v, size_t n);

#endif
