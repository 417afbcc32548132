#include "photo.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <vips/vips.h>

/* Input bytes behind one request through a pipeline. Each request costs
 * about as much as computing a few rows (regions, the kernel's margin rows
 * again), and outside libvips' worker threads every region that passes
 * its input on allocates and zeroes a buffer of the request's size anew:
 * requests of some tens of rows keep those buffers in the cache. */
#define REQUEST_BYTES ((size_t)64 << 10)

/* The largest crop that stage two takes whole (see run_stages). */
#define HOLD_BYTES ((size_t)4 << 20)

/* The most input behind one of stage two's requests, and the most output
 * of one. Its regions keep their buffers from image to image, sized by
 * its requests: one request for a small image, which saves the margin
 * rows that each further request computes again, and buffers of a
 * bounded size whatever the image. */
#define STAGE_TWO_BYTES ((size_t)1 << 20)

static void ignore_log(const char *domain, GLogLevelFlags level, const char *msg,
		       void *data)
{
	(void)domain, (void)level, (void)msg, (void)data;
}

int photo_init(const char *argv0, struct err *e)
{
	if (VIPS_INIT(argv0))
		return err_fail(e, "cannot start libvips: %s", vips_error_buffer());
	/* One pipeline per image, run by the caller's thread: libvips'
	 * pool would hand each small image's strips between threads. */
	vips_concurrency_set(1);
	/* Every file is opened once; cached operations would only keep
	 * memory and take a global lock on every call. */
	vips_cache_set_max(0);
	/* libvips reports decoder warnings through GLib's log; the library
	 * never prints, and failures come back through struct err. */
	g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE |
			  G_LOG_LEVEL_INFO, ignore_log, NULL);
	return 0;
}

void photo_shutdown(void)
{
	vips_shutdown();
}

void photo_thread_done(void)
{
	vips_thread_shutdown();
}

/* libvips' message, its lines joined. The buffer is process-wide: when two
 * threads fail at once, one message may carry both reasons. */
static int vips_fail(struct err *e)
{
	char *msg = vips_error_buffer_copy();
	size_t o = 0;

	for (const char *p = msg; *p && o + 3 < sizeof e->msg; p++) {
		if (*p != '\n')
			e->msg[o++] = *p;
		else if (p[1])
			e->msg[o++] = ';', e->msg[o++] = ' ';
	}
	e->msg[o] = 0;
	g_free(msg);
	if (!o)
		err_fail(e, "libvips failed without a reason");
	return -1;
}

/* Pull the pixels (u8) of reg's image into dst in the calling thread, in
 * requests of about budget bytes; in_row_bytes is what one output row
 * costs of that budget (the input behind it, say). */
static int render_region(VipsRegion *reg, unsigned char *dst, size_t budget,
			 double in_row_bytes, struct err *e)
{
	VipsImage *img = reg->im;
	size_t row = VIPS_IMAGE_SIZEOF_LINE(img);
	int step = (int)fmin(fmax(budget / in_row_bytes, 1), img->Ysize);

	for (int y = 0; y < img->Ysize; y += step) {
		VipsRect r = { 0, y, img->Xsize, VIPS_MIN(step, img->Ysize - y) };

		if (vips_region_prepare(reg, &r))
			return vips_fail(e);
		for (int i = 0; i < r.height; i++)
			memcpy(dst + (size_t)(y + i) * row, VIPS_REGION_ADDR(reg, 0, y + i), row);
	}
	return 0;
}

/* Pull area of img into dst, a region over memory of area's size, as
 * render_region does, but without a copy of its own: libvips writes
 * straight into dst's memory where it can. */
static int render_to(VipsImage *img, const struct photo_rect *area, VipsRegion *dst,
		     double in_row_bytes, struct err *e)
{
	VipsRegion *reg = vips_region_new(img);
	int step = (int)fmin(fmax(REQUEST_BYTES / in_row_bytes, 1), area->height);
	int rc = 0;

	for (int y = 0; y < area->height && !rc; y += step) {
		VipsRect r = { area->left, area->top + y, area->width,
			       VIPS_MIN(step, area->height - y) };

		if (vips_region_prepare_to(reg, dst, &r, 0, y))
			rc = vips_fail(e);
	}
	g_object_unref(reg);
	return rc;
}

static int render(VipsImage *img, unsigned char *dst, double in_row_bytes,
		  struct err *e)
{
	VipsRegion *reg = vips_region_new(img);
	int rc = render_region(reg, dst, REQUEST_BYTES, in_row_bytes, e);

	g_object_unref(reg);
	return rc;
}

/* A step with nothing to do: the image itself, without an operation (each
 * costs tens of microseconds to build, as much as some images' pixels). */
static int pass_on(VipsImage *in, VipsImage **out)
{
	g_object_ref(in);
	*out = in;
	return 0;
}

