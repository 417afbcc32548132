/* Unit tests of the stream library: framing limits, segments, trailers,
 * header agreement, tensors, atomic output. */
#include <errno.h>
#include <fcntl.h>
#include <msgpack/fbuffer.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "feat.h"
#include "images.h"
#include "msgin.h"
#include "names.h"
#include "outfile.h"
#include "scratch.h"
#include "stream.h"
#include "tap.h"
#include "writer.h"

static char tmpdir[] = "/tmp/vp-unit.XXXXXX";

static void features_header_to(struct writer *w, const char *weights)
{
	writer_header(w, "features", 1);
	emit_key(&w->emit, "provenance");
	emit_map(&w->emit, 2);
	emit_key(&w->emit, "backbone");
	emit_str(&w->emit, "vgg16");
	emit_key(&w->emit, "weights");
	emit_str(&w->emit, weights);
	emit_end(&w->emit);
	emit_end(&w->emit);
}

static void features_header(struct buf *b, const char *weights)
{
	features_header_to(&b->w, weights);
}

static void features_record(struct buf *b, const char *id, const char *label,
			    const float *v, uint32_t n)
{
	writer_tensor_record(&b->w, id, strlen(id), label, label ? strlen(label) : 0, -1,
			     "features", TENSOR_F32, 1, &n, v);
}

static char *write_file(const char *p, size_t n)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof path, "%s/stream", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, p, n) != (ssize_t)n) {
		perror(path);
		exit(2);
	}
	close(fd);
	return path;
}

/* The kinds a reader of kind accepts: NULL accepts any. */
static const struct stream_kind *const *kinds_named(const char *kind)
{
	static const struct stream_kind *const images[] = { &images_kind, NULL };
	static const struct stream_kind *const features[] = { &feat_kind, NULL };
	static const struct stream_kind *const any[] = { &stream_kind_other, NULL };

	if (!kind)
		return any;
	return !strcmp(kind, "images") ? images : features;
}

/* Read every record; returns the number read, or -1 with the message. */
static long read_all(const char *p, size_t n, const char *kind, struct err *e)
{
	struct stream s;
	msgpack_object obj;
	struct stream_record r;
	long count = 0;
	int rc;

	e->msg[0] = 0;
	if (stream_open(&s, write_file(p, n), kinds_named(kind), NULL, e))
		return -1;
	while ((rc = stream_record(&s, &obj, e)) > 0) {
		if (stream_record_parse(&s, &obj, &r, e)) {
			rc = -1;
			break;
		}
		count++;
	}
	stream_close(&s);
	return rc < 0 ? -1 : count;
}

static void test_round_trip(void)
{
	static const float v[3] = { 1.5f, -2.0f, 3.25f };
	struct stream s;
	struct err e;
	struct stream_record r;
	msgpack_object obj;
	struct buf b;
	float got[3];
	const char bad_utf8[] = "caf\xe9.jpg";

	buf_open(&b);
	features_header(&b, "sha256:aa");
	features_record(&b, "a, \"quoted\" name.jpg", "cat", v, 3);
	features_record(&b, bad_utf8, NULL, v, 3);
	writer_trailer(&b.w);
	buf_close(&b);

	ok(stream_open(&s, write_file(b.p, b.n), kinds_named("features"), NULL, &e) == 0, "open");
	ok(stream_event(&s, &obj, &e) == STREAM_HEADER, "header first");
	ok(stream_event(&s, &obj, &e) == STREAM_RECORD, "then a record");
	ok(stream_record_parse(&s, &obj, &r, &e) == 0, "record parses");
	ok(r.id_len == 20 && !memcmp(r.id, "a, \"quoted\" name.jpg", 20), "id round trip");
	ok(r.label && names_eq(r.label, r.label_len, "cat"), "label round trip");
	tensor_to_f32(&r.tensor, got);
	ok(r.tensor.rank == 1 && r.tensor.shape[0] == 3 && !memcmp(got, v, sizeof v),
	   "f32 tensor round trip");
	ok(stream_event(&s, &obj, &e) == STREAM_RECORD, "second record");
	ok(stream_record_parse(&s, &obj, &r, &e) == 0 && r.label == NULL, "no label");
	ok(obj_get(&obj, "id")->type == MSGPACK_OBJECT_BIN &&
	   r.id_len == strlen(bad_utf8) && !memcmp(r.id, bad_utf8, r.id_len),
	   "a non-UTF-8 id is written as bin and read back byte for byte");
	ok(stream_event(&s, &obj, &e) == STREAM_TRAILER, "trailer");
	ok(stream_event(&s, &obj, &e) == STREAM_END, "clean end");
	stream_close(&s);
	free(b.p);
}

