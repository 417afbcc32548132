/* Unit tests of lib/filelist: which files a folder yields, with which
 * labels and in which order; path lists with TAB labels, in line and NUL
 * mode; the messages for bad input; and the shard and shuffle rules that
 * the README promises (disjoint, covering, stable, independent of where
 * the folder is mounted).
 *
 * The pinned shard and shuffle results come from this Python, the rules
 * of lib/filelist.c over mix() and hash_bytes() of test_mix.c's comment:
 *
 *     shard_of = lambda rel, n: hash_bytes(rel) % n + 1
 *     def shuffled(rels, seed):
 *         return sorted(rels, key=lambda r: (mix(mix(seed) ^ hash_bytes(r)), r))
 *
 * The tests build their folders in a fresh directory under $TMPDIR and
 * name everything relative to it, so that the expected paths are exact. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filelist.h"
#include "scratch.h"
#include "tap.h"

static void mkdirs(const char *path)
{
	char buf[4096];

	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			mkdir(buf, 0755);
			*p = '/';
		}
	mkdir(buf, 0755);
}

/* An empty file: the list never opens its files, so content is moot. */
static void touch(const char *path)
{
	char dir[4096];
	char *slash;
	FILE *f;

	snprintf(dir, sizeof dir, "%s", path);
	if ((slash = strrchr(dir, '/'))) {
		*slash = 0;
		mkdirs(dir);
	}
	if (!(f = fopen(path, "w"))) {
		printf("Bail out! cannot create %s: %s\n", path, strerror(errno));
		exit(2);
	}
	fclose(f);
}

static void link_to(const char *target, const char *path)
{
	if (symlink(target, path)) {
		printf("Bail out! cannot link %s: %s\n", path, strerror(errno));
		exit(2);
	}
}

/* One entry per line as "root|relative part|label", the label "-" when
 * there is none; bytes outside printable ASCII as \xHH, so that the
 * expected strings below are plain C text and a failure is readable. */
static void put_escaped(FILE *f, unsigned char c)
{
	if (c < 0x20 || c >= 0x7f)
		fprintf(f, "\\x%02x", c);
	else
		fputc(c, f);
}

static char *describe(const struct filelist *l, size_t from)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);

	for (size_t i = from; i < l->n; i++) {
		const struct filelist_entry *en = &l->v[i];

		for (size_t j = 0; j < en->path_len; j++) {
			unsigned char c = (unsigned char)en->path[j];

			if (j == en->rel_off)
				fputc('|', f);
			put_escaped(f, c);
		}
		if (en->rel_off == en->path_len)
			fputc('|', f);
		fputc('|', f);
		for (const char *p = en->label ? en->label : "-"; *p; p++)
			put_escaped(f, (unsigned char)*p);
		fputc('\n', f);
	}
	fclose(f);
	return s;
}

static void is_entries(const struct filelist *l, size_t from, const char *want,
		       const char *what)
{
	char *got = describe(l, from);

	if (!ok(!strcmp(got, want), "%s", what))
		printf("#   got:\n%s#   expected:\n%s", got, want);
	free(got);
}

static void is_str(const char *got, const char *want, const char *what)
{
	if (!ok(!strcmp(got, want), "%s", what))
		printf("#   got:      '%s'\n#   expected: '%s'\n", got, want);
}

static char *joined_classes(const struct filelist *l)
{
	static char buf[1024];
	size_t n = 0;

	buf[0] = 0;
	for (size_t i = 0; i < l->nclasses && n < sizeof buf; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? " " : "", l->classes[i]);
	return buf;
}

/* A class-folder dataset with every rule in it: a nested folder, names
 * whose byte order differs from a nested walk's order ("a-b.png", "a.png",
 * "a/z.png"), upper case and bytes above 0x7f, hidden files and folders,
 * files beside the class folders, an empty class, a file that is not an
 * image (a file's type is decided by its contents, later), a symlink to
 * a file, a dangling symlink (opening it later gives the reason) and a
 * symlink to a folder inside a class. */