/* Scale factors from a w x h input to the target tw x th, per axis. */
static void fit_scales(enum photo_fit fit, int w, int h, int tw, int th,
		       double *sx, double *sy)
{
	double ax = (double)tw / w, ay = (double)th / h;

	switch (fit) {
	case PHOTO_FIT_CROP: *sx = *sy = fmax(ax, ay); break;
	case PHOTO_FIT_PAD: *sx = *sy = fmin(ax, ay); break;
	case PHOTO_FIT_SQUASH: *sx = ax, *sy = ay; break;
	}
}

static int clampi(long v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : (int)v;
}

/* The rectangle of a w x h stored image that shows as the rectangle (l, t,
 * cw, ch) once EXIF orientation orient is applied. Centring is decided
 * where the picture is seen: when a margin is odd, its extra pixel must
 * land on the same side of the picture whatever the orientation. */
static struct photo_rect stored_rect(int orient, int w, int h, int l, int t, int cw, int ch)
{
	int swap = orient >= 5;
	int fx = orient == 2 || orient == 3 || orient == 7 || orient == 8;
	int fy = orient == 3 || orient == 4 || orient == 6 || orient == 7;
	int x = swap ? t : l, y = swap ? l : t, rw = swap ? ch : cw, rh = swap ? cw : ch;

	return (struct photo_rect){ fx ? w - x - rw : x, fy ? h - y - rh : y, rw, rh };
}

void photo_fit_plan(const struct photo_spec *sp, int orient, int w, int h,
		    struct photo_fit_plan *p)
{
	int swap = orient >= 5, dw = swap ? h : w, dh = swap ? w : h, cw, ch;
	double sx, sy;

	p->tw = swap ? sp->height : sp->width;
	p->th = swap ? sp->width : sp->height;
	p->crop = (struct photo_rect){ 0, 0, w, h };
	p->place = (struct photo_rect){ 0, 0, p->tw, p->th };
	fit_scales(sp->fit, dw, dh, sp->width, sp->height, &sx, &sy);
	if (sp->fit == PHOTO_FIT_CROP) {
		cw = clampi(lround(sp->width / sx), 1, dw);
		ch = clampi(lround(sp->height / sy), 1, dh);
		p->crop = stored_rect(orient, w, h, (dw - cw) / 2, (dh - ch) / 2, cw, ch);
	} else if (sp->fit == PHOTO_FIT_PAD) {
		cw = clampi(lround(dw * sx), 1, sp->width);
		ch = clampi(lround(dh * sy), 1, sp->height);
		p->place = stored_rect(orient, p->tw, p->th, (sp->width - cw) / 2,
				       (sp->height - ch) / 2, cw, ch);
	}
}

/* Reduce in's height to exactly h (at most its height): a box filter for the
 * integer part of large factors, then the cubic (Catmull-Rom) kernel, PIL's
 * default for resizing, for the rest, as vips_resize does. */
static int reduce_height(VipsImage *in, VipsImage **out, int h, VipsObject *ctx)
{
	VipsImage **t = (VipsImage **)vips_object_local_array(ctx, 1);
	int box = (int)floor((double)in->Ysize / h / 2.0);

	if (box > 1) {
		if (vips_shrinkv(in, &t[0], box, NULL))
			return -1;
		in = t[0];
	}
	if (in->Ysize == h)
		return pass_on(in, out);
	return vips_reducev(in, out, (double)in->Ysize / h, "kernel", VIPS_KERNEL_CUBIC, NULL);
}

/* Any colour space, depth and band count to u8 sRGB without alpha. */
static int to_srgb(VipsImage *in, VipsImage **out, const unsigned char bg[3],
		   VipsObject *ctx)
{
	VipsImage **t = (VipsImage **)vips_object_local_array(ctx, 4);
	VipsImage *x = in;

	/* An attached profile says what the numbers mean; without one (or
	 * when it is unusable) the interpretation libvips guessed is used. */
	if (vips_image_get_typeof(x, VIPS_META_ICC_NAME)) {
		if (vips_icc_transform(x, &t[0], "srgb", "embedded", TRUE, NULL) == 0)
			x = t[0];
		else
			vips_error_clear();
	}
	/* Most photos are sRGB already. */
	if (x->Type != VIPS_INTERPRETATION_sRGB) {
		if (vips_colourspace(x, &t[1], VIPS_INTERPRETATION_sRGB, NULL))
			return -1;
		x = t[1];
	}
	if (x->Bands == 4) {
		VipsArrayDouble *b = vips_array_double_newv(3, (double)bg[0],
							    (double)bg[1], (double)bg[2]);
		int rc = vips_flatten(x, &t[2], "background", b, NULL);

		vips_area_unref(VIPS_AREA(b));
		if (rc)
			return -1;
		x = t[2];
	} else if (x->Bands > 3) {
		if (vips_extract_band(x, &t[2], 0, "n", 3, NULL))
			return -1;
		x = t[2];
	}
	if (x->BandFmt == VIPS_FORMAT_UCHAR)
		return pass_on(x, out);
	return vips_cast_uchar(x, out, NULL);
}

