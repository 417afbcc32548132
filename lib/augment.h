/* Seeded augmentation draws with the knobs of Keras' ImageDataGenerator.
 *
 * Each copy's parameters come from (seed, relative path, copy number)
 * alone, so a copy is the same whatever the thread count, the order or
 * the shard that produced it. */
#ifndef VP_AUGMENT_H
#define VP_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

/* A closed interval a value is drawn from, uniformly. */
struct vp_range {
	double lo, hi;
};

struct vp_augment {
	unsigned copies;        /* transformed copies per image */
	int keep_original;      /* also emit the untransformed image, copy 0 */
	uint64_t seed;
	struct vp_range rotation; /* degrees */
	struct vp_range shift_x, shift_y; /* fractions of width, height */
	struct vp_range shear;  /* degrees */
	struct vp_range zoom;   /* factors, drawn per axis */
	int flip_h, flip_v;     /* each applied with probability 1/2 */
	enum vp_fill fill;
};

/* The transform of copy number copy (1-based) of the image whose relative
 * path is rel. */
void vp_augment_draw(const struct vp_augment *a, const char *rel, size_t rel_len,
		     unsigned copy, struct vp_transform *t);

#endif
