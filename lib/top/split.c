#include "split.h"

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

int split_holdout(const struct feat_set *s, const uint32_t *y, double share, uint64_t seed,
		  struct split *sp, struct err *e)
{
	size_t n = s->images ? s->images : 1, *count = NULL;
	struct drawn *d = err_calloc(n, sizeof *d, e);
	unsigned char *held = d ? err_calloc(n, 1, e) : NULL;
	uint32_t nclass = 0;
	int rc = -1;

	memset(sp, 0, sizeof *sp);
	if (!held)
		goto out;
	for (size_t i = 0; i < s->images; i++) {
		const struct feat_record *r = &s->rec[s->members[s->first[i]]];

		d[i] = (struct drawn){ .key = mix_u64(mix_hash_bytes(r->id, r->id_len) ^
						      mix_u64(seed)),
				       .image = i };
	}
	for (size_t i = 0; i < s->n; i++)
		nclass = y[i] >= nclass ? y[i] + 1 : nclass;
	if (!(count = err_calloc(nclass ? nclass : 1, 2 * sizeof *count, e)))
		goto out;
	/* count[2c]: the class's images; count[2c + 1]: those held out. */
	for (size_t i = 0; i < s->images; i++)
		count[2 * y[s->members[s->first[i]]]]++;
	qsort(d, s->images, sizeof *d, cmp_drawn);
	for (size_t k = 0; k < s->images; k++) {
		uint32_t c = y[s->members[s->first[d[k].image]]];
		size_t want = (size_t)lround(share * (double)count[2 * c]);

		if (count[2 * c] >= 2)
			want = want < 1 ? 1 : want > count[2 * c] - 1 ? count[2 * c] - 1 : want;
		else
			want = 0;
		if (count[2 * c + 1] < want) {
			count[2 * c + 1]++;
			held[d[k].image] = 1;
		}
	}
	for (size_t i = 0; i < s->images; i++)
		sp->nvalid += held[i];
	sp->ntrain = s->images - sp->nvalid;
	if (!(sp->train_images = err_calloc(sp->ntrain ? sp->ntrain : 1, sizeof(size_t), e)) ||
	    !(sp->valid_images = err_calloc(sp->nvalid ? sp->nvalid : 1, sizeof(size_t), e)) ||
	    !(sp->valid_records = err_calloc(sp->nvalid ? sp->nvalid : 1, sizeof(size_t), e)))
		goto out;
	for (size_t i = 0, a = 0, b = 0; i < s->images; i++) {
		if (!held[i]) {
			sp->train_images[a++] = i;
			continue;
		}
		sp->valid_images[b] = i;
		sp->valid_records[b++] = plain_record(s, i);
	}
	rc = 0;
out:
	if (rc)
		split_free(sp);
	free(d);
	free(held);
	free(count);
	return rc;
}