int photo_jpeg_shrink(const struct photo_spec *sp, int orient, int w, int h)
{
	int shrink = 1, swap = orient >= 5;
	double sx, sy;

	/* The target is met by the picture as seen: a turned picture's width
	 * is its stored height. */
	fit_scales(sp->fit, swap ? h : w, swap ? w : h, sp->width, sp->height, &sx, &sy);
	while (shrink < 8 && fmax(sx, sy) * shrink * 2 <= 1.0)
		shrink *= 2;
	return shrink;
}

/* Documents that libvips can render but that are not photos: a PDF in a
 * class folder is a mistake, not a training image. By their loader
 * (nickname, as pdfload_source), and by their first bytes for a loader
 * that reads many formats (magick). NULL: not a document. */
static const char *document_kind(const char *nick, const unsigned char magic[4])
{
	if (nick && vips_isprefix("pdfload", nick))
		return "PDF";
	if (nick && vips_isprefix("svgload", nick))
		return "SVG";
	if (!memcmp(magic, "%PDF", 4))
		return "PDF";
	if (!memcmp(magic, "%!PS", 4))
		return "PostScript";
	return NULL;
}

/* The descriptor of path if it is a regular file: a FIFO would block the
 * open until a writer came, a device (/dev/zero) never ends. */
static int open_regular(const char *path, struct err *e)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return err_fail(e, "%s", strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_fail(e, "not a regular file (a FIFO, a socket or a device)");
	}
	return fd;
}

/* Open path for sequential reading, with its EXIF orientation in *orient.
 * A JPEG is decoded at 1/2, 1/4 or 1/8 scale by libjpeg itself (DCT
 * scaling) when the target is that much smaller: most of the decoding
 * cost is saved, as with PIL's draft mode. Formats libvips reads only from
 * a file name (BMP, TGA, ICO, through ImageMagick) are opened by name. */
static int open_image(const char *path, const struct photo_spec *sp,
		      VipsImage **out, int *orient, struct err *e)
{
	VipsSource *src;
	const unsigned char *sniffed;
	unsigned char magic[4] = { 0 };
	const char *loader = NULL, *nick = NULL, *document;
	VipsImage *img = NULL;
	int jpeg, shrink = 1, rc = -1, fd;
	uint64_t pixels;

	/* Opened here rather than by libvips so that a file that cannot be
	 * read is reported with its own reason ("Permission denied"), in a
	 * message that belongs to this thread. libvips dups the descriptor. */
	if ((fd = open_regular(path, e)) < 0)
		return -1;
	src = vips_source_new_from_descriptor(fd);
	close(fd);
	if (!src)
		return vips_fail(e);
	/* Asking every loader whether it knows the file costs a quarter of a
	 * JPEG's decoding time; a JPEG says what it is in three bytes. Copied:
	 * the next sniff may move the source's buffer. */
	if ((sniffed = vips_source_sniff(src, 4)))
		memcpy(magic, sniffed, 4);
	jpeg = !memcmp(magic, "\xff\xd8\xff", 3);
	if (!jpeg && !(loader = vips_foreign_find_load_source(src)))
		loader = vips_foreign_find_load(path);
	vips_error_clear();
	if (!jpeg && !loader) {
		err_fail(e, "not an image format libvips reads");
		goto out;
	}
	/* The finders give a class name (VipsForeignLoadPdfSource). */
	if (loader)
		nick = vips_nickname_find(g_type_from_name(loader));
	if (!sp->documents && (document = document_kind(nick, magic))) {
		err_fail(e, "a document (%s), not an image: --allow-documents reads it",
			 document);
		goto out;
	}
	if (jpeg)
		vips_jpegload_source(src, &img, "access", VIPS_ACCESS_SEQUENTIAL,
				     "fail_on", VIPS_FAIL_ON_ERROR, NULL);
	else if (!nick || vips_isprefix("magickload", nick) || !vips_ispostfix(nick, "_source"))
		img = vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL,
					       "fail_on", VIPS_FAIL_ON_ERROR, NULL);
	else
		img = vips_image_new_from_source(src, "", "access", VIPS_ACCESS_SEQUENTIAL,
						 "fail_on", VIPS_FAIL_ON_ERROR, NULL);
	if (!img) {
		vips_fail(e);
		goto out;
	}
	*orient = vips_image_get_orientation(img);
	if (jpeg)
		shrink = photo_jpeg_shrink(sp, *orient, img->Xsize, img->Ysize);
	/* The limit is on what is decoded: a JPEG shrunk on load at 1/8
	 * decodes a 108-megapixel photo to 1.7 megapixels. */
	pixels = (uint64_t)((img->Xsize + shrink - 1) / shrink) *
		 (uint64_t)((img->Ysize + shrink - 1) / shrink);
	if (sp->max_pixels && pixels > sp->max_pixels) {
		err_fail(e, "%d x %d pixels%s is more than the limit of %llu", img->Xsize,
			 img->Ysize, shrink > 1 ? ", even decoded at a reduced scale," : "",
			 (unsigned long long)sp->max_pixels);
		goto out;
	}
	if (shrink > 1) {
		g_object_unref(img);
		img = NULL;
		if (vips_jpegload_source(src, &img, "shrink", shrink, "access",
					 VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_ERROR,
					 NULL)) {
			vips_fail(e);
			goto out;
		}
	}
	*out = img;
	img = NULL;
	rc = 0;
