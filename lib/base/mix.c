#include "mix.h"

uint64_t mix_u64(uint64_t x)
{
	/* SplitMix64's finaliser: a bijection with good avalanche. */
	x += MIX_GAMMA;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

uint64_t mix_hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3u;
	return mix_u64(h ^ n);
}

uint64_t mix_splitmix64(uint64_t *state)
{
	uint64_t r = mix_u64(*state);

	*state += MIX_GAMMA;
	return r;
}