/* A one-image stream of the given shape. */
static void image_stream(struct buf *b, const uint32_t *shape, const unsigned char *px)
{
	buf_open(b);
	writer_header(&b->w, "images", 0);
	emit_end(&b->w.emit);
	writer_tensor_record(&b->w, "x.png", 5, NULL, 0, -1, "image", TENSOR_U8, 3, shape, px);
	writer_trailer(&b->w);
	buf_close(b);
}

static void test_u8_images(void)
{
	static const unsigned char px[2 * 2 * 3] = { 0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255 };
	static const unsigned char px4[2 * 2 * 4] = { 0 };
	static const uint32_t shape[3] = { 2, 2, 3 }, bad_shape[3] = { 2, 2, 4 };
	struct err e;
	struct buf b;

	image_stream(&b, shape, px);
	ok(read_all(b.p, b.n, "images", &e) == 1, "u8 image record reads");
	ok(read_all(b.p, b.n, "features", &e) < 0, "an image stream is not a feature stream");
	ok_contains(e.msg, "kind 'images'; expected 'features'", "wrong kind is named");
	free(b.p);

	image_stream(&b, bad_shape, px4);
	ok(read_all(b.p, b.n, "images", &e) < 0, "an image of 4 channels is refused");
	ok_contains(e.msg, "record 1: tensor 'image': shape must be [height, width, 3]",
		    "and says so, naming the record");
	free(b.p);
}

static void test_truncation_everywhere(void)
{
	static const float v[4] = { 1, 2, 3, 4 };
	struct err e;
	struct buf b;
	int bad = 0;

	buf_open(&b);
	features_header(&b, "sha256:aa");
	features_record(&b, "one", "a", v, 4);
	features_record(&b, "two", "b", v, 4);
	writer_trailer(&b.w);
	buf_close(&b);
	for (size_t cut = 0; cut < b.n; cut++) {
		if (read_all(b.p, cut, "features", &e) >= 0) {
			printf("#   a stream cut at byte %zu of %zu was accepted\n", cut, b.n);
			bad++;
		}
	}
	ok(bad == 0, "a stream cut at any of its %zu byte offsets is an error", b.n);
	ok(read_all(b.p, b.n, "features", &e) == 2, "the whole stream reads");
	/* Cut right after the second record: no trailer ({"end": 2} is 6
	 * bytes). */
	read_all(b.p, b.n - 6, "features", &e);
	ok_contains(e.msg, "ends after record 2 without a trailer", "a missing trailer names the last record");
	read_all(b.p, b.n - 20, "features", &e);
	ok_contains(e.msg, "truncated after record 1", "a cut inside a record names the last whole one");
	read_all(b.p, 0, "features", &e);
	ok_contains(e.msg, "empty input", "empty input is an error");
	free(b.p);
}

static void test_concatenation(void)
{
	static const float v[2] = { 1, 2 };
	struct err e;
	struct buf b;

	buf_open(&b);
	features_header(&b, "sha256:aa");
	features_record(&b, "one", "a", v, 2);
	writer_trailer(&b.w);
	features_header(&b, "sha256:aa");
	features_record(&b, "two", "b", v, 2);
	features_record(&b, "three", "b", v, 2);
	writer_trailer(&b.w);
	features_header(&b, "sha256:aa");
	writer_trailer(&b.w);
	buf_close(&b);
	ok(read_all(b.p, b.n, "features", &e) == 3, "three segments read as one stream");
	free(b.p);

	buf_open(&b);
	features_header(&b, "sha256:aa");
	features_record(&b, "one", "a", v, 2);
	writer_trailer(&b.w);
	features_header(&b, "sha256:bb");
	features_record(&b, "two", "b", v, 2);
	writer_trailer(&b.w);
	buf_close(&b);
	ok(read_all(b.p, b.n, "features", &e) < 0, "segments of different provenance are refused");
	ok_contains(e.msg, "provenance.weights: \"sha256:bb\" here, \"sha256:aa\" before",
		    "the message says what differs");
	free(b.p);

	/* A header where a trailer should be: a writer killed mid-segment
	 * followed by another's output. */
	buf_open(&b);
	features_header(&b, "sha256:aa");
	features_record(&b, "one", "a", v, 2);
	features_header(&b, "sha256:aa");
	writer_trailer(&b.w);
	buf_close(&b);
	ok(read_all(b.p, b.n, "features", &e) < 0, "a segment without its trailer inside a stream fails");
	ok_contains(e.msg, "cut short", "and says the segment was cut short");
	free(b.p);

	/* Images: class lists may differ between shards, sizes may not. */
	buf_open(&b);
	for (int seg = 0; seg < 2; seg++) {
		writer_header(&b.w, "images", 2);
		emit_key(&b.w.emit, "size");
		emit_array(&b.w.emit, 2);
		emit_uint(&b.w.emit, 224);
		emit_uint(&b.w.emit, 224);
		emit_end(&b.w.emit);
		emit_key(&b.w.emit, "classes");
		emit_array(&b.w.emit, 1);
		emit_str(&b.w.emit, seg ? "dog" : "cat");
		emit_end(&b.w.emit);
		emit_end(&b.w.emit);
		writer_trailer(&b.w);
	}
	buf_close(&b);
	ok(read_all(b.p, b.n, "images", &e) == 0, "image shards with different class lists agree");
	free(b.p);
}