out:
	if (img)
		g_object_unref(img);
	g_object_unref(src);
	return rc;
}

/* libvips 8.14 compiles its vertical reduction with liborc when the
 * operation is built, and frees the program when it is disposed. liborc
 * 0.4.33 frees compiled code without taking its own lock, so two threads
 * disposing of reductions at once corrupted its list of code chunks
 * ("double free or corruption", or a crash in orc_code_free: 16 of 100
 * runs of imgprep on 24 small images with two threads, under ASan).
 * Building a pipeline and disposing of it hold this lock; rendering,
 * where the time goes, runs unlocked. */
static pthread_mutex_t orc_lock = PTHREAD_MUTEX_INITIALIZER;

static void dispose(VipsObject *ctx)
{
	pthread_mutex_lock(&orc_lock);
	g_object_unref(ctx);
	pthread_mutex_unlock(&orc_lock);
}

/* An embedded profile a thread has met, and whether it is sRGB's. */
struct profile {
	unsigned char *data;
	size_t len;
	int srgb;
};

/* Distinct profiles remembered per thread: a data set seldom has more. */
#define PROFILES 4

/* The shape a stage-two pipeline is built for: its input buffer (u8
 * samples of bands bands, in the colour space type, described by icc when
 * that is not NULL) and everything its operations depend on. */
struct shape {
	int w, h, bands, orient;
	VipsInterpretation type;
	const struct profile *icc;
	struct photo_rect place;
	int tw, th;
	unsigned char background[3];
};

static int same_shape(const struct shape *a, const struct shape *b)
{
	return a->w == b->w && a->h == b->h && a->bands == b->bands &&
	       a->orient == b->orient && a->type == b->type && a->icc == b->icc &&
	       !memcmp(&a->place, &b->place, sizeof a->place) && a->tw == b->tw &&
	       a->th == b->th && !memcmp(a->background, b->background, 3);
}

/* A built stage-two pipeline over a buffer that stage one fills. Building
 * one costs more than running it on a small image (libvips compiles its
 * vertical reduction for each new operation), and the images of a data
 * set mostly share one shape, so a thread keeps its last one and runs it
 * again on the next image's pixels. */
struct stage_two {
	struct shape shape;
	VipsObject *ctx; /* holds the pipeline's images; NULL when none is built */
	VipsImage *in, *out;
	VipsRegion *dst; /* over in's pixels, for stage one to write into */
	VipsRegion *reg; /* on out */
	unsigned char *buf; /* in's pixels */
};

struct photo_cache {
	struct profile profiles[PROFILES];
	unsigned next; /* the entry a new profile replaces */
	struct stage_two two;
};

struct photo_cache *photo_cache_new(struct err *e)
{
	return err_calloc(1, sizeof(struct photo_cache), e);
}

static void drop_stage_two(struct stage_two *two)
{
	/* The regions go first, and under the lock with the pipeline:
	 * closing a region ends the sequences of the operations behind it. */
	pthread_mutex_lock(&orc_lock);
	if (two->reg)
		g_object_unref(two->reg);
	if (two->dst)
		g_object_unref(two->dst);
	if (two->ctx)
		g_object_unref(two->ctx);
	pthread_mutex_unlock(&orc_lock);
	free(two->buf);
	memset(two, 0, sizeof *two);
}

void photo_cache_free(struct photo_cache *c)
{
	if (c) {
		drop_stage_two(&c->two);
		for (int i = 0; i < PROFILES; i++)
			free(c->profiles[i].data);
		free(c);
	}
}

/* Whether a profile is sRGB's in all but name: an RGB profile (its
 * header says so at byte 16) that takes every probe colour (each channel
 * in steps of 17, and every grey) to itself, give or take a level of
 * rounding. Most photos carry one of the several sRGB profiles; applying
 * it changes nothing and costs as much as decoding. */
static int is_srgb(const unsigned char *icc, size_t len)
{
	enum { STEP = 17, LEVELS = 255 / STEP + 1, N = LEVELS * LEVELS * LEVELS + 256 };
	unsigned char px[N * 3], got[N * 3];
	VipsImage *in, *out = NULL;
	struct err e;
	int n = 0, same = 0;

	/* libvips leaves an image as it is when its profile does not fit. */
	if (len < 20 || memcmp(icc + 16, "RGB ", 4))
		return 0;
	for (int r = 0; r < LEVELS; r++)
		for (int g = 0; g < LEVELS; g++)
			for (int b = 0; b < LEVELS; b++, n += 3)
				px[n] = (unsigned char)(r * STEP), px[n + 1] = (unsigned char)(g * STEP),
				px[n + 2] = (unsigned char)(b * STEP);
	for (int v = 0; v < 256; v++, n += 3)
		memset(px + n, v, 3);
	in = vips_image_new_from_memory(px, sizeof px, N, 1, 3, VIPS_FORMAT_UCHAR);
	if (in) {
		vips_image_set_blob_copy(in, VIPS_META_ICC_NAME, icc, len);
		if (!vips_icc_transform(in, &out, "srgb", "embedded", TRUE, NULL) &&
		    !render(out, got, sizeof px, &e)) {
			same = 1;
			for (size_t i = 0; i < sizeof px; i++)
				same &= abs(got[i] - px[i]) <= 1;
		}
		if (out)
			g_object_unref(out);
		g_object_unref(in);
	}
	vips_error_clear();
	return same;
}

