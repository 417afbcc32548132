/* Fields of the text tables the tools write: CSV as RFC 4180 quotes it,
 * TSV with its special bytes escaped. */
#ifndef BASE_CSV_H
#define BASE_CSV_H

#include <stddef.h>
#include <stdio.h>

/* A field holding a comma, a quote or a line break is quoted, its quotes
 * doubled. */
void csv_field(FILE *f, const char *p, size_t n);
/* TSV has no quoting: tab, line breaks and backslash are written \t, \n,
 * \r and \\. */
void csv_tsv_field(FILE *f, const char *p, size_t n);

#endif