static void test_trailer_count(void)
{
	static const float v[2] = { 1, 2 };
	struct err e;
	struct buf b;

	buf_open(&b);
	features_header(&b, "sha256:aa");
	features_record(&b, "one", "a", v, 2);
	b.w.segment_records = 5;
	writer_trailer(&b.w);
	buf_close(&b);
	ok(read_all(b.p, b.n, "features", &e) < 0, "a trailer with the wrong count fails");
	ok_contains(e.msg, "counts 5 records but the segment holds 1", "naming both counts");
	free(b.p);

	/* Fewer than it holds: the records beyond a count are not a stream's. */
	buf_open(&b);
	features_header(&b, "sha256:aa");
	features_record(&b, "one", "a", v, 2);
	features_record(&b, "two", "a", v, 2);
	b.w.segment_records = 1;
	writer_trailer(&b.w);
	buf_close(&b);
	ok(read_all(b.p, b.n, "features", &e) < 0, "a trailer counting too few records fails");
	ok_contains(e.msg, "counts 1 records but the segment holds 2", "naming both counts");
	free(b.p);
}

/* Records written by hand: wrong types, missing keys, bad tensors. */
static void expect_record_error(const char *what, void (*pack_record)(msgpack_packer *),
				const char *phrase)
{
	struct err e;
	struct buf b;

	buf_open(&b);
	features_header(&b, "sha256:aa");
	/* Written past the writer, which would not let a record miscount. */
	b.w.segment_records++;
	pack_record(&b.w.emit.pk);
	writer_trailer(&b.w);
	buf_close(&b);
	ok(read_all(b.p, b.n, "features", &e) < 0, "%s is refused", what);
	ok_contains(e.msg, phrase, "%s: message names it", what);
	free(b.p);
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

static void tensor_head(msgpack_packer *pk, const char *dtype, int rank, const int64_t *dims)
{
	msgpack_pack_map(pk, 2);
	pack_cstr(pk, "id");
	pack_cstr(pk, "r");
	pack_cstr(pk, "features");
	msgpack_pack_map(pk, 3);
	pack_cstr(pk, "dtype");
	pack_cstr(pk, dtype);
	pack_cstr(pk, "shape");
	msgpack_pack_array(pk, (size_t)rank);
	for (int i = 0; i < rank; i++)
		msgpack_pack_int64(pk, dims[i]);
	pack_cstr(pk, "data");
}

static void rec_no_id(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 1);
	pack_cstr(pk, "label");
	pack_cstr(pk, "x");
}

static void rec_id_int(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 1);
	pack_cstr(pk, "id");
	msgpack_pack_int(pk, 7);
}

static void rec_wrong_dtype(msgpack_packer *pk)
{
	static const int64_t d[1] = { 4 };

	tensor_head(pk, "u8", 1, d);
	msgpack_pack_bin(pk, 4);
	msgpack_pack_bin_body(pk, "abcd", 4);
}

static void rec_unknown_dtype(msgpack_packer *pk)
{
	static const int64_t d[1] = { 1 };

	tensor_head(pk, "f16", 1, d);
	msgpack_pack_bin(pk, 2);
	msgpack_pack_bin_body(pk, "ab", 2);
}

static void rec_negative_dim(msgpack_packer *pk)
{
	static const int64_t d[2] = { 2, -1 };

	tensor_head(pk, "f32", 2, d);
	msgpack_pack_bin(pk, 0);
}

