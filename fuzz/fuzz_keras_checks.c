/* libFuzzer target: the Keras loader's decisions on what libhdf5 returns.
 * HDF5 bytes are not fed to libhdf5 (a crash inside it is not ours to
 * fix): the input decodes into what the loader would have learnt from a
 * file, the names in layer_names and each layer's weight_names, whether
 * each group and dataset was found, and each dataset's rank and
 * dimensions; vgg16_keras_match decides on that. When it accepts, the 13
 * convolutions it names must have exactly VGG16's shapes.
 *
 * The encoding, one layer after another until the input ends:
 *   layer:   byte H (bit 7: no group; bits 0-4: datasets), name
 *   name:    byte N, then N bytes (a NUL ends the name early, as in C)
 *   dataset: byte F (F % 3: 0 found, 1 missing, 2 not floats; F / 3:
 *            the rank, above 32 meaning unreadable), name, then per
 *            dimension 2 bytes little-endian, 0xffff followed by 8 bytes
 *            for a larger one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weights.h"

#define MAX_LAYERS 64
#define MAX_DATASETS 31

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

static char *name(struct input *in)
{
	size_t n = byte(in);
	char *s = malloc(n + 1);

	if (!s)
		abort();
	for (size_t i = 0; i < n; i++)
		s[i] = (char)byte(in);
	s[n] = '\0';
	return s;
}

static void check_match(const struct vgg16_keras_layer *l, size_t n,
			const struct vgg16_keras_ref *conv)
{
	for (int c = 0; c < VGG16_CONVS; c++) {
		const struct vgg16_keras_ref *r = &conv[c];
		const struct vgg16_keras_dataset *k, *b;

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
	struct vgg16_keras_layer layers[MAX_LAYERS];
	struct vgg16_keras_ref conv[VGG16_CONVS];
	struct vp_err e;
	size_t n = 0;

	while (in.left && n < MAX_LAYERS) {
		struct vgg16_keras_layer *l = &layers[n++];
		unsigned h = byte(&in);

		l->found = !(h & 0x80);
		l->name = name(&in);
		l->n = h & MAX_DATASETS;
		l->d = calloc(l->n + 1, sizeof *l->d);
		if (!l->d)
			abort();
		for (size_t i = 0; i < l->n; i++) {
			struct vgg16_keras_dataset *d = &l->d[i];
			unsigned f = byte(&in);

			d->found = f % 3 == 0 ? 1 : f % 3 == 1 ? 0 : -1;
			d->rank = f / 3 > VGG16_KERAS_MAX_RANK ? -1 : (int)(f / 3);
			d->name = name(&in);
			for (int j = 0; j < d->rank; j++)
				d->dims[j] = dim(&in);
		}
	}
	if (vgg16_keras_match(layers, n, conv, &e) == 0)
		check_match(layers, n, conv);
	else if (!e.msg[0])
		abort();
	for (size_t j = 0; j < n; j++) {
		for (size_t i = 0; i < layers[j].n; i++)
			free((char *)layers[j].d[i].name);
		free(layers[j].d);
		free((char *)layers[j].name);
	}
	return 0;
}
