#include "filelist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mix.h"
#include "utf8.h"

void filelist_init(struct filelist *l)
{
	memset(l, 0, sizeof *l);
}

void filelist_free(struct filelist *l)
{
	filelist_problem_fn problem = l->problem;
	void *ctx = l->problem_ctx;

	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	for (size_t i = 0; i < l->nclasses; i++)
		free(l->classes[i]);
	for (size_t i = 0; i < FILELIST_LOOSE_NAMED; i++)
		free(l->loose_names[i]);
	free(l->v);
	free(l->classes);
	filelist_init(l);
	l->problem = problem;
	l->problem_ctx = ctx;
}

/* A problem with one entry: skipped (0) when the listing's caller says
 * so, else the listing's error (-1). */
static int problem(struct filelist *l, const char *where, const char *why, struct err *e)
{
	if (l->problem && l->problem(l->problem_ctx, where, why) == 0)
		return 0;
	return err_fail(e, "%s: %s", where, why);
}

/* Why name cannot be a class, or NULL when it can. */
static const char *bad_class(const char *name, size_t len)
{
	if (!len)
		return "is empty";
	if (memchr(name, 0, len))
		return "holds a NUL byte";
	if (!utf8_valid(name, len))
		return "is not valid UTF-8 (labels are strings)";
	return NULL;
}

/* The class name's interned copy, added in sorted position if new. */
static const char *intern_class(struct filelist *l, const char *name, size_t len,
				struct err *e)
{
	size_t lo = 0, hi = l->nclasses;
	const char *bad = bad_class(name, len);
	char *copy;

	if (bad) {
		err_fail(e, "class name '%.*s' %s", (int)len, name, bad);
		return NULL;
	}
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strncmp(l->classes[mid], name, len);

		if (c == 0 && l->classes[mid][len] == 0)
			return l->classes[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	copy = err_calloc(len + 1, 1, e);
	if (!copy)
		return NULL;
	memcpy(copy, name, len);
	if (l->nclasses == l->classes_cap) {
		size_t cap = l->classes_cap ? l->classes_cap * 2 : 16;
		char **v = realloc(l->classes, cap * sizeof *v);

		if (!v) {
			free(copy);
			err_fail(e, "out of memory");
			return NULL;
		}
		l->classes = v;
		l->classes_cap = cap;
	}
	memmove(l->classes + lo + 1, l->classes + lo, (l->nclasses - lo) * sizeof *l->classes);
	l->classes[lo] = copy;
	l->nclasses++;
	return copy;
}

static int add_entry(struct filelist *l, const char *root, size_t root_len,
		     const char *rel, size_t rel_len, const char *label, struct err *e)
{
	int slash = root_len && root[root_len - 1] != '/';
	struct filelist_entry *en;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct filelist_entry *v = realloc(l->v, cap * sizeof *v);

		if (!v)
			return err_fail(e, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	en = &l->v[l->n];
	en->path_len = root_len + slash + rel_len;
	en->path = err_calloc(en->path_len + 1, 1, e);
	if (!en->path)
		return -1;
	memcpy(en->path, root, root_len);
	if (slash)
		en->path[root_len] = '/';
	memcpy(en->path + root_len + slash, rel, rel_len);
	en->rel_off = root_len + slash;
	en->label = label;
	l->n++;
	return 0;
}

int filelist_add_file(struct filelist *l, const char *path, size_t len,
		      const char *label, size_t label_len, struct err *e)
{
	const char *lab = NULL;

	if (label && !(lab = intern_class(l, label, label_len, e)))
		return -1;
	if (!len)
		return err_fail(e, "empty path");
	if (memchr(path, 0, len))
		return err_fail(e, "path '%s' holds a NUL byte, which no path may", path);
	return add_entry(l, "", 0, path, len, lab, e);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in dir (hidden ones left out), sorted, split into subdirectories
 * and files: regular files, and anything that fails to stat (opening it
 * later gives the reason). FIFOs, sockets and devices are left out: no
 * image is one, and opening a FIFO would wait for a writer forever. On
 * failure the message is the reason alone: the caller names the folder. */
struct dir_names {
	char **v;
	size_t n, ndirs; /* v[0, ndirs) are directories */
};

static void dir_names_free(struct dir_names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

static int list_dir(const char *path, struct dir_names *out, struct err *e)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char **dirs = NULL, **files = NULL;
	size_t nd = 0, nf = 0, cd = 0, cf = 0;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (!d)
		return err_fail(e, "%s", strerror(errno));
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		int isdir;
		char *name, ***v;
		size_t *n, *c;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) != 0)
			isdir = 0;
		else if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))
			isdir = S_ISDIR(st.st_mode);
		else
			continue;
		v = isdir ? &dirs : &files;
		n = isdir ? &nd : &nf;
		c = isdir ? &cd : &cf;
		if (*n == *c) {
			char **nv = realloc(*v, (*c ? *c * 2 : 64) * sizeof *nv);

			if (!nv) {
				err_fail(e, "out of memory");
				goto out;
			}
			*v = nv;
			*c = *c ? *c * 2 : 64;
		}
		if (!(name = strdup(de->d_name))) {
			err_fail(e, "out of memory");
			goto out;
		}
		(*v)[(*n)++] = name;
	}
	if (errno) {
		err_fail(e, "%s", strerror(errno));
		goto out;
	}
	if (nd)
		qsort(dirs, nd, sizeof *dirs, cmp_str);
	if (nf)
		qsort(files, nf, sizeof *files, cmp_str);
	out->v = malloc((nd + nf + 1) * sizeof *out->v);
	if (!out->v) {
		err_fail(e, "out of memory");
		goto out;
	}
	if (nd)
		memcpy(out->v, dirs, nd * sizeof *dirs);
	if (nf)
		memcpy(out->v + nd, files, nf * sizeof *files);
	out->n = nd + nf;
	out->ndirs = nd;
	nd = nf = 0;
	rc = 0;
