/* vggfeat: image stream in, VGG16 bottleneck features out. Each input
 * segment becomes one output segment with the same classes, so shards
 * joined with cat stay shards. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "feat.h"
#include "images.h"
#include "nn.h"
#include "outfile.h"
#include "writer.h"
#include "stream.h"
#include "vgg16.h"
#include "weights.h"

#define MAX_BATCH 1024

static const char *const layer_names[] = {
	"block1_pool", "block2_pool", "block3_pool", "block4_pool", "block5_pool", NULL,
};

struct options {
	const char *weights;
	struct cli_common com;
	int blocks, batch;
	int preprocess; /* -1: what the weights were trained with */
	enum vgg16_pool pool;
	int random;
	uint64_t seed;
};

_Noreturn static void usage(void)
{
	printf("Usage: %s [OPTION]...\n"
	       "Read an image stream on standard input and write VGG16 features.\n"
	       "\n"
	       "  -w, --weights FILE     Keras HDF5 or safetensors weights (default:\n"
	       "                         $VGGPIPE_WEIGHTS, else ~/.keras/models/%s)\n"
	       "      --init-random SEED seeded random weights, for tests and benchmarks\n"
	       "  -l, --layer NAME       cut after block1_pool..block5_pool (default block5_pool)\n"
	       "  -p, --pool MODE        global pooling: none, avg, max (default none)\n"
	       "      --preprocess MODE  caffe, torch or rescale (default: the weights' own,\n"
	       "                         caffe for Keras files, torch for safetensors)\n"
	       "  -b, --batch N          images per forward pass (default 1)\n"
	       "  -t, --threads N        threads (default: every available core)\n"
	       "      --algo ALGO        im2col, winograd or auto (default; winograd after\n"
	       "                         the first layer): winograd is faster, within 1e-3\n"
	       "                         of the largest activation (im2col: 1e-4) and\n"
	       "                         takes 235 MB more memory\n"
	       "  -o, --output FILE      write to FILE (atomically) instead of stdout\n"
	       "      --progress         show progress on stderr (default: when a terminal)\n"
	       "  -q, --quiet            no progress\n"
	       "  -h, --help             show this help and exit\n"
	       "  -V, --version          show the version and exit\n"
	       "\n"
	       "Exit status: 0 success, 1 bad input or weights, 2 a usage error.\n",
	       program_invocation_short_name, WEIGHTS_KERAS_FILE);
	cli_close_stdout();
	exit(0);
}

static void parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_INIT_RANDOM = CLI_OPT_TOOL, OPT_PREPROCESS };
	static const struct option longopts[] = {
		CLI_LONGOPTS_BASIC, CLI_LONGOPTS_RUN, CLI_LONGOPTS_ALGO,
		{ "weights", required_argument, NULL, 'w' },
		{ "init-random", required_argument, NULL, OPT_INIT_RANDOM },
		{ "layer", required_argument, NULL, 'l' },
		{ "pool", required_argument, NULL, 'p' },
		{ "preprocess", required_argument, NULL, OPT_PREPROCESS },
		{ "batch", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof *o);
	o->blocks = VGG16_BLOCKS;
	o->batch = 1;
	o->preprocess = -1;
	cli_common_init(&o->com);
	while ((c = cli_getopt(argc, argv, "w:l:p:b:t:o:qhV", longopts)) != -1) {
		if (cli_common_option(c, optarg, &o->com, usage))
			continue;
		switch (c) {
		case 'w': o->weights = optarg; break;
		case OPT_INIT_RANDOM:
			o->random = 1;
			o->seed = (uint64_t)cli_opt_int("--init-random", optarg, 0, LLONG_MAX);
			break;
		case 'l': o->blocks = 1 + cli_opt_choice("--layer", optarg, layer_names); break;
		case 'p': o->pool = cli_opt_choice("--pool", optarg, vgg16_pool_names); break;
		case OPT_PREPROCESS:
			o->preprocess = cli_opt_choice("--preprocess", optarg, vgg16_preprocess_names);
			break;
		case 'b': o->batch = (int)cli_opt_int("--batch", optarg, 1, MAX_BATCH); break;
		default: cli_usage_try();
		}
	}
	if (optind < argc)
		cli_usage_error("unexpected argument '%s': the images come on standard input",
				argv[optind]);
	if (o->random && o->weights)
		cli_usage_error("--weights and --init-random exclude each other");
}

