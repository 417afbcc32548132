#include "writer.h"

#include "stream.h"

void writer_init(struct writer *w, FILE *f)
{
	emit_init(&w->emit, f, 0);
	w->segment_records = 0;
}

void writer_header(struct writer *w, const char *kind, uint32_t extra_pairs)
{
	emit_map(&w->emit, 2 + extra_pairs);
	emit_key(&w->emit, "vggpipe");
	emit_uint(&w->emit, STREAM_VERSION);
	emit_key(&w->emit, "kind");
	emit_str(&w->emit, kind);
	w->segment_records = 0;
}

void writer_record_begin(struct writer *w, const char *id, size_t id_len,
			 const char *label, size_t label_len, int64_t copy, uint32_t pairs)
{
	struct emit *t = &w->emit;

	emit_map(t, 1 + (label != NULL) + (copy >= 0) + pairs);
	w->segment_records++;
	w->copy = copy;
	emit_key(t, "id");
	emit_bytes(t, id, id_len);
	if (label) {
		emit_key(t, "label");
		emit_bytes(t, label, label_len);
	}
}

void writer_record_end(struct writer *w)
{
	if (w->copy >= 0) {
		emit_key(&w->emit, "copy");
		emit_uint(&w->emit, (uint64_t)w->copy);
	}
	emit_end(&w->emit);
}

void writer_tensor_record(struct writer *w, const char *id, size_t id_len,
			  const char *label, size_t label_len, int64_t copy,
			  const char *tensor_key, enum tensor_dtype dtype, int rank,
			  const uint32_t *shape, const void *data)
{
	writer_record_begin(w, id, id_len, label, label_len, copy, 1);
	emit_key(&w->emit, tensor_key);
	emit_tensor(&w->emit, dtype, rank, shape, data);
	writer_record_end(w);
}

void writer_trailer(struct writer *w)
{
	emit_map(&w->emit, 1);
	emit_key(&w->emit, "end");
	emit_uint(&w->emit, w->segment_records);
	emit_end(&w->emit);
}

int writer_finish(struct writer *w, struct err *e)
{
	return emit_finish(&w->emit, e);
}
