/* Unit tests of the top model: every layer type's gradient against central
 * finite differences of the objective, the model file round trip, and the
 * top-k order. */
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "tap.h"
#include "topmodel.h"
#include "toptrain.h"

#define N 7       /* rows in the batch */
#define IN 5
#define K 3
#define SEED 42

static char *class_names[K] = { "cat", "dog", "emu" };

/* The objective at the current parameters, with the same dropout masks
 * every time (the rng restarts from SEED). */
static double objective(const struct top_model *m, struct top_pass *p, const float *x,
			const uint32_t *y, const float *cw, double l2, float *grad,
			float *const delta[2])
{
	double penalty;

	gsl_rng_set(p->rng, SEED);
	return top_loss_grad(m, p, x, N, y, cw, l2, grad, delta, &penalty);
}

static void check_gradient(const char *name, const uint32_t *hidden, int nhidden,
			   int batchnorm, double dropout, int weighted, double l2)
{
	struct top_model m;
	struct top_pass p;
	struct vp_err e;
	uint32_t shape[1] = { IN }, y[N];
	float x[N * IN], cw[K] = { 0.5f, 2.0f, 1.25f }, *grad, *scratch, *delta[2];
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937), *masks = gsl_rng_alloc(gsl_rng_mt19937);
	double worst = 0, h = 1e-3, kink = INFINITY;
	size_t worst_at = 0;

	gsl_rng_set(rng, 1);
	if (!ok(top_model_build(&m, 1, shape, hidden, nhidden, batchnorm, dropout, K,
				class_names, &e) == 0, "%s: model built", name)) {
		printf("#   %s\n", e.msg);
		return;
	}
	top_init_params(&m, rng);
	/* Away from the initial values, so that every term matters: biases,
	 * gamma and beta not at 0 and 1. */
	for (size_t j = 0; j < m.ntrain; j++)
		m.params[j] += (float)(0.3 * (gsl_rng_uniform(rng) - 0.5));
	for (size_t i = 0; i < N; i++)
		y[i] = (uint32_t)(i % K);
	top_pass_init(&p, &m, N, 1, &e);
	p.rng = masks;
	grad = calloc(m.ntrain, sizeof *grad);
	scratch = calloc(m.ntrain, sizeof *scratch);
	delta[0] = calloc(N * top_model_max_width(&m), sizeof(float));
	delta[1] = calloc(N * top_model_max_width(&m), sizeof(float));
	/* A ReLU input within the step of 0 would make the difference
	 * quotient straddle the kink: draw inputs until none is. */
	do {
		for (size_t i = 0; i < N * IN; i++)
			x[i] = (float)(2 * gsl_rng_uniform(rng) - 1);
		objective(&m, &p, x, y, weighted ? cw : NULL, l2, grad, delta);
		kink = INFINITY;
		for (int i = 1; i < m.nlayers; i++)
			for (size_t r = 0; m.layers[i].kind == TOP_RELU && r < N * m.layers[i].in; r++)
				kink = fabs(p.act[i - 1][r]) < kink ? fabs(p.act[i - 1][r]) : kink;
	} while (kink < 20 * h);

	for (size_t j = 0; j < m.ntrain; j++) {
		float keep = m.params[j];
		double plus, minus, num, err;

		m.params[j] = keep + (float)h;
		plus = objective(&m, &p, x, y, weighted ? cw : NULL, l2, scratch, delta);
		m.params[j] = keep - (float)h;
		minus = objective(&m, &p, x, y, weighted ? cw : NULL, l2, scratch, delta);
		m.params[j] = keep;
		/* The step actually taken, after rounding to float. */
		num = (plus - minus) / ((double)(keep + (float)h) - (double)(keep - (float)h));
		err = fabs(num - grad[j]) / (1e-2 + fabs(num));
		if (err > worst) {
			worst = err;
			worst_at = j;
		}
	}
	if (!ok(worst < 2e-2, "%s: %zu gradients match central differences (worst relative error %.2g)",
		name, m.ntrain, worst))
		printf("#   parameter %zu: analytic %g\n", worst_at, grad[worst_at]);
	free(grad);
	free(scratch);
	free(delta[0]);
	free(delta[1]);
	top_pass_free(&p, &m);
	top_model_free(&m);
	gsl_rng_free(rng);
	gsl_rng_free(masks);
}

