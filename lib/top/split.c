#include "split.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mix.h"

void split_free(struct split *sp)
{
	free(sp->train_images);
	free(sp->valid_images);
	free(sp->valid_records);
	memset(sp, 0, sizeof *sp);
}

/* An image's place in the draw: a hash of the seed and its id, so that
 * the same images are held out whatever the order of the records. */
struct drawn {
	uint64_t key;
	size_t image;
};

static int cmp_drawn(const void *a, const void *b)
{
	const struct drawn *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (x->image > y->image) - (x->image < y->image);
}

/* The record validated on for image i: copy 0 when there is one. */
static size_t plain_record(const struct feat_set *s, size_t i)
{
	for (size_t k = s->first[i]; k < s->first[i + 1]; k++)
		if (s->rec[s->members[k]].copy == 0)
			return s->members[k];
	return s->members[s->first[i]];
}

/* The images in the seed's order (struct drawn), and each image's class
 * (y of its first record) with the classes' image counts; *nclass
 * receives the number of classes. */
static int draw_images(const struct feat_set *s, const uint32_t *y, uint64_t seed,
		       struct drawn **order, size_t **count, uint32_t *nclass, struct err *e)
{
	size_t n = s->images ? s->images : 1;

	*count = NULL;
	*nclass = 0;
	if (!(*order = err_calloc(n, sizeof **order, e)))
		return -1;
	for (size_t i = 0; i < s->images; i++) {
		const struct feat_record *r = &s->rec[s->members[s->first[i]]];

		(*order)[i] = (struct drawn){ .key = mix_u64(mix_hash_bytes(r->id, r->id_len) ^
							  mix_u64(seed)),
					      .image = i };
	}
	for (size_t i = 0; i < s->n; i++)
		*nclass = y[i] >= *nclass ? y[i] + 1 : *nclass;
	if (!(*count = err_calloc(*nclass ? *nclass : 1, sizeof **count, e)))
		return -1;
	for (size_t i = 0; i < s->images; i++)
		(*count)[y[s->members[s->first[i]]]]++;
	qsort(*order, s->images, sizeof **order, cmp_drawn);
	return 0;
}

int split_fold(const struct feat_set *s, const uint32_t *fold, uint32_t f, struct split *sp,
	       struct err *e)
{
	memset(sp, 0, sizeof *sp);
	for (size_t i = 0; i < s->images; i++)
		sp->nvalid += fold[i] == f;
	sp->ntrain = s->images - sp->nvalid;
	if (!(sp->train_images = err_calloc(sp->ntrain ? sp->ntrain : 1, sizeof(size_t), e)) ||
	    !(sp->valid_images = err_calloc(sp->nvalid ? sp->nvalid : 1, sizeof(size_t), e)) ||
	    !(sp->valid_records = err_calloc(sp->nvalid ? sp->nvalid : 1, sizeof(size_t), e))) {
		split_free(sp);
		return -1;
	}
	for (size_t i = 0, a = 0, b = 0; i < s->images; i++) {
		if (fold[i] != f) {
			sp->train_images[a++] = i;
			continue;
		}
		sp->valid_images[b] = i;
		sp->valid_records[b++] = plain_record(s, i);
	}
	return 0;
}

int split_holdout(const struct feat_set *s, const uint32_t *y, double share, uint64_t seed,
		  struct split *sp, struct err *e)
{
	struct drawn *d = NULL;
	size_t *count = NULL, *held_of = NULL;
	uint32_t *held = NULL, nclass;
	int rc = -1;

	memset(sp, 0, sizeof *sp);
	if (draw_images(s, y, seed, &d, &count, &nclass, e) ||
	    !(held = err_calloc(s->images ? s->images : 1, sizeof *held, e)) ||
	    !(held_of = err_calloc(nclass ? nclass : 1, sizeof *held_of, e)))
		goto out;
	for (size_t k = 0; k < s->images; k++) {
		uint32_t c = y[s->members[s->first[d[k].image]]];
		size_t want = (size_t)lround(share * (double)count[c]);

		if (count[c] >= 2)
			want = want < 1 ? 1 : want > count[c] - 1 ? count[c] - 1 : want;
		else
			want = 0;
		if (held_of[c] < want) {
			held_of[c]++;
			held[d[k].image] = 1;
		}
	}
	rc = split_fold(s, held, 1, sp, e);
out:
	free(d);
	free(held);
	free(held_of);
	free(count);
	return rc;
}

int split_folds(const struct feat_set *s, const uint32_t *y, uint32_t k, uint64_t seed,
		const char *const *classes, uint32_t *fold, struct err *e)
{
	struct drawn *d = NULL;
	size_t *count = NULL, *start = NULL, *by_class = NULL;
	uint32_t nclass;
	int rc = -1;

	if (draw_images(s, y, seed, &d, &count, &nclass, e))
		goto out;
	for (uint32_t c = 0; c < nclass; c++)
		if (count[c] < k) {
			err_fail(e, "class '%s' has %zu image%s (the copies of one image count "
				 "once): %" PRIu32 " folds need at least %" PRIu32 " images in "
				 "every class", classes[c], count[c], count[c] == 1 ? "" : "s", k, k);
			goto out;
		}
	/* The images by class, in the seed's order within each (a counting
	 * sort), then dealt to the folds in turn, a class starting where the
	 * one before stopped: every fold gets its share of every class to
	 * within one image, and the folds' sizes differ by at most one. */
	if (!(start = err_calloc((size_t)nclass + 1, sizeof *start, e)) ||
	    !(by_class = err_calloc(s->images ? s->images : 1, sizeof *by_class, e)))
		goto out;
	for (uint32_t c = 0; c < nclass; c++)
		start[c + 1] = start[c] + count[c];
	for (size_t j = 0; j < s->images; j++)
		by_class[start[y[s->members[s->first[d[j].image]]]]++] = d[j].image;
	for (size_t j = 0; j < s->images; j++)
		fold[by_class[j]] = (uint32_t)(j % k);
	rc = 0;
out:
	free(d);
	free(count);
	free(start);
	free(by_class);
	return rc;
}
