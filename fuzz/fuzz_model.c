/* libFuzzer target: the model loader on arbitrary bytes. A model file
 * comes from a user's disk and may be cut short, altered or made to hurt:
 * every input must load or fail with a message, never crash, and a model
 * that loads must run a forward pass. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model.h"
#include "modelfile.h"
#include "pass.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	struct model m;
	struct pass p;
	struct err e;
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	float *x;

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if (modelfile_load(&m, path, &e) == 0) {
		/* The loader promised the layer chain agrees with itself: a
		 * row of zeros through it touches every parameter. */
		x = calloc(m.in_dim ? m.in_dim : 1, sizeof *x);
		if (!x)
			abort();
		if (pass_init(&p, &m, 1, 1, NN_WINOGRAD, PASS_INFERENCE, &e) == 0) {
			pass_forward(&m, &p, x, 1);
			pass_free(&p, &m);
		}
		free(x);
		model_free(&m);
	}
	close(fd);
	return 0;
}