static void make_dataset(void)
{
	touch("data/dog/b.png");
	touch("data/dog/a.png");
	touch("data/dog/a-b.png");
	touch("data/dog/a/z.png");
	touch("data/dog/.git/x.png");
	touch("data/dog/.DS_Store");
	link_to("../Zebra", "data/dog/zlinkdir");
	touch("data/cat/z.png");
	touch("data/cat/Z.png");
	touch("data/cat/\xc3\xa9.png");
	touch("data/cat/\xff.png");
	touch("data/cat/notes.txt");
	link_to("../dog/b.png", "data/cat/link.png");
	link_to("nowhere.png", "data/cat/broken.png");
	touch("data/Zebra/1.png");
	mkdirs("data/empty");
	touch("data/.hidden/h.png");
	touch("data/readme.txt");
	touch("data/loose.png");
	touch("data/.loose-hidden");
}

static const char dataset_entries[] =
	"data/|Zebra/1.png|Zebra\n"
	"data/|cat/Z.png|cat\n"
	"data/|cat/broken.png|cat\n"
	"data/|cat/link.png|cat\n"
	"data/|cat/notes.txt|cat\n"
	"data/|cat/z.png|cat\n"
	"data/|cat/\\xc3\\xa9.png|cat\n"
	"data/|cat/\\xff.png|cat\n"
	"data/|dog/a-b.png|dog\n"
	"data/|dog/a.png|dog\n"
	"data/|dog/a/z.png|dog\n"
	"data/|dog/b.png|dog\n"
	"data/|dog/zlinkdir/1.png|dog\n";

static void test_class_folders(void)
{
	struct filelist l, m;
	struct err e;
	int rc;

	filelist_init(&l);
	rc = filelist_add_dir(&l, "data", &e);
	ok(rc == 0, "a class-folder dataset is read");
	is_entries(&l, 0, dataset_entries,
		   "class by class in byte order, then by relative path in byte order; "
		   "hidden names skipped; symlinks followed; every file kept whatever its name");
	is_str(joined_classes(&l), "Zebra cat dog empty",
	       "the classes are the non-hidden folders, sorted, the empty one too");
	ok(l.loose == 2, "the two files beside the class folders are counted as loose (%zu)",
	   l.loose);
	ok(l.n == 13 && l.v[0].label == l.classes[0] && l.v[1].label == l.classes[1] &&
	   l.v[12].label == l.classes[2],
	   "an entry's label is the list's own class name, not a copy");

	/* The same folder named another way: the relative parts, which the
	 * shards, shuffles and augmentation hash, stay the same. */
	filelist_init(&m);
	rc = filelist_add_dir(&m, "./data/", &e);
	{
		int same = rc == 0 && m.n == l.n;

		for (size_t i = 0; same && i < l.n; i++)
			same = !strcmp(m.v[i].path + m.v[i].rel_off, l.v[i].path + l.v[i].rel_off) &&
			       !strncmp(m.v[i].path, "./data/", 7) &&
			       !strcmp(m.v[i].path + 7, l.v[i].path + 5);
		ok(same, "\"./data/\": paths ./data/cat/..., no doubled slash, the same relative parts");
	}
	filelist_free(&m);

	/* A second folder appends its entries; the class list merges. */
	touch("more/cat/new.png");
	touch("more/ant/1.png");
	rc = filelist_add_dir(&l, "more", &e);
	ok(rc == 0, "a second folder is read into the same list");
	is_entries(&l, 13, "more/|ant/1.png|ant\nmore/|cat/new.png|cat\n",
		   "its entries come after the first folder's, sorted among themselves");
	is_str(joined_classes(&l), "Zebra ant cat dog empty", "one sorted class list for both");
	ok(l.v[14].label == l.v[1].label, "a class met twice is one class");
	filelist_free(&l);
	ok(l.n == 0 && l.v == NULL && l.nclasses == 0 && l.classes == NULL && l.loose == 0,
	   "filelist_free leaves an empty list");
}

