/* libFuzzer target: the safetensors header checks on the start of a file.
 * The input is what the file begins with: the 8-byte little-endian header
 * length, the JSON header (cut where the input ends) and maybe some data.
 * The header is checked against two file sizes: the input's own (offsets
 * past its end must be refused) and a far larger one, so that headers of
 * the real 528 MB file reach the success path. A table that passes must
 * lie inside the file's data. */
#include <stdint.h>
#include <stdlib.h>

#include "weights.h"

static void check(const char *text, uint64_t hlen, uint64_t size)
{
	struct weights_safetensors_table t;
	struct err e;

	if (weights_safetensors_header(text, hlen, size, &t, &e))
		return;
	for (int i = 0; i < VGG16_CONVS; i++) {
		uint64_t kbytes = (uint64_t)9 * vgg16_convs[i].cin * vgg16_convs[i].cout * 4,
			 bbytes = (uint64_t)vgg16_convs[i].cout * 4;

		if (t.kernel[i] < 8 + hlen || t.kernel[i] > size ||
		    kbytes > size - t.kernel[i] ||
		    t.bias[i] < 8 + hlen || t.bias[i] > size || bbytes > size - t.bias[i])
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t hlen = 0;

	if (size < 8)
		return 0;
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | data[i];
	/* A claimed length beyond the input reads as far as the input goes,
	 * as the header of a file cut short. */
	if (hlen > size - 8)
		hlen = size - 8;
	check((const char *)data + 8, hlen, size);
	check((const char *)data + 8, hlen, (uint64_t)1 << 40);
	return 0;
}
