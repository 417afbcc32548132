#include "suspects.h"

#include <math.h>
#include <stdlib.h>

#include "outfile.h"
#include "table.h"

static int cmp_suspect(const void *a, const void *b)
{
	const struct suspect *x = a, *y = b;

	if (x->p_given != y->p_given)
		return x->p_given < y->p_given ? -1 : 1;
	return (x->record > y->record) - (x->record < y->record);
}

int suspects_find(const float *prob, const uint32_t *given, size_t n, uint32_t nclass,
		  struct suspect **out, size_t *nout, struct err *e)
{
	double *threshold = err_calloc(nclass, sizeof *threshold, e);
	size_t *count = threshold ? err_calloc(nclass, sizeof *count, e) : NULL, kept = 0;
	struct suspect *s = NULL;

	*out = NULL;
	*nout = 0;
	if (!count)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		threshold[given[i]] += prob[i * nclass + given[i]];
		count[given[i]]++;
	}
	/* A class no record was given has no threshold: nothing counts for
	 * it. */
	for (uint32_t c = 0; c < nclass; c++)
		threshold[c] = count[c] ? threshold[c] / (double)count[c] : INFINITY;
	if (!(s = err_calloc(n ? n : 1, sizeof *s, e)))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const float *p = prob + i * nclass;
		long likely = -1;

		for (uint32_t c = 0; c < nclass; c++)
			if (p[c] >= threshold[c] - SUSPECTS_THRESHOLD_SLACK &&
			    (likely < 0 || p[c] > p[likely]))
				likely = c;
		if (likely < 0 || (uint32_t)likely == given[i])
			continue;
		s[kept++] = (struct suspect){ .record = i, .given = given[i],
					      .suggested = (uint32_t)likely,
					      .p_given = p[given[i]], .p_suggested = p[likely] };
	}
	qsort(s, kept, sizeof *s, cmp_suspect);
	free(threshold);
	free(count);
	if (!kept) {
		free(s);
		s = NULL;
	}
	*out = s;
	*nout = kept;
	return 0;
fail:
	free(threshold);
	free(count);
	return -1;
}

int suspects_save(const char *path, const float *prob, const uint32_t *given, size_t n,
		  uint32_t nclass, char *const *ids, const size_t *id_lens,
		  char *const *classes, size_t *found, struct err *e)
{
	struct suspect *s;
	struct outfile out;

	if (suspects_find(prob, given, n, nclass, &s, found, e))
		return -1;
	if (outfile_open(&out, path, e)) {
		free(s);
		return -1;
	}
	fputs("id,given,suggested,p_given,p_suggested\n", out.f);
	for (size_t k = 0; k < *found; k++) {
		table_field(out.f, 0, ids[s[k].record], id_lens[s[k].record]);
		fputc(',', out.f);
		table_str(out.f, 0, classes[s[k].given]);
		fputc(',', out.f);
		table_str(out.f, 0, classes[s[k].suggested]);
		fprintf(out.f, ",%.6g,%.6g\n", s[k].p_given, s[k].p_suggested);
	}
	free(s);
	return outfile_commit(&out, e);
}
