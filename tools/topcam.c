/* topcam: where a top model looks. For each feature record, the Grad-CAM
 * map of a class (the predicted one, the record's label, or one named)
 * over the model's last spatial activation, written as a "maps" stream
 * with the prediction beside it. The features are the cached activations,
 * so no image is decoded and no convolution before the model's own runs
 * again. Records are read a batch at a time. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cam.h"
#include "cli.h"
#include "err.h"
#include "featread.h"
#include "maps.h"
#include "model.h"
#include "modelfile.h"
#include "outfile.h"
#include "pass.h"
#include "writer.h"

struct options {
	const char *model, *class_name;
	int label;
	enum maps_explained explained;
	struct cli_common com;
	char **inputs;
	int ninputs;
};

_Noreturn static void usage(void)
{
	printf("Usage: %s --model FILE [OPTION]... [FILE]...\n"
	       "Write a Grad-CAM map per feature record: where on the model's last spatial\n"
	       "activation the evidence for a class lies, as a vggpipe \"maps\" stream.\n"
	       "With no FILE, or when FILE is -, read standard input.\n"
	       "\n"
	       "  -m, --model FILE     the model written by topfit (required)\n"
	       "      --label          explain each record's own label (labelled features)\n"
	       "      --class NAME     explain the class NAME for every record\n"
	       "                       (default: the predicted class)\n"
	       CLI_HELP_OUTPUT
	       CLI_HELP_THREADS
	       CLI_HELP_ALGO
	       CLI_HELP_BASIC
	       "\n"
	       "Draw the maps over the images with vggplot maps, the worst mistakes with\n"
	       "vggplot toploss.\n"
	       "Exit status: 0 success, 1 a data error, 2 a usage error.\n",
	       program_invocation_short_name);
	cli_close_stdout();
	exit(0);
}

static void parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_LABEL = CLI_OPT_TOOL, OPT_CLASS };
	static const struct option longopts[] = {
		CLI_LONGOPTS_BASIC, CLI_LONGOPTS_RUN, CLI_LONGOPTS_ALGO,
		{ "model", required_argument, NULL, 'm' },
		{ "label", no_argument, NULL, OPT_LABEL },
		{ "class", required_argument, NULL, OPT_CLASS },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof *o);
	cli_common_init(&o->com);
	o->explained = MAPS_PREDICTED;
	while ((c = cli_getopt(argc, argv, "m:o:t:qhV", longopts)) != -1) {
		if (cli_common_option(c, optarg, &o->com, usage))
			continue;
		switch (c) {
		case 'm': o->model = optarg; break;
		case OPT_LABEL: o->label = 1; break;
		case OPT_CLASS: o->class_name = optarg; break;
		default: cli_usage_try();
		}
	}
	if (!o->model)
		cli_usage_error("--model FILE is required");
	if (o->label && o->class_name)
		cli_usage_error("--label and --class exclude each other");
	o->explained = o->label ? MAPS_LABEL : o->class_name ? MAPS_CLASS : MAPS_PREDICTED;
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
}

/* The name of the activation the maps lie on, for the header: the
 * features' own layer for a dense top; the last convolution of the block
 * a tuned model starts with (topfit tunes block 5). */
static void site_name(const struct model *m, const struct cam_site *site, char *name,
		      size_t size)
{
	const msgpack_object *layer = m->provenance.set ?
		obj_get(&m->provenance.obj, "layer") : NULL;

	if (site->layer >= 0)
		snprintf(name, size, "block5_conv3");
	else if (layer && layer->type == MSGPACK_OBJECT_STR)
		snprintf(name, size, "%.*s", (int)(layer->via.str.size < size ?
						   layer->via.str.size : size - 1),
			 layer->via.str.ptr);
	else
		snprintf(name, size, "features");
}

/* The class row i explains, and its label's index (-1: none the model
 * knows) in *label. */
static uint32_t explained_class(const struct options *o, const struct model *m,
				const struct pass *p, const struct feat_row *row, size_t i,
				uint32_t named, long label)
{
	if (o->explained == MAPS_LABEL) {
		if (label < 0)
			cli_die(CLI_EXIT_DATA, "%s: record %" PRIu64 ": --label explains a "
				"record's label, and %s%.*s%s", row->file, row->record,
				row->has_label ? "the model has no class '" : "it has none",
				(int)(row->has_label ? row->label_len : 0),
				row->has_label ? row->label : "", row->has_label ? "'" : "");
		return (uint32_t)label;
	}
	return o->explained == MAPS_CLASS ? named : pass_row_argmax(m, p, i);
}

