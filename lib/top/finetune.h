/* Fine-tuning VGG16's last block with the top: the model is block 5's
 * three convolutions (each with its ReLU) and its pool, taken from the
 * weights the features were made with, then the top, on block4_pool
 * features. Checks that the features and an initial top suit each other,
 * and the building of the model. */
#ifndef TOP_FINETUNE_H
#define TOP_FINETUNE_H

#include <stdint.h>

#include "err.h"
#include "featset.h"
#include "model.h"
#include "vgg16.h"

/* The blocks that can be fine-tuned (NULL-terminated), the features they
 * train on, and the features a top for them is trained on. */
extern const char *const finetune_blocks[];
#define FINETUNE_INPUT "block4_pool"
#define FINETUNE_TOP_INPUT "block5_pool"

/* The training features must be FINETUNE_INPUT maps, not pooled, of the
 * weights w the block starts from: 0, or -1 and a message that names the
 * file and says what to change. */
int finetune_check_input(const struct feat_set *train, const struct vgg16_weights *w,
			 struct err *e);

/* init (read from path) must be a dense top trained on the features that
 * block 5 makes of these (provenance, shape) with the same classes. */
int finetune_check_init(const struct model *init, const char *path,
			const struct feat_set *train, char *const *classes, uint32_t nclass,
			struct err *e);

/* Block 5 of w, then the top: init's layers and tensors (init not NULL),
 * else a new top shaped by top. m's input is the training features'. */
int finetune_build(struct model *m, const struct feat_set *train,
		   const struct vgg16_weights *w, const struct model *init,
		   const struct model_top *top, char *const *classes, uint32_t nclass,
		   struct err *e);

#endif
