/* Splitting a labelled set by image, for validation the user did not
 * give and for cross-validation's folds: every copy of an image (imgprep --augment) lands on one side,
 * each class in proportion, and the choice depends only on the seed and
 * the images' ids, never on the order of the records or the thread
 * count. Validation reads one copy of each image held out: its plain
 * copy (copy 0) when the set has it, else its first. */
#ifndef TOP_SPLIT_H
#define TOP_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "featset.h"

struct split {
	size_t *train_images, ntrain;  /* the set's images trained on, in set order */
	size_t *valid_images, nvalid;  /* those held out, in set order */
	size_t *valid_records;         /* [nvalid]: the record validated on of each */
};

/* Hold out round(share * n_c) of the n_c images of each class c (the
 * class of an image's first record, y [s->n]), at least one and at most
 * n_c - 1 where n_c is 2 or more, none of a class of one image. */
int split_holdout(const struct feat_set *s, const uint32_t *y, double share, uint64_t seed,
		  struct split *sp, struct err *e);
/* Deal the images (each class's, y [s->n] as above) to k folds for
 * cross-validation, fold [s->images] receiving each image's: every class
 * spread over the folds as evenly as its count allows, in an order drawn
 * from the seed and the ids. A class with fewer than k images is refused
 * (classes [nclass] names it). */
int split_folds(const struct feat_set *s, const uint32_t *y, uint32_t k, uint64_t seed,
		const char *const *classes, uint32_t *fold, struct err *e);
/* Validate on the images whose fold [s->images] is f (one record each),
 * train on the others. */
int split_fold(const struct feat_set *s, const uint32_t *fold, uint32_t f, struct split *sp,
	       struct err *e);
void split_free(struct split *sp);

#endif