/* The profile to apply to in: its embedded one, unless the spec ignores
 * embedded profiles or it is sRGB's (*icc NULL then). Verdicts are kept
 * per thread, by the profile's bytes. -1 when out of memory. */
static int profile_for(struct photo_cache *c, VipsImage *in,
		       const struct photo_spec *sp, const struct profile **icc,
		       struct err *e)
{
	const void *data;
	size_t len;
	struct profile *p;

	*icc = NULL;
	if (sp->icc == PHOTO_ICC_IGNORE || !vips_image_get_typeof(in, VIPS_META_ICC_NAME) ||
	    vips_image_get_blob(in, VIPS_META_ICC_NAME, &data, &len) || !len) {
		vips_error_clear();
		return 0;
	}
	for (p = c->profiles; p < c->profiles + PROFILES; p++)
		if (p->len == len && !memcmp(p->data, data, len))
			break;
	if (p == c->profiles + PROFILES) {
		p = &c->profiles[c->next];
		c->next = (c->next + 1) % PROFILES;
		/* The cached stage two may be built with the profile replaced. */
		if (c->two.shape.icc == p)
			drop_stage_two(&c->two);
		free(p->data);
		p->len = 0;
		if (!(p->data = err_calloc(len, 1, e)))
			return -1;
		memcpy(p->data, data, len);
		p->len = len;
		p->srgb = is_srgb(p->data, len);
	}
	if (!p->srgb)
		*icc = p;
	return 0;
}

/* Whether colour can wait until the image is small: 8-bit samples
 * without alpha, in the spaces photos come in. The resizing then mixes
 * the file's own values rather than sRGB ones, which differs by about a
 * level where colours change fast; alpha must be flattened onto the
 * background in sRGB before the resizing mixes it in. */
static int colour_can_wait(const VipsImage *x)
{
	return x->BandFmt == VIPS_FORMAT_UCHAR && x->Coding == VIPS_CODING_NONE &&
	       ((x->Bands == 3 && x->Type == VIPS_INTERPRETATION_sRGB) ||
		(x->Bands == 1 && x->Type == VIPS_INTERPRETATION_B_W) ||
		(x->Bands == 4 && x->Type == VIPS_INTERPRETATION_CMYK));
}

/* Stage one, on the sequentially read file: colour unless it can wait
 * (icc the profile to apply, if any), and when reduce is set the crop and
 * the vertical reduction. *area is the part of the result that stage two
 * takes: the crop, which costs no operation of its own, or all of the
 * reduced image. NULL on failure; ctx holds the images. */
static VipsImage *build_stage_one(VipsObject *ctx, VipsImage *in, int colour,
				  const struct profile *icc, int reduce,
				  const struct photo_spec *sp, const struct photo_fit_plan *p,
				  struct photo_rect *area)
{
	VipsImage **t = (VipsImage **)vips_object_local_array(ctx, 4);
	const struct photo_rect *c = &p->crop;
	VipsImage *x = in;

	if (colour) {
		/* libvips would apply a profile that is left on the image. */
		if (!icc && vips_image_get_typeof(x, VIPS_META_ICC_NAME)) {
			if (vips_copy(x, &t[0], NULL))
				return NULL;
			vips_image_remove(t[0], VIPS_META_ICC_NAME);
			x = t[0];
		}
		if (to_srgb(x, &t[1], sp->background, ctx))
			return NULL;
		x = t[1];
	}
	*area = *c;
	if (!reduce)
		return x;
	if (c->width == x->Xsize && c->height == x->Ysize ? pass_on(x, &t[2]) :
	    vips_extract_area(x, &t[2], c->left, c->top, c->width, c->height, NULL))
		return NULL;
	if (reduce_height(t[2], &t[3], VIPS_MIN(p->place.height, c->height), ctx))
		return NULL;
	*area = (struct photo_rect){ 0, 0, t[3]->Xsize, t[3]->Ysize };
	return t[3];
}

/* Stage two's pipeline over x, the w x h buffer: the vertical reduction
 * unless stage one did it, the horizontal one, colour, the padding and the
 * EXIF orientation. libvips reduces columns several times faster than
 * rows (its vertical pass is vectorised), so rows are turned into columns
 * and back: the turns cost less than they save. Images that grow go
 * through vips_resize. NULL on failure. */