out:
	for (size_t i = 0; i < nd; i++)
		free(dirs[i]);
	for (size_t i = 0; i < nf; i++)
		free(files[i]);
	free(dirs);
	free(files);
	closedir(d);
	return rc;
}

static char *join(const char *a, const char *b, struct err *e)
{
	size_t na = strlen(a), nb = strlen(b);
	char *p = err_calloc(na + nb + 2, 1, e);

	if (p) {
		memcpy(p, a, na);
		p[na] = '/';
		memcpy(p + na + 1, b, nb);
	}
	return p;
}

/* Folders a walk goes down at the most. */
#define WALK_DEPTH 64

/* The folders a walk is inside, to tell a symlink back to one of them. */
struct ancestors {
	dev_t dev[WALK_DEPTH + 2];
	ino_t ino[WALK_DEPTH + 2];
	int n;
};

/* Every file under root/rel, in byte order of the relative path: a
 * directory's files sort before its subdirectories' ("a/x" before
 * "a/b/y" would break byte order), so the results are sorted at the end.
 * A folder that cannot be read, one nested too deep or a symlink back to
 * a folder above is a problem, skipped when the caller says so. */
static int walk(struct filelist *l, const char *root, const char *rel,
		const char *label, struct ancestors *up, struct err *e)
{
	struct dir_names s;
	struct stat st;
	char *path = join(root, rel, e), why[sizeof e->msg + 16];
	int rc = -1;

	if (!path)
		return -1;
	if (stat(path, &st) == 0)
		for (int i = 0; i < up->n; i++)
			if (up->dev[i] == st.st_dev && up->ino[i] == st.st_ino) {
				rc = problem(l, path, "a symlink to a folder above it", e);
				free(path);
				return rc;
			}
	if (up->n > WALK_DEPTH) {
		rc = problem(l, path, "folders nested too deep", e);
		free(path);
		return rc;
	}
	if (list_dir(path, &s, e)) {
		snprintf(why, sizeof why, "%s", e->msg);
		rc = problem(l, path, why, e);
		free(path);
		return rc;
	}
	up->dev[up->n] = st.st_dev;
	up->ino[up->n++] = st.st_ino;
	for (size_t i = 0; i < s.n; i++) {
		char *sub = join(rel, s.v[i], e);

		if (!sub)
			goto out;
		if (i < s.ndirs ? walk(l, root, sub, label, up, e) :
		    add_entry(l, root, strlen(root), sub, strlen(sub), label, e)) {
			free(sub);
			goto out;
		}
		free(sub);
	}
	rc = 0;
out:
	up->n--;
	dir_names_free(&s);
	free(path);
	return rc;
}

