/* Unit tests of lib/augment: what augment_draw promises. Each draw
 * lies in its range and uses all of it; a range of one value gives that
 * value exactly (the defaults must be the identity transform); a copy's
 * draws depend on (seed, relative path, copy number) alone, never on the
 * other knobs; flips happen half the time, only when enabled; and the
 * draws of a seed do not change between versions, so that an augmented
 * training set can be made again.
 *
 * The pinned values come from this Python, which follows the draw as
 * lib/augment.c states it on top of the mix functions of test_mix.c's
 * comment (themselves checked there against published vectors):
 *
 *     def draw(seed, rel, copy, ranges, flip_h, flip_v):
 *         s = ((mix(mix(seed) ^ hash_bytes(rel)) ^ mix(copy)) + G) & M
 *         r = [mix((s + i * G) & M) for i in range(8)]  # the stream from s
 *         # ranges: rotation, shift x, shift y, shear, zoom x, zoom y
 *         out = [lo + (hi - lo) * ((r[i] >> 11) * 2.0**-53)
 *                for i, (lo, hi) in enumerate(ranges)]
 *         return out + [r[6] >> 63 and flip_h, r[7] >> 63 and flip_v]
 *
 * (LO:HI and F option parsing lives in tools/imgprep.c and is covered by
 * tests/imgprep-augment.t; here the ranges are given as numbers.) */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "augment.h"
#include "tap.h"

#define REL "cat/001.jpg"

static struct augment knobs(void)
{
	struct augment a;

	memset(&a, 0, sizeof a);
	a.copies = 4;
	a.seed = 42;
	a.rotation = (struct augment_range){ -30, 30 };
	a.shift_x = (struct augment_range){ -0.1, 0.1 };
	a.shift_y = (struct augment_range){ 0, 0.2 };
	a.shear = (struct augment_range){ -10, 10 };
	a.zoom = (struct augment_range){ 0.8, 1.2 };
	a.flip_h = a.flip_v = 1;
	a.fill = PHOTO_FILL_NEAREST;
	return a;
}

static struct photo_transform draw(const struct augment *a, const char *rel, unsigned copy)
{
	struct photo_transform t;

	/* Garbage first, so that a field the draw forgets to set shows. */
	memset(&t, 0x5a, sizeof t);
	augment_draw(a, rel, strlen(rel), copy, &t);
	return t;
}

static int same_transform(const struct photo_transform *x, const struct photo_transform *y)
{
	return x->rotation == y->rotation && x->shift_x == y->shift_x &&
	       x->shift_y == y->shift_y && x->shear == y->shear && x->zoom_x == y->zoom_x &&
	       x->zoom_y == y->zoom_y && x->flip_h == y->flip_h && x->flip_v == y->flip_v;
}

static void show(const char *what, const struct photo_transform *t)
{
	printf("#   %s: rotation %.17g shift %.17g %.17g shear %.17g zoom %.17g %.17g flip %d %d\n",
	       what, t->rotation, t->shift_x, t->shift_y, t->shear, t->zoom_x, t->zoom_y,
	       t->flip_h, t->flip_v);
}

/* Within a few units in the last place: the arithmetic is one multiply
 * and one add in double, so only a changed draw moves a value further. */
static int near(double got, double want)
{
	return fabs(got - want) <= 1e-15 * fmax(1, fabs(want));
}

static void test_pinned(void)
{
	static const struct {
		unsigned copy;
		struct photo_transform t;
	} want[] = {
		{ 1, { 1.8933755614270638, 0.04829521746003024, 0.0745449946009902,
		       2.1310915269687882, 1.116780962658147, 0.885722624011155, 0, 1 } },
		{ 2, { 19.477705206824048, -0.03153877008255823, 0.0746740396053788,
		       7.478808152673068, 0.9265185068454279, 0.847436401803172, 0, 1 } },
	};
	struct augment a = knobs();

	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		struct photo_transform t = draw(&a, REL, want[i].copy);
		const struct photo_transform *w = &want[i].t;
		int pass = near(t.rotation, w->rotation) && near(t.shift_x, w->shift_x) &&
			   near(t.shift_y, w->shift_y) && near(t.shear, w->shear) &&
			   near(t.zoom_x, w->zoom_x) && near(t.zoom_y, w->zoom_y) &&
			   t.flip_h == w->flip_h && t.flip_v == w->flip_v;

		if (!ok(pass, "seed 42, %s, copy %u: the pinned draws",
			REL, want[i].copy)) {
			show("got", &t);
			show("want", w);
		}
	}
}

/* Every parameter over many draws: inside [lo, hi], and reaching within
 * 1% of both ends (a draw using half its range, or one end of it, fails). */
