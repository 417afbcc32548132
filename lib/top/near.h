/* Nearest neighbours by cosine similarity: for each query of a block, the
 * index records most alike, found over the index's blocks read in turn,
 * so that memory is set by the block sizes and not by the index. The
 * neighbours do not depend on the blocks or the thread count: the
 * similarities come from pgemm (pgemm.h), which sums every product over
 * the dimensions in the same order wherever its rows and columns fall,
 * so that equal records have equal similarities in any block (OpenBLAS's
 * sgemm did not promise that, and its Zen kernels broke such ties), and
 * of equal similarities the earlier index record wins (the order of a
 * stable sort by decreasing similarity). */
#ifndef TOP_NEAR_H
#define TOP_NEAR_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "featread.h"

/* A neighbour: what is written of its record, copied, since the index
 * block it came from is gone when the list is written. */
struct near_hit {
	float similarity;
	uint64_t at;            /* its place among the index records compared */
	char *id, *label;       /* NUL-terminated copies; label NULL: none */
	size_t id_len, label_len;
	int64_t copy;           /* -1: none */
};

/* One query's neighbours so far; best first after near_finish. */
struct near_list {
	struct near_hit *hit;
	size_t n, cap;
	int full;               /* hit[k - 1] is a floor that a newcomer must beat */
};

struct near_search {
	uint32_t k;             /* neighbours kept per query; 0: all above the threshold */
	double threshold;       /* the least similarity kept; -INFINITY: none */
	int threads;
	size_t qcap, xcap;
	size_t nq;              /* queries of the block */
	uint32_t d;             /* floats per record */
	struct near_list *lists;        /* [qcap] */
	float *packed;          /* q^T [d, nq], packed for pgemm a pass at a time */
	size_t packed_cap;
	float *sim;             /* [nx, nq] of the index block being compared */
	float *part;            /* each thread's [NEAR_TASK_ROWS, nq] of a pass */
};

/* Room for blocks of qcap queries and xcap index records. */
int near_init(struct near_search *ns, size_t qcap, size_t xcap, uint32_t k,
	      double threshold, int threads, struct err *e);
/* A new block of nq queries q [nq, d], rows of unit length
 * (nn_normalize_forward), with no neighbours yet: packed for the GEMMs of
 * every index block compared with them (a copy as large as the block). */
int near_start(struct near_search *ns, const float *q, size_t nq, uint32_t d, struct err *e);
/* The block's queries against the index records x [nx, d], rows of unit
 * length: sim [nx, nq] = x q^T, then each query's list takes the records
 * alike enough, but a record of the query's own id (the same image).
 * qrows and xrows are their records; at is the place of x's first row in
 * the index. */
int near_compare(struct near_search *ns, const struct feat_row *qrows, const float *x,
		 const struct feat_row *xrows, size_t nx, uint64_t at, struct err *e);
/* Every list best first, cut to k. */
void near_finish(struct near_search *ns);
void near_free(struct near_search *ns);

#endif
