#include "model.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

void model_free(struct model *m)
{
	if (m->classes)
		for (uint32_t i = 0; i < m->nclass; i++)
			free(m->classes[i]);
	free(m->classes);
	free(m->by_name);
	free(m->layers);
	free(m->params);
	obj_release(&m->provenance);
	memset(m, 0, sizeof *m);
}

/* by_name: the class indices in byte order of their names, for lookups;
 * and two classes of one name would make labels ambiguous. */
static int classes_index(struct model *m, struct err *e)
{
	char **sorted = err_calloc(m->nclass, sizeof *sorted, e);
	int rc = 0;

	if (!sorted || !(m->by_name = err_calloc(m->nclass, sizeof *m->by_name, e))) {
		free(sorted);
		return -1;
	}
	memcpy(sorted, m->classes, m->nclass * sizeof *sorted);
	qsort(sorted, m->nclass, sizeof *sorted, names_cmp);
	for (uint32_t i = 1; i < m->nclass && !rc; i++)
		if (!strcmp(sorted[i - 1], sorted[i]))
			rc = err_fail(e, "class '%s' appears twice", sorted[i]);
	/* Distinct names: each class's name is found at its own place. */
	for (uint32_t i = 0; i < m->nclass && !rc; i++) {
		char **hit = bsearch(&m->classes[i], sorted, m->nclass, sizeof *sorted,
				     names_cmp);

		m->by_name[hit - sorted] = i;
	}
	free(sorted);
	return rc;
}

long model_class_index(const struct model *m, const char *name, size_t len)
{
	if (memchr(name, 0, len))
		return -1;
	return names_search(m->classes, m->by_name, m->nclass, name, len, NULL);
}

int model_start(struct model *m, int input_rank, const uint32_t *input_shape,
		uint32_t nclass, char *const *classes, struct err *e)
{
	uint64_t d = 1;

	memset(m, 0, sizeof *m);
	if (input_rank < 1 || input_rank > TENSOR_MAX_RANK)
		return err_fail(e, "input rank %d is not between 1 and %d", input_rank,
				TENSOR_MAX_RANK);
	m->input_rank = input_rank;
	for (int i = 0; i < input_rank; i++) {
		if (input_shape[i] < 1 || input_shape[i] > TENSOR_MAX_DIM)
			return err_fail(e, "input dimension %d is %" PRIu32, i, input_shape[i]);
		m->input_shape[i] = input_shape[i];
		d *= input_shape[i];
		if (d > MODEL_MAX_PARAMS)
			return err_fail(e, "the input has more than %zu values", MODEL_MAX_PARAMS);
	}
	m->in_dim = (uint32_t)d;
	if (nclass < 2 || nclass > MODEL_MAX_CLASSES)
		return err_fail(e, "%" PRIu32 " classes (between 2 and %d are allowed)", nclass,
				MODEL_MAX_CLASSES);
	if (!(m->classes = err_calloc(nclass, sizeof *m->classes, e)))
		return -1;
	m->nclass = nclass;
	for (uint32_t i = 0; i < nclass; i++)
		if (!(m->classes[i] = strdup(classes[i])))
			return err_fail(e, "out of memory");
	if (classes_index(m, e))
		return -1;
	if (!(m->layers = err_calloc(MODEL_MAX_LAYERS, sizeof *m->layers, e)))
		return -1;
	return 0;
}

void model_next_input(const struct model *m, uint32_t *h, uint32_t *w, uint32_t *c)
{
	if (m->nlayers) {
		const struct layer *last = &m->layers[m->nlayers - 1];

		*h = last->oh;
		*w = last->ow;
		*c = last->oc;
	} else if (m->input_rank == 3) {
		*h = m->input_shape[0];
		*w = m->input_shape[1];
		*c = m->input_shape[2];
	} else {
		*h = *w = 1;
		*c = m->in_dim;
	}
}

int model_add(struct model *m, enum layer_kind kind, uint32_t size, float scalar,
	      struct err *e)
{
	struct layer *l;
	uint64_t out;

	if (m->nlayers == MODEL_MAX_LAYERS)
		return err_fail(e, "more than %d layers", MODEL_MAX_LAYERS);
	if ((unsigned)kind >= LAYER_KINDS)
		return err_fail(e, "unknown layer kind %d", (int)kind);
	l = &m->layers[m->nlayers];
	*l = (struct layer){ .kind = kind };
	model_next_input(m, &l->h, &l->w, &l->c);
	l->in = l->h * l->w * l->c;
	if (layer_descs[kind].shape(l, size, scalar, e))
		return -1;
	out = (uint64_t)l->oh * l->ow * l->oc;
	if (out > MODEL_MAX_PARAMS)
		return err_fail(e, "%s: more than %zu outputs", layer_descs[kind].name,
				MODEL_MAX_PARAMS);
	l->out = (uint32_t)out;
	m->nlayers++;
	return 0;
}

/* Point the tensors of every layer into m->params, trained ones from
 * *trained on and statistics from *stats on, both moving past them. */
static void place_tensors(struct model *m, float *trained, float *stats)
{
	for (int i = 0; i < m->nlayers; i++) {
		struct layer *l = &m->layers[i];
		const struct layer_desc *d = layer_desc_of(l);

		for (int t = 0; t < d->ntensors; t++) {
			float **slot = (float **)((char *)l + d->tensors[t].field);
			float **next = d->tensors[t].trained ? &trained : &stats;
			size_t n = layer_tensor_floats(l, t);

			*slot = *next;
			*next += n;
			for (size_t j = 0; j < n; j++)
				(*slot)[j] = d->tensors[t].start;
		}
	}
}

