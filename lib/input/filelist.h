/* The list of images a run prepares: from class folders, flat folders,
 * single files or a list of paths, with labels, a deterministic order,
 * seeded shuffling and hash sharding.
 *
 * Each entry keeps the path as given (its record id) and the part of it
 * relative to the input root ("cat/001.jpg" under "data/train"): hashes
 * for shards, shuffling and augmentation use the relative part, so they do
 * not change when the same folder is mounted somewhere else. */
#ifndef INPUT_FILELIST_H
#define INPUT_FILELIST_H

#include <stdint.h>
#include <stdio.h>

#include "err.h"

struct filelist_entry {
	char *path;        /* owned; may hold any byte but NUL */
	size_t path_len;
	size_t rel_off;    /* path + rel_off is the relative part */
	const char *label; /* one of the list's class names, or NULL */
};

struct filelist {
	struct filelist_entry *v;
	size_t n, cap;
	char **classes;    /* sorted, unique */
	size_t nclasses, classes_cap;
	size_t loose;      /* files beside class folders, skipped */
};

void filelist_init(struct filelist *l);
void filelist_free(struct filelist *l);

/* A directory with subdirectories: each non-hidden subdirectory is a class
 * (its files found recursively), files beside them are skipped and
 * counted in l->loose. A directory without subdirectories: its files,
 * unlabelled. Hidden names (".*") are skipped. Entries come sorted by
 * class, then by relative path (byte order). */
int filelist_add_dir(struct filelist *l, const char *dir, struct err *e);
/* One file, label may be NULL. */
int filelist_add_file(struct filelist *l, const char *path, size_t len,
		      const char *label, size_t label_len, struct err *e);
/* Paths separated by sep ('\n' or '\0'); an entry "path<TAB>label" (the
 * last TAB) carries a label; empty entries are skipped. A trailing '\r'
 * is kept: it can be part of a file name. */
int filelist_read(struct filelist *l, FILE *in, int sep, struct err *e);

/* Keep shard k (1-based) of n: the entries whose relative path hashes to
 * it. Shards of one input are disjoint and together cover it. */
void filelist_shard(struct filelist *l, unsigned k, unsigned n);
/* Order by a hash of (seed, relative path): a shard's order is the
 * unsharded order with the other shards' entries left out. */
int filelist_shuffle(struct filelist *l, uint64_t seed, struct err *e);

#endif
