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
#include "emit.h"
#include "err.h"
#include "feat.h"
#include "images.h"
#include "maps.h"
#include "outfile.h"
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
	       "Print vggpipe streams (images, features, maps, models) as JSON lines.\n"
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
	cli_close_stdout();
	exit(0);
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		CLI_LONGOPTS_BASIC,
		{ "data", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_common com;
	int c;

	memset(o, 0, sizeof *o);
	cli_common_init(&com);
	while ((c = cli_getopt(argc, argv, "do:hV", longopts)) != -1) {
		if (cli_common_option(c, optarg, &com, usage))
			continue;
		if (c != 'd')
			cli_usage_try();
		o->full_data = 1;
	}
	o->output = com.output;
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
}

/* Floats of a stream are f32: 9 digits give them back exactly. */
#define F32_DIGITS 9

static void tensor_summary(struct emit *t, const struct tensor *ts, int full)
{
	double min = INFINITY, max = -INFINITY, sum = 0;
	size_t nonfinite = 0, finite = 0;
	float *v = cli_xcalloc(ts->count ? ts->count : 1, sizeof *v);

	tensor_to_f32(ts, v);
	for (size_t i = 0; i < ts->count; i++) {
		if (!isfinite(v[i])) {
			nonfinite++;
			continue;
		}
		finite++;
		sum += v[i];
		min = v[i] < min ? v[i] : min;
		max = v[i] > max ? v[i] : max;
	}
	emit_map(t, 2 + (finite ? 3 : 0) + (nonfinite > 0) + (full != 0));
	emit_key(t, "shape");
	emit_uint_array(t, (uint32_t)ts->rank, ts->shape);
	emit_key(t, "dtype");
	emit_str(t, tensor_dtype_name(ts->dtype));
	if (finite) {
		emit_key(t, "min");
		emit_real(t, min, F32_DIGITS);
		emit_key(t, "max");
		emit_real(t, max, F32_DIGITS);
		emit_key(t, "mean");
		emit_real(t, sum / (double)finite, F32_DIGITS);
	}
	if (nonfinite) {
		emit_key(t, "nonfinite");
		emit_uint(t, nonfinite);
	}
	if (full) {
		emit_key(t, "data");
		emit_array(t, (uint32_t)ts->count);
		for (size_t i = 0; i < ts->count; i++)
			if (ts->dtype == TENSOR_U8)
				emit_uint(t, (uint64_t)v[i]);
			else
				emit_real(t, v[i], F32_DIGITS);
		emit_end(t);
	}
	emit_end(t);
	free(v);
}

static void value(struct emit *t, const msgpack_object *o, int full)
{
	struct tensor ts;
	struct err e;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL: emit_real(t, NAN, F32_DIGITS); break;
	case MSGPACK_OBJECT_BOOLEAN: emit_bool(t, o->via.boolean); break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER: emit_uint(t, o->via.u64); break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: emit_int(t, o->via.i64); break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: emit_real(t, o->via.f64, F32_DIGITS); break;
	case MSGPACK_OBJECT_STR: emit_bytes(t, o->via.str.ptr, o->via.str.size); break;
	case MSGPACK_OBJECT_BIN: emit_bytes(t, o->via.bin.ptr, o->via.bin.size); break;
	case MSGPACK_OBJECT_ARRAY:
		emit_array(t, o->via.array.size);
		for (uint32_t i = 0; i < o->via.array.size; i++)
			value(t, &o->via.array.ptr[i], full);
		emit_end(t);
		break;
	case MSGPACK_OBJECT_MAP:
		/* A map that is a well-formed tensor is summarised. */
		if (obj_get(o, "dtype") && obj_get(o, "data") && !tensor_parse(o, "t", &ts, &e)) {
			tensor_summary(t, &ts, full);
			break;
		}
		emit_map(t, o->via.map.size);
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;

			if (k->type == MSGPACK_OBJECT_STR || k->type == MSGPACK_OBJECT_BIN) {
				value(t, k, full);
			} else {
				/* JSON keys are strings: quote the value's text. */
				char text[128];

				obj_brief(k, text, sizeof text);
				emit_str(t, text);
			}
			value(t, &o->via.map.ptr[i].val, full);
		}
		emit_end(t);
		break;
	default:
		emit_real(t, NAN, F32_DIGITS);
	}
}

static int dump(const char *path, struct emit *out, int full)
{
	static const char *const names[] = {
		[STREAM_HEADER] = "header", [STREAM_RECORD] = "record",
		[STREAM_TRAILER] = "trailer",
	};
	/* Known kinds are checked for agreement between segments. */
	static const struct stream_kind *const every_kind[] = {
		&images_kind, &feat_kind, &maps_kind, &stream_kind_other, NULL,
	};
	struct stream s;
	struct err e;
	msgpack_object obj;
	enum stream_event ev;

	if (stream_open(&s, path, every_kind, NULL, &e)) {
		cli_warn("%s", e.msg);
		return 1;
	}
	while ((ev = stream_event(&s, &obj, &e)) > 0) {
		emit_map(out, 1);
		emit_key(out, names[ev]);
		value(out, &obj, full);
		emit_end(out);
		fputc('\n', out->f);
	}
	if (ev == STREAM_ERROR)
		cli_warn("%s", e.msg);
	stream_close(&s);
	return ev == STREAM_ERROR;
}

int main(int argc, char **argv)
{
	struct options o;
	struct outfile out;
	struct emit em;
	struct err e;
	int failed = 0;

	parse_options(argc, argv, &o);
	if (outfile_open(&out, o.output, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	emit_init(&em, out.f, 1);
	if (o.ninputs == 0)
		failed = dump("-", &em, o.full_data);
	for (int i = 0; i < o.ninputs; i++)
		failed |= dump(o.inputs[i], &em, o.full_data);
	/* A file named by -o is replaced only by a complete dump. */
	if (failed && o.output) {
		outfile_abort(&out);
		return CLI_EXIT_DATA;
	}
	if (emit_finish(&em, &e) || outfile_commit(&out, &e))
		cli_die(CLI_EXIT_DATA, "%s", e.msg);
	return failed ? CLI_EXIT_DATA : CLI_EXIT_OK;
}
