#include "cam.h"

#include <stdlib.h>
#include <string.h>

int cam_site_find(const struct model *m, struct cam_site *site, struct err *e)
{
	int last_conv = -1;

	if (m->input_rank != 3)
		return err_fail(e, "the model reads features without a spatial shape "
				"(pooled by vggfeat --pool): there is no map to show");
	if (m->nlayers < 2)
		return err_fail(e, "the model has no layer before its softmax to explain");
	for (int i = 0; i < m->nlayers; i++)
		if (m->layers[i].kind == LAYER_CONV3X3)
			last_conv = i;
	site->layer = last_conv;
	if (last_conv >= 0 && last_conv + 1 < m->nlayers &&
	    m->layers[last_conv + 1].kind == LAYER_RELU)
		site->layer = last_conv + 1;
	if (site->layer < 0) {
		site->h = m->input_shape[0];
		site->w = m->input_shape[1];
		site->c = m->input_shape[2];
	} else {
		site->h = m->layers[site->layer].oh;
		site->w = m->layers[site->layer].ow;
		site->c = m->layers[site->layer].oc;
	}
	if (site->layer >= m->nlayers - 2)
		return err_fail(e, "the model has no layer after its last convolution to explain");
	return 0;
}

/* Shapes: activation a and its gradient g [n, h * w, c] (NHWC rows),
 * maps [n, h * w], weight [c]. */
int cam_maps(const struct model *m, struct pass *p, const struct cam_site *site,
	     const float *x, size_t n, const uint32_t *cls, float *maps, struct err *e)
{
	const size_t places = (size_t)site->h * site->w, c = site->c;
	const float *a = site->layer < 0 ? x : p->act[site->layer];
	const int logits = m->nlayers - 2;
	float *seed = p->delta[0];
	const float *g;
	double *weight = err_calloc(c, sizeof *weight, e);

	if (!weight)
		return -1;
	/* The score of the class is its logit: the gradient at the
	 * softmax's input is 1 there, 0 elsewhere. */
	memset(seed, 0, n * m->nclass * sizeof *seed);
	for (size_t r = 0; r < n; r++)
		seed[r * m->nclass + cls[r]] = 1;
	g = pass_backward(m, p, x, n, logits, seed, site->layer + 1, NULL, 1);
	for (size_t r = 0; r < n; r++) {
		const float *ar = a + r * places * c, *gr = g + r * places * c;
		float *map = maps + r * places, top = 0;

		for (size_t k = 0; k < c; k++)
			weight[k] = 0;
		for (size_t s = 0; s < places; s++)
			for (size_t k = 0; k < c; k++)
				weight[k] += gr[s * c + k];
		for (size_t s = 0; s < places; s++) {
			double sum = 0;

			for (size_t k = 0; k < c; k++)
				sum += weight[k] / (double)places * ar[s * c + k];
			map[s] = sum > 0 ? (float)sum : 0;
			top = map[s] > top ? map[s] : top;
		}
		for (size_t s = 0; top > 0 && s < places; s++)
			map[s] /= top;
	}
	free(weight);
	return 0;
}
