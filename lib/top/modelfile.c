#include "modelfile.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "layer.h"

/* A model is one segment, a header and no records. */
static const struct stream_kind modelfile_kind = { .name = "model" };
static const struct stream_kind *const modelfile_only[] = { &modelfile_kind, NULL };

static void emit_f32(struct emit *t, const char *key, int rank, const uint32_t *shape,
		     const float *v)
{
	emit_key(t, key);
	emit_tensor(t, TENSOR_F32, rank, shape, v);
}

static void emit_layer(struct emit *t, const struct layer *l)
{
	const struct layer_desc *d = layer_desc_of(l);
	const float *scalar = layer_scalar(l);

	emit_map(t, 1 + (uint32_t)d->ntensors + (scalar != NULL));
	emit_key(t, "type");
	emit_str(t, d->name);
	for (int k = 0; k < d->ntensors; k++) {
		uint32_t dims[4];
		int rank = layer_tensor_shape(l, k, dims);

		emit_f32(t, d->tensors[k].key, rank, dims, layer_tensor_data(l, k));
	}
	if (scalar) {
		emit_key(t, d->scalar_key);
		emit_float(t, *scalar);
	}
	emit_end(t);
}

/* The learning-rate range test, when it ran. */
static void emit_search(struct emit *t, const struct train_search *sr)
{
	emit_key(t, "lr_search");
	emit_map(t, 6);
	emit_key(t, "from");
	emit_double(t, TRAIN_FIND_LO);
	emit_key(t, "to");
	emit_double(t, TRAIN_FIND_HI);
	emit_key(t, "steps");
	emit_uint(t, sr->steps);
	emit_key(t, "seconds");
	emit_double(t, sr->seconds);
	emit_key(t, "edge");
	emit_double(t, sr->edge);
	emit_key(t, "chosen");
	emit_double(t, sr->lr);
	emit_end(t);
}

/* What came of the training: epochs run, which was kept, how the rate was
 * found, what was rolled back, what was held out. */
static uint32_t outcome_keys(const struct train_hparams *hp, const struct train_history *h)
{
	int tuned = hp->finetune != NULL;

	return 6 + (uint32_t)tuned + (isfinite(h->start_loss) != 0) +
	       (tuned && isfinite(h->start_train_loss)) + (h->search.run != 0) +
	       (h->holdout_ids != NULL);
}

static void emit_outcome(struct emit *t, const struct train_hparams *hp,
			 const struct train_history *h)
{
	emit_key(t, "epochs_run");
	emit_uint(t, h->n);
	emit_key(t, "best_epoch");
	emit_uint(t, h->best);
	emit_key(t, "train_records");
	emit_uint(t, h->train_records);
	if (hp->finetune) {
		emit_key(t, "train_images");
		emit_uint(t, h->train_images);
	}
	if (isfinite(h->start_loss)) {
		emit_key(t, "start_val_loss");
		emit_double(t, h->start_loss);
	}
	if (hp->finetune && isfinite(h->start_train_loss)) {
		emit_key(t, "start_train_loss");
		emit_double(t, h->start_train_loss);
	}
	emit_key(t, "valid_records");
	emit_uint(t, h->valid_records);
	if (h->search.run)
		emit_search(t, &h->search);
	emit_key(t, "rollbacks");
	emit_uint(t, h->rollbacks);
	emit_key(t, "gave_up");
	emit_bool(t, h->gave_up);
	if (h->holdout_ids) {
		emit_key(t, "holdout");
		emit_array(t, (uint32_t)h->valid_images);
		for (uint64_t i = 0; i < h->valid_images; i++)
			emit_str(t, h->holdout_ids[i]);
		emit_end(t);
	}
}

