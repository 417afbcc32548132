/* Text checks: whether bytes are UTF-8, which decides how a path or a
 * label is written (a str, or bin when it is not text). */
#ifndef BASE_UTF8_H
#define BASE_UTF8_H

#include <stddef.h>

/* 1 when p[0, n) is well-formed UTF-8: no overlong forms, surrogates or
 * values past U+10FFFF. */
int utf8_valid(const char *p, size_t n);

#endif