static void check_round_trip(void)
{
	static const uint32_t hidden[] = { 4 };
	char path[] = "/tmp/vp-topmodel.XXXXXX";
	struct top_model m, back;
	struct vp_err e;
	uint32_t shape[3] = { 1, 1, IN };
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	msgpack_object_kv kv = {
		.key = { .type = MSGPACK_OBJECT_STR, .via.str = { .size = 8, .ptr = "backbone" } },
		.val = { .type = MSGPACK_OBJECT_STR, .via.str = { .size = 5, .ptr = "vgg16" } },
	};
	msgpack_object prov = { .type = MSGPACK_OBJECT_MAP, .via.map = { .size = 1, .ptr = &kv } };
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	top_model_build(&m, 3, shape, hidden, 1, 1, 0.25, K, class_names, &e);
	top_model_set_provenance(&m, &prov, &e);
	gsl_rng_set(rng, 3);
	top_init_params(&m, rng);
	for (size_t j = 0; j < m.nparams; j++)
		m.params[j] += (float)gsl_rng_uniform(rng);
	top_model_write(&m, NULL, NULL, f);
	fclose(f);
	if (!ok(top_model_load(&back, path, &e) == 0, "written model loads")) {
		printf("#   %s\n", e.msg);
		return;
	}
	ok(back.nparams == m.nparams && back.ntrain == m.ntrain &&
	   !memcmp(back.params, m.params, m.nparams * sizeof *m.params),
	   "every parameter survives the round trip exactly");
	ok(back.nlayers == m.nlayers && back.layers[1].kind == TOP_BATCHNORM &&
	   back.layers[1].eps == TOP_BN_EPS && back.layers[3].rate == 0.25f,
	   "layer chain, epsilon and dropout rate survive");
	ok(back.input_rank == 3 && back.in_dim == IN && !strcmp(back.classes[2], "emu"),
	   "input shape and classes survive");
	ok(back.provenance.set && msgpack_object_equal(back.provenance.obj, prov),
	   "provenance survives");
	top_model_free(&back);
	top_model_free(&m);
	gsl_rng_free(rng);
	unlink(path);
}

static void check_topk(void)
{
	struct top_model m = { .nclass = 5, .nlayers = 1 };
	float probs[5] = { 0.1f, 0.3f, 0.1f, 0.4f, 0.1f };
	float *act[1] = { probs };
	struct top_pass p = { .act = act };
	uint32_t idx[5];

	top_row_topk(&m, &p, 0, 5, idx);
	ok(idx[0] == 3 && idx[1] == 1 && idx[2] == 0 && idx[3] == 2 && idx[4] == 4,
	   "top-k: best first, ties in class order");
	top_row_topk(&m, &p, 0, 2, idx);
	ok(idx[0] == 3 && idx[1] == 1, "top-k with k below the class count");
	ok(top_row_argmax(&m, &p, 0) == 3, "argmax");
}

int main(void)
{
	static const uint32_t one[] = { 4 }, two[] = { 4, 3 };

	check_gradient("dense + softmax cross-entropy", NULL, 0, 0, 0, 0, 0);
	check_gradient("dense, class weights, l2", NULL, 0, 0, 0, 1, 0.05);
	check_gradient("dense + relu", one, 1, 0, 0, 0, 0);
	check_gradient("dense + relu + dropout", one, 1, 0, 0.3, 0, 0);
	check_gradient("dense + batchnorm + relu", one, 1, 1, 0, 0, 0);
	check_gradient("two hidden layers, every layer type, weights, l2", two, 2, 1, 0.3, 1, 0.01);
	check_round_trip();
	check_topk();
	return tap_done();
}
