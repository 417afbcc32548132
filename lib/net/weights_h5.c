/* Keras HDF5 weights. Every Keras writer of the h5 format since 1.x stores
 * the layer order in a `layer_names` attribute and, on each layer's group,
 * the paths of its datasets in `weight_names`; the dataset names themselves
 * changed across versions (block1_conv1_W_1:0, block1_conv1/kernel:0,
 * block1_conv1/kernel), so they are followed, never spelled out here.
 * Keras 3's native .weights.h5 is read too: layers/NAME/vars/0, 1, ... */
#include "weights.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void weights_names_free(struct weights_names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->s[i]);
	free(l->s);
	l->s = NULL;
	l->n = 0;
}

static int names_add(struct weights_names *l, const char *p, size_t len, struct err *e)
{
	char **s = realloc(l->s, (l->n + 1) * sizeof *s);

	if (!s)
		return err_fail(e, "out of memory");
	l->s = s;
	l->s[l->n] = strndup(p, len);
	if (!l->s[l->n])
		return err_fail(e, "out of memory");
	l->n++;
	return 0;
}

int weights_names_fixed(struct weights_names *l, const char *buf, size_t n, size_t width,
		      struct err *e)
{
	for (size_t i = 0; i < n; i++)
		if (names_add(l, buf + i * width, strnlen(buf + i * width, width), e))
			return -1;
	return 0;
}

int weights_names_vlen(struct weights_names *l, char *const *v, size_t n, struct err *e)
{
	for (size_t i = 0; i < n; i++)
		if (names_add(l, v[i] ? v[i] : "", v[i] ? strlen(v[i]) : 0, e))
			return -1;
	return 0;
}

/* Append the strings of one attribute, fixed-length (what h5py writes for
 * numpy bytes) or variable-length. An empty attribute is an empty list
 * whatever its type: Keras writes a layer without weights that way. */
static int read_strings(hid_t loc, const char *name, struct weights_names *l,
			struct err *e)
{
	hid_t attr, type = -1, space = -1, mem = -1;
	hssize_t n;
	int rc = -1;

	attr = H5Aopen(loc, name, H5P_DEFAULT);
	if (attr < 0)
		return err_fail(e, "cannot open attribute '%s'", name);
	type = H5Aget_type(attr);
	space = H5Aget_space(attr);
	n = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
	if (type < 0 || n < 0) {
		err_fail(e, "attribute '%s' cannot be read", name);
		goto out;
	}
	if (n == 0) {
		rc = 0;
		goto out;
	}
	if (H5Tget_class(type) != H5T_STRING) {
		err_fail(e, "attribute '%s' does not hold strings", name);
		goto out;
	}
	/* In the file's character set (h5py writes str as UTF-8): libhdf5
	 * does not convert between ASCII and UTF-8. */
	mem = H5Tcopy(H5T_C_S1);
	H5Tset_cset(mem, H5Tget_cset(type));
	if (H5Tis_variable_str(type) > 0) {
		char **v = calloc((size_t)n, sizeof *v);

		if (!v || H5Tset_size(mem, H5T_VARIABLE) < 0 || H5Aread(attr, mem, v) < 0) {
			free(v);
			err_fail(e, "attribute '%s' cannot be read", name);
			goto out;
		}
		rc = weights_names_vlen(l, v, (size_t)n, e);
		H5Dvlen_reclaim(mem, space, H5P_DEFAULT, v);
		free(v);
	} else {
		size_t sz = H5Tget_size(type);
		char *buf = sz ? calloc((size_t)n, sz) : NULL;

		/* Null-padded like the file's type, or a string that fills its
		 * width would lose its last byte to a terminator. */
		if (!buf || H5Tset_size(mem, sz) < 0 ||
		    H5Tset_strpad(mem, H5T_STR_NULLPAD) < 0 ||
		    H5Aread(attr, mem, buf) < 0) {
			free(buf);
			err_fail(e, "attribute '%s' cannot be read", name);
			goto out;
		}
		rc = weights_names_fixed(l, buf, (size_t)n, sz, e);
		free(buf);
	}
out:
	if (mem >= 0)
		H5Tclose(mem);
	if (space >= 0)
		H5Sclose(space);
	if (type >= 0)
		H5Tclose(type);
	H5Aclose(attr);
	return rc;
}

