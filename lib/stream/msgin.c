#include "msgin.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void msgin_limits_default(struct msgin_limits *lim)
{
	lim->max_object_bytes = MSGIN_MAX_OBJECT_BYTES;
	lim->max_elements = MSGIN_MAX_ELEMENTS;
}

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Size of one msgpack item's header and the payload or child count it
 * declares. Needs only the first byte to know hdr; the declared value needs
 * hdr bytes. */
struct item {
	size_t hdr;        /* bytes of type, length and (for ext) type code */
	uint64_t payload;  /* bytes of str/bin/ext data or fixed scalars */
	uint64_t children; /* array elements, or 2 x map pairs */
};

static int item_header(unsigned char b, size_t *hdr, struct err *e)
{
	static const unsigned char sizes[0x40] = {
		/* c0 */ 1, 0, 1, 1, 2, 3, 5, 3, 4, 6, 5, 9, 2, 3, 5, 9,
		/* d0 */ 2, 3, 5, 9, 2, 2, 2, 2, 2, 2, 3, 5, 3, 5, 3, 5,
	};

	if (b <= 0xbf || b >= 0xe0) {
		*hdr = 1;
		return 0;
	}
	*hdr = sizes[b - 0xc0];
	if (!*hdr)
		return err_fail(e, "byte 0x%02x is not a msgpack type", b);
	return 0;
}

static void item_decode(const unsigned char *p, struct item *it)
{
	unsigned char b = p[0];

	it->payload = 0;
	it->children = 0;
	if (b >= 0x80 && b <= 0x8f)
		it->children = 2u * (b & 0x0f);
	else if (b >= 0x90 && b <= 0x9f)
		it->children = b & 0x0f;
	else if (b >= 0xa0 && b <= 0xbf)
		it->payload = b & 0x1f;
	else if (b >= 0xc4 && b <= 0xc6) /* bin 8/16/32 */
		it->payload = be(p + 1, (int)it->hdr - 1);
	else if (b >= 0xc7 && b <= 0xc9) /* ext 8/16/32: length then type */
		it->payload = be(p + 1, (int)it->hdr - 2);
	else if (b >= 0xd4 && b <= 0xd8) /* fixext 1..16 */
		it->payload = 1u << (b - 0xd4);
	else if (b >= 0xd9 && b <= 0xdb) /* str 8/16/32 */
		it->payload = be(p + 1, (int)it->hdr - 1);
	else if (b == 0xdc || b == 0xdd)
		it->children = be(p + 1, (int)it->hdr - 1);
	else if (b == 0xde || b == 0xdf)
		it->children = 2 * be(p + 1, (int)it->hdr - 1);
}

int msgin_scan(const unsigned char *p, size_t len, const struct msgin_limits *lim,
	       size_t *objlen, size_t *need, struct err *e)
{
	uint64_t pending[MSGIN_MAX_DEPTH + 1];
	uint64_t elements = 0;
	size_t pos = 0;
	int depth = 0;

	pending[0] = 1;
	for (;;) {
		struct item it;

		while (depth > 0 && pending[depth] == 0)
			depth--;
		if (depth == 0 && pending[0] == 0) {
			*objlen = pos;
			return 1;
		}
		if (pos >= len) {
			*need = pos + 1;
			return 0;
		}
		if (item_header(p[pos], &it.hdr, e))
			return err_context(e, "at byte %zu: ", pos);
		if (it.hdr > len - pos) {
			*need = pos + it.hdr;
			return 0;
		}
		item_decode(p + pos, &it);
		if (it.payload > lim->max_object_bytes ||
		    pos + it.hdr + it.payload > lim->max_object_bytes)
			return err_fail(e, "at byte %zu: a field of %llu bytes exceeds the object size limit of %zu bytes",
					pos, (unsigned long long)it.payload, lim->max_object_bytes);
		if (it.children) {
			/* Every element takes at least one byte, and msgpack-c
			 * allocates 24 bytes or more for each before reading
			 * any of them: check the claim against both limits. */
			if (it.children > lim->max_elements - elements ||
			    it.children > lim->max_object_bytes)
				return err_fail(e, "at byte %zu: a container of %llu elements exceeds the limit of %zu elements per object",
						pos, (unsigned long long)it.children, lim->max_elements);
			elements += it.children;
		}
		if (it.payload > len - pos - it.hdr) {
			*need = pos + it.hdr + (size_t)it.payload;
			return 0;
		}
		pending[depth]--;
		pos += it.hdr + (size_t)it.payload;
		if (it.children) {
			if (depth == MSGIN_MAX_DEPTH)
				return err_fail(e, "at byte %zu: nesting deeper than %d levels",
						pos, MSGIN_MAX_DEPTH);
			pending[++depth] = it.children;
		}
	}
}