static void emit_training(struct emit *t, const struct train_hparams *hp,
			  const struct train_history *h)
{
	int tuned = hp->finetune != NULL;

	emit_map(t, 16 + (tuned ? 6 + (hp->init ? 0 : 3) : 0) + (h ? outcome_keys(hp, h) : 0));
	emit_key(t, "optimizer");
	emit_str(t, train_optimizer_names[hp->optimizer]);
	/* The rate the tuning started at, given or found. */
	emit_key(t, "lr");
	emit_double(t, hp->lr || !h ? hp->lr : h->search.lr);
	emit_key(t, "momentum");
	emit_double(t, hp->momentum);
	emit_key(t, "l2");
	emit_double(t, hp->l2);
	emit_key(t, "hidden");
	emit_uint_array(t, (uint32_t)hp->nhidden, hp->hidden);
	emit_key(t, "dropout");
	emit_double(t, hp->dropout);
	emit_key(t, "batchnorm");
	emit_bool(t, hp->batchnorm);
	emit_key(t, "standardize");
	emit_bool(t, hp->standardize);
	emit_key(t, "balance");
	emit_bool(t, hp->balance);
	emit_key(t, "shuffle");
	emit_bool(t, hp->shuffle);
	emit_key(t, "epochs");
	emit_uint(t, hp->epochs);
	emit_key(t, "batch");
	emit_uint(t, hp->batch);
	emit_key(t, "patience");
	emit_uint(t, hp->patience);
	emit_key(t, "keep");
	emit_str(t, train_keep_names[hp->keep]);
	emit_key(t, "seed");
	emit_uint(t, hp->seed);
	emit_key(t, "objective");
	emit_str(t, "categorical cross-entropy + l2 * sum of squared dense weights");
	if (tuned) {
		emit_key(t, "finetune");
		emit_str(t, hp->finetune);
		emit_key(t, "algo");
		emit_str(t, nn_algo_names[hp->algo]);
		emit_key(t, "init");
		emit_str(t, hp->init ? hp->init : "");
		emit_key(t, "holdout_share");
		emit_double(t, hp->holdout);
		emit_key(t, "lr_found");
		emit_bool(t, hp->lr == 0);
		emit_key(t, "warmup_epochs");
		emit_uint(t, hp->init ? 0 : hp->warmup);
		if (!hp->init) {
			emit_key(t, "warmup_optimizer");
			emit_str(t, train_optimizer_names[hp->warmup_optimizer]);
			emit_key(t, "warmup_lr");
			emit_double(t, hp->warmup_lr);
			emit_key(t, "warmup_epochs_run");
			emit_uint(t, h ? h->warmup : 0);
		}
	}
	if (h)
		emit_outcome(t, hp, h);
	emit_end(t);
}

int modelfile_write(const struct model *m, const struct train_hparams *hp,
		    const struct train_history *h, FILE *f, struct err *e)
{
	struct emit t;

	emit_init(&t, f, 0);
	emit_map(&t, 5 + (m->provenance.set ? 1 : 0) + (hp ? 1 : 0) + (h ? 1 : 0));
	emit_key(&t, "vggpipe");
	emit_uint(&t, STREAM_VERSION);
	emit_key(&t, "kind");
	emit_str(&t, "model");
	emit_key(&t, "classes");
	emit_array(&t, m->nclass);
	for (uint32_t i = 0; i < m->nclass; i++)
		emit_str(&t, m->classes[i]);
	emit_end(&t);
	if (m->provenance.set) {
		emit_key(&t, "provenance");
		emit_object(&t, &m->provenance.obj);
	}
	emit_key(&t, "input_shape");
	emit_uint_array(&t, (uint32_t)m->input_rank, m->input_shape);
	emit_key(&t, "layers");
	emit_array(&t, (uint32_t)m->nlayers);
	for (int i = 0; i < m->nlayers; i++)
		emit_layer(&t, &m->layers[i]);
	emit_end(&t);
	if (hp) {
		emit_key(&t, "training");
		emit_training(&t, hp, h);
	}
	if (h) {
		emit_key(&t, "history");
		emit_array(&t, h->n);
		for (uint32_t i = 0; i < h->n; i++) {
			const struct train_epoch *ep = &h->epochs[i];

			emit_map(&t, 6 + (h->warmup ? 1 : 0) + (ep->rolled_back != 0));
			emit_key(&t, "epoch");
			emit_uint(&t, i + 1);
			if (h->warmup) {
				emit_key(&t, "phase");
				emit_str(&t, i < h->warmup ? "warmup" : "tune");
			}
			emit_key(&t, "loss");
			emit_double(&t, ep->loss);
			emit_key(&t, "accuracy");
			emit_double(&t, ep->accuracy);
			emit_key(&t, "val_loss");
			emit_double(&t, ep->val_loss);
			emit_key(&t, "val_accuracy");
			emit_double(&t, ep->val_accuracy);
			emit_key(&t, "lr");
			emit_double(&t, ep->lr);
			if (ep->rolled_back) {
				emit_key(&t, "rolled_back");
				emit_bool(&t, 1);
			}
			emit_end(&t);
		}
		emit_end(&t);
	}
	emit_end(&t);
	/* The trailer: a model stream holds no records. */
	emit_map(&t, 1);
	emit_key(&t, "end");
	emit_uint(&t, 0);
	emit_end(&t);
	return emit_finish(&t, e);
}

