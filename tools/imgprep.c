/* imgprep: image files, class folders or a list of paths to an "images"
 * stream of u8 RGB arrays of one size, optionally with seeded augmented
 * copies. Worker threads decode; the main thread writes records in input
 * order, so the output does not depend on the thread count. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "augment.h"
#include "cli.h"
#include "err.h"
#include "filelist.h"
#include "images.h"
#include "outfile.h"
#include "photo.h"
#include "threads.h"
#include "vgg16.h"
#include "writer.h"

/* The sizes vggfeat takes: refused here rather than after the decoding. */
#define MIN_SIDE VGG16_MIN_SIZE
#define MAX_SIDE 4096
#define DEFAULT_MAX_PIXELS 100000000ull
#define MAX_HELD_BYTES ((size_t)256 << 20)

struct options {
	struct photo_spec spec;
	struct augment aug;
	int flip;                /* index in images_flip_names */
	int shuffle, strict, nul, pairs;
	uint64_t seed;
	unsigned shard_k, shard_n;
	struct cli_common com;
	char **inputs;
	int ninputs;
};

_Noreturn static void usage(void)
{
	printf("Usage: %s [OPTION]... INPUT...\n"
	       "Decode images and write them as a vggpipe \"images\" stream of RGB arrays.\n"
	       "INPUT is a directory of class folders (labels are the folder names), a\n"
	       "directory of images, an image file, or - to read paths from standard input,\n"
	       "one per line, each optionally followed by a TAB and a label; the list is\n"
	       "read, and its images written, as it comes.\n"
	       "\n"
	       "  -s, --size WxH          output size, or one number for a square (224x224)\n"
	       "      --fit MODE          crop (scale and cut the centre), squash (stretch)\n"
	       "                          or pad (letterbox) (crop)\n"
	       "      --background COLOR  behind transparency, padding and constant fill:\n"
	       "                          white, black, gray, #RRGGBB or R,G,B (white)\n"
	       "      --icc MODE          use an embedded colour profile to reach sRGB, or\n"
	       "                          ignore it, as Keras' load_img does (use)\n"
	       "  -0, --null              paths read from standard input end with NUL, and are\n"
	       "                          taken whole (no TAB label)\n"
	       "      --pairs             with -0, entries alternate path and label\n"
	       "      --shuffle           order by a hash of the seed and path, not by name\n"
	       "      --seed N            seed of shuffling and augmentation (0)\n"
	       "      --shard K/N         keep shard K of N (split by a hash of the path)\n"
	       "      --augment N         write N transformed copies of each image (0)\n"
	       "      --keep-original     with --augment, write the original too (copy 0)\n"
	       "      --rotation DEG      rotation drawn from [-DEG, DEG] (0)\n"
	       "      --shift-x F         horizontal shift, a fraction of the width (0)\n"
	       "      --shift-y F         vertical shift, a fraction of the height (0)\n"
	       "      --shear DEG         shear angle drawn from [-DEG, DEG] (0)\n"
	       "      --zoom F            zoom drawn from [1-F, 1+F] per axis (0)\n"
	       "                          each of the five also takes LO:HI, an explicit range\n"
	       "      --flip h|v|hv       flip at random, horizontally and/or vertically\n"
	       "      --fill MODE         constant, nearest, reflect or wrap (nearest)\n"
	       "      --max-pixels N      refuse images that decode to more pixels, after any\n"
	       "                          shrink-on-load (%llu)\n"
	       "      --allow-documents   read PDF, PostScript and SVG files too\n"
	       "  -t, --threads N         decoding threads (every available core); -j N too\n"
	       "      --strict            stop at the first image or entry that fails\n"
	       "      --progress          show progress on stderr even when not a terminal\n"
	       "  -q, --quiet             no progress\n"
	       "  -o, --output FILE       write to FILE (atomically) instead of stdout\n"
	       "  -h, --help              show this help and exit\n"
	       "  -V, --version           show the version and exit\n"
	       "\n"
	       "An image, list line or folder that fails is reported and skipped; the exit\n"
	       "status is then 1.\n"
	       "Exit status: 0 success, 1 an image or a write failed, 2 a usage error.\n",
	       program_invocation_short_name, DEFAULT_MAX_PIXELS);
	cli_close_stdout();
	exit(0);
}

