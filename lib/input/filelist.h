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

/* A problem with one entry: a folder that cannot be read, a symlink
 * loop, a class folder whose name is not UTF-8, a list line without a
 * path or with an empty label. where names it (the path, or "standard
 * input: line 3"), why says what is wrong. The entry is skipped when the
 * function returns 0; -1 stops the listing (--strict), which then fails
 * with that message. */
typedef int (*filelist_problem_fn)(void *ctx, const char *where, const char *why);

/* Files beside class folders named in a message, the rest counted. */
#define FILELIST_LOOSE_NAMED 5

struct filelist {
	struct filelist_entry *v;
	size_t n, cap;
	char **classes;    /* sorted, unique */
	size_t nclasses, classes_cap;
	size_t loose;      /* files beside class folders, skipped */
	char *loose_names[FILELIST_LOOSE_NAMED]; /* the first of them */
	filelist_problem_fn problem;             /* NULL: every problem stops */
	void *problem_ctx;
};

void filelist_init(struct filelist *l);
void filelist_free(struct filelist *l);

/* A directory with subdirectories: each non-hidden subdirectory is a class
 * (its files found recursively, a symlink back to a folder above left
 * out), files beside them are skipped and counted in l->loose. A
 * directory without subdirectories: its files, unlabelled. Hidden names
 * (".*") are skipped. Entries come sorted by class, then by relative path
 * (byte order). -1 when dir itself cannot be read, or a problem stopped
 * the listing. */
int filelist_add_dir(struct filelist *l, const char *dir, struct err *e);
/* One file, label may be NULL. */
int filelist_add_file(struct filelist *l, const char *path, size_t len,
		      const char *label, size_t label_len, struct err *e);

/* Reading a list of paths, an entry at a time, as it comes. Entries end
 * with sep: '\n', where "path<TAB>label" (the last TAB) carries a label,
 * a CR before the newline is dropped (lists written on Windows), and a
 * UTF-8 byte-order mark at the start is dropped; or '\0', where an entry
 * is a path, every byte of it, and with pairs set entries alternate path
 * and label. Empty entries are skipped. */
struct filelist_reader {
	FILE *in;
	int sep, pairs;
	size_t number;     /* entries read, for messages */
	char *buf, *label;
	size_t cap, label_cap;
};

void filelist_reader_init(struct filelist_reader *r, FILE *in, int sep, int pairs);
void filelist_reader_free(struct filelist_reader *r);
/* The next entry into *en (its path the caller's to free, its label one
 * of l's classes): 1, or 0 at the end of the list, -1 on a read error or a
 * problem that stopped the listing. */
int filelist_read_next(struct filelist *l, struct filelist_reader *r,
		       struct filelist_entry *en, struct err *e);
/* Every entry of a list, appended to l. */
int filelist_read(struct filelist *l, FILE *in, int sep, int pairs, struct err *e);

/* Whether en is in shard k (1-based) of n: its relative path hashes to
 * it. Shards of one input are disjoint and together cover it. */
int filelist_in_shard(const struct filelist_entry *en, unsigned k, unsigned n);
/* Keep shard k of n. */
void filelist_shard(struct filelist *l, unsigned k, unsigned n);
/* Order by a hash of (seed, relative path): a shard's order is the
 * unsharded order with the other shards' entries left out. */
int filelist_shuffle(struct filelist *l, uint64_t seed, struct err *e);

#endif