static void test_ranges(void)
{
	struct augment a = knobs();
	const struct {
		const char *name;
		struct augment_range r;
		size_t off; /* of the drawn field in struct photo_transform */
		struct augment_range *knob;
	} p[] = {
		{ "rotation", { 10, 20 }, offsetof(struct photo_transform, rotation), &a.rotation },
		{ "shift_x", { -0.3, -0.1 }, offsetof(struct photo_transform, shift_x), &a.shift_x },
		{ "shift_y", { -0.05, 0.25 }, offsetof(struct photo_transform, shift_y), &a.shift_y },
		{ "shear", { -45, 5 }, offsetof(struct photo_transform, shear), &a.shear },
		{ "zoom_x", { 0.5, 2 }, offsetof(struct photo_transform, zoom_x), &a.zoom },
		{ "zoom_y", { 0.5, 2 }, offsetof(struct photo_transform, zoom_y), &a.zoom },
	};
	char rel[32];

	for (size_t i = 0; i < sizeof p / sizeof *p; i++)
		*p[i].knob = p[i].r;
	for (size_t i = 0; i < sizeof p / sizeof *p; i++) {
		double lo = INFINITY, hi = -INFINITY, span = p[i].r.hi - p[i].r.lo;

		for (unsigned f = 0; f < 200; f++) {
			snprintf(rel, sizeof rel, "c/%03u.png", f);
			for (unsigned c = 1; c <= 10; c++) {
				struct photo_transform t = draw(&a, rel, c);
				double v;

				memcpy(&v, (char *)&t + p[i].off, sizeof v);
				lo = fmin(lo, v);
				hi = fmax(hi, v);
			}
		}
		if (!ok(lo >= p[i].r.lo && hi <= p[i].r.hi &&
			lo < p[i].r.lo + span / 100 && hi > p[i].r.hi - span / 100,
			"%s drawn from [%g, %g] spans it in 2000 draws", p[i].name, p[i].r.lo,
			p[i].r.hi))
			printf("#   drawn from %.17g to %.17g\n", lo, hi);
	}
}

/* The defaults are ranges of one value: rotation 0, shifts 0, shear 0,
 * zoom 1, and the draw must give exactly those, or an image with only
 * --flip would also be resampled. */
static void test_fixed_values(void)
{
	struct augment a;
	int exact = 1, fixed = 1;

	memset(&a, 0, sizeof a);
	a.seed = 7;
	a.zoom = (struct augment_range){ 1, 1 };
	for (unsigned c = 1; c <= 100; c++) {
		struct photo_transform t = draw(&a, REL, c);

		if (t.rotation != 0 || t.shift_x != 0 || t.shift_y != 0 || t.shear != 0 ||
		    t.zoom_x != 1 || t.zoom_y != 1 || t.flip_h || t.flip_v) {
			if (exact)
				show("got", &t);
			exact = 0;
		}
	}
	ok(exact, "the default ranges draw exactly the identity, and no flip when flips are off");

	a.rotation = (struct augment_range){ 12.5, 12.5 };
	a.zoom = (struct augment_range){ 0.75, 0.75 };
	for (unsigned c = 1; c <= 100; c++) {
		struct photo_transform t = draw(&a, REL, c);

		fixed &= t.rotation == 12.5 && t.zoom_x == 0.75 && t.zoom_y == 0.75;
	}
	ok(fixed, "a range LO:LO draws exactly LO");
}

static void test_determinism(void)
{
	struct augment a = knobs(), b = knobs();
	struct photo_transform t1 = draw(&a, REL, 3), t2 = draw(&a, REL, 3);
	struct photo_transform u;
	int differ = 1;
	const char longer[] = REL "/and/more";

	ok(same_transform(&t1, &t2), "the same seed, path and copy draw the same transform");

	/* A copy's draws are from (seed, path, copy) alone: how many copies
	 * are made, whether the original is kept and the fill mode do not
	 * move them, so --augment 5 extends --augment 4. */
	b.copies = 1000;
	b.keep_original = 1;
	b.fill = PHOTO_FILL_WRAP;
	u = draw(&b, REL, 3);
	ok(same_transform(&t1, &u), "copies, keep_original and fill do not change the draws");

	u = draw(&a, "cat/002.jpg", 3);
	ok(u.rotation != t1.rotation && u.zoom_x != t1.zoom_x, "another path, other draws");
	b = knobs();
	b.seed = 43;
	u = draw(&b, REL, 3);
	ok(u.rotation != t1.rotation && u.zoom_x != t1.zoom_x, "another seed, other draws");

	/* The path is the rel_len bytes given, as imgprep passes the
	 * relative part of a longer path. */
	augment_draw(&a, longer, strlen(REL), 3, &u);
	ok(same_transform(&t1, &u), "only rel_len bytes of the path count");

	/* Copies of one image differ from each other in every drawn value. */
	for (unsigned c = 1; c <= 50 && differ; c++) {
		struct photo_transform x = draw(&a, REL, c);

		for (unsigned d = c + 1; d <= 50 && differ; d++) {
			struct photo_transform y = draw(&a, REL, d);

			if (x.rotation == y.rotation || x.shift_x == y.shift_x ||
			    x.shift_y == y.shift_y || x.shear == y.shear ||
			    x.zoom_x == y.zoom_x || x.zoom_y == y.zoom_y) {
				printf("#   copies %u and %u share a value\n", c, d);
				differ = 0;
			}
		}
	}
	ok(differ, "copies 1 to 50 of one image all draw different values");

	/* The two zoom factors are drawn separately, not one for both. */
	differ = 0;
	for (unsigned c = 1; c <= 50; c++) {
		struct photo_transform x = draw(&a, REL, c);

		differ += x.zoom_x != x.zoom_y;
	}
	ok(differ == 50, "zoom is drawn per axis (%d of 50 copies have zoom_x != zoom_y)", differ);
}