/* A tensor of the layer's map, f32, with exactly the expected shape. */
static int layer_tensor(const msgpack_object *lm, const char *key, int rank,
			const uint32_t *shape, struct tensor *t, struct err *e)
{
	char want[64];

	if (tensor_get(lm, key, 1, t, e))
		return -1;
	if (t->dtype != TENSOR_F32)
		return err_fail(e, "tensor '%s': dtype %s, expected f32", key,
				tensor_dtype_name(t->dtype));
	if (t->rank == rank && !memcmp(t->shape, shape, (size_t)rank * sizeof *shape))
		return 0;
	tensor_shape_text(rank, shape, want, sizeof want);
	return err_fail(e, "tensor '%s': shape must be %s", key, want);
}

static int copy_finite(const struct tensor *t, const char *key, float *dst,
		       int nonnegative, struct err *e)
{
	tensor_to_f32(t, dst);
	for (size_t i = 0; i < t->count; i++)
		if (!isfinite(dst[i]) || (nonnegative && dst[i] < 0))
			return err_fail(e, "tensor '%s': element %zu is %g", key, i, dst[i]);
	return 0;
}

/* The layer's size, from the last dimension of the tensor that gives it;
 * the other dimensions must be those the chain fixes. */
static int sized_by(const struct model *m, const struct layer_desc *d,
		    const msgpack_object *lm, uint32_t *size, struct err *e)
{
	const char *key = d->tensors[d->size_tensor].key;
	struct layer probe = { .kind = (enum layer_kind)(d - layer_descs), .oc = 1, .out = 1 };
	uint32_t dims[4];
	char want[80];
	struct tensor t;
	int rank, fits;

	model_next_input(m, &probe.h, &probe.w, &probe.c);
	probe.in = probe.h * probe.w * probe.c;
	rank = layer_tensor_shape(&probe, d->size_tensor, dims);
	if (tensor_get(lm, key, 1, &t, e))
		return -1;
	fits = t.rank == rank;
	for (int i = 0; fits && i + 1 < rank; i++)
		fits = t.shape[i] == dims[i];
	if (fits) {
		*size = t.shape[rank - 1];
		return 0;
	}
	/* "[3, 3, 512, channels out]" */
	tensor_shape_text(rank - 1, dims, want, sizeof want);
	want[strlen(want) - 1] = 0;
	return err_fail(e, "tensor '%s': shape must be %s%s%s]", key, want, rank > 1 ? ", " : "",
			d->size_name);
}

/* The layer type of a layer map, and what fixes its output shape: the
 * last dimension of the tensor that gives the layer's size (a conv3x3's
 * output channels, a dense layer's width), whose other dimensions must
 * match the chain, and the layer's scalar (batchnorm's epsilon,
 * dropout's rate). Then the layer is added to the chain. */
static int add_layer(struct model *m, const msgpack_object *lm, struct err *e)
{
	const struct layer_desc *d;
	const char *type;
	size_t tlen;
	uint32_t size = 0;
	double v = 0;
	int k;

	if (lm->type != MSGPACK_OBJECT_MAP)
		return err_fail(e, "expected a map, found %s", obj_type_name(lm));
	if (obj_get_bytes(lm, "type", 1, &type, &tlen, e))
		return -1;
	if ((k = layer_kind_named(type, tlen)) < 0)
		return err_fail(e, "unknown layer type '%.*s'", (int)(tlen > 32 ? 32 : tlen), type);
	d = &layer_descs[k];
	if (d->size_tensor >= 0 && sized_by(m, d, lm, &size, e))
		return -1;
	if (d->scalar_key && obj_get_double(lm, d->scalar_key, 1, &v, e))
		return -1;
	return model_add(m, (enum layer_kind)k, size, (float)v, e);
}

/* The tensors of a layer map, checked again and copied into place. */
static int fill_layer(const struct layer *l, const msgpack_object *lm, struct err *e)
{
	const struct layer_desc *d = layer_desc_of(l);

	for (int k = 0; k < d->ntensors; k++) {
		const struct layer_tensor *lt = &d->tensors[k];
		uint32_t dims[4];
		int rank = layer_tensor_shape(l, k, dims);
		struct tensor t;

		if (layer_tensor(lm, lt->key, rank, dims, &t, e) ||
		    copy_finite(&t, lt->key, layer_tensor_data(l, k), lt->nonnegative, e))
			return -1;
	}
	return 0;
}