static void test_flat_folder(void)
{
	struct filelist l;
	struct err e;

	touch("flat/b.png");
	touch("flat/a.png");
	touch("flat/B.png");
	touch("flat/10.png");
	touch("flat/9.png");
	touch("flat/.hidden.png");
	link_to("nowhere", "flat/dangling.png");
	filelist_init(&l);
	ok(filelist_add_dir(&l, "flat", &e) == 0, "a folder without subfolders is read");
	is_entries(&l, 0,
		   "flat/|10.png|-\nflat/|9.png|-\nflat/|B.png|-\nflat/|a.png|-\n"
		   "flat/|b.png|-\nflat/|dangling.png|-\n",
		   "its files, unlabelled, in byte order (10 before 9, B before a), hidden ones skipped");
	ok(l.nclasses == 0 && l.loose == 0, "no classes and no loose files");
	filelist_free(&l);

	mkdirs("void");
	filelist_init(&l);
	ok(filelist_add_dir(&l, "void", &e) == 0 && l.n == 0,
	   "an empty folder is an empty list, not an error");
	filelist_free(&l);
}

static void test_dir_errors(void)
{
	struct filelist l;
	struct err e;
	char want[1024];
	int rc;

	filelist_init(&l);
	rc = filelist_add_dir(&l, "nothing", &e);
	ok(rc == -1, "a missing folder fails");
	is_str(e.msg, "nothing: No such file or directory", "the message names it and says why");
	rc = filelist_add_dir(&l, "flat/a.png", &e);
	is_str(rc ? e.msg : "", "flat/a.png: Not a directory", "a file given as a folder");

	/* A bad class name stops a listing that takes no problem, and the
	 * folder's entries already listed (class "good" sorts first) are
	 * taken back. */
	touch("badname/good/1.png");
	touch("badname/\xff/1.png");
	filelist_add_file(&l, "keep.png", 8, NULL, 0, &e);
	rc = filelist_add_dir(&l, "badname", &e);
	is_str(rc ? e.msg : "",
	       "badname/\xff: a class folder whose name is not valid UTF-8 (labels are strings)",
	       "a class folder whose name is not UTF-8 stops a listing that takes no problem");
	is_entries(&l, 0, "|keep.png|-\n", "the failed folder leaves no entry behind");

	/* A symlink to its own folder is found at once, not after the
	 * system's 40 links of files listed again and again. */
	touch("loop/cls/1.png");
	link_to(".", "loop/cls/self");
	rc = filelist_add_dir(&l, "loop", &e);
	is_str(rc ? e.msg : "", "loop/cls/self: a symlink to a folder above it",
	       "a symlink loop is named where it starts");
	is_entries(&l, 0, "|keep.png|-\n", "and leaves no entry behind");

	/* Real folders nested deeper than the walk goes. */
	{
		char path[512] = "deep/cls";

		for (int i = 0; i < 70; i++)
			strcat(path, "/d");
		mkdirs(path);
		strcpy(want, "deep/cls");
		for (int i = 0; i < 64; i++)
			strcat(want, "/d");
		strcat(want, ": folders nested too deep");
		rc = filelist_add_dir(&l, "deep", &e);
		is_str(rc ? e.msg : "", want, "folders 65 deep in a class are refused, named");
	}
	filelist_free(&l);
}

/* Problems reported to the listing's caller, which says go on. */
struct reported {
	char text[1024];
	int n;
};

static int report(void *ctx, const char *where, const char *why)
{
	struct reported *r = ctx;

	snprintf(r->text + strlen(r->text), sizeof r->text - strlen(r->text), "%s: %s\n",
		 where, why);
	r->n++;
	return 0;
}

static void test_dir_problems(void)
{
	struct filelist l;
	struct reported r = { "", 0 };
	struct err e;
	int rc;

	filelist_init(&l);
	l.problem = report;
	l.problem_ctx = &r;
	rc = filelist_add_dir(&l, "badname", &e);
	rc |= filelist_add_dir(&l, "loop", &e);
	ok(rc == 0, "with a caller that takes problems, every folder is listed");
	is_entries(&l, 0, "badname/|good/1.png|good\nloop/|cls/1.png|cls\n",
		   "the good entries, each once");
	is_str(r.text,
	       "badname/\xff: a class folder whose name is not valid UTF-8 (labels are strings)\n"
	       "loop/cls/self: a symlink to a folder above it\n",
	       "the problems reported, each naming the folder");
	filelist_free(&l);
}

