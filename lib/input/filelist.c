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
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	for (size_t i = 0; i < l->nclasses; i++)
		free(l->classes[i]);
	free(l->v);
	free(l->classes);
	filelist_init(l);
}

/* The class name's interned copy, added in sorted position if new. */
static const char *intern_class(struct filelist *l, const char *name, size_t len,
				struct err *e)
{
	size_t lo = 0, hi = l->nclasses;
	char *copy;

	if (!len || memchr(name, 0, len) || !utf8_valid(name, len)) {
		err_fail(e, "class name '%.*s' %s", (int)len, name,
			 !len ? "is empty" : memchr(name, 0, len) ? "holds a NUL byte" :
			 "is not valid UTF-8 (labels are strings)");
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
 * image is one, and opening a FIFO would wait for a writer forever. */
struct names {
	char **v;
	size_t n, ndirs; /* v[0, ndirs) are directories */
};

static void names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

static int list_dir(const char *path, struct names *out, struct err *e)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char **dirs = NULL, **files = NULL;
	size_t nd = 0, nf = 0, cd = 0, cf = 0;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (!d)
		return err_fail(e, "%s: %s", path, strerror(errno));
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
		err_fail(e, "%s: %s", path, strerror(errno));
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

/* Every file under root/rel, in byte order of the relative path: a
 * directory's files sort before its subdirectories' ("a/x" before
 * "a/b/y" would break byte order), so the results are sorted at the end. */
static int walk(struct filelist *l, const char *root, const char *rel,
		const char *label, int depth, struct err *e)
{
	struct names s;
	char *path = join(root, rel, e);
	int rc = -1;

	if (!path)
		return -1;
	if (depth > 64) {
		err_fail(e, "%s: directories nested too deep (a symlink loop?)", path);
		free(path);
		return -1;
	}
	if (list_dir(path, &s, e)) {
		free(path);
		return -1;
	}
	for (size_t i = 0; i < s.n; i++) {
		char *sub = join(rel, s.v[i], e);

		if (!sub)
			goto out;
		if (i < s.ndirs ? walk(l, root, sub, label, depth + 1, e) :
		    add_entry(l, root, strlen(root), sub, strlen(sub), label, e)) {
			free(sub);
			goto out;
		}
		free(sub);
	}
	rc = 0;
out:
	names_free(&s);
	free(path);
	return rc;
}

static int cmp_rel(const void *a, const void *b)
{
	const struct filelist_entry *x = a, *y = b;

	return strcmp(x->path + x->rel_off, y->path + y->rel_off);
}

int filelist_add_dir(struct filelist *l, const char *dir, struct err *e)
{
	struct names s;
	size_t first = l->n, dir_len = strlen(dir);

	if (list_dir(dir, &s, e))
		return -1;
	for (size_t i = 0; i < s.n; i++) {
		size_t start = l->n;
		const char *label;

		if (i >= s.ndirs) {
			if (s.ndirs)
				l->loose++;
			else if (add_entry(l, dir, dir_len, s.v[i], strlen(s.v[i]), NULL, e))
				goto fail;
			continue;
		}
		if (!(label = intern_class(l, s.v[i], strlen(s.v[i]), e))) {
			err_context(e, "%s: ", dir);
			goto fail;
		}
		if (walk(l, dir, s.v[i], label, 1, e))
			goto fail;
		if (l->n > start)
			qsort(l->v + start, l->n - start, sizeof *l->v, cmp_rel);
	}
	names_free(&s);
	return 0;
fail:
	names_free(&s);
	while (l->n > first)
		free(l->v[--l->n].path);
	return -1;
}

int filelist_read(struct filelist *l, FILE *in, int sep, struct err *e)
{
	char *line = NULL;
	size_t cap = 0, number = 0;
	ssize_t len;
	int rc = 0;

	while ((len = getdelim(&line, &cap, sep, in)) > 0) {
		char *tab;

		number++;
		if (line[len - 1] == sep)
			len--;
		if (!len)
			continue;
		tab = memrchr(line, '\t', (size_t)len);
		if (tab ? filelist_add_file(l, line, (size_t)(tab - line), tab + 1,
					    (size_t)(len - (tab + 1 - line)), e) :
		    filelist_add_file(l, line, (size_t)len, NULL, 0, e)) {
			rc = err_context(e, "standard input: %s %zu: ", sep ? "line" : "entry", number);
			break;
		}
	}
	if (!rc && ferror(in))
		rc = err_fail(e, "standard input: read error: %s", strerror(errno));
	free(line);
	return rc;
}

void filelist_shard(struct filelist *l, unsigned k, unsigned n)
{
	size_t kept = 0;

	for (size_t i = 0; i < l->n; i++) {
		struct filelist_entry *en = &l->v[i];

		if (mix_hash_bytes(en->path + en->rel_off, en->path_len - en->rel_off) % n == k - 1)
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