static VipsImage *build_stage_two(VipsObject *ctx, VipsImage *x, int w, int h,
				  const struct photo_spec *sp,
				  const struct photo_fit_plan *p, int orient, struct err *e)
{
	VipsImage **t = (VipsImage **)vips_object_local_array(ctx, 8);
	const struct photo_rect *pl = &p->place;

	if (h > pl->height) {
		if (reduce_height(x, &t[7], pl->height, ctx))
			goto vips;
		x = t[7];
		h = x->Ysize;
	}
	if (pl->width > w || pl->height > h) {
		if (vips_resize(x, &t[0], (double)pl->width / w, "vscale",
				(double)pl->height / h, "kernel", VIPS_KERNEL_CUBIC, NULL))
			goto vips;
		x = t[0];
	} else if (pl->width < w) {
		if (vips_rot(x, &t[0], VIPS_ANGLE_D90, NULL) ||
		    reduce_height(t[0], &t[1], pl->width, ctx) ||
		    vips_rot(t[1], &t[2], VIPS_ANGLE_D270, NULL))
			goto vips;
		x = t[2];
	}
	if (x->Xsize != pl->width || x->Ysize != pl->height) {
		err_fail(e, "resized to %d x %d instead of %d x %d", x->Xsize, x->Ysize,
			 pl->width, pl->height);
		return NULL;
	}
	if (to_srgb(x, &t[6], sp->background, ctx))
		goto vips;
	x = t[6];
	if (pl->width != p->tw || pl->height != p->th) {
		VipsArrayDouble *bg = vips_array_double_newv(3, (double)sp->background[0],
							     (double)sp->background[1],
							     (double)sp->background[2]);
		int failed = vips_embed(x, &t[3], pl->left, pl->top, p->tw, p->th, "extend",
					VIPS_EXTEND_BACKGROUND, "background", bg, NULL);

		/* The operation holds its own reference. */
		vips_area_unref(VIPS_AREA(bg));
		if (failed)
			goto vips;
		x = t[3];
	}
	if (orient > 1) {
		/* Built images are shared and never change: the tag goes on a
		 * copy. */
		if (vips_copy(x, &t[4], NULL))
			goto vips;
		vips_image_set_int(t[4], VIPS_META_ORIENTATION, orient);
		if (vips_autorot(t[4], &t[5], NULL))
			goto vips;
		x = t[5];
	}
	return x;
vips:
	vips_fail(e);
	return NULL;
}

/* The thread's stage two for shape s, built anew unless the last image
 * had the same shape. NULL on failure. */
static struct stage_two *stage_two_for(struct photo_cache *c, const struct shape *s,
				       const struct photo_spec *sp,
				       const struct photo_fit_plan *p, struct err *e)
{
	struct stage_two *two = &c->two;
	size_t n = (size_t)s->w * s->h * s->bands;
	VipsImage **t;

	if (two->ctx && same_shape(&two->shape, s))
		return two;
	drop_stage_two(two);
	two->shape = *s;
	if (!(two->buf = err_calloc(n, 1, e)))
		return NULL;
	two->ctx = VIPS_OBJECT(vips_image_new());
	t = (VipsImage **)vips_object_local_array(two->ctx, 1);
	pthread_mutex_lock(&orc_lock);
	/* libvips only reads the buffer, and only while rendering. */
	two->in = t[0] = vips_image_new_from_memory(two->buf, n, s->w, s->h, s->bands,
						    VIPS_FORMAT_UCHAR);
	if (!two->in) {
		vips_fail(e);
	} else {
		/* What the samples mean, set before anything reads it. */
		two->in->Type = s->type;
		if (s->icc)
			vips_image_set_blob_copy(two->in, VIPS_META_ICC_NAME, s->icc->data,
						 s->icc->len);
		two->out = build_stage_two(two->ctx, two->in, s->w, s->h, sp, p, s->orient, e);
		if (two->out) {
			VipsRect all = { 0, 0, s->w, s->h };

			two->dst = vips_region_new(two->in);
			if (vips_region_image(two->dst, &all))
				vips_fail(e);
			else
				two->reg = vips_region_new(two->out);
		}
	}
	pthread_mutex_unlock(&orc_lock);
	if (!two->reg) {
		drop_stage_two(two);
		return NULL;
	}
	return two;
}

/* Stage one into the buffer of the thread's stage two, then stage two
 * into rgb. Colour is done in stage two, on the small image, when it can
 * wait. So is the vertical reduction when the crop is small enough to be
 * held whole: stage two, built once per shape, then does all the
 * resizing, and stage one only decodes. */
static int run_stages(VipsImage *in, const struct photo_spec *sp,
		      const struct photo_fit_plan *p, int orient, const struct profile *icc,
		      struct photo_cache *c, unsigned char *rgb, struct err *e)
{
	VipsObject *ctx = VIPS_OBJECT(vips_image_new());
	int late = colour_can_wait(in);
	int reduce = (double)VIPS_IMAGE_SIZEOF_PEL(in) * p->crop.width * p->crop.height >
		     HOLD_BYTES;
	struct stage_two *two = NULL;
	struct photo_rect area;
	struct shape s;
	VipsImage *x;
	int rc = -1;

