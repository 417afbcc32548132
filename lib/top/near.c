#include "near.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"

static void hit_free(struct near_hit *h)
{
	free(h->id);
	free(h->label);
}

static void list_clear(struct near_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		hit_free(&l->hit[i]);
	l->n = 0;
	l->full = 0;
}

int near_init(struct near_search *ns, size_t qcap, size_t xcap, uint32_t k,
	      double threshold, int threads, struct err *e)
{
	memset(ns, 0, sizeof *ns);
	ns->k = k;
	ns->threshold = threshold;
	ns->threads = threads;
	ns->qcap = qcap;
	ns->xcap = xcap;
	if (qcap && xcap > SIZE_MAX / qcap)
		return err_fail(e, "blocks of %zu queries and %zu index records are too large",
				qcap, xcap);
	if (!(ns->lists = err_calloc(qcap, sizeof *ns->lists, e)) ||
	    !(ns->sim = err_calloc(qcap * xcap, sizeof *ns->sim, e))) {
		near_free(ns);
		return -1;
	}
	return 0;
}

void near_start(struct near_search *ns, size_t nq)
{
	for (size_t i = 0; i < ns->nq; i++)
		list_clear(&ns->lists[i]);
	ns->nq = nq;
}

/* Best first: greater similarity, then the earlier record. */
static int cmp_hit(const void *a, const void *b)
{
	const struct near_hit *x = a, *y = b;

	if (x->similarity != y->similarity)
		return x->similarity > y->similarity ? -1 : 1;
	return (x->at > y->at) - (x->at < y->at);
}

/* Sorted, and cut to k when there is a k. */
static void list_settle(struct near_list *l, uint32_t k)
{
	/* An empty list may have no array yet, which qsort must not see. */
	if (l->n > 1)
		qsort(l->hit, l->n, sizeof *l->hit, cmp_hit);
	if (!k || l->n < k)
		return;
	for (size_t i = k; i < l->n; i++)
		hit_free(&l->hit[i]);
	l->n = k;
	l->full = 1;
}

static char *copy_bytes(const char *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, p, n);
		s[n] = 0;
	}
	return s;
}

static int list_add(struct near_list *l, uint32_t k, float similarity, uint64_t at,
		    const struct feat_row *row, struct err *e)
{
	struct near_hit *h;

	if (l->n == l->cap) {
		/* With a k, 2k hits are gathered between sorts, so that a
		 * newcomer costs one comparison with the floor and, now and
		 * then, a sort. */
		size_t want = k ? 2 * (size_t)k : l->cap ? 2 * l->cap : 16;

		if (!(h = realloc(l->hit, want * sizeof *h)))
			return err_fail(e, "out of memory keeping %zu neighbours", want);
		l->hit = h;
		l->cap = want;
	}
	h = &l->hit[l->n];
	*h = (struct near_hit){ .similarity = similarity, .at = at, .id_len = row->id_len,
				.label_len = row->label_len, .copy = row->copy };
	if (!(h->id = copy_bytes(row->id, row->id_len)) ||
	    (row->has_label && !(h->label = copy_bytes(row->label, row->label_len)))) {
		hit_free(h);
		return err_fail(e, "out of memory");
	}
	l->n++;
	if (k && l->n == 2 * (size_t)k)
		list_settle(l, k);
	return 0;
}

int near_compare(struct near_search *ns, const float *q, const struct feat_row *qrows,
		 const float *x, const struct feat_row *xrows, size_t nx, uint32_t d,
		 uint64_t at, struct err *e)
{
	/* q [nq, d] x^T [d, nx] -> sim [nq, nx] */
	nn_gemm(ns->threads, 0, 1, ns->nq, nx, d, 1.0f, q, x, 0.0f, ns->sim);
	for (size_t i = 0; i < ns->nq; i++) {
		struct near_list *l = &ns->lists[i];
		const struct feat_row *qr = &qrows[i];
		const float *s = ns->sim + i * nx;

		for (size_t j = 0; j < nx; j++) {
			const struct feat_row *xr = &xrows[j];

			if ((double)s[j] < ns->threshold ||
			    (l->full && !(s[j] > l->hit[ns->k - 1].similarity)))
				continue;
			if (xr->id_len == qr->id_len && !memcmp(xr->id, qr->id, qr->id_len))
				continue;
			if (list_add(l, ns->k, s[j], at + j, xr, e))
				return -1;
		}
	}
	return 0;
}

void near_finish(struct near_search *ns)
{
	for (size_t i = 0; i < ns->nq; i++)
		list_settle(&ns->lists[i], ns->k);
}

void near_free(struct near_search *ns)
{
	if (ns->lists)
		for (size_t i = 0; i < ns->qcap; i++) {
			list_clear(&ns->lists[i]);
			free(ns->lists[i].hit);
		}
	free(ns->lists);
	free(ns->sim);
	memset(ns, 0, sizeof *ns);
}
