/* libFuzzer target: the model loader on arbitrary bytes. A model file
 * comes from a user's disk and may be cut short, altered or made to hurt:
 * every input must load or fail with a message, never crash, and a model
 * that loads must run a forward pass. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "topmodel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	struct top_model m;
	struct top_pass p;
	struct err e;
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	float *x;

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if (top_model_load(&m, path, &e) == 0) {
		/* The loader promised the layer chain agrees with itself: a
		 * row of zeros through it touches every parameter. */
		x = calloc(m.in_dim ? m.in_dim : 1, sizeof *x);
		if (!x)
			abort();
		if (top_pass_init(&p, &m, 1, 1, NN_WINOGRAD, 0, &e) == 0) {
			top_forward(&m, &p, x, 1);
			top_pass_free(&p, &m);
		}
		free(x);
		top_model_free(&m);
	}
	close(fd);
	return 0;
}