/* A string list attribute, or its chunks name0, name1, ... which Keras
 * writes when the list does not fit in an object header. 1 when absent. */
static int read_list_attr(hid_t loc, const char *name, struct weights_names *l,
			  struct err *e)
{
	char chunk[64];

	if (H5Aexists(loc, name) > 0)
		return read_strings(loc, name, l, e);
	for (int i = 0;; i++) {
		snprintf(chunk, sizeof chunk, "%s%d", name, i);
		if (H5Aexists(loc, chunk) <= 0)
			return i == 0 ? 1 : 0;
		if (read_strings(loc, chunk, l, e))
			return -1;
	}
}

static herr_t add_link(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
	struct err e;

	(void)group;
	(void)info;
	return names_add(data, name, strlen(name), &e) ? -1 : 0;
}

/* The names of a group's members in name order, each after prefix. */
static int list_members(hid_t loc, const char *path, const char *prefix,
			struct weights_names *l, struct err *e)
{
	struct weights_names names = { 0 };
	hid_t g = H5Gopen2(loc, path, H5P_DEFAULT);
	int rc = 0;

	if (g < 0)
		return err_fail(e, "group '%s' cannot be opened", path);
	if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, add_link, &names) < 0)
		rc = err_fail(e, "group '%s' cannot be listed", path);
	for (size_t i = 0; i < names.n && !rc; i++) {
		char *full = malloc(strlen(prefix) + strlen(names.s[i]) + 1);

		if (!full) {
			rc = err_fail(e, "out of memory");
			break;
		}
		strcpy(full, prefix);
		strcat(full, names.s[i]);
		rc = names_add(l, full, strlen(full), e);
		free(full);
	}
	weights_names_free(&names);
	H5Gclose(g);
	return rc;
}

_Static_assert(WEIGHTS_KERAS_MAX_RANK == H5S_MAX_RANK, "a dataset's dims fit");

/* What the decisions need of a dataset: that it opens and holds floats,
 * and its shape. */
static void describe_dataset(hid_t group, const char *path, struct weights_keras_dataset *d)
{
	hsize_t dims[H5S_MAX_RANK];
	hid_t id, space, type;

	d->name = path;
	d->found = 0;
	d->rank = -1;
	id = H5Dopen2(group, path, H5P_DEFAULT);
	if (id < 0)
		return;
	type = H5Dget_type(id);
	d->found = type >= 0 && H5Tget_class(type) == H5T_FLOAT ? 1 : -1;
	if (type >= 0)
		H5Tclose(type);
	space = H5Dget_space(id);
	d->rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
	if (d->rank >= 0 && H5Sget_simple_extent_dims(space, dims, NULL) < 0)
		d->rank = -1;
	if (space >= 0)
		H5Sclose(space);
	if (d->rank < 0)
		d->found = -1;
	for (int i = 0; i < d->rank; i++)
		d->dims[i] = dims[i];
	H5Dclose(id);
}

/* One layer's datasets, named by its weight_names attribute or, in Keras
 * 3's native layout (native), the members of its vars group. */
static int describe_layer(hid_t root, const char *layer, int native,
			  struct weights_names *names, struct weights_keras_layer *l,
			  struct err *e)
{
	hid_t group;
	int rc = 0;

	l->name = layer;
	group = H5Gopen2(root, layer, H5P_DEFAULT);
	l->found = group >= 0;
	if (group < 0)
		return 0;
	if (native ? H5Lexists(group, "vars", H5P_DEFAULT) > 0 &&
		     list_members(group, "vars", "vars/", names, e)
		   : read_list_attr(group, "weight_names", names, e) < 0)
		rc = err_context(e, "layer '%s': ", layer);
	else if (names->n && !(l->d = calloc(names->n, sizeof *l->d)))
		rc = err_fail(e, "out of memory");
	for (size_t i = 0; !rc && i < names->n; i++)
		describe_dataset(group, names->s[i], &l->d[i]);
	l->n = rc ? 0 : names->n;
	H5Gclose(group);
	return rc;
}

