/* libFuzzer target: the Keras loader's decisions on what libhdf5 returns.
 * HDF5 bytes are not fed to libhdf5 (a crash inside it is not ours to
 * fix): the input decodes into what the loader would have learnt from a
 * file, the contents of layer_names and of each layer's weight_names (in
 * chunks, fixed-width or variable-length, through the loader's own
 * weights_names_fixed and weights_names_vlen), whether each group and dataset
 * was found, and each dataset's rank and dimensions; weights_keras_match
 * decides on that. When it accepts, the 13 convolutions it names must have
 * exactly VGG16's shapes.
 *
 * The encoding (zeros once the input ends):
 *   input:   list (layer_names), then per layer: byte H (bit 7: no
 *            group), list (its weight_names), then per dataset a byte F
 *            (F % 3: 0 found, 1 missing, 2 not floats; F / 3: the rank,
 *            above 32 meaning unreadable) and per dimension 2 bytes
 *            little-endian, 0xffff followed by 8 bytes for a larger one
 *   list:    byte C, C % 4 + 1 chunks
 *   chunk:   byte K, K % 64 strings; bit 7: variable-length, each a byte
 *            N (0xff: a NULL string) and N bytes; else fixed-width: a byte
 *            W, then W bytes per string */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weights.h"

/* Far above VGG16's 19 layers and the datasets of one, and small enough
 * to keep each run short. */
#define MAX_NAMES 64

struct input {
	const uint8_t *p;
	size_t left;
};

static unsigned byte(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static uint64_t dim(struct input *in)
{
	uint64_t d = byte(in);

	d |= (uint64_t)byte(in) << 8;
	if (d == 0xffff) {
		d = 0;
		for (int i = 0; i < 8; i++)
			d |= (uint64_t)byte(in) << 8 * i;
	}
	return d;
}

/* An attribute's strings, appended chunk by chunk as the loader does. */
static void list(struct input *in, struct weights_names *l)
{
	unsigned chunks = byte(in) % 4 + 1;
	struct err e;

	for (unsigned c = 0; c < chunks && l->n < MAX_NAMES; c++) {
		unsigned k = byte(in), n = k % 64;
		char *buf, *v[64];
		size_t width;

		if (k & 0x80) {
			for (unsigned i = 0; i < n; i++) {
				unsigned len = byte(in);

				v[i] = len == 0xff ? NULL : calloc(len + 1, 1);
				for (unsigned j = 0; v[i] && j < len; j++)
					v[i][j] = (char)byte(in);
			}
			if (weights_names_vlen(l, v, n, &e))
				abort();
			for (unsigned i = 0; i < n; i++)
				free(v[i]);
		} else {
			width = byte(in);
			buf = malloc(n * width + 1);
			if (!buf)
				abort();
			for (size_t i = 0; i < n * width; i++)
				buf[i] = (char)byte(in);
			if (weights_names_fixed(l, buf, n, width, &e))
				abort();
			free(buf);
		}
	}
}

static void check_match(const struct weights_keras_layer *l, size_t n,
			const struct weights_keras_ref *conv)
{
	for (int c = 0; c < VGG16_CONVS; c++) {
		const struct weights_keras_ref *r = &conv[c];
		const struct weights_keras_dataset *k, *b;

		if (r->layer >= n || r->bias != r->kernel + 1 || r->bias >= l[r->layer].n)
			abort();
		if (c && (r->layer < conv[c - 1].layer ||
			  (r->layer == conv[c - 1].layer && r->kernel <= conv[c - 1].bias)))
			abort();
		k = &l[r->layer].d[r->kernel];
		b = &l[r->layer].d[r->bias];
		if (!l[r->layer].found || k->found != 1 || b->found != 1 || k->rank != 4 ||
		    b->rank != 1 || k->dims[0] != 3 || k->dims[1] != 3 ||
		    k->dims[2] != (uint64_t)vgg16_convs[c].cin ||
		    k->dims[3] != (uint64_t)vgg16_convs[c].cout ||
		    b->dims[0] != (uint64_t)vgg16_convs[c].cout)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct weights_names layer_names = { 0 }, weight_names[MAX_NAMES] = { { 0 } };
	struct weights_keras_layer layers[MAX_NAMES];
	struct weights_keras_ref conv[VGG16_CONVS];
	struct err e;
	size_t n;

	list(&in, &layer_names);
	n = layer_names.n < MAX_NAMES ? layer_names.n : MAX_NAMES;
	for (size_t j = 0; j < n; j++) {
		struct weights_keras_layer *l = &layers[j];

		l->name = layer_names.s[j];
		l->found = !(byte(&in) & 0x80);
		list(&in, &weight_names[j]);
		l->n = weight_names[j].n;
		l->d = calloc(l->n + 1, sizeof *l->d);
		if (!l->d)
			abort();
		for (size_t i = 0; i < l->n; i++) {
			struct weights_keras_dataset *d = &l->d[i];
			unsigned f = byte(&in);

			d->name = weight_names[j].s[i];
			d->found = f % 3 == 0 ? 1 : f % 3 == 1 ? 0 : -1;
			d->rank = f / 3 > WEIGHTS_KERAS_MAX_RANK ? -1 : (int)(f / 3);
			for (int k = 0; k < d->rank; k++)
				d->dims[k] = dim(&in);
		}
	}
	if (weights_keras_match(layers, n, conv, &e) == 0)
		check_match(layers, n, conv);
	else if (!e.msg[0])
		abort();
	for (size_t j = 0; j < n; j++) {
		free(layers[j].d);
		weights_names_free(&weight_names[j]);
	}
	weights_names_free(&layer_names);
	return 0;
}
