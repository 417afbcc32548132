/* The model file: one `model` stream (vggpipe(5)), a header holding the
 * classes, the provenance of the training features, the layers with
 * their tensors, and how the model was trained, then a trailer. */
#ifndef TOP_MODELFILE_H
#define TOP_MODELFILE_H

#include <stdio.h>

#include "err.h"
#include "model.h"
#include "stream.h"
#include "train.h"

/* Read a model file (path "-" for stdin). Every size is checked against the
 * layer chain before anything is allocated; every value must be finite. */
int modelfile_load(struct model *m, const char *path, struct err *e);

/* Write the model stream. hp and h may be NULL. -1 on a write that the
 * emitter found miscounted (a bug, reported rather than written). */
int modelfile_write(const struct model *m, const struct train_hparams *hp,
		    const struct train_history *h, FILE *f, struct err *e);

#endif
