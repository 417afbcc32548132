/* safetensors with torchvision's names: features.N.weight (OIHW) and
 * features.N.bias. The file is an 8-byte little-endian header length, a
 * JSON header {"name": {"dtype", "shape", "data_offsets": [begin, end]}}
 * and the data; every offset is checked against the file before it is
 * read. */
#include "weights.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Far above any header of a few hundred tensors, and a bound on what an
 * untrusted length makes us allocate. */
#define MAX_HEADER ((uint64_t)100 << 20)

static int pread_all(int fd, void *buf, size_t n, uint64_t off, struct err *e)
{
	char *p = buf;

	while (n) {
		ssize_t r = pread(fd, p, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return err_fail(e, "read error: %s", r < 0 ? strerror(errno) : "unexpected end of file");
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* The named tensor's data range in the file, checked to hold exactly
 * float32 values of the expected shape. */
static int find_tensor(json_t *hdr, const char *name, const int *shape, int rank,
		       uint64_t data_start, uint64_t size, uint64_t *off,
		       struct err *e)
{
	json_t *t = json_object_get(hdr, name), *sh, *offs;
	json_int_t begin, end;
	uint64_t count = 1;
	int ok;

	if (!t)
		return err_fail(e, "tensor '%s' is missing", name);
	if (!json_is_string(json_object_get(t, "dtype")) ||
	    strcmp(json_string_value(json_object_get(t, "dtype")), "F32"))
		return err_fail(e, "tensor '%s': dtype is not F32", name);
	sh = json_object_get(t, "shape");
	ok = json_is_array(sh) && (int)json_array_size(sh) == rank;
	for (int i = 0; ok && i < rank; i++)
		ok = json_integer_value(json_array_get(sh, i)) == shape[i] &&
		     json_is_integer(json_array_get(sh, i));
	if (!ok) {
		char *got = sh ? json_dumps(sh, JSON_COMPACT) : NULL;

		if (rank == 4)
			err_fail(e, "tensor '%s' has shape %s, expected [%d,%d,%d,%d]", name,
				 got ? got : "none", shape[0], shape[1], shape[2], shape[3]);
		else
			err_fail(e, "tensor '%s' has shape %s, expected [%d]", name,
				 got ? got : "none", shape[0]);
		free(got);
		return -1;
	}
	for (int i = 0; i < rank; i++)
		count *= (uint64_t)shape[i];
	offs = json_object_get(t, "data_offsets");
	if (!json_is_array(offs) || json_array_size(offs) != 2 ||
	    !json_is_integer(json_array_get(offs, 0)) ||
	    !json_is_integer(json_array_get(offs, 1)))
		return err_fail(e, "tensor '%s': data_offsets is not [begin, end]", name);
	begin = json_integer_value(json_array_get(offs, 0));
	end = json_integer_value(json_array_get(offs, 1));
	if (begin < 0 || end < begin || (uint64_t)end > size - data_start)
		return err_fail(e, "tensor '%s': data_offsets [%lld, %lld] lie outside the "
				"%llu bytes of data (is the file truncated?)", name,
				(long long)begin, (long long)end,
				(unsigned long long)(size - data_start));
	if ((uint64_t)(end - begin) != count * 4)
		return err_fail(e, "tensor '%s': %lld bytes of data for %llu floats", name,
				(long long)(end - begin), (unsigned long long)count);
	*off = data_start + (uint64_t)begin;
	return 0;
}

static float le_float(const unsigned char *p)
{
	uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		     (uint32_t)p[3] << 24;
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

/* Kernel OIHW [cout, cin, 3, 3] -> HWIO [3, 3, cin, cout]. */
static int load_conv(int fd, const struct weights_safetensors_table *t, int i,
		     struct vgg16_weights *w, unsigned char *buf, struct err *e)
{
	const struct vgg16_conv_spec *c = &vgg16_convs[i];

	if (pread_all(fd, buf, (size_t)9 * c->cin * c->cout * 4, t->kernel[i], e))
		return err_context(e, "%s: ", c->name);
	for (int o = 0; o < c->cout; o++)
		for (int ci = 0; ci < c->cin; ci++)
			for (int k = 0; k < 9; k++)
				w->kernel[i][((size_t)k * c->cin + ci) * c->cout + o] =
					le_float(buf + 4 * (((size_t)o * c->cin + ci) * 9 + k));
	if (pread_all(fd, buf, (size_t)c->cout * 4, t->bias[i], e))
		return err_context(e, "%s: ", c->name);
	for (int o = 0; o < c->cout; o++)
		w->bias[i][o] = le_float(buf + 4 * (size_t)o);
	return 0;
}

int weights_safetensors_header(const char *text, uint64_t hlen, uint64_t size,
			       struct weights_safetensors_table *t, struct err *e)
{
	const uint64_t data_start = 8 + hlen;
	json_t *hdr;
	json_error_t jerr;
	char name[64];
	int rc = 0;

	if (size < 8 || hlen > size - 8)
		return err_fail(e, "safetensors header of %llu bytes in a file of %llu",
				(unsigned long long)hlen, (unsigned long long)size);
	hdr = json_loadb(text, hlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!hdr || !json_is_object(hdr)) {
		json_decref(hdr);
		return err_fail(e, "safetensors header is not a JSON object: %s",
				hdr ? "another value" : jerr.text);
	}
	for (int i = 0; i < VGG16_CONVS && !rc; i++) {
		const struct vgg16_conv_spec *c = &vgg16_convs[i];
		int kshape[4] = { c->cout, c->cin, 3, 3 }, bshape[1] = { c->cout };

		snprintf(name, sizeof name, "features.%d.weight", c->torch_index);
		rc = find_tensor(hdr, name, kshape, 4, data_start, size, &t->kernel[i], e);
		if (!rc) {
			snprintf(name, sizeof name, "features.%d.bias", c->torch_index);
			rc = find_tensor(hdr, name, bshape, 1, data_start, size, &t->bias[i], e);
		}
		if (rc)
			err_context(e, "%s: ", c->name);
	}
	json_decref(hdr);
	return rc;
}

int weights_safetensors(int fd, uint64_t size, struct vgg16_weights *w,
			      struct err *e)
{
	struct weights_safetensors_table t;
	unsigned char lenbuf[8], *buf = NULL;
	char *text = NULL;
	uint64_t hlen = 0;
	int rc = -1;

	if (pread_all(fd, lenbuf, 8, 0, e))
		return -1;
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | lenbuf[i];
	if (hlen > MAX_HEADER || hlen > size - 8)
		return err_fail(e, "safetensors header of %llu bytes in a file of %llu",
				(unsigned long long)hlen, (unsigned long long)size);
	text = malloc(hlen);
	/* The largest tensor: block4/5's 512 x 512 x 3 x 3 kernels. */
	buf = malloc((size_t)9 * 512 * 512 * 4);
	if (!text || !buf) {
		err_fail(e, "out of memory");
		goto out;
	}
	if (pread_all(fd, text, hlen, 8, e) ||
	    weights_safetensors_header(text, hlen, size, &t, e))
		goto out;
	for (int i = 0; i < VGG16_CONVS; i++)
		if (load_conv(fd, &t, i, w, buf, e))
			goto out;
	rc = 0;
out:
	free(text);
	free(buf);
	return rc;
}
