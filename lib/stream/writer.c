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

/* Open a record map of pairs pairs, closed by the caller with emit_end. */
static void writer_record(struct writer *w, uint32_t pairs)
{
	emit_map(&w->emit, pairs);
	w->segment_records++;
}

void writer_tensor_record(struct writer *w, const char *id, size_t id_len,
			  const char *label, size_t label_len, int64_t copy,
			  const char *tensor_key, enum tensor_dtype dtype, int rank,
			  const uint32_t *shape, const void *data)
{
	struct emit *t = &w->emit;

	writer_record(w, 2 + (label != NULL) + (copy >= 0));
	emit_key(t, "id");
	emit_bytes(t, id, id_len);
	if (label) {
		emit_key(t, "label");
		emit_bytes(t, label, label_len);
	}
	emit_key(t, tensor_key);
	emit_tensor(t, dtype, rank, shape, data);
	if (copy >= 0) {
		emit_key(t, "copy");
		emit_uint(t, (uint64_t)copy);
	}
	emit_end(t);
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