static void rec_zero_dim(msgpack_packer *pk)
{
	static const int64_t d[2] = { 0, 4 };

	tensor_head(pk, "f32", 2, d);
	msgpack_pack_bin(pk, 0);
}

static void rec_huge_dims(msgpack_packer *pk)
{
	static const int64_t d[4] = { 1 << 20, 1 << 20, 1 << 20, 1 << 20 };

	tensor_head(pk, "f32", 4, d);
	msgpack_pack_bin(pk, 4);
	msgpack_pack_bin_body(pk, "abcd", 4);
}

static void rec_short_data(msgpack_packer *pk)
{
	static const int64_t d[2] = { 2, 2 };

	tensor_head(pk, "f32", 2, d);
	msgpack_pack_bin(pk, 12);
	msgpack_pack_bin_body(pk, "abcdefghijkl", 12);
}

static void rec_tensor_not_map(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 2);
	pack_cstr(pk, "id");
	pack_cstr(pk, "r");
	pack_cstr(pk, "features");
	msgpack_pack_array(pk, 0);
}

static void test_bad_records(void)
{
	expect_record_error("a record without id", rec_no_id, "record 1: missing key 'id'");
	expect_record_error("an integer id", rec_id_int, "key 'id': expected a string, found an integer");
	expect_record_error("u8 features", rec_wrong_dtype, "dtype u8, expected f32");
	expect_record_error("an unknown dtype", rec_unknown_dtype, "dtype 'f16' is not supported");
	expect_record_error("a negative dimension", rec_negative_dim, "dimension 1 is negative");
	expect_record_error("a zero dimension", rec_zero_dim, "dimension 0 is 0");
	expect_record_error("enormous dimensions", rec_huge_dims, "shape overflows");
	expect_record_error("short data", rec_short_data, "data has 12 bytes");
	expect_record_error("a tensor that is not a map", rec_tensor_not_map,
			    "key 'features': expected a tensor map, found an array");
}

