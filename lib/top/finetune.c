#include "finetune.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

const char *const finetune_blocks[] = { "block5", NULL };

/* The block fine-tuning trains. */
#define FINETUNE_BLOCK 5

/* A string value for messages: at most max bytes of it, or "(unknown)". */
static int text_len(const msgpack_object *v, int max)
{
	if (!v || v->type != MSGPACK_OBJECT_STR)
		return 9;
	return (int)(v->via.str.size > (uint32_t)max ? (uint32_t)max : v->via.str.size);
}

static const char *text_of(const msgpack_object *v)
{
	return v && v->type == MSGPACK_OBJECT_STR ? v->via.str.ptr : "(unknown)";
}

static int is_text(const msgpack_object *v, const char *s)
{
	return v && v->type == MSGPACK_OBJECT_STR && names_eq(v->via.str.ptr, v->via.str.size, s);
}

int finetune_check_input(const struct feat_set *train, const struct vgg16_weights *w,
			 struct err *e)
{
	const msgpack_object *prov = &train->provenance.obj;
	const msgpack_object *layer = obj_get(prov, "layer"), *weights = obj_get(prov, "weights");
	const char *file = train->provenance_file;

	if (!is_text(layer, FINETUNE_INPUT))
		return err_fail(e, "%s: features cut at %.*s; fine-tuning block 5 needs %s "
				"features (vggfeat --layer %s)", file, text_len(layer, 32),
				text_of(layer), FINETUNE_INPUT, FINETUNE_INPUT);
	if (!is_text(obj_get(prov, "pooling"), "none"))
		return err_fail(e, "%s: globally pooled features; fine-tuning needs the maps "
				"(vggfeat --pool none)", file);
	if (!is_text(weights, w->id))
		return err_fail(e, "%s: features made with the weights %.*s, but block 5 would "
				"start from %s%s%s: give the weights the features were made with "
				"(--weights FILE or --init-random SEED)", file, text_len(weights, 80),
				text_of(weights), w->id, w->file[0] ? " of " : "", w->file);
	if (train->rank != 3 || train->shape[2] != 512 || train->shape[0] < 2 ||
	    train->shape[1] < 2) {
		char got[64];

		tensor_shape_text(train->rank, train->shape, got, sizeof got);
		return err_fail(e, "%s: features of shape %s: block 5 takes [height, width, "
				"512] maps of at least 2x2", file, got);
	}
	return 0;
}

/* The provenance of what block 5 makes of the training features: theirs,
 * but cut at FINETUNE_TOP_INPUT; compared with init's. */
static int check_init_provenance(const struct model *init, const char *path,
				 const struct feat_set *train, struct err *e)
{
	const msgpack_object *prov = &train->provenance.obj;
	msgpack_object_kv *kv = err_calloc(prov->via.map.size ? prov->via.map.size : 1,
					   sizeof *kv, e);
	msgpack_object want = *prov;
	char diff[512];
	int differs;

	if (!kv)
		return -1;
	memcpy(kv, prov->via.map.ptr, prov->via.map.size * sizeof *kv);
	for (uint32_t i = 0; i < prov->via.map.size; i++)
		if (is_text(&kv[i].key, "layer"))
			kv[i].val = (msgpack_object){ .type = MSGPACK_OBJECT_STR,
				.via.str = { .size = sizeof FINETUNE_TOP_INPUT - 1,
					     .ptr = FINETUNE_TOP_INPUT } };
	want.via.map.ptr = kv;
	differs = obj_diff(&want, init->provenance.set ? &init->provenance.obj : &obj_nil,
			   "provenance", diff, sizeof diff);
	free(kv);
	if (differs)
		return err_fail(e, "%s: a top model for other features than block 5 makes of "
				"these (\"here\" is the model, \"before\" what block 5 makes): %s",
				path, diff);
	return 0;
}

int finetune_check_init(const struct model *init, const char *path,
			const struct feat_set *train, char *const *classes, uint32_t nclass,
			struct err *e)
{
	uint32_t shape[3] = { train->shape[0] / 2, train->shape[1] / 2, train->shape[2] };

	if (check_init_provenance(init, path, train, e))
		return -1;
	if (init->input_rank != 3 || memcmp(init->input_shape, shape, sizeof shape)) {
		char got[64], need[64];

		tensor_shape_text(init->input_rank, init->input_shape, got, sizeof got);
		tensor_shape_text(3, shape, need, sizeof need);
		return err_fail(e, "%s: a top model for features of shape %s; block 5 makes %s "
				"of these", path, got, need);
	}
	for (uint32_t c = 0; c < nclass || c < init->nclass; c++)
		if (c >= nclass || c >= init->nclass || strcmp(classes[c], init->classes[c]))
			return err_fail(e, "%s: a top model for other classes: its class %" PRIu32
					" is '%s', the training data's is '%s'", path, c + 1,
					c < init->nclass ? init->classes[c] : "(none)",
					c < nclass ? classes[c] : "(none)");
	if (model_top_start(init))
		return err_fail(e, "%s: a model with convolutions; --init takes a top trained on "
				"%s features", path, FINETUNE_TOP_INPUT);
	return 0;
}

int finetune_build(struct model *m, const struct feat_set *train,
		   const struct vgg16_weights *w, const struct model *init,
		   const struct model_top *top, char *const *classes, uint32_t nclass,
		   struct err *e)
{
	int conv_layer[VGG16_CONVS], top_at;

	if (model_start(m, train->rank, train->shape, nclass, classes, e))
		goto fail;
	/* Which layer of the model each of the block's convolutions is. */
	for (int i = 0; i < VGG16_CONVS; i++) {
		if (vgg16_convs[i].block != FINETUNE_BLOCK)
			continue;
		conv_layer[i] = m->nlayers;
		if (model_add(m, LAYER_CONV3X3, (uint32_t)vgg16_convs[i].cout, 0, e) ||
		    model_add(m, LAYER_RELU, 0, 0, e))
			goto fail;
	}
	if (model_add(m, LAYER_MAXPOOL2X2, 0, 0, e))
		goto fail;
	top_at = m->nlayers;
	for (int i = 0; init && i < init->nlayers; i++) {
		const struct layer *l = &init->layers[i];
		const float *scalar = layer_scalar(l);

		if (model_add(m, l->kind, l->oc, scalar ? *scalar : 0, e))
			goto fail;
	}
	if ((!init && model_add_top(m, top, e)) || model_finish(m, e))
		goto fail;
	for (int i = 0; i < VGG16_CONVS; i++) {
		struct layer *l;

		if (vgg16_convs[i].block != FINETUNE_BLOCK)
			continue;
		l = &m->layers[conv_layer[i]];
		memcpy(l->weights, w->kernel[i], layer_tensor_floats(l, 0) * sizeof *l->weights);
		memcpy(l->bias, w->bias[i], layer_tensor_floats(l, 1) * sizeof *l->bias);
	}
	if (init)
		model_copy_layers(m, top_at, init);
	return 0;
fail:
	model_free(m);
	return -1;
}
