#include "mix.h"

uint64_t vp_mix64(uint64_t x)
{
	/* SplitMix64's finaliser: a bijection with good avalanche. */
	x += VP_MIX_GAMMA;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

uint64_t vp_hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3u;
	return vp_mix64(h ^ n);
}

uint64_t vp_splitmix64(uint64_t *state)
{
	uint64_t r = vp_mix64(*state);

	*state += VP_MIX_GAMMA;
	return r;
}
