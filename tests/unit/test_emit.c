/* Unit tests of the emitter: the same calls give JSON and msgpack that say
 * the same thing, and a map or array that holds other than its declared
 * size is reported in both encodings, which is how a miscount that JSON
 * alone would hide is caught. */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "tap.h"

/* A small report written through the emitter into a memory buffer; extra
 * adds one key-value pair more than the map declares, open leaves the
 * array unclosed. */
static int write_report(int json, int extra, int open, char **buf, size_t *len,
			struct err *e)
{
	FILE *f = open_memstream(buf, len);
	static const uint32_t shape[1] = { 2 };
	static const float data[2] = { 0.5f, -1.0f };
	struct emit t;
	int rc;

	emit_init(&t, f, json);
	emit_map(&t, json ? 3 : 4);
	emit_key(&t, "name");
	emit_bytes(&t, "caf\xc3\xa9", 5);
	emit_key(&t, "scores");
	emit_array(&t, 2);
	emit_double(&t, 0.25);
	emit_uint(&t, 7);
	if (!open)
		emit_end(&t);
	emit_key(&t, "ok");
	emit_bool(&t, 1);
	if (!json) {
		emit_key(&t, "t");
		emit_tensor(&t, TENSOR_F32, 1, shape, data);
	}
	if (extra) {
		emit_key(&t, "extra");
		emit_float(&t, 1.5f);
	}
	if (open)
		emit_end(&t);
	emit_end(&t);
	rc = emit_finish(&t, e);
	fclose(f);
	return rc;
}

int main(void)
{
	struct err e;
	char *buf;
	size_t len, off = 0;
	msgpack_zone zone;
	msgpack_object obj;

	ok(write_report(1, 0, 0, &buf, &len, &e) == 0, "JSON: a report as declared is accepted");
	ok(!strcmp(buf, "{\"name\":\"caf\xc3\xa9\",\"scores\":[0.25,7],\"ok\":true}"),
	   "JSON: the text is right");
	free(buf);
	ok(write_report(0, 0, 0, &buf, &len, &e) == 0, "msgpack: a report as declared is accepted");
	msgpack_zone_init(&zone, 1024);
	ok(msgpack_unpack(buf, len, &off, &zone, &obj) == MSGPACK_UNPACK_SUCCESS && off == len &&
	   obj.type == MSGPACK_OBJECT_MAP && obj.via.map.size == 4 &&
	   obj.via.map.ptr[1].val.via.array.size == 2 &&
	   obj.via.map.ptr[1].val.via.array.ptr[1].via.u64 == 7,
	   "msgpack: one map of four keys, the array inside it whole");
	msgpack_zone_destroy(&zone);
	free(buf);

	ok(write_report(1, 1, 0, &buf, &len, &e) == -1 && strstr(e.msg, "more items than declared"),
	   "JSON: a map holding more than declared is reported");
	free(buf);
	ok(write_report(0, 1, 0, &buf, &len, &e) == -1 && strstr(e.msg, "more items than declared"),
	   "msgpack: the same mistake is reported too");
	free(buf);
	ok(write_report(1, 0, 1, &buf, &len, &e) == -1 && strstr(e.msg, "miscounted"),
	   "an array closed late, holding the map's items, is reported");
	free(buf);
	for (int json = 0; json < 2; json++) {
		struct emit t;
		FILE *f = open_memstream(&buf, &len);

		emit_init(&t, f, json);
		emit_map(&t, 2);
		emit_key(&t, "only");
		emit_uint(&t, 1);
		emit_end(&t);
		ok(emit_finish(&t, &e) == -1 &&
		   strstr(e.msg, "a map declared with 4 items holds 2"),
		   "%s: a map holding fewer than declared is reported", json ? "JSON" : "msgpack");
		fclose(f);
		free(buf);
	}
	return tap_done();
}
