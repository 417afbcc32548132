/* JSON text for people and jq: strings from arbitrary bytes, numbers that
 * JSON can hold. */
#ifndef VP_JSON_H
#define VP_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Valid UTF-8 passes through, control characters are escaped, and each
 * byte of an invalid sequence becomes \udcXX (Python's surrogateescape):
 * the output is always valid JSON and no byte of a path is lost. */
void vp_json_string(FILE *f, const char *p, size_t n);
/* digits significant digits (9 round-trips a float, 17 a double); NaN and
 * infinities, which JSON lacks, as null. */
void vp_json_number(FILE *f, double v, int digits);

#endif
