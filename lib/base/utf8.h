/* Text checks: whether bytes are UTF-8, which decides how a path or a
 * label is written (a str, or bin when it is not text), and how many
 * columns text takes in a terminal, for reports that line up. */
#ifndef BASE_UTF8_H
#define BASE_UTF8_H

#include <stddef.h>

/* 1 when p[0, n) is well-formed UTF-8: no overlong forms, surrogates or
 * values past U+10FFFF. */
int utf8_valid(const char *p, size_t n);

/* Terminal columns of p[0, n): 2 for a wide (CJK) character, 0 for a
 * combining mark, 1 for anything else, a byte that is not UTF-8 and a
 * control character included. */
size_t utf8_width(const char *p, size_t n);

#endif
