/* Names (class names, labels): byte-order comparison and lookup by
 * binary search over an index of them sorted in byte order. */
#ifndef BASE_NAMES_H
#define BASE_NAMES_H

#include <stddef.h>
#include <stdint.h>

/* qsort comparison of two char * in byte order. */
int names_cmp(const void *a, const void *b);

/* 1 when the n bytes at p are the C string s. */
int names_eq(const char *p, size_t n, const char *s);

/* Binary search for the n bytes at p among the nnames strings names[],
 * whose indices by_name[] lists in byte order. Returns the index of the
 * name, or -1 with *at (when not NULL) set to where in by_name[] it
 * would go. */
long names_search(char *const *names, const uint32_t *by_name, uint32_t nnames,
		  const char *p, size_t n, uint32_t *at);

#endif
