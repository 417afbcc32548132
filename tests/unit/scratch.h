/* What the C unit tests need around the code they test: streams built in
 * memory, and temporary folders removed with all they hold. */
#ifndef TESTS_SCRATCH_H
#define TESTS_SCRATCH_H

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "writer.h"

/* A stream written into memory: p and n once closed. */
struct buf {
	char *p;
	size_t n;
	FILE *f;
	struct writer w;
};

__attribute__((unused))
static void buf_open(struct buf *b)
{
	b->p = NULL;
	b->n = 0;
	b->f = open_memstream(&b->p, &b->n);
	if (!b->f) {
		printf("Bail out! open_memstream: %s\n", strerror(errno));
		exit(2);
	}
	writer_init(&b->w, b->f);
}

__attribute__((unused))
static void buf_close(struct buf *b)
{
	struct err e = { .msg = "" };

	/* A miscounted map would make every later check meaningless. */
	if (writer_finish(&b->w, &e) || fclose(b->f)) {
		printf("Bail out! writing a stream in memory: %s\n", e.msg);
		exit(2);
	}
}

static int scratch_remove_one(const char *path, const struct stat *st, int flag,
			      struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A new folder from template (ending in XXXXXX), or bail out. */
__attribute__((unused))
static void scratch_dir(char *template)
{
	if (!mkdtemp(template)) {
		printf("Bail out! mkdtemp %s: %s\n", template, strerror(errno));
		exit(2);
	}
}

/* Remove dir and everything below it: 0, or -1 with errno. */
__attribute__((unused))
static int scratch_remove_tree(const char *dir)
{
	return nftw(dir, scratch_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
