/* Where a model looks: Grad-CAM (Selvaraju et al., ICCV 2017) over the
 * top model's last spatial activation. The gradient of a class's score
 * (the softmax's input) with respect to that activation, averaged over the
 * map, weighs each channel; the weighted sum of the channels, through a
 * ReLU and divided by its largest value, is the map. The backward pass is
 * training's (pass.h), in inference mode: dropout off, batch
 * normalisation's running statistics, standardisation included. */
#ifndef TOP_CAM_H
#define TOP_CAM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "model.h"
#include "pass.h"

/* The activation the maps lie on: the output of layer `layer` (-1: the
 * model's input, the features themselves, for a dense top), an
 * [h, w, c] map. For a model that starts with convolutions (block 5,
 * tuned) it is the last convolution's output after its ReLU, before the
 * pool. */
struct cam_site {
	int layer;
	uint32_t h, w, c;
};

/* 0, or -1 and a message when the model sees no map (features pooled to a
 * vector) or has no layer between its input and the softmax. */
int cam_site_find(const struct model *m, struct cam_site *site, struct err *e);

/* After pass_forward over x [n, in_dim] in a pass made with
 * PASS_GRADIENTS: row r's map of class cls[r] into maps [n, h * w],
 * each 0 to 1 (all 0 when no place speaks for the class). -1 only when
 * memory runs out. */
int cam_maps(const struct model *m, struct pass *p, const struct cam_site *site,
	     const float *x, size_t n, const uint32_t *cls, float *maps, struct err *e);

#endif
