/* Unit tests of lib/mix: SplitMix64 and the byte hash against published
 * reference values, so that shards, shuffles, augmentation draws and
 * --init-random weights stay the same bits on every machine and in every
 * version. A changed constant here moves files between shards and
 * changes every seeded result users have cached.
 *
 * Expected values, and where they come from:
 * - SplitMix64 outputs for seeds 1234567 (Rosetta Code, "Pseudo-random
 *   numbers/Splitmix64") and 1477776061723855037 (rand_xoshiro's test
 *   "reference", produced with Vigna's splitmix64.c).
 * - FNV-1a 64 of "", "a" and "foobar" (the FNV reference test vectors):
 *   cbf29ce484222325, af63dc4c8601ec8c, 85944171f73967e8. mix_hash_bytes
 *   is documented as FNV-1a then mixed; its values below come from this
 *   Python, which reproduces the published vectors above before use:
 *
 *     M, G = 2**64 - 1, 0x9e3779b97f4a7c15
 *     def mix(x):   # splitmix64.c's next() from state x
 *         z = (x + G) & M
 *         z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
 *         z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
 *         return z ^ (z >> 31)
 *     def fnv1a(b):
 *         h = 0xcbf29ce484222325
 *         for c in b: h = ((h ^ c) * 0x100000001b3) & M
 *         return h
 *     def hash_bytes(b): return mix(fnv1a(b) ^ len(b))
 */
#include <inttypes.h>
#include <stdint.h>

#include "mix.h"
#include "tap.h"

static void test_splitmix64_reference(void)
{
	static const uint64_t rosetta[] = {
		UINT64_C(6457827717110365317), UINT64_C(3203168211198807973),
		UINT64_C(9817491932198370423), UINT64_C(4593380528125082431),
		UINT64_C(16408922859458223821),
	};
	static const uint64_t vigna[] = {
		UINT64_C(1985237415132408290), UINT64_C(2979275885539914483),
		UINT64_C(13511426838097143398), UINT64_C(8488337342461049707),
		UINT64_C(15141737807933549159), UINT64_C(17093170987380407015),
	};
	uint64_t s = 1234567;
	int same = 1;

	for (size_t i = 0; i < sizeof rosetta / sizeof *rosetta; i++) {
		uint64_t got = mix_splitmix64(&s);

		if (got != rosetta[i]) {
			printf("#   seed 1234567, output %zu: %" PRIu64 ", want %" PRIu64 "\n",
			       i + 1, got, rosetta[i]);
			same = 0;
		}
	}
	ok(same, "SplitMix64 from 1234567: the five published outputs");
	/* The state is the seed plus one increment per draw, nothing else:
	 * anything keeping a stream position relies on it. */
	ok(s == 1234567 + 5 * MIX_GAMMA, "the state moves by the increment per draw");

	s = UINT64_C(1477776061723855037);
	same = 1;
	for (size_t i = 0; i < sizeof vigna / sizeof *vigna; i++) {
		uint64_t got = mix_splitmix64(&s);

		if (got != vigna[i]) {
			printf("#   seed 1477776061723855037, output %zu: %" PRIu64
			       ", want %" PRIu64 "\n", i + 1, got, vigna[i]);
			same = 0;
		}
	}
	ok(same, "SplitMix64 from 1477776061723855037: the six reference outputs");
}

static void test_mix64(void)
{
	uint64_t s = 0;

	/* mix_u64(x) is documented as the output for state x: the first
	 * draw of the stream seeded with x. */
	ok(mix_u64(1234567) == UINT64_C(6457827717110365317),
	   "mix_u64(1234567) is the first output from 1234567");
	ok(mix_u64(1234567 + 2 * MIX_GAMMA) == UINT64_C(9817491932198370423),
	   "mix_u64 two increments on is the third output");
	ok(mix_u64(0) == mix_splitmix64(&s) && mix_u64(0) == UINT64_C(0xe220a8397b1dcdaf),
	   "mix_u64(0) is the first output from 0 (e220a8397b1dcdaf)");
	/* mix(2^64 - 1) from the Python above: the state wraps at 2^64. */
	ok(mix_u64(UINT64_MAX) == UINT64_C(0xe4d971771b652c20),
	   "mix_u64(2^64-1) is e4d971771b652c20");
}

static void test_hash_bytes(void)
{
	static const struct {
		const char *s, *shown;
		size_t n;
		uint64_t want;
	} cases[] = {
		/* mix(fnv1a(s) ^ len), from the Python above */
		{ "", "\"\"", 0, UINT64_C(0xc3817c016ba4ff30) },
		{ "a", "a", 1, UINT64_C(0xc0fc99fea7ab959c) },
		{ "foobar", "foobar", 6, UINT64_C(0xc19865e8b6b028f9) },
		{ "cat/001.jpg", "cat/001.jpg", 11, UINT64_C(0x72dd931def31297f) },
		/* bytes that are not UTF-8 and a NUL are hashed like any other */
		{ "\xff\x00z", "\\xff\\0z", 3, UINT64_C(0x13a2b705ea4ca004) },
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		uint64_t got = mix_hash_bytes(cases[i].s, cases[i].n);

		if (!ok(got == cases[i].want, "mix_hash_bytes(%s) is %016" PRIx64,
			cases[i].shown, cases[i].want))
			printf("#   got %016" PRIx64 "\n", got);
	}
	/* Only the n bytes given count: a relative path inside a longer
	 * buffer hashes like the path alone. */
	ok(mix_hash_bytes("foobar/and/more", 6) == mix_hash_bytes("foobar", 6),
	   "mix_hash_bytes reads n bytes and no more");
}

int main(void)
{
	test_splitmix64_reference();
	test_mix64();
	test_hash_bytes();
	return tap_done();
}
