/* libFuzzer target: the stream reader on arbitrary bytes, read as each
 * record kind. Every input must end in a clean end or an error message,
 * never a crash, a hang or an allocation beyond the limits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "stream.h"

/* Small limits so that the fuzzer reaches them quickly. */
static const struct vp_limits limits = { .max_object_bytes = 1 << 16,
					 .max_elements = 1 << 12 };

static void read_as(int fd, const char *kind)
{
	char path[64];
	struct vp_stream s;
	struct vp_err e;
	msgpack_object obj;
	struct vp_record r;
	float *values;

	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if (vp_stream_open(&s, path, kind, &limits, &e))
		return;
	while (vp_stream_record(&s, &obj, &e) > 0) {
		if (vp_record_parse(&s, &obj, &r, &e))
			break;
		/* Touch every element, as the tools do. */
		values = malloc(r.tensor.count * sizeof *values);
		if (!values)
			abort();
		vp_tensor_to_f32(&r.tensor, values);
		free(values);
	}
	vp_stream_close(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const kinds[] = { "images", "features", NULL };
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	for (int k = 0; k < 3; k++)
		read_as(fd, kinds[k]);
	close(fd);
	return 0;
}