static void test_add_file(void)
{
	struct filelist l;
	struct err e;
	int rc;

	filelist_init(&l);
	filelist_add_file(&l, "z.png", 5, NULL, 0, &e);
	filelist_add_file(&l, "a.png", 5, NULL, 0, &e);
	filelist_add_file(&l, "dir/x.pngXYZ", 9, "doggy", 3, &e);
	filelist_add_file(&l, "../up.png", 9, "cat", 3, &e);
	filelist_add_file(&l, "w.png", 5, "dog", 3, &e);
	filelist_add_file(&l, "v.png", 5, "ca", 2, &e);
	filelist_add_file(&l, "u.png", 5, "Ant", 3, &e);
	filelist_add_file(&l, "t.png", 5, "\xc3\xa9mu", 4, &e);
	is_entries(&l, 0,
		   "|z.png|-\n|a.png|-\n|dir/x.png|dog\n|../up.png|cat\n|w.png|dog\n"
		   "|v.png|ca\n|u.png|Ant\n|t.png|\\xc3\\xa9mu\n",
		   "files keep the order given; the whole path is the relative part; "
		   "path_len and label_len bytes count");
	is_str(joined_classes(&l), "Ant ca cat dog \xc3\xa9mu",
	       "labels make a sorted class list, each once (ca before cat)");
	ok(l.v[2].label == l.v[4].label, "one label given twice is one interned class");

	rc = filelist_add_file(&l, "", 0, NULL, 0, &e);
	is_str(rc ? e.msg : "", "empty path", "an empty path is refused");
	rc = filelist_add_file(&l, "x.png", 5, "", 0, &e);
	is_str(rc ? e.msg : "", "class name '' is empty", "an empty label is refused");
	rc = filelist_add_file(&l, "x.png", 5, "b\xff", 2, &e);
	is_str(rc ? e.msg : "", "class name 'b\xff' is not valid UTF-8 (labels are strings)",
	       "a label that is not UTF-8 is refused");
	ok(l.n == 8, "refused files are not added (%zu entries)", l.n);
	filelist_free(&l);
}

/* A list in memory, read as standard input would be. */
static int read_list(struct filelist *l, const char *text, size_t n, int sep,
		     struct err *e)
{
	FILE *f = fmemopen((void *)text, n, "r");
	int rc;

	if (!f) {
		printf("Bail out! fmemopen: %s\n", strerror(errno));
		exit(2);
	}
	rc = filelist_read(l, f, sep, 0, e);
	fclose(f);
	return rc;
}

#define READ(l, lit, sep, e) read_list((l), (lit), sizeof(lit) - 1, (sep), (e))

