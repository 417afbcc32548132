#include "json.h"

#include <math.h>

#include "utf8.h"

void json_string(FILE *f, const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;

	fputc('"', f);
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 :
			     (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;

		if (len == 1) {
			if (c == '"' || c == '\\')
				fprintf(f, "\\%c", c);
			else if (c == '\n')
				fputs("\\n", f);
			else if (c == '\t')
				fputs("\\t", f);
			else if (c < 0x20 || c == 0x7f)
				fprintf(f, "\\u%04x", c);
			else
				fputc(c, f);
			i++;
		} else if (len && len <= n - i && utf8_valid(p + i, len)) {
			fwrite(s + i, 1, len, f);
			i += len;
		} else {
			fprintf(f, "\\udc%02x", c);
			i++;
		}
	}
	fputc('"', f);
}

void json_number(FILE *f, double v, int digits)
{
	if (isfinite(v))
		fprintf(f, "%.*g", digits, v);
	else
		fputs("null", f);
}