static int parse_classes(const msgpack_object *hd, struct model *m, struct err *e)
{
	const msgpack_object_array *cls;
	char **names;
	uint32_t n;

	if (obj_get_array(hd, "classes", 1, &cls, e))
		return -1;
	n = cls->size;
	if (n < 2 || n > MODEL_MAX_CLASSES)
		return err_fail(e, "key 'classes': %u classes (between 2 and %d are allowed)", n,
				MODEL_MAX_CLASSES);
	if (!(names = err_calloc(n, sizeof *names, e)))
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		const msgpack_object *c = &cls->ptr[i];

		if (c->type != MSGPACK_OBJECT_STR || !c->via.str.size ||
		    memchr(c->via.str.ptr, 0, c->via.str.size)) {
			err_fail(e, "key 'classes': element %u is not a non-empty string", i);
			goto out;
		}
		if (!(names[i] = strndup(c->via.str.ptr, c->via.str.size))) {
			err_fail(e, "out of memory");
			goto out;
		}
	}
	m->nclass = n;
	m->classes = names;
	return 0;
out:
	for (uint32_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return -1;
}

static int parse_header(struct model *m, const msgpack_object *hd, struct err *e)
{
	const msgpack_object_array *shape, *layers;
	const msgpack_object *prov;
	uint32_t rank_shape[TENSOR_MAX_RANK];
	struct model named = { 0 };
	int rc;

	if (obj_get_array(hd, "input_shape", 1, &shape, e))
		return -1;
	if (shape->size < 1 || shape->size > TENSOR_MAX_RANK)
		return err_fail(e, "key 'input_shape': rank %u is not between 1 and %d",
				shape->size, TENSOR_MAX_RANK);
	for (uint32_t i = 0; i < shape->size; i++) {
		const msgpack_object *d = &shape->ptr[i];

		if (d->type != MSGPACK_OBJECT_POSITIVE_INTEGER || d->via.u64 < 1 ||
		    d->via.u64 > TENSOR_MAX_DIM)
			return err_fail(e, "key 'input_shape': element %u is not a dimension", i);
		rank_shape[i] = (uint32_t)d->via.u64;
	}
	if (parse_classes(hd, &named, e))
		return -1;
	rc = model_start(m, (int)shape->size, rank_shape, named.nclass, named.classes, e);
	model_free(&named);
	if (rc)
		return -1;

	prov = obj_get(hd, "provenance");
	if (prov) {
		if (prov->type != MSGPACK_OBJECT_MAP)
			return err_fail(e, "key 'provenance': expected a map, found %s",
					obj_type_name(prov));
		if (model_set_provenance(m, prov, e))
			return -1;
	}

	if (obj_get_array(hd, "layers", 1, &layers, e))
		return -1;
	if (layers->size < 1 || layers->size > MODEL_MAX_LAYERS)
		return err_fail(e, "key 'layers': %u layers (between 1 and %d are allowed)",
				layers->size, MODEL_MAX_LAYERS);
	/* Every shape is checked along the chain before the parameters are
	 * allocated; then the tensors are copied. */
	for (uint32_t i = 0; i < layers->size; i++)
		if (add_layer(m, &layers->ptr[i], e))
			return err_context(e, "layer %u: ", i + 1);
	if (model_finish(m, e))
		return -1;
	for (int i = 0; i < m->nlayers; i++)
		if (fill_layer(&m->layers[i], &layers->ptr[i], e))
			return err_context(e, "layer %d: ", i + 1);
	return 0;
}

int modelfile_load(struct model *m, const char *path, struct err *e)
{
	struct stream s;
	msgpack_object obj;
	enum stream_event ev;

	memset(m, 0, sizeof *m);
	if (stream_open(&s, path, modelfile_only, NULL, e))
		return -1;
	ev = stream_event(&s, &obj, e);
	if (ev == STREAM_HEADER && parse_header(m, &obj, e)) {
		err_context(e, "%s: header: ", s.name);
		ev = STREAM_ERROR;
	}
	if (ev == STREAM_HEADER)
		ev = stream_event(&s, &obj, e);
	if (ev == STREAM_RECORD) {
		err_fail(e, "%s: record 1: a record in a model stream, which holds none", s.name);
		ev = STREAM_ERROR;
	}
	if (ev == STREAM_TRAILER)
		ev = stream_event(&s, &obj, e);
	if (ev != STREAM_END && ev != STREAM_ERROR)
		ev = err_fail(e, "%s: more than one model in the stream", s.name);
	stream_close(&s);
	if (ev == STREAM_ERROR) {
		model_free(m);
		return -1;
	}
	return 0;
}