static void test_read(void)
{
	struct filelist l;
	struct err e;
	int rc;

	filelist_init(&l);
	rc = READ(&l, "b.png\tdog\nsp ace.png\tcat\n\n\na.png\nx\ty.png\tdog\n", '\n', &e);
	ok(rc == 0, "a list of paths is read");
	is_entries(&l, 0, "|b.png|dog\n|sp ace.png|cat\n|a.png|-\n|x\\x09y.png|dog\n",
		   "in order, TAB labels, no label, empty lines skipped, the last TAB separates");
	is_str(joined_classes(&l), "cat dog", "the labels named make the class list");
	filelist_free(&l);

	filelist_init(&l);
	rc = READ(&l, "\xef\xbb\xbf" "a.png\r\nb.png\tdog\r\nc.png", '\n', &e);
	is_entries(&l, 0, "|a.png|-\n|b.png|dog\n|c.png|-\n",
		   "a list from Windows: the byte-order mark and the CRs go; "
		   "the last line needs no newline");
	is_str(joined_classes(&l), "dog", "... and the label has no CR");
	filelist_free(&l);

	filelist_init(&l);
	rc = READ(&l, "new\nline.png\0\0c.png\tcat\0d.png", 0, &e);
	ok(rc == 0, "a NUL-separated list is read");
	is_entries(&l, 0, "|new\\x0aline.png|-\n|c.png\\x09cat|-\n|d.png|-\n",
		   "NUL mode: a path is taken whole, its newline and TAB too; empty entries skipped");
	filelist_free(&l);

	filelist_init(&l);
	{
		static const char pairs[] = "a\tb.png\0cat\0c.png\0dog\0";
		FILE *f = fmemopen((void *)pairs, sizeof pairs - 1, "r");

		rc = filelist_read(&l, f, 0, 1, &e);
		fclose(f);
	}
	ok(rc == 0, "a NUL-separated list of pairs is read");
	is_entries(&l, 0, "|a\\x09b.png|cat\n|c.png|dog\n",
		   "--pairs: path then label, every byte of the path kept");
	filelist_free(&l);

	filelist_init(&l);
	rc = READ(&l, "", '\n', &e);
	ok(rc == 0 && l.n == 0, "an empty list is no entry and no error");

	rc = READ(&l, "ok.png\n\tdog\nnext.png\n", '\n', &e);
	is_str(rc ? e.msg : "", "standard input: line 2: no path",
	       "a line with a label but no path stops a listing that takes no problem");
	is_entries(&l, 0, "|ok.png|-\n", "reading stops at the bad line");
	filelist_free(&l);

	filelist_init(&l);
	rc = READ(&l, "a.png\t\n", '\n', &e);
	is_str(rc ? e.msg : "", "standard input: line 1: an empty label",
	       "a TAB with no label after it is a problem");
	rc = READ(&l, "a.png\t\xff\n", '\n', &e);
	is_str(rc ? e.msg : "", "standard input: line 1: a label that is not valid UTF-8 "
	       "(labels are strings)", "a label that is not UTF-8 is a problem");
	filelist_free(&l);

	/* With a caller that takes problems: each named, skipped. */
	{
		struct reported r = { "", 0 };

		filelist_init(&l);
		l.problem = report;
		l.problem_ctx = &r;
		rc = READ(&l, "a.png\n\tdog\nb.png\t\nc.png\tcat\n", '\n', &e);
		ok(rc == 0, "a list with bad lines is read to its end");
		is_entries(&l, 0, "|a.png|-\n|c.png|cat\n", "the good lines are kept");
		is_str(r.text, "standard input: line 2: no path\n"
		       "standard input: line 3: an empty label\n",
		       "each bad line is reported by its number");
		filelist_free(&l);
		r.text[0] = 0;
		filelist_init(&l);
		l.problem = report;
		l.problem_ctx = &r;
		{
			static const char pairs[] = "a.png\0\0b.png\0";
			FILE *f = fmemopen((void *)pairs, sizeof pairs - 1, "r");

			rc = filelist_read(&l, f, 0, 1, &e);
			fclose(f);
		}
		is_str(r.text, "standard input: entry 2: an empty label\n"
		       "standard input: entry 3: a path without its label at the end\n",
		       "--pairs: an empty label and a path left alone are reported");
		filelist_free(&l);
	}

	/* The stream fails under the reader: a folder opened as a file. */
	{
		FILE *f = fopen("flat", "r");

		filelist_init(&l);
		rc = f ? filelist_read(&l, f, '\n', 0, &e) : 0;
		is_str(rc ? e.msg : "", "standard input: read error: Is a directory",
		       "a read error is reported with the system's reason");
		if (f)
			fclose(f);
		filelist_free(&l);
	}

	/* A NUL byte in a line-mode list: the man page says a path holds
	 * any byte but NUL, so refusing it is right, but calling the path
	 * empty sends the user looking for an empty line. */
	filelist_init(&l);
	rc = READ(&l, "dir/a\0b.png\n", '\n', &e);
	ok(rc == -1, "a path with a NUL byte is refused");
	is_str(rc ? e.msg : "", "standard input: line 1: a path that holds a NUL byte, which no "
	       "path may", "and the message says so, not that it is empty");
	filelist_free(&l);
}

/* 300 relative paths "cls/000.jpg"... */
static void many(struct filelist *l, unsigned from, unsigned to)
{
	struct err e;
	char p[32];

	for (unsigned i = from; i < to; i++) {
		snprintf(p, sizeof p, "cls/%03u.jpg", i);
		filelist_add_file(l, p, strlen(p), i % 2 ? "odd" : "even", i % 2 ? 3 : 4, &e);
	}
}