int model_finish(struct model *m, struct err *e)
{
	size_t ntrain = 0, nstat = 0, floats = m->in_dim;

	if (!m->nlayers || m->layers[m->nlayers - 1].kind != LAYER_SOFTMAX)
		return err_fail(e, "the last layer must be a softmax");
	for (int i = 0; i + 1 < m->nlayers; i++)
		if (m->layers[i].kind == LAYER_SOFTMAX)
			return err_fail(e, "layer %d: a softmax may only be the last layer", i + 1);
	if (m->layers[m->nlayers - 1].out != m->nclass)
		return err_fail(e, "the layers end with %" PRIu32 " outputs for %" PRIu32 " classes",
				m->layers[m->nlayers - 1].out, m->nclass);
	for (int i = 0; i < m->nlayers; i++) {
		const struct layer *l = &m->layers[i];
		const struct layer_desc *d = layer_desc_of(l);

		floats += l->out;
		if (floats > MODEL_MAX_RECORD_FLOATS)
			return err_fail(e, "a record would take more than %zu MB through the "
					"layers (at layer %d)", MODEL_MAX_RECORD_FLOATS * 4 >> 20,
					i + 1);
		for (int t = 0; t < d->ntensors; t++)
			*(d->tensors[t].trained ? &ntrain : &nstat) += layer_tensor_floats(l, t);
		if (ntrain + nstat > MODEL_MAX_PARAMS)
			return err_fail(e, "the model has more than %zu parameters",
					MODEL_MAX_PARAMS);
	}
	m->ntrain = ntrain;
	m->nparams = ntrain + nstat;
	free(m->params);
	if (!(m->params = err_calloc(m->nparams ? m->nparams : 1, sizeof *m->params, e)))
		return -1;
	place_tensors(m, m->params, m->params + ntrain);
	return 0;
}

int model_add_top(struct model *m, const struct model_top *top, struct err *e)
{
	if (top->standardize && model_add(m, LAYER_STANDARDIZE, 0, 0, e))
		return -1;
	for (int h = 0; h < top->nhidden; h++)
		if (model_add(m, LAYER_DENSE, top->hidden[h], 0, e) ||
		    (top->batchnorm && model_add(m, LAYER_BATCHNORM, 0, LAYER_BN_EPS, e)) ||
		    model_add(m, LAYER_RELU, 0, 0, e) ||
		    (top->dropout > 0 && model_add(m, LAYER_DROPOUT, 0, (float)top->dropout, e)))
			return -1;
	return model_add(m, LAYER_DENSE, m->nclass, 0, e) ||
	       model_add(m, LAYER_SOFTMAX, 0, 0, e) ? -1 : 0;
}

int model_build(struct model *m, int input_rank, const uint32_t *input_shape,
		const struct model_top *top, uint32_t nclass, char *const *classes,
		struct err *e)
{
	if (model_start(m, input_rank, input_shape, nclass, classes, e) ||
	    model_add_top(m, top, e) || model_finish(m, e)) {
		model_free(m);
		return -1;
	}
	return 0;
}

void model_describe_top(const struct model *m, uint32_t *hidden, int max, struct model_top *top)
{
	int first = model_top_start(m), last = m->nlayers - 1;

	*top = (struct model_top){ .hidden = hidden };
	top->standardize = first < m->nlayers && m->layers[first].kind == LAYER_STANDARDIZE;
	/* Every dense layer but the one before the softmax is a hidden one. */
	while (last > first && m->layers[last].kind != LAYER_DENSE)
		last--;
	for (int i = first; i < m->nlayers; i++) {
		const struct layer *l = &m->layers[i];

		if (l->kind == LAYER_DENSE && i < last && top->nhidden < max)
			hidden[top->nhidden++] = l->out;
		if (l->kind == LAYER_DROPOUT)
			top->dropout = l->rate;
		top->batchnorm |= l->kind == LAYER_BATCHNORM;
	}
}

void model_copy_layers(struct model *m, int at, const struct model *src)
{
	for (int i = 0; i < src->nlayers; i++) {
		const struct layer *from = &src->layers[i];
		const struct layer_desc *d = layer_desc_of(from);

		for (int t = 0; t < d->ntensors; t++)
			memcpy(layer_tensor_data(&m->layers[at + i], t), layer_tensor_data(from, t),
			       layer_tensor_floats(from, t) * sizeof(float));
	}
}

int model_set_provenance(struct model *m, const msgpack_object *prov, struct err *e)
{
	return obj_hold(&m->provenance, prov, e);
}

int model_top_start(const struct model *m)
{
	int start = 0;

	for (int i = 0; i < m->nlayers; i++)
		if (layer_desc_of(&m->layers[i])->spatial)
			start = i + 1;
	return start;
}

uint32_t model_max_width(const struct model *m)
{
	uint32_t w = 1;

	for (int i = 0; i < m->nlayers; i++) {
		w = m->layers[i].out > w ? m->layers[i].out : w;
		w = m->layers[i].in > w ? m->layers[i].in : w;
	}
	return w;
}

size_t model_batch_rows(const struct model *m)
{
	size_t per = m->in_dim, rows;

	for (int i = 0; i < m->nlayers; i++)
		per += m->layers[i].out;
	rows = ((size_t)64 << 20) / (per * sizeof(float));
	return rows < 1 ? 1 : rows > 64 ? 64 : rows;
}