static void test_scanner_limits(void)
{
	struct msgin_limits lim;
	struct err e;
	size_t len, need;
	static const unsigned char huge_array[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
	static const unsigned char big_array[] = { 0xdd, 0x04, 0x00, 0x00, 0x00 };
	static const unsigned char huge_bin[] = { 0xc6, 0xff, 0xff, 0xff, 0xff };
	static const unsigned char huge_map[] = { 0xdf, 0x10, 0x00, 0x00, 0x00 };
	static const unsigned char never[] = { 0xc1 };
	unsigned char deep[64];

	msgin_limits_default(&lim);
	ok(msgin_scan(huge_array, sizeof huge_array, &lim, &len, &need, &e) < 0,
	   "dd ff ff ff ff is refused before any allocation");
	ok_contains(e.msg, "limit of 4194304 elements", "naming the limit");
	ok(msgin_scan(big_array, sizeof big_array, &lim, &len, &need, &e) < 0,
	   "dd 04 00 00 00 (64 Mi elements, 1.5 GB for msgpack-c) is refused");
	ok(msgin_scan(huge_map, sizeof huge_map, &lim, &len, &need, &e) < 0,
	   "a map of 256 Mi pairs is refused");
	ok(msgin_scan(huge_bin, sizeof huge_bin, &lim, &len, &need, &e) < 0,
	   "a 4 GiB bin claim is refused");
	ok_contains(e.msg, "exceeds the object size limit", "naming the size limit");
	ok(msgin_scan(never, 1, &lim, &len, &need, &e) < 0, "0xc1 is refused");
	memset(deep, 0x91, sizeof deep); /* arrays of one array ... */
	ok(msgin_scan(deep, sizeof deep, &lim, &len, &need, &e) < 0 &&
	   strstr(e.msg, "nesting"), "deep nesting is refused");
	lim.max_object_bytes = 100;
	ok(msgin_scan(big_array, sizeof big_array, &lim, &len, &need, &e) < 0,
	   "an array longer than the object size limit is refused");
	ok(msgin_scan((const unsigned char *)"\x92\x01", 2, &lim, &len, &need, &e) == 0 &&
	   need == 3, "an incomplete array asks for one more byte");
	ok(msgin_scan((const unsigned char *)"\xc4\x10", 2, &lim, &len, &need, &e) == 0 &&
	   need == 18, "an incomplete bin asks for its whole payload");
	ok(msgin_scan((const unsigned char *)"\x92\x01\x02\x03", 4, &lim, &len, &need, &e) == 1 &&
	   len == 3, "a complete array is measured");
}

static void test_not_a_stream(void)
{
	struct err e;

	ok(read_all("\x81\xa1x\x01", 4, NULL, &e) < 0, "a map without 'vggpipe' is not a stream");
	ok_contains(e.msg, "not a vggpipe stream", "and is said to be");
	ok(read_all("\x92\x01\x02", 3, NULL, &e) < 0, "an array at the top is refused");
	ok_contains(e.msg, "expected a map, found an array", "naming the type");
	ok(read_all("\x82\xa7vggpipe\x02\xa4kind\xa1x", 17, NULL, &e) < 0, "version 2 is refused");
	ok_contains(e.msg, "stream version 2 is not supported", "naming the version");
}

static void test_outfile(void)
{
	char target[96], content[32];
	struct outfile o;
	struct err e;
	struct stat st;
	FILE *f;

	snprintf(target, sizeof target, "%s/out.feat", tmpdir);
	f = fopen(target, "w");
	fputs("previous", f);
	fclose(f);

	ok(outfile_open(&o, target, &e) == 0, "open a target that exists");
	fputs("half", o.f);
	fflush(o.f);
	f = fopen(target, "r");
	content[fread(content, 1, sizeof content - 1, f)] = 0;
	fclose(f);
	ok(!strcmp(content, "previous"), "the target is untouched while writing");
	outfile_abort(&o);
	f = fopen(target, "r");
	content[fread(content, 1, sizeof content - 1, f)] = 0;
	fclose(f);
	ok(!strcmp(content, "previous"), "an aborted write leaves the previous file");

	ok(outfile_open(&o, target, &e) == 0, "open again");
	fputs("new content", o.f);
	ok(outfile_commit(&o, &e) == 0, "commit");
	f = fopen(target, "r");
	content[fread(content, 1, sizeof content - 1, f)] = 0;
	fclose(f);
	ok(!strcmp(content, "new content"), "the committed file replaces the target");
	ok(stat(target, &st) == 0 && S_ISREG(st.st_mode), "and is a regular file");

	ok(outfile_open(&o, "/dev/full", &e) == 0, "a device is written directly");
	fputs("x", o.f);
	ok(outfile_commit(&o, &e) < 0, "a full device fails the commit");
	ok_contains(e.msg, "/dev/full: write error: No space left on device", "with the reason");

	snprintf(target, sizeof target, "%s/no/such/dir/x", tmpdir);
	ok(outfile_open(&o, target, &e) < 0, "a target in a missing directory fails at open");
	ok_contains(e.msg, "No such file or directory", "with the reason");
}

/* A stream for an independent reader (tests/stream.t reads it with
 * Python's msgpack): every type the contract uses, as a features or an
 * images stream. */
static int write_sample(const char *kind)
{
	static const float f[6] = { 0.5f, -1.25f, 3e-8f, 65504.0f, -0.0f, 7.0f };
	static const unsigned char px[1 * 2 * 3] = { 0, 127, 255, 1, 2, 3 };
	static const uint32_t fshape[3] = { 1, 2, 3 }, ishape[3] = { 1, 2, 3 };
	struct writer w;
	const char bad_utf8[] = "dir/caf\xe9 \"x\",y.jpg", *utf8 = "d\xc3\xa9j\xc3\xa0 vu.png";

	writer_init(&w, stdout);
	if (!strcmp(kind, "images")) {
		writer_header(&w, "images", 0);
		emit_end(&w.emit);
		writer_tensor_record(&w, "i", 1, NULL, 0, -1, "image", TENSOR_U8, 3, ishape, px);
		writer_trailer(&w);
		return fflush(stdout) != 0;
	}
	features_header_to(&w, "sha256:aa");
	writer_tensor_record(&w, utf8, strlen(utf8), "chat", 4, -1, "features", TENSOR_F32, 3,
			     fshape, f);
	writer_tensor_record(&w, bad_utf8, strlen(bad_utf8), NULL, 0, -1, "features",
			     TENSOR_F32, 3, fshape, f);
	writer_trailer(&w);
	return writer_finish(&w, &(struct err){ 0 }) || fflush(stdout) != 0;
}

int main(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[1], "--write-sample"))
		return write_sample(argv[2]);
	scratch_dir(tmpdir);
	test_round_trip();
	test_u8_images();
	test_truncation_everywhere();
	test_concatenation();
	test_trailer_count();
	test_bad_records();
	test_scanner_limits();
	test_not_a_stream();
	test_outfile();
	{
		char cmd[128];

		snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			return 2;
	}
	return tap_done();
}
