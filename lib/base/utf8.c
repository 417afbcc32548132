#include "utf8.h"

#include <locale.h>
#include <stdint.h>
#include <wchar.h>

/* The length of the code point at s[0, n) with its value in *cp, or 0
 * when the bytes there are not well-formed UTF-8. */
static size_t decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0) {
		len = 2;
		*cp = c & 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3;
		*cp = c & 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4;
		*cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[k] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF. */
	if ((len == 2 && *cp < 0x80) || (len == 3 && *cp < 0x800) ||
	    (len == 4 && *cp < 0x10000) || *cp > 0x10ffff ||
	    (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return len;
}

int utf8_valid(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	uint32_t cp;

	for (size_t i = 0, len; i < n; i += len)
		if (!(len = decode(s + i, n - i, &cp)))
			return 0;
	return 1;
}

size_t utf8_width(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	/* wcwidth knows the widths only under a UTF-8 locale; C.UTF-8 is
	 * one every glibc has, whatever the user's locale. */
	locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	locale_t was = utf8 ? uselocale(utf8) : (locale_t)0;
	size_t columns = 0;

	for (size_t i = 0, len; i < n; i += len) {
		uint32_t cp;
		int w;

		if (!(len = decode(s + i, n - i, &cp))) {
			len = 1;
			cp = 0xfffd; /* shown as the replacement character */
		}
		w = utf8 ? wcwidth((wchar_t)cp) : 1;
		columns += w < 0 ? 1 : (size_t)w;
	}
	if (utf8) {
		uselocale(was);
		freelocale(utf8);
	}
	return columns;
}