static int cmp_rel(const void *a, const void *b)
{
	const struct filelist_entry *x = a, *y = b;

	return strcmp(x->path + x->rel_off, y->path + y->rel_off);
}

/* A file beside the class folders: counted, and named in the first few. */
static int loose(struct filelist *l, const char *dir, const char *name, struct err *e)
{
	if (l->loose < FILELIST_LOOSE_NAMED &&
	    !(l->loose_names[l->loose] = join(dir, name, e)))
		return -1;
	l->loose++;
	return 0;
}

int filelist_add_dir(struct filelist *l, const char *dir, struct err *e)
{
	struct dir_names s;
	struct ancestors up = { .n = 0 };
	struct stat st;
	size_t first = l->n, dir_len = strlen(dir);

	if (list_dir(dir, &s, e))
		return err_context(e, "%s: ", dir);
	if (stat(dir, &st) == 0) {
		up.dev[0] = st.st_dev;
		up.ino[0] = st.st_ino;
		up.n = 1;
	}
	for (size_t i = 0; i < s.n; i++) {
		size_t start = l->n;
		const char *label, *bad;
		char why[160];

		if (i >= s.ndirs) {
			if (s.ndirs ? loose(l, dir, s.v[i], e) :
			    add_entry(l, dir, dir_len, s.v[i], strlen(s.v[i]), NULL, e))
				goto fail;
			continue;
		}
		if ((bad = bad_class(s.v[i], strlen(s.v[i])))) {
			char *where = join(dir, s.v[i], e);

			snprintf(why, sizeof why, "a class folder whose name %s", bad);
			if (!where || problem(l, where, why, e)) {
				free(where);
				goto fail;
			}
			free(where);
			continue;
		}
		if (!(label = intern_class(l, s.v[i], strlen(s.v[i]), e)) ||
		    walk(l, dir, s.v[i], label, &up, e))
			goto fail;
		if (l->n > start)
			qsort(l->v + start, l->n - start, sizeof *l->v, cmp_rel);
	}
	dir_names_free(&s);
	return 0;
fail:
	dir_names_free(&s);
	while (l->n > first)
		free(l->v[--l->n].path);
	return -1;
}

void filelist_reader_init(struct filelist_reader *r, FILE *in, int sep, int pairs)
{
	memset(r, 0, sizeof *r);
	r->in = in;
	r->sep = sep;
	r->pairs = pairs && !sep;
}

void filelist_reader_free(struct filelist_reader *r)
{
	free(r->buf);
	free(r->label);
	memset(r, 0, sizeof *r);
}

/* The next raw entry into *buf, its end dropped: its length, or -1 at the
 * end of the list (with errno for a read error). */
static ssize_t next_raw(struct filelist_reader *r, char **buf, size_t *cap)
{
	ssize_t len;

	errno = 0;
	len = getdelim(buf, cap, r->sep, r->in);
	if (len < 0)
		return -1;
	r->number++;
	if ((*buf)[len - 1] == r->sep)
		len--;
	if (r->sep != '\n')
		return len;
	/* A list written on Windows: CRLF ends, a byte-order mark first. */
	if (r->number == 1 && len >= 3 && !memcmp(*buf, "\xef\xbb\xbf", 3)) {
		memmove(*buf, *buf + 3, (size_t)len - 3);
		len -= 3;
	}
	if (len && (*buf)[len - 1] == '\r')
		len--;
	return len;
}

int filelist_read_next(struct filelist *l, struct filelist_reader *r,
		       struct filelist_entry *en, struct err *e)
{
	char where[64];