	pthread_mutex_lock(&orc_lock);
	x = build_stage_one(ctx, in, !late, icc, reduce, sp, p, &area);
	pthread_mutex_unlock(&orc_lock);
	if (!x) {
		vips_fail(e);
		goto out;
	}
	s = (struct shape){ .w = area.width, .h = area.height, .bands = x->Bands,
			    .orient = orient, .type = late ? in->Type : VIPS_INTERPRETATION_sRGB,
			    .icc = late ? icc : NULL, .place = p->place, .tw = p->tw,
			    .th = p->th };
	memcpy(s.background, sp->background, 3);
	if (!(two = stage_two_for(c, &s, sp, p, e)))
		goto out;
	if (render_to(x, &area, two->dst, (double)VIPS_IMAGE_SIZEOF_PEL(in) * p->crop.width *
		      p->crop.height / area.height, e))
		goto out;
	/* The region on stage two's output is kept, and with it the regions
	 * behind it and their buffers: allocating and zeroing those for each
	 * image cost a fifth of stage two on a 640 x 480 JPEG. Since the
	 * buffers last, a request's rows are bounded by their own size as
	 * well as by the input behind them. libvips serves a request from
	 * pixels it computed before only out of buffers it has published for
	 * reuse, which it does in its own worker threads alone; in ours every
	 * request runs the pipeline on the new pixels. In a libvips thread
	 * the buffers would still hold the last image's. */
	if (vips_thread_isvips())
		vips_image_invalidate_all(two->in);
	rc = render_region(two->reg, rgb, STAGE_TWO_BYTES,
			   fmax((double)s.w * s.h * s.bands / two->out->Ysize,
				VIPS_IMAGE_SIZEOF_LINE(two->out)), e);
	if (rc)
		drop_stage_two(two);
out:
	dispose(ctx);
	return rc;
}

int photo_prepare(const char *path, const struct photo_spec *sp,
		  struct photo_cache *c, unsigned char *rgb, struct err *e)
{
	struct stat st;
	struct photo_fit_plan plan;
	const struct profile *icc;
	VipsImage *in = NULL;
	int orient = 1, rc = -1;

	if (stat(path, &st))
		return err_fail(e, "%s", strerror(errno));
	if (S_ISDIR(st.st_mode))
		return err_fail(e, "is a directory");
	if (S_ISREG(st.st_mode) && st.st_size == 0)
		return err_fail(e, "empty file");
	if (open_image(path, sp, &in, &orient, e))
		return -1;
	photo_fit_plan(sp, orient, in->Xsize, in->Ysize, &plan);
	if (!profile_for(c, in, sp, &icc, e))
		rc = run_stages(in, sp, &plan, orient, icc, c, rgb, e);
	g_object_unref(in);
	return rc;
}

static const VipsExtend fill_extend[] = {
	[PHOTO_FILL_CONSTANT] = VIPS_EXTEND_BACKGROUND,
	[PHOTO_FILL_NEAREST] = VIPS_EXTEND_COPY,
	[PHOTO_FILL_REFLECT] = VIPS_EXTEND_MIRROR,
	[PHOTO_FILL_WRAP] = VIPS_EXTEND_REPEAT,
};

/* The affine part of t as Keras builds it, in (x, y) = (column, row)
 * pixel-centre coordinates about the image centre c: an output pixel at
 * p takes the input at L (p - c) + d + c. Keras' matrices act on (row,
 * column); swapping both axes turns its rotation [[cos, -sin], [sin, cos]]
 * into [[cos, sin], [-sin, cos]] and its shear [[1, -sin], [0, cos]] into
 * [[cos, 0], [-sin, 1]]. */
static void keras_matrix(const struct photo_transform *t, int w, int h, double L[4],
			 double d[2])
{
	double th = t->rotation * M_PI / 180, sh = t->shear * M_PI / 180;
	double R[4] = { cos(th), sin(th), -sin(th), cos(th) };
	double S[4] = { cos(sh), 0, -sin(sh), 1 };
	double SZ[4] = { S[0] * t->zoom_x, S[1] * t->zoom_y, S[2] * t->zoom_x,
			 S[3] * t->zoom_y };
	double tx = t->shift_x * w, ty = t->shift_y * h;

	L[0] = R[0] * SZ[0] + R[1] * SZ[2];
	L[1] = R[0] * SZ[1] + R[1] * SZ[3];
	L[2] = R[2] * SZ[0] + R[3] * SZ[2];
	L[3] = R[2] * SZ[1] + R[3] * SZ[3];
	d[0] = R[0] * tx + R[1] * ty;
	d[1] = R[2] * tx + R[3] * ty;
}

