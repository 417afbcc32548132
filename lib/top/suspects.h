/* Suspected label errors by confident learning (Northcutt, Jiang and
 * Chuang, "Confident Learning: Estimating Uncertainty in Dataset
 * Labels", JAIR 2021): from probabilities a model gave records it was not
 * trained on (out of fold), the records whose given label is unlikely.
 *
 * Its rule C_{y~,y*}: the threshold of class j is the mean probability of
 * j over the records given j. A record counts for the classes whose
 * probability reaches their threshold, and of those for the most probable
 * (its likely true class y*); none reaching: it counts for no class. A
 * record given i that counts for a class j != i is suspect, and j is the
 * label suggested. Suspects are ranked by the probability of their given
 * label (self-confidence), lowest first. */
#ifndef TOP_SUSPECTS_H
#define TOP_SUSPECTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

/* cleanlab's allowance for rounding: a probability within this of its
 * class's threshold reaches it. */
#define SUSPECTS_THRESHOLD_SLACK 1e-6

struct suspect {
	size_t record;               /* index into the records given */
	uint32_t given, suggested;   /* classes */
	float p_given, p_suggested;
};

/* prob [n, nclass] (rows summing to 1), given [n]: the suspects into
 * *out (allocated here; NULL when none), their count into *nout. */
int suspects_find(const float *prob, const uint32_t *given, size_t n, uint32_t nclass,
		  struct suspect **out, size_t *nout, struct err *e);

/* Find the suspects and write them to path (NULL: standard output;
 * atomically, as outfile.h does) as CSV with a header, most suspect
 * first: id, given, suggested, p_given, p_suggested. ids [n] with their
 * lengths; classes [nclass]. *found receives their count. */
int suspects_save(const char *path, const float *prob, const uint32_t *given, size_t n,
		  uint32_t nclass, char *const *ids, const size_t *id_lens,
		  char *const *classes, size_t *found, struct err *e);

#endif