static void shape_str(const struct weights_keras_dataset *d, char *buf, size_t n)
{
	int at = snprintf(buf, n, "(");

	for (int i = 0; i < d->rank && at < (int)n; i++)
		at += snprintf(buf + at, n - at, "%s%llu", i ? ", " : "",
			       (unsigned long long)d->dims[i]);
	if (at < (int)n)
		snprintf(buf + at, n - at, d->rank == 1 ? ",)" : ")");
}

static int check_found(const struct weights_keras_layer *l, size_t i, struct err *e)
{
	if (l->d[i].found == 0)
		return err_fail(e, "layer '%s': dataset '%s' is missing", l->name, l->d[i].name);
	if (l->d[i].found < 0)
		return err_fail(e, "layer '%s': dataset '%s' is not an array of floats",
				l->name, l->d[i].name);
	return 0;
}

/* The 4-D kernel at i and the 1-D bias after it as VGG16's convolution
 * conv. */
static int check_conv(const struct weights_keras_layer *l, size_t i, int conv,
		      struct err *e)
{
	const struct vgg16_conv_spec *c = &vgg16_convs[conv];
	const struct weights_keras_dataset *k = &l->d[i], *b = i + 1 < l->n ? k + 1 : NULL;
	char got[96];

	if (b && check_found(l, i + 1, e))
		return -1;
	if (!b || b->rank != 1)
		return err_fail(e, "layer '%s' (VGG16's %s): kernel '%s' is not followed by a 1-D bias",
				l->name, c->name, k->name);
	if (k->dims[0] != 3 || k->dims[1] != 3 || k->dims[2] != (uint64_t)c->cin ||
	    k->dims[3] != (uint64_t)c->cout) {
		shape_str(k, got, sizeof got);
		return err_fail(e, "layer '%s' (VGG16's %s): kernel '%s' has shape %s, expected (3, 3, %d, %d)",
				l->name, c->name, k->name, got, c->cin, c->cout);
	}
	if (b->dims[0] != (uint64_t)c->cout) {
		shape_str(b, got, sizeof got);
		return err_fail(e, "layer '%s' (VGG16's %s): bias '%s' has shape %s, expected (%d,)",
				l->name, c->name, b->name, got, c->cout);
	}
	return 0;
}

/* Each 4-D kernel with the bias after it is the next convolution, so a
 * layer that is a whole VGG16 (a user's model with the base nested in it)
 * reads as well as one layer per convolution; the rest (a dense top) is
 * passed over. */
int weights_keras_match(const struct weights_keras_layer *layers, size_t n,
		      struct weights_keras_ref conv[VGG16_CONVS], struct err *e)
{
	int c = 0;

	for (size_t j = 0; j < n; j++) {
		const struct weights_keras_layer *l = &layers[j];

		if (!l->found)
			return err_fail(e, "layer '%s' has no group", l->name);
		for (size_t i = 0; i < l->n; i++) {
			if (check_found(l, i, e))
				return -1;
			if (l->d[i].rank != 4)
				continue;
			if (c >= VGG16_CONVS)
				return err_fail(e, "layer '%s': kernel '%s' is a 14th convolution: this is not VGG16",
						l->name, l->d[i].name);
			if (check_conv(l, i, c, e))
				return -1;
			conv[c++] = (struct weights_keras_ref){ j, i, i + 1 };
			i++;
		}
	}
	if (c < VGG16_CONVS)
		return err_fail(e, "%d convolution layers, VGG16 has %d: %s and those after it are missing",
				c, VGG16_CONVS, vgg16_convs[c].name);
	return 0;
}