static void parse_size(const char *arg, struct photo_spec *s)
{
	char *end;
	long w, h;

	errno = 0;
	w = strtol(arg, &end, 10);
	h = w;
	if (*end == 'x' && end > arg)
		h = strtol(end + 1, &end, 10);
	if (errno || *end || end == arg || w < MIN_SIDE || w > MAX_SIDE || h < MIN_SIDE ||
	    h > MAX_SIDE)
		cli_usage_error("--size: '%s' is not WxH or N with sides from %d to %d, the sizes "
				"vggfeat takes", arg, MIN_SIDE, MAX_SIDE);
	s->width = (int)w;
	s->height = (int)h;
}

static void parse_color(const char *arg, unsigned char rgb[3])
{
	static const struct { const char *name; unsigned char v; } named[] = {
		{ "white", 255 }, { "black", 0 }, { "gray", 128 }, { "grey", 128 },
	};
	unsigned r, g, b;
	int n = 0;

	for (size_t i = 0; i < sizeof named / sizeof *named; i++) {
		if (!strcmp(arg, named[i].name)) {
			memset(rgb, named[i].v, 3);
			return;
		}
	}
	if ((sscanf(arg, "#%2x%2x%2x%n", &r, &g, &b, &n) == 3 && n == 7 && !arg[n]) ||
	    (sscanf(arg, "%u,%u,%u%n", &r, &g, &b, &n) == 3 && !arg[n] &&
	     r < 256 && g < 256 && b < 256)) {
		rgb[0] = (unsigned char)r, rgb[1] = (unsigned char)g, rgb[2] = (unsigned char)b;
		return;
	}
	cli_usage_error("--background: '%s' is not a colour (white, black, gray, "
			"#RRGGBB or R,G,B)", arg);
}

/* "F" is [-F, F] (about 1 for a zoom: [1-F, 1+F]); "LO:HI" is [LO, HI]. */
static struct augment_range parse_range(const char *opt, const char *arg, double limit,
				   int zoom)
{
	char *colon = strchr(arg, ':');
	struct augment_range r;
	double f;

	if (colon) {
		*colon = 0;
		r.lo = cli_opt_double(opt, arg, zoom ? 0.01 : -limit, limit);
		r.hi = cli_opt_double(opt, colon + 1, zoom ? 0.01 : -limit, limit);
		*colon = ':';
		if (r.lo > r.hi)
			cli_usage_error("%s: the range %s is empty", opt, arg);
		return r;
	}
	f = cli_opt_double(opt, arg, 0, zoom ? 0.99 : limit);
	r.lo = zoom ? 1 - f : -f;
	r.hi = zoom ? 1 + f : f;
	return r;
}

static void parse_shard(const char *arg, struct options *o)
{
	char *slash = strchr(arg, '/');

	if (!slash)
		cli_usage_error("--shard: '%s' is not K/N", arg);
	*slash = 0;
	o->shard_n = (unsigned)cli_opt_int("--shard", slash + 1, 1, 1 << 20);
	o->shard_k = (unsigned)cli_opt_int("--shard", arg, 1, o->shard_n);
	*slash = '/';
}

