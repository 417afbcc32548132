/* JSON text for people and jq: strings from arbitrary bytes, numbers that
 * JSON can hold. */
#ifndef BASE_JSON_H
#define BASE_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Valid UTF-8 passes through, control characters are escaped, and each
 * byte of an invalid sequence becomes \udcXX (Python's surrogateescape):
 * the output is always valid JSON and no byte of a path is lost. */
void json_string(FILE *f, const char *p, size_t n);
/* digits significant digits (9 round-trips a float, 17 a double); NaN and
 * infinities, which JSON lacks, as null. */
void json_number(FILE *f, double v, int digits);

#endif
