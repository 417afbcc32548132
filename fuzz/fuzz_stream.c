/* libFuzzer target: the stream reader on arbitrary bytes, read as each
 * record kind. Every input must end in a clean end or an error message,
 * never a crash, a hang or an allocation beyond the limits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "feat.h"
#include "images.h"
#include "stream.h"

/* Small limits so that the fuzzer reaches them quickly. */
static const struct msgin_limits limits = { .max_object_bytes = 1 << 16,
					 .max_elements = 1 << 12 };

static void read_as(int fd, const struct stream_kind *const *kinds)
{
	char path[64];
	struct stream s;
	struct err e;
	msgpack_object obj;
	struct stream_record r;
	float *values;

	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if (stream_open(&s, path, kinds, &limits, &e))
		return;
	while (stream_record(&s, &obj, &e) > 0) {
		if (stream_record_parse(&s, &obj, &r, &e))
			break;
		/* Touch every element, as the tools do. */
		values = malloc(r.tensor.count * sizeof *values);
		if (!values)
			abort();
		tensor_to_f32(&r.tensor, values);
		free(values);
	}
	stream_close(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct stream_kind *const images[] = { &images_kind, NULL };
	static const struct stream_kind *const features[] = { &feat_kind, NULL };
	/* Every kind: the first header decides, as in vggdump. */
	static const struct stream_kind *const any[] = { &images_kind, &feat_kind,
							 &stream_kind_other, NULL };
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	read_as(fd, images);
	read_as(fd, features);
	read_as(fd, any);
	close(fd);
	return 0;
}