static void parse_options(int argc, char **argv, struct options *o)
{
	enum {
		OPT_SHUFFLE = CLI_OPT_TOOL, OPT_SEED, OPT_SHARD, OPT_AUGMENT, OPT_KEEP,
		OPT_ROTATION, OPT_SHIFT_X, OPT_SHIFT_Y, OPT_SHEAR, OPT_ZOOM, OPT_FLIP,
		OPT_FILL, OPT_MAX_PIXELS, OPT_STRICT, OPT_ICC, OPT_FIT, OPT_BACKGROUND,
		OPT_PAIRS, OPT_DOCUMENTS,
	};
	static const struct option longopts[] = {
		CLI_LONGOPTS_BASIC, CLI_LONGOPTS_RUN,
		{ "size", required_argument, NULL, 's' },
		{ "fit", required_argument, NULL, OPT_FIT },
		{ "background", required_argument, NULL, OPT_BACKGROUND },
		{ "icc", required_argument, NULL, OPT_ICC },
		{ "null", no_argument, NULL, '0' },
		{ "pairs", no_argument, NULL, OPT_PAIRS },
		{ "allow-documents", no_argument, NULL, OPT_DOCUMENTS },
		{ "shuffle", no_argument, NULL, OPT_SHUFFLE },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "shard", required_argument, NULL, OPT_SHARD },
		{ "augment", required_argument, NULL, OPT_AUGMENT },
		{ "keep-original", no_argument, NULL, OPT_KEEP },
		{ "rotation", required_argument, NULL, OPT_ROTATION },
		{ "shift-x", required_argument, NULL, OPT_SHIFT_X },
		{ "shift-y", required_argument, NULL, OPT_SHIFT_Y },
		{ "shear", required_argument, NULL, OPT_SHEAR },
		{ "zoom", required_argument, NULL, OPT_ZOOM },
		{ "flip", required_argument, NULL, OPT_FLIP },
		{ "fill", required_argument, NULL, OPT_FILL },
		{ "max-pixels", required_argument, NULL, OPT_MAX_PIXELS },
		{ "strict", no_argument, NULL, OPT_STRICT },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof *o);
	o->spec.width = o->spec.height = 224;
	o->spec.fit = PHOTO_FIT_CROP;
	memset(o->spec.background, 255, 3);
	o->spec.max_pixels = DEFAULT_MAX_PIXELS;
	o->aug.zoom = (struct augment_range){ 1, 1 };
	o->aug.fill = PHOTO_FILL_NEAREST;
	o->shard_k = o->shard_n = 1;
	cli_common_init(&o->com);
	/* -j: the threads' first spelling, kept for the scripts that use it. */
	while ((c = cli_getopt(argc, argv, "s:0t:j:qo:hV", longopts)) != -1) {
		if (cli_common_option(c == 'j' ? 't' : c, optarg, &o->com, usage))
			continue;
		switch (c) {
		case 's': parse_size(optarg, &o->spec); break;
		case OPT_FIT: o->spec.fit = (enum photo_fit)cli_opt_choice("--fit", optarg, images_fit_names); break;
		case OPT_BACKGROUND: parse_color(optarg, o->spec.background); break;
		case OPT_ICC: o->spec.icc = (enum photo_icc)cli_opt_choice("--icc", optarg, images_icc_names); break;
		case '0': o->nul = 1; break;
		case OPT_PAIRS: o->pairs = 1; break;
		case OPT_DOCUMENTS: o->spec.documents = 1; break;
		case OPT_SHUFFLE: o->shuffle = 1; break;
		case OPT_SEED: o->seed = (uint64_t)cli_opt_int("--seed", optarg, 0, INT64_MAX); break;
		case OPT_SHARD: parse_shard(optarg, o); break;
		case OPT_AUGMENT: o->aug.copies = (unsigned)cli_opt_int("--augment", optarg, 0, 1000); break;
		case OPT_KEEP: o->aug.keep_original = 1; break;
		case OPT_ROTATION: o->aug.rotation = parse_range("--rotation", optarg, 360, 0); break;
		case OPT_SHIFT_X: o->aug.shift_x = parse_range("--shift-x", optarg, 1, 0); break;
		case OPT_SHIFT_Y: o->aug.shift_y = parse_range("--shift-y", optarg, 1, 0); break;
		case OPT_SHEAR: o->aug.shear = parse_range("--shear", optarg, 80, 0); break;
		case OPT_ZOOM: o->aug.zoom = parse_range("--zoom", optarg, 10, 1); break;
		case OPT_FLIP: o->flip = cli_opt_choice("--flip", optarg, images_flip_names); break;
		case OPT_FILL: o->aug.fill = (enum photo_fill)cli_opt_choice("--fill", optarg, images_fill_names); break;
		case OPT_MAX_PIXELS:
			o->spec.max_pixels = (uint64_t)cli_opt_int("--max-pixels", optarg, 1, INT64_MAX);
			break;
		case OPT_STRICT: o->strict = 1; break;
		default: cli_usage_try();
		}
	}
	o->aug.flip_h = o->flip & 1;
	o->aug.flip_v = o->flip >> 1 & 1;
	o->aug.seed = o->seed;
	if (o->aug.keep_original && !o->aug.copies)
		cli_usage_error("--keep-original needs --augment N");
	if (o->pairs && !o->nul)
		cli_usage_error("--pairs is for a NUL-separated list (-0)");
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
	if (!o->ninputs)
		cli_usage_error("no input: give directories, image files, or - for a list of paths");
}

