/* Seeded augmentation draws with the knobs of Keras' ImageDataGenerator.
 *
 * Each copy's parameters come from (seed, relative path, copy number)
 * alone, so a copy is the same whatever the thread count, the order or
 * the shard that produced it. */
#ifndef INPUT_AUGMENT_H
#define INPUT_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "photo.h"

/* A closed interval a value is drawn from, uniformly. */
struct augment_range {
	double lo, hi;
};

struct augment {
	unsigned copies;        /* transformed copies per image */
	int keep_original;      /* also emit the untransformed image, copy 0 */
	uint64_t seed;
	struct augment_range rotation; /* degrees */
	struct augment_range shift_x, shift_y; /* fractions of width, height */
	struct augment_range shear;  /* degrees */
	struct augment_range zoom;   /* factors, drawn per axis */
	int flip_h, flip_v;     /* each applied with probability 1/2 */
	enum photo_fill fill;
};

/* The transform of copy number copy (1-based) of the image whose relative
 * path is rel. */
void augment_draw(const struct augment *a, const char *rel, size_t rel_len,
		  unsigned copy, struct photo_transform *t);

#endif
