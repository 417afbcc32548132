#include "weights.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mix.h"

/* SHA-256 of the whole file as "sha256:HEX": features made with the same
 * weights agree whatever the file is called. */
static int hash_file(int fd, char *id, size_t idlen, uint64_t *size,
		     struct err *e)
{
	static const char hex[] = "0123456789abcdef";
	struct sha256_ctx ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];
	unsigned char buf[1 << 16];
	ssize_t n;
	int at;

	sha256_init(&ctx);
	*size = 0;
	while ((n = read(fd, buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_fail(e, "%s", strerror(errno));
		}
		sha256_update(&ctx, (size_t)n, buf);
		*size += (uint64_t)n;
	}
	sha256_digest(&ctx, sizeof digest, digest);
	at = snprintf(id, idlen, "sha256:");
	for (size_t i = 0; i < sizeof digest && at + 2 < (int)idlen; i++) {
		id[at++] = hex[digest[i] >> 4];
		id[at++] = hex[digest[i] & 15];
	}
	id[at] = '\0';
	return 0;
}

/* safetensors starts with a little-endian header length and a JSON
 * object; anything else is left to libhdf5, which finds an HDF5
 * signature wherever the format allows it. */
static int looks_like_safetensors(int fd, uint64_t size)
{
	unsigned char b[9];
	uint64_t len = 0;

	if (size < 9 || pread(fd, b, 9, 0) != 9)
		return 0;
	for (int i = 7; i >= 0; i--)
		len = len << 8 | b[i];
	return b[8] == '{' && len >= 2 && len <= size - 8;
}

/* Load a Keras HDF5 or safetensors file, told apart by content. Sets id to
 * "sha256:HEX" of the file and preprocess to the one its source uses
 * (Keras: caffe, torchvision: torch). Messages name the file, the layer
 * and the shapes. */
static int load_file(const char *path, struct vgg16_weights *w, struct err *e)
{
	char id[sizeof w->id];
	uint64_t size;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_fail(e, "%s: %s", path, strerror(errno));
	if (hash_file(fd, id, sizeof id, &size, e) ||
	    vgg16_weights_alloc(w, e)) {
		close(fd);
		return err_context(e, "%s: ", path);
	}
	if (looks_like_safetensors(fd, size)) {
		w->preprocess = VGG16_TORCH;
		rc = weights_safetensors(fd, size, w, e);
	} else {
		w->preprocess = VGG16_CAFFE;
		rc = weights_h5(path, w, e);
	}
	close(fd);
	if (rc) {
		vgg16_weights_free(w);
		return err_context(e, "%s: ", path);
	}
	memcpy(w->id, id, sizeof id);
	/* For people: a longer base name is cut. */
	snprintf(w->file, sizeof w->file, "%.*s", (int)sizeof w->file - 1,
		 strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
	return 0;
}

int weights_find(const char *path, int random, uint64_t seed,
		       struct vgg16_weights *w, struct err *e)
{
	char cached[4096];
	const char *home;

	if (random)
		return weights_random(seed, w, e);
	if (!path || !*path)
		path = getenv("VGGPIPE_WEIGHTS");
	if (!path || !*path) {
		home = getenv("HOME");
		snprintf(cached, sizeof cached, "%s/.keras/models/%s", home ? home : "",
			 WEIGHTS_KERAS_FILE);
		if (access(cached, F_OK) != 0)
			return err_fail(e, "no weights: give --weights FILE or set VGGPIPE_WEIGHTS, "
					"or put Keras' VGG16 file at %s; download it from %s (md5 %s), "
					"for example with 'make weights'",
					cached, WEIGHTS_KERAS_URL, WEIGHTS_KERAS_MD5);
		path = cached;
	}
	return load_file(path, w, e);
}

int weights_random(uint64_t seed, struct vgg16_weights *w, struct err *e)
{
	uint64_t s = seed;

	if (vgg16_weights_alloc(w, e))
		return -1;
	for (int i = 0; i < VGG16_CONVS; i++) {
		size_t n = (size_t)9 * vgg16_convs[i].cin * vgg16_convs[i].cout;
		/* sqrt is correctly rounded, and the rest is exact or one
		 * rounding: the same bits on every machine. */
		double limit = sqrt(6.0 / (9.0 * vgg16_convs[i].cin));

		for (size_t k = 0; k < n; k++)
			w->kernel[i][k] = (float)(limit * ((double)(mix_splitmix64(&s) >> 11) *
							   0x1.0p-52 - 1.0));
	}
	snprintf(w->id, sizeof w->id, "random:%" PRIu64, seed);
	w->preprocess = VGG16_CAFFE;
	return 0;
}