static unsigned number_of(const struct filelist_entry *en)
{
	return (unsigned)atoi(en->path + 4);
}

static void test_shard(void)
{
	/* shard_of from the Python in the header comment */
	static const unsigned first12_of3[12] = { 3, 1, 3, 3, 2, 2, 2, 2, 2, 2, 2, 1 };
	static const size_t count3[] = { 88, 108, 104 }, count7[] = { 57, 51, 32, 41, 43, 38, 38 };
	const unsigned ns[] = { 1, 2, 3, 7 };

	for (size_t t = 0; t < sizeof ns / sizeof *ns; t++) {
		unsigned n = ns[t], owner[300] = { 0 };
		int disjoint = 1, ordered = 1, labelled = 1, covering = 1, counts = 1;

		for (unsigned k = 1; k <= n; k++) {
			struct filelist l;

			filelist_init(&l);
			many(&l, 0, 300);
			filelist_shard(&l, k, n);
			for (size_t i = 0; i < l.n; i++) {
				unsigned x = number_of(&l.v[i]);

				disjoint &= owner[x] == 0;
				owner[x] = k;
				ordered &= i == 0 || x > number_of(&l.v[i - 1]);
				labelled &= !strcmp(l.v[i].label, x % 2 ? "odd" : "even");
			}
			if (n == 3)
				counts &= l.n == count3[k - 1];
			if (n == 7)
				counts &= l.n == count7[k - 1];
			filelist_free(&l);
		}
		for (unsigned x = 0; x < 300; x++)
			covering &= owner[x] != 0;
		ok(disjoint && covering, "shards 1..%u of %u: disjoint, together every entry", n, n);
		ok(ordered && labelled, "shards of %u keep the list's order and each entry's label", n);
		if (n == 3 || n == 7)
			ok(counts, "shards of %u hold the pinned numbers of entries", n);
		if (n == 3) {
			int pinned = 1;

			for (unsigned x = 0; x < 12; x++)
				pinned &= owner[x] == first12_of3[x];
			ok(pinned, "cls/000.jpg to cls/011.jpg are in shards 3 1 3 3 2 2 2 2 2 2 2 1 of 3");
		}
	}

	/* Stable: 100 more files move none of the first 300. */
	{
		struct filelist a, b;
		size_t j = 0;
		int same = 1;

		filelist_init(&a);
		filelist_init(&b);
		many(&a, 0, 300);
		many(&b, 0, 400);
		filelist_shard(&a, 2, 3);
		filelist_shard(&b, 2, 3);
		for (size_t i = 0; i < b.n; i++)
			if (number_of(&b.v[i]) < 300)
				same &= j < a.n && !strcmp(b.v[i].path, a.v[j++].path);
		ok(same && j == a.n, "adding files moves no other file between shards");
		filelist_free(&a);
		filelist_free(&b);
	}

	/* The relative part decides, not the folder's name. */
	{
		struct filelist a, b;
		struct err e;
		int same;

		filelist_init(&a);
		filelist_init(&b);
		filelist_add_dir(&a, "data", &e);
		filelist_add_dir(&b, "./data/", &e);
		filelist_shard(&a, 2, 3);
		filelist_shard(&b, 2, 3);
		/* shard_of(rel, 3) == 2 from the Python */
		is_entries(&a, 0,
			   "data/|cat/Z.png|cat\ndata/|cat/link.png|cat\n"
			   "data/|dog/a-b.png|dog\ndata/|dog/b.png|dog\n",
			   "shard 2 of 3 of the dataset: the pinned files, in order, labelled");
		same = a.n == b.n;
		for (size_t i = 0; same && i < a.n; i++)
			same = !strcmp(a.v[i].path + a.v[i].rel_off, b.v[i].path + b.v[i].rel_off);
		ok(same, "the folder read as ./data/ has the same shard");
		filelist_free(&a);
		filelist_free(&b);
	}
}

