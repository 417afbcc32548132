/* Text tables for spreadsheets and shell tools: one field of CSV or TSV,
 * whatever bytes it holds. */
#ifndef BASE_TABLE_H
#define BASE_TABLE_H

#include <stddef.h>
#include <stdio.h>

/* CSV (RFC 4180): a field holding a comma, a quote or a line break is
 * quoted, its quotes doubled. TSV has no quoting: tab, line breaks and
 * backslash are escaped (\t, \n, \r, \\). */
void table_field(FILE *f, int tsv, const char *p, size_t n);
/* The same of a NUL-terminated string. */
void table_str(FILE *f, int tsv, const char *s);

#endif
