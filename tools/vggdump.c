/* vggdump: print any vggpipe stream as JSON lines, one line per header,
 * record and trailer, so that people and jq can read every stage. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "json.h"
#include "outfile.h"
#include "pack.h"
#include "stream.h"

struct options {
	int full_data;
	const char *output;
	char **inputs;
	int ninputs;
};

_Noreturn static void usage(void)
{
	printf("Usage: %s [OPTION]... [FILE]...\n"
	       "Print vggpipe streams (images, features, models) as JSON lines.\n"
	       "With no FILE, or when FILE is -, read standard input.\n"
	       "\n"
	       "  -d, --data        print tensors' full data, not a summary\n"
	       "  -o, --output FILE write to FILE (atomically) instead of stdout\n"
	       "  -h, --help        show this help and exit\n"
	       "  -V, --version     show the version and exit\n"
	       "\n"
	       "Each line is {\"header\": {...}}, {\"record\": {...}} or {\"trailer\": {...}}.\n"
	       "Tensors are summarised as shape, dtype, min, max, mean (and the number of\n"
	       "non-finite values) unless --data is given. Strings that are not UTF-8 are\n"
	       "printed with each invalid byte as \\udcXX.\n"
	       "Exit status: 0 success, 1 a bad stream, 2 a usage error.\n",
	       program_invocation_short_name);
	vp_close_stdout();
	exit(0);
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		VP_LONGOPTS_BASIC,
		{ "data", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct vp_common com;
	int c;

	memset(o, 0, sizeof *o);
	vp_common_init(&com);
	while ((c = vp_getopt(argc, argv, "do:hV", longopts)) != -1) {
		if (vp_common_option(c, optarg, &com, usage))
			continue;
		if (c != 'd')
			vp_usage_try();
		o->full_data = 1;
	}
	o->output = com.output;
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
}

/* Floats of a stream are f32: 9 digits give them back exactly. */
static void json_double(FILE *f, double v)
{
	vp_json_number(f, v, 9);
}

static void json_tensor(FILE *f, const struct vp_tensor *t, int full)
{
	double min = INFINITY, max = -INFINITY, sum = 0;
	size_t nonfinite = 0, finite = 0;
	float *v = malloc((t->count ? t->count : 1) * sizeof *v);

	if (!v)
		vp_die(VP_EXIT_DATA, "out of memory");
	vp_tensor_to_f32(t, v);
	fputs("{\"shape\":[", f);
	for (int i = 0; i < t->rank; i++)
		fprintf(f, "%s%" PRIu32, i ? "," : "", t->shape[i]);
	fprintf(f, "],\"dtype\":\"%s\"", vp_dtype_name(t->dtype));
	for (size_t i = 0; i < t->count; i++) {
		if (!isfinite(v[i])) {
			nonfinite++;
			continue;
		}
		finite++;
		sum += v[i];
		min = v[i] < min ? v[i] : min;
		max = v[i] > max ? v[i] : max;
	}
	if (finite) {
		fputs(",\"min\":", f);
		json_double(f, min);
		fputs(",\"max\":", f);
		json_double(f, max);
		fputs(",\"mean\":", f);
		json_double(f, sum / (double)finite);
	}
	if (nonfinite)
		fprintf(f, ",\"nonfinite\":%zu", nonfinite);
	if (full) {
		fputs(",\"data\":[", f);
		for (size_t i = 0; i < t->count; i++) {
			if (i)
				fputc(',', f);
			if (t->dtype == VP_U8)
				fprintf(f, "%u", (unsigned)v[i]);
			else
				json_double(f, v[i]);
		}
		fputc(']', f);
	}
	fputc('}', f);
	free(v);
}

static void json_value(FILE *f, const msgpack_object *o, int full)
{
	struct vp_tensor t;
	struct vp_err e;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL: fputs("null", f); break;
	case MSGPACK_OBJECT_BOOLEAN: fputs(o->via.boolean ? "true" : "false", f); break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER: fprintf(f, "%" PRIu64, o->via.u64); break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: fprintf(f, "%" PRId64, o->via.i64); break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: json_double(f, o->via.f64); break;
	case MSGPACK_OBJECT_STR: vp_json_string(f, o->via.str.ptr, o->via.str.size); break;
	case MSGPACK_OBJECT_BIN: vp_json_string(f, o->via.bin.ptr, o->via.bin.size); break;
	case MSGPACK_OBJECT_ARRAY:
		fputc('[', f);
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			if (i)
				fputc(',', f);
			json_value(f, &o->via.array.ptr[i], full);
		}
		fputc(']', f);
		break;
	case MSGPACK_OBJECT_MAP: {
		/* A map that is a well-formed tensor is summarised. */
		msgpack_object wrap_key = { .type = MSGPACK_OBJECT_STR,
					    .via.str = { .size = 1, .ptr = "t" } };
		msgpack_object_kv kv = { .key = wrap_key, .val = *o };
		msgpack_object wrap = { .type = MSGPACK_OBJECT_MAP,
					.via.map = { .size = 1, .ptr = &kv } };

		if (vp_map_get(o, "dtype") && vp_map_get(o, "data") &&
		    vp_get_tensor(&wrap, "t", 1, &t, &e) == 0) {
			json_tensor(f, &t, full);
			break;
		}
		fputc('{', f);
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;

			if (i)
				fputc(',', f);
			if (k->type == MSGPACK_OBJECT_STR || k->type == MSGPACK_OBJECT_BIN) {
				json_value(f, k, full);
			} else {
				/* JSON keys are strings: quote the value's text. */
				char text[128];

				vp_obj_brief(k, text, sizeof text);
				vp_json_string(f, text, strlen(text));
			}
			fputc(':', f);
			json_value(f, &o->via.map.ptr[i].val, full);
		}
		fputc('}', f);
		break;
	}
	default:
		fputs("null", f);
	}
}

static int dump(const char *path, FILE *out, int full)
{
	static const char *const names[] = {
		[VP_EV_HEADER] = "header", [VP_EV_RECORD] = "record",
		[VP_EV_TRAILER] = "trailer",
	};
	struct vp_stream s;
	struct vp_err e;
	msgpack_object obj;
	enum vp_event ev;

	if (vp_stream_open(&s, path, NULL, NULL, &e)) {
		vp_warn("%s", e.msg);
		return 1;
	}
	while ((ev = vp_stream_event(&s, &obj, &e)) > 0) {
		fprintf(out, "{\"%s\":", names[ev]);
		json_value(out, &obj, full);
		fputs("}\n", out);
	}
	if (ev == VP_EV_ERROR)
		vp_warn("%s", e.msg);
	vp_stream_close(&s);
	return ev == VP_EV_ERROR;
}

int main(int argc, char **argv)
{
	struct options o;
	struct vp_out out;
	struct vp_err e;
	int failed = 0;

	parse_options(argc, argv, &o);
	if (vp_out_open(&out, o.output, &e))
		vp_die(VP_EXIT_DATA, "%s", e.msg);
	if (o.ninputs == 0)
		failed = dump("-", out.f, o.full_data);
	for (int i = 0; i < o.ninputs; i++)
		failed |= dump(o.inputs[i], out.f, o.full_data);
	/* A file named by -o is replaced only by a complete dump. */
	if (failed && o.output) {
		vp_out_abort(&out);
		return VP_EXIT_DATA;
	}
	if (vp_out_commit(&out, &e))
		vp_die(VP_EXIT_DATA, "%s", e.msg);
	return failed ? VP_EXIT_DATA : VP_EXIT_OK;
}
