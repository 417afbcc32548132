#include "names.h"

#include <string.h>

int names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int names_eq(const char *p, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(p, s, n) == 0;
}

long names_search(char *const *names, const uint32_t *by_name, uint32_t nnames,
		  const char *p, size_t n, uint32_t *at)
{
	uint32_t lo = 0, hi = nnames;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const char *name = names[by_name[mid]];
		size_t len = strlen(name);
		int c = memcmp(name, p, len < n ? len : n);

		if (!c)
			c = (len > n) - (len < n);
		if (!c)
			return by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (at)
		*at = lo;
	return -1;
}