/* A per-entry problem of the listing (filelist.h): reported, counted as
 * a failure, skipped; under --strict, the end of the run. */
struct listing {
	int strict;
	size_t problems;
};

static int list_problem(void *ctx, const char *where, const char *why)
{
	struct listing *ls = ctx;

	cli_warn("%s: %s%s", where, why, ls->strict ? "" : "; skipped");
	ls->problems++;
	return ls->strict ? -1 : 0;
}

/* The listing stopped: a problem under --strict, reported already, or an
 * error that is no one entry's (a read error, memory). */
static void listing_failed(const struct filelist *l, const struct err *e)
{
	const struct listing *ls = l->problem_ctx;

	if (ls->strict && ls->problems)
		cli_die(CLI_EXIT_DATA, "stopped at the first failure (--strict)");
	cli_die(CLI_EXIT_DATA, "%s", e->msg);
}

/* The inputs known up front: folders, files, and a list on standard
 * input when it must be read whole (--shuffle orders it all); otherwise
 * the list is read as it comes (*stream). */
static void collect(const struct options *o, struct filelist *l, int *stream)
{
	struct err e;
	int read_stdin = 0;

	*stream = 0;
	for (int i = 0; i < o->ninputs; i++) {
		const char *in = o->inputs[i];
		struct stat st;
		size_t loose = l->loose;

		if (!strcmp(in, "-")) {
			if (read_stdin++)
				cli_usage_error("- is given twice");
			if (!o->shuffle)
				*stream = 1;
			else if (filelist_read(l, stdin, o->nul ? 0 : '\n', o->pairs, &e))
				listing_failed(l, &e);
		} else if (stat(in, &st) == 0 && S_ISDIR(st.st_mode)) {
			if (filelist_add_dir(l, in, &e))
				listing_failed(l, &e);
			for (size_t k = loose; k < l->loose && k < FILELIST_LOOSE_NAMED; k++)
				cli_warn("%s: beside the class folders, skipped", l->loose_names[k]);
			if (l->loose > FILELIST_LOOSE_NAMED && loose < l->loose)
				cli_warn("%s: %zu files beside the class folders skipped in all", in,
					 l->loose - loose);
		} else if (filelist_add_file(l, in, strlen(in), NULL, 0, &e)) {
			cli_die(CLI_EXIT_DATA, "%s: %s", in, e.msg);
		}
	}
	if (o->shard_n > 1)
		filelist_shard(l, o->shard_k, o->shard_n);
	if (o->shuffle && filelist_shuffle(l, o->seed, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
}

/* One image's entry and results: filled by the source and a worker,
 * emptied by the writer. */
struct slot {
	struct filelist_entry en;
	int owned;          /* en.path is the slot's to free (a streamed entry) */
	int failed;
	struct err err;
	unsigned char *pix; /* (1 + copies) images: the prepared one, then copies */
};

/* What the workers prepare and the writer writes, in input order. */
struct work {
	const struct options *o;
	struct filelist *list;
	struct filelist_reader *stream; /* the list read as it comes, or NULL */
	size_t listed;                  /* entries of list handed out */
	char **classes;                 /* the header's: known before the run */
	size_t nclasses;
	struct err source_err;
	size_t image_bytes;
	struct slot *ring;
	struct photo_cache **cache; /* each worker's */
	struct writer *wr;
	struct outfile *out;
	size_t written, failed;
	struct err write_err;
	int header, stopped_strict, write_failed, progress;
};

/* The next entry: the listed ones first, then the list on standard input
 * as it comes, the other shards' entries passed over. */
static int next_entry(void *ctx, size_t item, size_t slot)
{
	struct work *w = ctx;
	struct slot *s = &w->ring[slot];
	int rc;

	(void)item;
	if (w->listed < w->list->n) {
		s->en = w->list->v[w->listed++];
		s->owned = 0;
		return 1;
	}
	if (!w->stream)
		return 0;
	while ((rc = filelist_read_next(w->list, w->stream, &s->en, &w->source_err)) > 0) {
		if (filelist_in_shard(&s->en, w->o->shard_k, w->o->shard_n)) {
			s->owned = 1;
			return 1;
		}
		free(s->en.path);
	}
	return rc;
}

static void worker_begin(void *ctx, int worker)
{
	struct work *w = ctx;
	struct err e;

	if (!(w->cache[worker] = photo_cache_new(&e)))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
}

static void prepare_one(void *ctx, size_t item, size_t slot, int worker)
{
	struct work *w = ctx;
	const struct options *o = w->o;
	struct slot *s = &w->ring[slot];
	const struct filelist_entry *en = &s->en;

	(void)item;
	s->failed = photo_prepare(en->path, &o->spec, w->cache[worker], s->pix, &s->err) != 0;
	for (unsigned c = 1; c <= o->aug.copies && !s->failed; c++) {
		struct photo_transform t;

		augment_draw(&o->aug, en->path + en->rel_off, en->path_len - en->rel_off,
			     c, &t);
		if (photo_apply_transform(s->pix, &o->spec, &t, o->aug.fill,
					  s->pix + c * w->image_bytes, &s->err)) {
			err_context(&s->err, "copy %u: ", c);
			s->failed = 1;
		}
	}
}

/* The header goes out with the first image, or at the end: a run that
 * finds nothing to write writes nothing. */
static void write_header(struct work *w)
{
	if (w->header++)
		return;
	images_header_write(w->wr, &w->o->spec, w->classes, w->nclasses, &w->o->aug);
}

/* The image's records, or its failure reported; -1 stops the run: a
 * failure under --strict, or a write that failed (the rest could not be
 * delivered). A list read as it comes is written as it comes: each image
 * goes out when it is ready. */
static int write_one(void *ctx, size_t item, size_t slot)
{
	struct work *w = ctx;
	const struct options *o = w->o;
	struct slot *s = &w->ring[slot];
	const struct filelist_entry *en = &s->en;

	errno = 0;
	if (s->failed) {
		w->failed++;
		cli_warn("%s: %s", en->path, s->err.msg);
		if (o->strict)
			w->stopped_strict = 1;
	} else {
		write_header(w);
		for (unsigned c = o->aug.keep_original || !o->aug.copies ? 0 : 1;
		     c <= o->aug.copies; c++)
			images_record_write(w->wr, en->path, en->path_len, en->label,
					    o->spec.height, o->spec.width,
					    s->pix + c * w->image_bytes,
					    o->aug.copies ? (int64_t)c : -1);
		w->written++;
	}
	if (s->owned)
		free(s->en.path);
	s->owned = 0;
	if (outfile_check(w->out, w->stream != NULL, &w->write_err)) {
		w->write_failed = 1;
		return -1;
	}
	if (w->progress)
		cli_progress("images", item + 1, w->stream ? 0 : w->list->n, 0);
	return w->stopped_strict ? -1 : 0;
}

static void worker_end(void *ctx, int worker)
{
	struct work *w = ctx;

	photo_cache_free(w->cache[worker]);
	photo_thread_done();
}

int main(int argc, char **argv)
{
	struct options o;
	struct filelist list;
	struct filelist_reader stream;
	struct listing ls;
	struct outfile out;
	struct writer wr;
	struct err e;
	struct work w;
	size_t window;
	int nthreads, streaming, rc;
	static const struct threads_pipeline pipeline = {
		.begin = worker_begin, .source = next_entry, .prepare = prepare_one,
		.consume = write_one, .end = worker_end,
	};

	parse_options(argc, argv, &o);
	/* libvips allocates and frees buffers of a few hundred KB for every
	 * image. Above glibc's mmap threshold each would be a new mapping,
	 * faulted in page by page and unmapped again; kept in the heap they
	 * are reused. The heap still only grows to the largest working set. */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	if (photo_init(argv[0], &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	filelist_init(&list);
	ls = (struct listing){ .strict = o.strict };
	list.problem = list_problem;
	list.problem_ctx = &ls;
	collect(&o, &list, &streaming);
	if (outfile_open(&out, o.com.output, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	writer_init(&wr, out.f);

	memset(&w, 0, sizeof w);
	w.o = &o;
	w.list = &list;
	w.wr = &wr;
	w.out = &out;
	/* The header's classes are those known before the first image: a
	 * list read as it comes may name more, which its records carry. */
	w.nclasses = list.nclasses;
	w.classes = cli_xcalloc(list.nclasses ? list.nclasses : 1, sizeof *w.classes);
	if (list.nclasses)
		memcpy(w.classes, list.classes, list.nclasses * sizeof *w.classes);
	if (streaming) {
		filelist_reader_init(&stream, stdin, o.nul ? 0 : '\n', o.pairs);
		w.stream = &stream;
	}
	w.image_bytes = (size_t)o.spec.width * o.spec.height * 3;
	nthreads = o.com.threads;
	if (!streaming && (size_t)nthreads > list.n)
		nthreads = list.n ? (int)list.n : 1;
	/* Two images per thread ahead of the writer keep every thread busy;
	 * with many copies of large images, fewer are held, down to one per
	 * thread and the one being written. */
	window = 2 * (size_t)nthreads + 2;
	while (window > (size_t)nthreads + 1 &&
	       window * (1 + o.aug.copies) * w.image_bytes > MAX_HELD_BYTES)
		window--;
	w.ring = cli_xcalloc(window, sizeof *w.ring);
	for (size_t i = 0; i < window; i++)
		w.ring[i].pix = cli_xcalloc(1 + o.aug.copies, w.image_bytes);
	w.cache = cli_xcalloc((size_t)nthreads, sizeof *w.cache);
	w.progress = cli_progress_enabled(o.com.progress);
	if (w.progress)
		cli_progress("images", 0, streaming ? 0 : list.n, 0); /* starts the clock */
	rc = threads_pipeline_run(nthreads, 0, window, &pipeline, &w, &e);
	if (rc || (o.strict && ls.problems)) {
		outfile_abort(&out);
		if (w.stopped_strict || (o.strict && ls.problems))
			cli_die(CLI_EXIT_DATA, "stopped at the first failure (--strict)");
		if (w.write_failed)
			cli_die(CLI_EXIT_DATA, "%s", w.write_err.msg);
		cli_die(CLI_EXIT_DATA, "%s", w.source_err.msg[0] ? w.source_err.msg : e.msg);
	}
	/* An empty shard is normal; nothing at all to write is a mistake in
	 * the command line, or a folder that is not what the user thinks. */
	if (!w.written && !w.failed && !ls.problems && o.shard_n == 1) {
		outfile_abort(&out);
		cli_die(CLI_EXIT_DATA, "no image files in %s%s",
			strcmp(o.inputs[0], "-") ? o.inputs[0] : "the list on standard input",
			o.ninputs > 1 ? " and the other inputs" : "");
	}
	if (w.progress)
		cli_progress("images", w.written + w.failed, streaming ? 0 : list.n, 1);
	write_header(&w);
	writer_trailer(&wr);
	if (writer_finish(&wr, &e) || outfile_commit(&out, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	if (w.failed || ls.problems)
		cli_die(CLI_EXIT_DATA, "%zu of %zu %s failed", w.failed + ls.problems,
			w.written + w.failed + ls.problems,
			ls.problems ? "entries" : "images");
	if (streaming)
		filelist_reader_free(&stream);
	for (size_t i = 0; i < window; i++)
		free(w.ring[i].pix);
	free(w.ring);
	free(w.cache);
	free(w.classes);
	filelist_free(&list);
	photo_shutdown();
	return CLI_EXIT_OK;
}
