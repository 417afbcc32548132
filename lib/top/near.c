#include "near.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pgemm.h"
#include "threads.h"

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

/* Dimensions per pass of the similarities' GEMMs: the part of the
 * packed queries that a pass reads (2 MB for blocks of 512) stays in
 * cache while every index record goes by, where whole 7x7x512 records
 * made each task read all 51 MB of them from memory again. */
#define NEAR_CHUNK 1024

/* Index records per task of a pass. */
#define NEAR_TASK_ROWS 32

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
	    !(ns->sim = err_calloc(xcap * qcap, sizeof *ns->sim, e)) ||
	    !(ns->part = err_calloc((size_t)(threads < 1 ? 1 : threads) * NEAR_TASK_ROWS * qcap,
				    sizeof *ns->part, e))) {
		near_free(ns);
		return -1;
	}
	return 0;
}

/* The pass over dimensions [k0, k0 + *kc): where its packed B [kc, nq]
 * of the block's queries lies in ns->packed. */
static float *pass_chunk(const struct near_search *ns, uint32_t k0, uint32_t *kc)
{
	*kc = ns->d - k0 < NEAR_CHUNK ? ns->d - k0 : NEAR_CHUNK;
	return ns->packed + k0 * (size_t)pgemm_padded_columns((int)ns->nq);
}

struct pack_job {
	struct near_search *ns;
	const float *q;
};

/* Panel `task` of the block's queries -> every chunk of ns->packed, each
 * chunk the packed B [kc, nq] of a pass over kc dimensions: row by row,
 * each written whole while the panel's queries are read on together. */
static void pack_task(void *ctx, size_t task, int thread)
{
	const struct pack_job *j = ctx;
	const struct near_search *ns = j->ns;
	size_t c0 = task * PGEMM_PANEL, c1 = c0 + PGEMM_PANEL < ns->nq ? c0 + PGEMM_PANEL : ns->nq;

	(void)thread;
	for (uint32_t k0 = 0; k0 < ns->d; k0 += NEAR_CHUNK) {
		uint32_t kc;
		float *chunk = pass_chunk(ns, k0, &kc);

		for (uint32_t p = 0; p < kc; p++)
			for (size_t i = c0; i < c1; i++)
				chunk[pgemm_packed_index(kc, p, i)] = j->q[i * ns->d + k0 + p];
	}
}

int near_start(struct near_search *ns, const float *q, size_t nq, uint32_t d, struct err *e)
{
	size_t need = pgemm_packed_floats(d, ns->qcap);
	struct pack_job job = { .ns = ns, .q = q };

	for (size_t i = 0; i < ns->nq; i++)
		list_clear(&ns->lists[i]);
	ns->nq = nq;
	ns->d = d;
	if (need > ns->packed_cap) {
		free(ns->packed);
		ns->packed_cap = 0;
		if (!(ns->packed = err_calloc(need, sizeof *ns->packed, e)))
			return err_context(e, "%zu queries of %u floats: ", ns->qcap, d);
		ns->packed_cap = need;
	}
	/* Once for every index block compared with them. The columns past
	 * nq stay zero, or hold the last block's: pgemm writes only columns
	 * [0, nq). */
	threads_parallel(ns->threads, (nq + PGEMM_PANEL - 1) / PGEMM_PANEL, pack_task, &job);
	return 0;
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

struct sim_job {
	struct near_search *ns;
	const float *x;
	size_t nx;
	uint32_t k0;
};

/* Rows [task * NEAR_TASK_ROWS, ...) of sim [nx, nq] += x [nx, k0 : k0 +
 * kc] q^T [k0 : k0 + kc, nq]: the first pass writes sim, the others add
 * their part to it, in the same order for every record, so that equal
 * records have equal similarities. */
static void sim_task(void *ctx, size_t task, int thread)
{
	const struct sim_job *j = ctx;
	struct near_search *ns = j->ns;
	size_t r0 = task * NEAR_TASK_ROWS;
	size_t r1 = r0 + NEAR_TASK_ROWS < j->nx ? r0 + NEAR_TASK_ROWS : j->nx;
	float *part = j->k0 ? ns->part + (size_t)thread * NEAR_TASK_ROWS * ns->qcap
			    : ns->sim + r0 * ns->nq;
	uint32_t kc;
	const float *chunk = pass_chunk(ns, j->k0, &kc);

	pgemm(&(struct pgemm){ .count = 1, .m = r1 - r0, .k = kc, .a = j->x + r0 * ns->d + j->k0,
			       .lda = ns->d, .b = chunk, .c0 = 0, .c1 = (int)ns->nq, .c = part,
			       .ldc = ns->nq });
	if (j->k0)
		for (size_t i = 0; i < (r1 - r0) * ns->nq; i++)
			ns->sim[r0 * ns->nq + i] += part[i];
}

int near_compare(struct near_search *ns, const struct feat_row *qrows, const float *x,
		 const struct feat_row *xrows, size_t nx, uint64_t at, struct err *e)
{
	struct sim_job job = { .ns = ns, .x = x, .nx = nx };

	if (!ns->nq)
		return 0;
	for (job.k0 = 0; job.k0 < ns->d; job.k0 += NEAR_CHUNK)
		threads_parallel(ns->threads, (nx + NEAR_TASK_ROWS - 1) / NEAR_TASK_ROWS, sim_task,
				 &job);
	for (size_t i = 0; i < ns->nq; i++) {
		struct near_list *l = &ns->lists[i];
		const struct feat_row *qr = &qrows[i];

		for (size_t j = 0; j < nx; j++) {
			const struct feat_row *xr = &xrows[j];
			float s = ns->sim[j * ns->nq + i];

			if ((double)s < ns->threshold ||
			    (l->full && !(s > l->hit[ns->k - 1].similarity)))
				continue;
			if (xr->id_len == qr->id_len && !memcmp(xr->id, qr->id, qr->id_len))
				continue;
			if (list_add(l, ns->k, s, at + j, xr, e))
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
	free(ns->part);
	free(ns->packed);
	memset(ns, 0, sizeof *ns);
}