	for (;;) {
		ssize_t len = next_raw(r, &r->buf, &r->cap), label_len = 0;
		const char *label = NULL, *bad = NULL;
		size_t path_len;

		if (len < 0)
			break;
		snprintf(where, sizeof where, "standard input: %s %zu",
			 r->sep ? "line" : "entry", r->number);
		if (!len && !r->pairs)
			continue;
		path_len = (size_t)len;
		if (r->pairs) {
			if ((label_len = next_raw(r, &r->label, &r->label_cap)) < 0) {
				if (problem(l, where, "a path without its label at the end", e))
					return -1;
				break;
			}
			/* A pair is named by its label's entry, where it ends. */
			snprintf(where, sizeof where, "standard input: entry %zu", r->number);
			label = r->label;
		} else if (r->sep && (label = memrchr(r->buf, '\t', path_len))) {
			label_len = (ssize_t)(r->buf + path_len - label - 1);
			path_len = (size_t)(label - r->buf);
			label++;
		}
		if (!path_len)
			bad = "no path";
		else if (memchr(r->buf, 0, path_len))
			bad = "a path that holds a NUL byte, which no path may";
		else if (label && !label_len)
			bad = "an empty label";
		else if (label && (bad = bad_class(label, (size_t)label_len)))
			bad = !strcmp(bad, "holds a NUL byte") ? "a label that holds a NUL byte" :
			      "a label that is not valid UTF-8 (labels are strings)";
		if (bad) {
			if (problem(l, where, bad, e))
				return -1;
			continue;
		}
		*en = (struct filelist_entry){ .path_len = path_len };
		if (label && !(en->label = intern_class(l, label, (size_t)label_len, e)))
			return -1;
		if (!(en->path = err_calloc(path_len + 1, 1, e)))
			return -1;
		memcpy(en->path, r->buf, path_len);
		return 1;
	}
	if (ferror(r->in))
		return err_fail(e, "standard input: read error: %s",
				errno ? strerror(errno) : "unknown");
	return 0;
}

int filelist_read(struct filelist *l, FILE *in, int sep, int pairs, struct err *e)
{
	struct filelist_reader r;
	struct filelist_entry en;
	int rc;

	filelist_reader_init(&r, in, sep, pairs);
	while ((rc = filelist_read_next(l, &r, &en, e)) > 0) {
		if (add_entry(l, "", 0, en.path, en.path_len, en.label, e)) {
			rc = -1;
			free(en.path);
			break;
		}
		free(en.path);
	}
	filelist_reader_free(&r);
	return rc;
}

int filelist_in_shard(const struct filelist_entry *en, unsigned k, unsigned n)
{
	return mix_hash_bytes(en->path + en->rel_off, en->path_len - en->rel_off) % n == k - 1;
}

void filelist_shard(struct filelist *l, unsigned k, unsigned n)
{
	size_t kept = 0;

	for (size_t i = 0; i < l->n; i++) {
		struct filelist_entry *en = &l->v[i];

		if (filelist_in_shard(en, k, n))
			l->v[kept++] = *en;
		else
			free(en->path);
	}
	l->n = kept;
}

struct keyed {
	uint64_t key;
	struct filelist_entry en;
};

static int cmp_keyed(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return cmp_rel(&x->en, &y->en);
}

int filelist_shuffle(struct filelist *l, uint64_t seed, struct err *e)
{
	struct keyed *k = err_calloc(l->n, sizeof *k, e);
	uint64_t s = mix_u64(seed);

	if (!k)
		return -1;
	for (size_t i = 0; i < l->n; i++) {
		struct filelist_entry *en = &l->v[i];

		k[i].key = mix_u64(s ^ mix_hash_bytes(en->path + en->rel_off,
						      en->path_len - en->rel_off));
		k[i].en = *en;
	}
	qsort(k, l->n, sizeof *k, cmp_keyed);
	for (size_t i = 0; i < l->n; i++)
		l->v[i] = k[i].en;
	free(k);
	return 0;
}