int main(int argc, char **argv)
{
	struct options o;
	struct model m;
	struct feat_reader r;
	struct pass p;
	struct cam_site site;
	struct outfile out;
	struct writer wr;
	struct err e;
	uint32_t *cls, named = 0;
	long *labels;
	float *maps;
	uint64_t done = 0;
	size_t rows;
	int progress, header = 0;
	char layer[64];
	long n;

	parse_options(argc, argv, &o);
	progress = cli_progress_enabled(o.com.progress);
	if (modelfile_load(&m, o.model, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	if (cam_site_find(&m, &site, &e))
		cli_die(CLI_EXIT_DATA, "%s: %s", o.model, e.msg);
	site_name(&m, &site, layer, sizeof layer);
	if (o.class_name) {
		long c = model_class_index(&m, o.class_name, strlen(o.class_name));

		if (c < 0)
			cli_usage_error("--class: the model has no class '%s'", o.class_name);
		named = (uint32_t)c;
	}
	if (outfile_open(&out, o.com.output, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	writer_init(&wr, out.f);
	rows = model_batch_rows(&m);
	if (feat_reader_open(&r, o.inputs, o.ninputs, rows, &e) ||
	    feat_reader_expect(&r, m.provenance.set ? &m.provenance.obj : &obj_nil,
			       m.input_rank, m.input_shape, &e) ||
	    pass_init(&p, &m, rows, o.com.threads, o.com.algo, PASS_GRADIENTS, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	cls = cli_xcalloc(rows, sizeof *cls);
	labels = cli_xcalloc(rows, sizeof *labels);
	maps = cli_xcalloc(rows * site.h * site.w, sizeof *maps);
	/* The header goes out once the first batch is known to suit the
	 * model (a refused input writes nothing), or at the end of an empty
	 * input. */
	for (;;) {
		n = feat_reader_fill(&r, &e);
		if (n > 0)
			pass_forward(&m, &p, r.x, (size_t)n);
		for (long i = 0; i < n; i++) {
			const struct feat_row *row = &r.rows[i];

			labels[i] = row->has_label ?
				model_class_index(&m, row->label, row->label_len) : -1;
			cls[i] = explained_class(&o, &m, &p, row, (size_t)i, named, labels[i]);
		}
		if (n >= 0 && !header++)
			maps_header_write(&wr, m.provenance.set ? &m.provenance.obj : &obj_nil,
					  layer, m.classes, m.nclass, o.explained);
		if (n <= 0)
			break;
		if (cam_maps(&m, &p, &site, r.x, (size_t)n, cls, maps, &e))
			cli_die(CLI_EXIT_DATA, "%s", e.msg);
		for (long i = 0; i < n; i++) {
			const struct feat_row *row = &r.rows[i];
			const float *prob = p.act[m.nlayers - 1] + (size_t)i * m.nclass;
			uint32_t best = pass_row_argmax(&m, &p, (size_t)i);

			maps_record_write(&wr, &(struct maps_record){
				.id = row->id, .id_len = row->id_len,
				.label = row->has_label ? row->label : NULL,
				.label_len = row->label_len, .copy = row->copy,
				.explained = m.classes[cls[i]],
				.explained_probability = prob[cls[i]],
				.predicted = m.classes[best], .probability = prob[best],
				.loss = labels[i] >= 0 ? pass_row_xent(&m, &p, r.x, (size_t)i,
								       (uint32_t)labels[i]) : NAN,
				.h = site.h, .w = site.w,
				.map = maps + (size_t)i * site.h * site.w });
		}
		done += (uint64_t)n;
		if (progress)
			cli_progress("records", done, 0, 0);
		/* A short batch means the input paused: its maps go out now. */
		if (outfile_check(&out, 1, &e)) {
			outfile_abort(&out);
			cli_die(CLI_EXIT_DATA, "%s", e.msg);
		}
	}
	if (n < 0) {
		outfile_abort(&out);
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	}
	if (progress)
		cli_progress("records", done, 0, 1);
	writer_trailer(&wr);
	if (writer_finish(&wr, &e) || outfile_commit(&out, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	free(cls);
	free(labels);
	free(maps);
	feat_reader_close(&r);
	pass_free(&p, &m);
	model_free(&m);
	return CLI_EXIT_OK;
}