static void test_shuffle(void)
{
	/* shuffled() from the Python in the header comment */
	static const char seed3[] =
		"|02.png|-\n|04.png|-\n|08.png|-\n|05.png|-\n|03.png|-\n"
		"|09.png|-\n|00.png|-\n|01.png|-\n|07.png|-\n|06.png|-\n";
	static const char seed4[] =
		"|08.png|-\n|04.png|-\n|00.png|-\n|03.png|-\n|05.png|-\n"
		"|09.png|-\n|07.png|-\n|06.png|-\n|02.png|-\n|01.png|-\n";
	struct filelist l;
	struct err e;
	char p[16];

	filelist_init(&l);
	for (int i = 0; i < 10; i++) {
		snprintf(p, sizeof p, "%02d.png", i);
		filelist_add_file(&l, p, strlen(p), NULL, 0, &e);
	}
	ok(filelist_shuffle(&l, 3, &e) == 0, "a list is shuffled");
	is_entries(&l, 0, seed3, "seed 3: the pinned order");
	ok(filelist_shuffle(&l, 3, &e) == 0, "a shuffled list is shuffled again");
	is_entries(&l, 0, seed3, "the order depends on the seed and the paths, not the list's order");
	filelist_shuffle(&l, 4, &e);
	is_entries(&l, 0, seed4, "seed 4: another pinned order");
	/* 03.png, 09.png and 06.png are shard 2 of 3 (the Python's shard_of). */
	filelist_shard(&l, 2, 3);
	filelist_shuffle(&l, 3, &e);
	is_entries(&l, 0, "|03.png|-\n|09.png|-\n|06.png|-\n",
		   "a shuffled shard is the shuffled list with the other shards left out");
	filelist_free(&l);

	/* Labels travel with their entries; the folder's name does not
	 * change the order. */
	{
		struct filelist a, b;
		int same = 1, labelled = 1;

		filelist_init(&a);
		filelist_init(&b);
		filelist_add_dir(&a, "data", &e);
		filelist_add_dir(&b, "./data/", &e);
		filelist_shuffle(&a, 5, &e);
		filelist_shuffle(&b, 5, &e);
		/* shuffled(rels, 5) from the Python */
		is_entries(&a, 0,
			   "data/|cat/\\xc3\\xa9.png|cat\ndata/|cat/\\xff.png|cat\n"
			   "data/|cat/notes.txt|cat\ndata/|Zebra/1.png|Zebra\n"
			   "data/|dog/a.png|dog\ndata/|cat/link.png|cat\ndata/|cat/Z.png|cat\n"
			   "data/|cat/broken.png|cat\ndata/|dog/a/z.png|dog\ndata/|dog/b.png|dog\n"
			   "data/|cat/z.png|cat\ndata/|dog/a-b.png|dog\n"
			   "data/|dog/zlinkdir/1.png|dog\n",
			   "the dataset shuffled with seed 5: the pinned order, labels kept");
		for (size_t i = 0; i < a.n; i++) {
			const char *rel = a.v[i].path + a.v[i].rel_off;

			same &= !strcmp(rel, b.v[i].path + b.v[i].rel_off);
			labelled &= !strncmp(rel, a.v[i].label, strlen(a.v[i].label)) &&
				    rel[strlen(a.v[i].label)] == '/';
		}
		ok(a.n == 13 && same, "data and ./data/ shuffle to the same order of relative paths");
		ok(labelled, "each entry keeps its own label through the shuffle");
		filelist_free(&a);
		filelist_free(&b);
	}

	filelist_init(&l);
	ok(filelist_shuffle(&l, 1, &e) == 0 && l.n == 0, "an empty list (an empty shard) shuffles");
	filelist_free(&l);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096];

	if (snprintf(dir, sizeof dir, "%s/vp-filelist.XXXXXX", tmp && *tmp ? tmp : "/tmp") >=
		    (int)sizeof dir ||
	    !mkdtemp(dir) || chdir(dir)) {
		printf("Bail out! cannot make a scratch folder: %s\n", strerror(errno));
		return 2;
	}
	make_dataset();
	test_class_folders();
	test_flat_folder();
	test_dir_errors();
	test_dir_problems();
	test_add_file();
	test_read();
	test_shard();
	test_shuffle();
	if (chdir("/") || scratch_remove_tree(dir))
		printf("# could not remove %s\n", dir);
	return tap_done();
}