int msgin_init(struct msgin *m, int fd, const struct msgin_limits *lim,
	       struct err *e)
{
	memset(m, 0, sizeof *m);
	m->fd = fd;
	if (lim)
		m->lim = *lim;
	else
		msgin_limits_default(&m->lim);
	if (!msgpack_zone_init(&m->zone, 8192))
		return err_fail(e, "out of memory");
	return 0;
}

void msgin_free(struct msgin *m)
{
	msgpack_zone_destroy(&m->zone);
	free(m->buf);
	m->buf = NULL;
}

/* Read until at least `want` bytes are buffered or the input ends. The
 * buffer grows with the bytes that actually arrive, never to what a length
 * field claims. Returns 1 when satisfied, 0 at end of input, -1 on a read
 * error. */
static int fill(struct msgin *m, size_t want, struct err *e)
{
	while (m->len < want) {
		ssize_t n;

		if (m->len == m->cap) {
			size_t cap = m->cap < 65536 ? 65536 : m->cap * 2;
			unsigned char *nb;

			if (cap > want)
				cap = want > 65536 ? want : 65536;
			nb = realloc(m->buf, cap);
			if (!nb)
				return err_fail(e, "out of memory buffering %zu bytes", cap);
			m->buf = nb;
			m->cap = cap;
		}
		n = read(m->fd, m->buf + m->len, m->cap - m->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_fail(e, "read error: %s", strerror(errno));
		}
		if (n == 0)
			return 0;
		m->len += (size_t)n;
	}
	return 1;
}

int msgin_ready(struct msgin *m)
{
	struct pollfd pfd = { .fd = m->fd, .events = POLLIN };
	size_t objlen, need;
	struct err e;

	if (msgin_scan(m->buf + m->consumed, m->len - m->consumed, &m->lim, &objlen, &need,
		       &e) != 0)
		return 1;
	/* Readable, or ended: either way a read returns at once. */
	return poll(&pfd, 1, 0) == 1;
}

enum msgin_next msgin_next(struct msgin *m, msgpack_object *obj,
			   uint64_t *offset, struct err *e)
{
	size_t objlen = 0, need = 1, off = 0;

	/* The previous object pointed into buf; it may go now. */
	if (m->consumed) {
		memmove(m->buf, m->buf + m->consumed, m->len - m->consumed);
		m->len -= m->consumed;
		m->base += m->consumed;
		m->consumed = 0;
	}
	*offset = m->base;
	for (;;) {
		int r = msgin_scan(m->buf, m->len, &m->lim, &objlen, &need, e);

		if (r < 0)
			return MSGIN_ERROR;
		if (r > 0)
			break;
		r = fill(m, need, e);
		if (r < 0)
			return MSGIN_ERROR;
		if (r == 0)
			return m->len ? MSGIN_TRUNCATED : MSGIN_END;
	}
	msgpack_zone_clear(&m->zone);
	switch (msgpack_unpack((const char *)m->buf, objlen, &off, &m->zone, obj)) {
	case MSGPACK_UNPACK_SUCCESS:
	case MSGPACK_UNPACK_EXTRA_BYTES:
		break;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		return err_fail(e, "out of memory decoding an object of %zu bytes", objlen),
		       MSGIN_ERROR;
	default:
		return err_fail(e, "malformed msgpack object"), MSGIN_ERROR;
	}
	m->consumed = objlen;
	return MSGIN_OBJECT;
}
