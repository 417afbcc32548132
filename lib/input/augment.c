#include "augment.h"

#include "mix.h"

static double uniform(uint64_t *s, struct augment_range r)
{
	double u = (double)(mix_splitmix64(s) >> 11) * 0x1p-53;

	return r.lo + (r.hi - r.lo) * u;
}

void augment_draw(const struct augment *a, const char *rel, size_t rel_len,
		  unsigned copy, struct photo_transform *t)
{
	/* SplitMix64 is small, fast and good enough to draw a handful of
	 * parameters; its state is the only thing seeded. The stream starts
	 * one step on, as it always has, so that seeds keep their images. */
	uint64_t s = (mix_u64(mix_u64(a->seed) ^ mix_hash_bytes(rel, rel_len)) ^
		      mix_u64(copy)) + MIX_GAMMA;

	/* Every parameter is drawn whether or not it is used, so enabling
	 * one knob does not change the others' values. */
	t->rotation = uniform(&s, a->rotation);
	t->shift_x = uniform(&s, a->shift_x);
	t->shift_y = uniform(&s, a->shift_y);
	t->shear = uniform(&s, a->shear);
	t->zoom_x = uniform(&s, a->zoom);
	t->zoom_y = uniform(&s, a->zoom);
	t->flip_h = (mix_splitmix64(&s) >> 63) && a->flip_h;
	t->flip_v = (mix_splitmix64(&s) >> 63) && a->flip_v;
}