struct item {
	char *id, *label;
	size_t id_len, label_len;
	int64_t copy;
};

/* Images of one size waiting for a forward pass, and what to write. */
struct run {
	const struct options *o;
	enum vgg16_preprocess preprocess;
	const struct vgg16_weights *w;
	struct vgg16 net;
	struct writer wr;
	struct item items[MAX_BATCH];
	int n, h, wd;
	float *in, *out, *pooled;
	size_t in_cap, out_cap;
	uint64_t done;
	int progress;
};

static void flush(struct run *r)
{
	struct err e;
	int oh, ow, oc;
	size_t per;

	if (!r->n)
		return;
	vgg16_output_shape(r->o->blocks, r->h, r->wd, &oh, &ow, &oc);
	per = (size_t)oh * ow * oc;
	if (per * r->n > r->out_cap) {
		free(r->out);
		r->out = cli_xcalloc(per * r->n, sizeof *r->out);
		r->out_cap = per * r->n;
	}
	if (vgg16_forward(&r->net, r->in, r->n, r->h, r->wd, r->out, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	for (int i = 0; i < r->n; i++) {
		struct item *it = &r->items[i];
		const float *f = r->out + per * i;
		uint32_t shape[3] = { (uint32_t)oh, (uint32_t)ow, (uint32_t)oc };

		if (r->o->pool == VGG16_POOL_AVG)
			nn_global_avgpool_forward(f, (size_t)oh * ow, oc, r->pooled);
		else if (r->o->pool == VGG16_POOL_MAX)
			nn_global_maxpool_forward(f, (size_t)oh * ow, oc, r->pooled);
		if (r->o->pool == VGG16_POOL_NONE)
			feat_record_write(&r->wr, it->id, it->id_len, it->label, it->label_len,
					  it->copy, 3, shape, f);
		else
			feat_record_write(&r->wr, it->id, it->id_len, it->label, it->label_len,
					  it->copy, 1, &shape[2], r->pooled);
		free(it->id);
		free(it->label);
	}
	r->done += (uint64_t)r->n;
	r->n = 0;
	if (r->progress)
		cli_progress("images", r->done, 0, 0);
}

static void header(struct run *r, const struct stream *s, const msgpack_object *h)
{
	struct images_header in;
	struct err e;

	if (images_header_read(h, &in, &e))
		cli_die(CLI_EXIT_DATA, "%s: header of segment %" PRIu64 ": %s", s->name,
			s->segments, e.msg);
	feat_header_write(&r->wr, &(struct feat_provenance){
				  .backbone = "vgg16", .weights = r->w->id,
				  .layer = layer_names[r->o->blocks - 1],
				  .pooling = vgg16_pool_names[r->o->pool],
				  .preprocess = vgg16_preprocess_names[r->preprocess],
				  .width = in.width, .height = in.height, .fit = in.fit,
				  .fit_len = in.fit_len, .icc = in.icc, .icc_len = in.icc_len },
			  r->w->file[0] ? r->w->file : NULL, in.classes);
}

static char *copy_bytes(const char *p, size_t n)
{
	char *s = cli_xcalloc(n + 1, 1);

	memcpy(s, p, n);
	return s;
}

static void record(struct run *r, const struct stream *s, const msgpack_object *obj)
{
	struct stream_record rec;
	struct err e;
	struct item *it;
	int h, w;
	size_t floats;

	if (stream_record_parse(s, obj, &rec, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	h = (int)rec.tensor.shape[0];
	w = (int)rec.tensor.shape[1];
	if (h < VGG16_MIN_SIZE || w < VGG16_MIN_SIZE)
		cli_die(CLI_EXIT_DATA, "%s: record %" PRIu64 ": image %dx%d is smaller than "
			"%dx%d, the smallest VGG16 takes", s->name, s->records, w, h,
			VGG16_MIN_SIZE, VGG16_MIN_SIZE);
	if ((size_t)h * w > VGG16_MAX_PIXELS)
		cli_die(CLI_EXIT_DATA, "%s: record %" PRIu64 ": image %dx%d has more than "
			"the %zu pixels (4096x4096) vggfeat takes", s->name, s->records, w, h,
			VGG16_MAX_PIXELS);
	if (r->n && (h != r->h || w != r->wd))
		flush(r);
	floats = (size_t)h * w * 3;
	if ((size_t)(r->n + 1) * floats > r->in_cap) {
		size_t cap = (size_t)r->o->batch * floats;

		r->in = cli_xrealloc(r->in, cap, sizeof *r->in);
		r->in_cap = cap;
	}
	r->h = h;
	r->wd = w;
	vgg16_preprocess_forward(r->preprocess, rec.tensor.data, (size_t)h * w,
			   r->in + floats * r->n);
	it = &r->items[r->n++];
	it->id = copy_bytes(rec.id, rec.id_len);
	it->id_len = rec.id_len;
	it->label = rec.label ? copy_bytes(rec.label, rec.label_len) : NULL;
	it->label_len = rec.label_len;
	it->copy = rec.copy;
	if (r->n == r->o->batch)
		flush(r);
}

int main(int argc, char **argv)
{
	struct options o;
	struct vgg16_weights w;
	struct run r;
	struct stream s;
	struct outfile out;
	struct err e;
	msgpack_object obj;
	enum stream_event ev;

	parse_options(argc, argv, &o);
	memset(&r, 0, sizeof r);
	r.o = &o;
	r.w = &w;
	if (weights_find(o.weights, o.random, o.seed, &w, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	r.preprocess = o.preprocess >= 0 ? (enum vgg16_preprocess)o.preprocess : w.preprocess;
	r.progress = cli_progress_enabled(o.com.progress);
	r.pooled = cli_xcalloc(512, sizeof *r.pooled);
	if (vgg16_init(&r.net, &w, o.blocks, o.com.threads, &e) ||
	    vgg16_set_algo(&r.net, o.com.algo, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	if (stream_open(&s, "-", images_only, NULL, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	if (outfile_open(&out, o.com.output, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	writer_init(&r.wr, out.f);
	/* Starts the progress clock, so that the first rate is not taken
	 * from the first image alone. */
	if (r.progress)
		cli_progress("images", 0, 0, 0);
	while ((ev = stream_event(&s, &obj, &e)) > 0) {
		int idle;

		if (ev == STREAM_HEADER) {
			header(&r, &s, &obj);
		} else if (ev == STREAM_RECORD) {
			record(&r, &s, &obj);
		} else {
			flush(&r);
			writer_trailer(&r.wr);
		}
		/* Input that pauses gets its images computed and written now,
		 * not when the batch fills; input that is there keeps the
		 * batch whole. */
		idle = !stream_ready(&s);
		if (idle)
			flush(&r);
		if (outfile_check(&out, idle, &e)) {
			outfile_abort(&out);
			cli_die(CLI_EXIT_DATA, "%s", e.msg);
		}
	}
	if (ev == STREAM_ERROR)
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	if (r.progress)
		cli_progress("images", r.done, 0, 1);
	if (writer_finish(&r.wr, &e) || outfile_commit(&out, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	stream_close(&s);
	vgg16_free(&r.net);
	vgg16_weights_free(&w);
	free(r.in);
	free(r.out);
	free(r.pooled);
	return CLI_EXIT_OK;
}
