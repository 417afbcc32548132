#include "pass.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void free_rows(float **v, int n)
{
	if (!v)
		return;
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void pass_free(struct pass *p, const struct model *m)
{
	free_rows(p->act, m->nlayers);
	free_rows(p->kept, m->nlayers);
	free(p->conv);
	free(p->gradient);
	free(p->flipped);
	free(p->delta[0]);
	free(p->delta[1]);
	memset(p, 0, sizeof *p);
}

static size_t max_size(size_t a, size_t b)
{
	return a > b ? a : b;
}

int pass_init(struct pass *p, const struct model *m, size_t cap, int threads,
	      enum nn_algo algo, enum pass_mode mode, struct err *e)
{
	int n = m->nlayers, backward = mode != PASS_INFERENCE;
	struct layer_space need = { 0 };
	size_t width = model_max_width(m);

	memset(p, 0, sizeof *p);
	p->cap = cap;
	p->threads = threads < 1 ? 1 : threads;
	p->algo = algo;
	p->training = mode == PASS_TRAINING;
	if (!(p->act = err_calloc((size_t)n, sizeof *p->act, e)) ||
	    !(p->kept = err_calloc((size_t)n, sizeof *p->kept, e)))
		goto fail;
	for (int i = 0; i < n; i++) {
		const struct layer *l = &m->layers[i];
		const struct layer_desc *d = layer_desc_of(l);
		struct layer_space s = { 0 };

		if (cap > SIZE_MAX / sizeof(float) / (l->out ? l->out : 1) / 16) {
			err_fail(e, "a batch of %zu rows of %" PRIu32 " overflows", cap, l->out);
			goto fail;
		}
		if (!(p->act[i] = err_calloc(cap * l->out, sizeof(float), e)))
			goto fail;
		if (d->space)
			d->space(l, cap, algo, backward, &s);
		need.conv = max_size(need.conv, s.conv);
		need.gradient = max_size(need.gradient, s.gradient);
		need.flipped = max_size(need.flipped, s.flipped);
		if (p->training && s.kept && !(p->kept[i] = err_calloc(s.kept, sizeof(float), e)))
			goto fail;
	}
	if ((need.conv && !(p->conv = err_calloc(need.conv, sizeof(float), e))) ||
	    (need.gradient && !(p->gradient = err_calloc(need.gradient, sizeof(float), e))) ||
	    (need.flipped && !(p->flipped = err_calloc(need.flipped, sizeof(float), e))))
		goto fail;
	if (backward && cap > SIZE_MAX / sizeof(float) / width) {
		err_fail(e, "a batch of %zu rows is too large", cap);
		goto fail;
	}
	if (backward && (!(p->delta[0] = err_calloc(cap * width, sizeof(float), e)) ||
			 !(p->delta[1] = err_calloc(cap * width, sizeof(float), e))))
		goto fail;
	return 0;
fail:
	pass_free(p, m);
	return -1;
}

void pass_forward(const struct model *m, struct pass *p, const float *x, size_t n)
{
	for (int i = 0; i < m->nlayers; i++) {
		const struct layer *l = &m->layers[i];
		struct layer_io io = { .n = n, .in = i ? p->act[i - 1] : x, .out = p->act[i],
				       .kept = p->training ? p->kept[i] : NULL };

		layer_desc_of(l)->forward(l, p, &io);
	}
}

const float *pass_backward(const struct model *m, struct pass *p, const float *x, size_t n,
			   int from, const float *dy, int first, float *grad, int input_grad)
{
	/* The gradients alternate between the two buffers: dx goes into the
	 * one dy is not in. */
	int slot = dy == p->delta[0];

	for (int i = from; i >= first; i--) {
		const struct layer *l = &m->layers[i];
		const struct layer_desc *d = layer_desc_of(l);
		struct layer_io io = {
			.n = n, .in = i ? p->act[i - 1] : x, .out = p->act[i],
			.kept = p->training ? p->kept[i] : NULL, .dy = dy,
			/* The gradient below the first layer is needed only
			 * when asked. */
			.dx = i > first || input_grad ? p->delta[slot] : NULL,
		};

		for (int t = 0; grad && t < d->ntensors; t++)
			if (d->tensors[t].trained)
				io.dparam[t] = grad + (layer_tensor_data(l, t) - m->params);
		d->backward(l, p, &io);
		dy = io.dx;
		slot = !slot;
	}
	return input_grad ? dy : NULL;
}

double pass_row_xent(const struct model *m, const struct pass *p, const float *x, size_t r,
		     uint32_t label)
{
	const uint32_t k = m->nclass;
	const float *z = (m->nlayers > 1 ? p->act[m->nlayers - 2] : x) + r * k;
	double max = z[0], sum = 0;

	for (uint32_t j = 1; j < k; j++)
		max = z[j] > max ? z[j] : max;
	for (uint32_t j = 0; j < k; j++)
		sum += exp(z[j] - max);
	return log(sum) + max - z[label];
}

uint32_t pass_row_argmax(const struct model *m, const struct pass *p, size_t r)
{
	uint32_t best;

	pass_row_topk(m, p, r, 1, &best);
	return best;
}

void pass_row_topk(const struct model *m, const struct pass *p, size_t r, uint32_t k,
		   uint32_t *idx)
{
	const float *prob = p->act[m->nlayers - 1] + r * m->nclass;

	/* Insertion into a short sorted list: k is small, nclass modest. */
	for (uint32_t j = 0, have = 0; j < m->nclass; j++) {
		uint32_t pos = have < k ? have : k;

		while (pos > 0 && prob[j] > prob[idx[pos - 1]])
			pos--;
		if (pos >= k)
			continue;
		memmove(idx + pos + 1, idx + pos,
			((have < k ? have : k - 1) - pos) * sizeof *idx);
		idx[pos] = j;
		if (have < k)
			have++;
	}
}