/* Turning one knob on or off, or widening its range, leaves the other
 * parameters' draws where they were: each parameter's position in the
 * stream is fixed. */
static void test_independence(void)
{
	struct augment unit, a = knobs(), b;
	int same = 1, flips = 1;

	memset(&unit, 0, sizeof unit);
	unit.seed = a.seed;
	unit.rotation = unit.shift_x = unit.shift_y = unit.shear = unit.zoom =
		(struct augment_range){ 0, 1 };
	for (unsigned c = 1; c <= 100; c++) {
		struct photo_transform u = draw(&unit, REL, c), t = draw(&a, REL, c);

		/* The same fraction of each range, in the same arithmetic. */
		same &= t.rotation == a.rotation.lo + (a.rotation.hi - a.rotation.lo) * u.rotation &&
			t.shift_x == a.shift_x.lo + (a.shift_x.hi - a.shift_x.lo) * u.shift_x &&
			t.shift_y == a.shift_y.lo + (a.shift_y.hi - a.shift_y.lo) * u.shift_y &&
			t.shear == a.shear.lo + (a.shear.hi - a.shear.lo) * u.shear &&
			t.zoom_x == a.zoom.lo + (a.zoom.hi - a.zoom.lo) * u.zoom_x &&
			t.zoom_y == a.zoom.lo + (a.zoom.hi - a.zoom.lo) * u.zoom_y;
	}
	ok(same, "each parameter takes the same fraction of its range whatever the others' ranges");

	/* A knob left at its default (a range of one value) is still drawn,
	 * or turning on --rotation would change every zoom. */
	b = a;
	b.rotation = b.shear = (struct augment_range){ 0, 0 };
	same = 1;
	for (unsigned c = 1; c <= 100; c++) {
		struct photo_transform t = draw(&a, REL, c), u = draw(&b, REL, c);

		same &= u.rotation == 0 && u.shear == 0 && u.shift_x == t.shift_x &&
			u.shift_y == t.shift_y && u.zoom_x == t.zoom_x && u.zoom_y == t.zoom_y &&
			u.flip_h == t.flip_h && u.flip_v == t.flip_v;
	}
	ok(same, "rotation and shear off: the other parameters draw what they drew with them on");

	b = a;
	b.flip_h = 0;
	for (unsigned c = 1; c <= 100; c++) {
		struct photo_transform t = draw(&a, REL, c), u = draw(&b, REL, c);

		flips &= u.flip_v == t.flip_v && !u.flip_h && u.rotation == t.rotation &&
			 u.zoom_y == t.zoom_y;
	}
	ok(flips, "turning the horizontal flip off changes nothing but flip_h");
	b = a;
	b.flip_v = 0;
	flips = 1;
	for (unsigned c = 1; c <= 100; c++) {
		struct photo_transform t = draw(&a, REL, c), u = draw(&b, REL, c);

		flips &= u.flip_h == t.flip_h && !u.flip_v;
	}
	ok(flips, "turning the vertical flip off changes nothing but flip_v");
}

static void test_flips(void)
{
	struct augment a = knobs();
	int h = 0, v = 0, both = 0, bools = 1;

	for (unsigned c = 1; c <= 1000; c++) {
		struct photo_transform t = draw(&a, REL, c);

		bools &= (t.flip_h == 0 || t.flip_h == 1) && (t.flip_v == 0 || t.flip_v == 1);
		h += t.flip_h;
		v += t.flip_v;
		both += t.flip_h && t.flip_v;
	}
	ok(bools, "flip_h and flip_v are 0 or 1");
	/* 513, 515 and 267 from the Python; about 500, 500 and 250 as two
	 * independent fair coins give. */
	if (!ok(h == 513 && v == 515 && both == 267,
		"1000 copies with both flips enabled: 513 flipped horizontally, 515 vertically, 267 both"))
		printf("#   got %d, %d, %d\n", h, v, both);
}

int main(void)
{
	test_pinned();
	test_ranges();
	test_fixed_values();
	test_determinism();
	test_independence();
	test_flips();
	return tap_done();
}