static int read_floats(hid_t root, const char *layer, const char *path, float *dst,
		       struct err *e)
{
	hid_t g = H5Gopen2(root, layer, H5P_DEFAULT);
	hid_t d = g < 0 ? -1 : H5Dopen2(g, path, H5P_DEFAULT);
	int rc = 0;

	if (d < 0 || H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0)
		rc = err_fail(e, "layer '%s': dataset '%s' cannot be read (is the file truncated?)",
			      layer, path);
	if (d >= 0)
		H5Dclose(d);
	if (g >= 0)
		H5Gclose(g);
	return rc;
}

/* save_weights puts the layers at the root; a whole saved model puts them
 * under model_weights. Keras 3's native .weights.h5 has no layer_names:
 * its layers are the groups under /layers, taken in name order, which is
 * the network's order for VGG16's block names (*native set). */
static hid_t weights_root(hid_t file, struct weights_names *layers, int *native,
			  struct err *e)
{
	int r = read_list_attr(file, "layer_names", layers, e);
	hid_t g;

	*native = 0;
	if (r <= 0)
		return r < 0 ? -1 : H5Gopen2(file, "/", H5P_DEFAULT);
	if (H5Lexists(file, "layers", H5P_DEFAULT) > 0) {
		*native = 1;
		if (list_members(file, "layers", "", layers, e))
			return -1;
		return H5Gopen2(file, "layers", H5P_DEFAULT);
	}
	if (H5Lexists(file, "model_weights", H5P_DEFAULT) > 0) {
		g = H5Gopen2(file, "model_weights", H5P_DEFAULT);
		if (g >= 0 && (r = read_list_attr(g, "layer_names", layers, e)) == 0)
			return g;
		if (g >= 0)
			H5Gclose(g);
		if (r < 0)
			return -1;
	}
	err_fail(e, "no 'layer_names' attribute: not a Keras weights file");
	return -1;
}

int weights_h5(const char *path, struct vgg16_weights *w, struct err *e)
{
	H5E_auto2_t old_func;
	void *old_data;
	struct weights_names layers = { 0 }, *names = NULL;
	struct weights_keras_layer *desc = NULL;
	struct weights_keras_ref conv[VGG16_CONVS];
	hid_t file, root;
	int rc = -1, native;

	/* libhdf5 prints its error stack by default; we say what failed. */
	H5Eget_auto2(H5E_DEFAULT, &old_func, &old_data);
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	if (file < 0) {
		err_fail(e, "neither an HDF5 (Keras) nor a safetensors file, or a damaged one");
		goto restore;
	}
	root = weights_root(file, &layers, &native, e);
	if (root < 0)
		goto close;
	/* Every layer is described before anything is read, so that the
	 * decisions run on plain data. */
	desc = calloc(layers.n + 1, sizeof *desc);
	names = calloc(layers.n + 1, sizeof *names);
	if (!desc || !names) {
		err_fail(e, "out of memory");
		goto close_root;
	}
	for (size_t i = 0; i < layers.n; i++)
		if (describe_layer(root, layers.s[i], native, &names[i], &desc[i], e))
			goto close_root;
	if (weights_keras_match(desc, layers.n, conv, e))
		goto close_root;
	for (int c = 0; c < VGG16_CONVS; c++) {
		const struct weights_keras_layer *l = &desc[conv[c].layer];

		if (read_floats(root, l->name, l->d[conv[c].kernel].name, w->kernel[c], e) ||
		    read_floats(root, l->name, l->d[conv[c].bias].name, w->bias[c], e))
			goto close_root;
	}
	rc = 0;
close_root:
	for (size_t i = 0; desc && names && i < layers.n; i++) {
		free(desc[i].d);
		weights_names_free(&names[i]);
	}
	free(desc);
	free(names);
	H5Gclose(root);
close:
	weights_names_free(&layers);
	H5Fclose(file);
restore:
	H5Eset_auto2(H5E_DEFAULT, old_func, old_data);
	return rc;
}