static int is_identity(const struct photo_transform *t)
{
	return t->rotation == 0 && t->shift_x == 0 && t->shift_y == 0 && t->shear == 0 &&
	       t->zoom_x == 1 && t->zoom_y == 1;
}

int photo_affine_plan(const struct photo_transform *t, int w, int h, struct photo_affine_plan *p,
		      struct err *e)
{
	double L[4], d[2], det, cx = (w - 1) / 2.0, cy = (h - 1) / 2.0, reach = 0;

	keras_matrix(t, w, h, L, d);
	det = L[0] * L[3] - L[1] * L[2];
	/* A NaN would pass every comparison below and reach libvips as the
	 * matrix; an infinity makes the inverse NaN. */
	if (!isfinite(det) || !isfinite(d[0]) || !isfinite(d[1]))
		return err_fail(e, "the transform is not finite");
	if (fabs(det) < 1e-12)
		return err_fail(e, "the transform is degenerate (zoom 0?)");
	p->A[0] = L[3] / det, p->A[1] = -L[1] / det, p->A[2] = -L[2] / det, p->A[3] = L[0] / det;
	for (int k = 0; k < 4; k++) {
		double px = (k & 1 ? w : -1) - cx, py = (k & 2 ? h : -1) - cy;
		double ix = L[0] * px + L[1] * py + d[0] + cx;
		double iy = L[2] * px + L[3] * py + d[1] + cy;

		reach = fmax(reach, fmax(fmax(-ix, ix - (w - 1)), fmax(-iy, iy - (h - 1))));
	}
	if (!(reach <= 1e6) || !isfinite(p->A[0] + p->A[1] + p->A[2] + p->A[3]))
		return err_fail(e, "the transform reaches too far outside the image");
	p->margin = (int)ceil(reach) + 2;
	p->idx = -(p->margin + cx + d[0]);
	p->idy = -(p->margin + cy + d[1]);
	p->odx = cx;
	p->ody = cy;
	return 0;
}

/* vips_affine maps input to output and fills what lies outside its input
 * with the background only, so the fill rule is applied first: the input
 * is extended by vips_embed far enough to cover every point the output
 * samples. */
static int affine(VipsImage *in, VipsImage **out, const struct photo_affine_plan *p,
		  enum photo_fill fill, VipsArrayDouble *bg, VipsObject *ctx)
{
	VipsImage **v = (VipsImage **)vips_object_local_array(ctx, 1);
	int w = in->Xsize, h = in->Ysize, m = p->margin;
	VipsArrayInt *oarea;
	int rc;

	if (vips_embed(in, &v[0], m, m, w + 2 * m, h + 2 * m,
		       "extend", fill_extend[fill], "background", bg, NULL))
		return -1;
	oarea = vips_array_int_newv(4, 0, 0, w, h);
	rc = vips_affine(v[0], out, p->A[0], p->A[1], p->A[2], p->A[3], "oarea", oarea,
			 "idx", p->idx, "idy", p->idy, "odx", p->odx, "ody", p->ody,
			 "interpolate", vips_interpolate_bilinear_static(),
			 "extend", fill_extend[fill], "background", bg, NULL);
	vips_area_unref(VIPS_AREA(oarea));
	return rc;
}

int photo_apply_transform(const unsigned char *rgb, const struct photo_spec *sp,
			  const struct photo_transform *t, enum photo_fill fill,
			  unsigned char *out, struct err *e)
{
	size_t n = (size_t)sp->width * sp->height * 3;
	VipsObject *ctx = VIPS_OBJECT(vips_image_new());
	VipsImage **v = (VipsImage **)vips_object_local_array(ctx, 4);
	VipsArrayDouble *bg = vips_array_double_newv(3, (double)sp->background[0],
						     (double)sp->background[1],
						     (double)sp->background[2]);
	struct photo_affine_plan plan;
	VipsImage *x;
	int rc = -1;

	if (!is_identity(t) && photo_affine_plan(t, sp->width, sp->height, &plan, e))
		goto out;
	/* libvips only reads the buffer. */
	v[0] = vips_image_new_from_memory((void *)rgb, n, sp->width, sp->height, 3,
					  VIPS_FORMAT_UCHAR);
	x = v[0];
	if (!x)
		goto vips;
	if (!is_identity(t)) {
		if (affine(x, &v[1], &plan, fill, bg, ctx))
			goto vips;
		x = v[1];
	}
	/* Keras flips after the affine transform. */
	if (t->flip_h) {
		if (vips_flip(x, &v[2], VIPS_DIRECTION_HORIZONTAL, NULL))
			goto vips;
		x = v[2];
	}
	if (t->flip_v) {
		if (vips_flip(x, &v[3], VIPS_DIRECTION_VERTICAL, NULL))
			goto vips;
		x = v[3];
	}
	rc = render(x, out, 3.0 * sp->width, e);
	goto out;
vips:
	vips_fail(e);
out:
	vips_area_unref(VIPS_AREA(bg));
	g_object_unref(ctx);
	return rc;
}
