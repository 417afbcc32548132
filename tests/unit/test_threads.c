/* Unit tests of the thread helpers: threads_parallel runs every task once on
 * any number of threads, its kept threads or, called from inside a task,
 * threads of its own; threads_pipeline_run prepares every item once, never
 * more than the window ahead of the consumer, hands them over in order,
 * and stops when the consumer says so; with a source, items come as it
 * makes them, from a pipe that may pause or never end. */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "tap.h"
#include "threads.h"

#define TASKS 1000

struct count {
	atomic_int runs[TASKS];
	atomic_int bad_thread;
	/* A thread number in use, and tasks that found theirs in use: two
	 * threads given one number would share its scratch. */
	atomic_int busy[THREADS_MAX], shared;
	int threads;
};

static void count_task(void *ctx, size_t task, int thread)
{
	struct count *c = ctx;

	atomic_fetch_add(&c->runs[task], 1);
	if (thread < 0 || thread >= c->threads) {
		atomic_fetch_add(&c->bad_thread, 1);
		return;
	}
	if (atomic_exchange(&c->busy[thread], 1))
		atomic_fetch_add(&c->shared, 1);
	/* Long enough for the threads' tasks to overlap. */
	for (volatile int spin = 0; spin < 2000; spin++)
		;
	atomic_store(&c->busy[thread], 0);
}

static void check_parallel(int threads)
{
	struct count *c = calloc(1, sizeof *c);
	int once = 1;

	c->threads = threads;
	threads_parallel(threads, TASKS, count_task, c);
	for (int i = 0; i < TASKS; i++)
		once = once && atomic_load(&c->runs[i]) == 1;
	ok(once && atomic_load(&c->bad_thread) == 0 && atomic_load(&c->shared) == 0,
	   "threads_parallel on %d threads: every task once, thread numbers in range, none "
	   "in use by two threads at once", threads);
	free(c);
}

/* threads_parallel called from inside tasks of another, on every thread at
 * once: the inner calls find the kept threads busy and start their own. */
struct nested {
	struct count inner[4];
};

static void nested_task(void *ctx, size_t task, int thread)
{
	struct nested *n = ctx;

	(void)thread;
	threads_parallel(n->inner[task].threads, TASKS, count_task, &n->inner[task]);
}

static void check_nested(void)
{
	struct nested *n = calloc(1, sizeof *n);
	int once = 1, bad = 0;

	for (int k = 0; k < 4; k++)
		n->inner[k].threads = 3;
	threads_parallel(4, 4, nested_task, n);
	for (int k = 0; k < 4; k++) {
		for (int i = 0; i < TASKS; i++)
			once = once && atomic_load(&n->inner[k].runs[i]) == 1;
		bad += atomic_load(&n->inner[k].bad_thread) + atomic_load(&n->inner[k].shared);
	}
	ok(once && !bad, "threads_parallel inside the tasks of another: every inner task once, "
			 "thread numbers in range, none in use by two threads at once");
	free(n);
}

#define ITEMS 500
#define WINDOW 5

struct line {
	atomic_int prepared[ITEMS];
	atomic_size_t consumed;
	atomic_int ahead, slot_mismatch, begun, ended;
	size_t order[ITEMS], norder, slot_item[WINDOW], stop_at;
};

static void line_begin(void *ctx, int worker)
{
	struct line *l = ctx;

	(void)worker;
	atomic_fetch_add(&l->begun, 1);
}

static void line_prepare(void *ctx, size_t item, size_t slot, int worker)
{
	struct line *l = ctx;

	(void)worker;
	if (item >= atomic_load(&l->consumed) + WINDOW)
		atomic_fetch_add(&l->ahead, 1);
	if (slot != item % WINDOW)
		atomic_fetch_add(&l->slot_mismatch, 1);
	l->slot_item[slot] = item;
	atomic_fetch_add(&l->prepared[item], 1);
}

static int line_consume(void *ctx, size_t item, size_t slot)
{
	struct line *l = ctx;

	if (l->slot_item[slot] != item)
		atomic_fetch_add(&l->slot_mismatch, 1);
	l->order[l->norder++] = item;
	atomic_fetch_add(&l->consumed, 1);
	return item + 1 == l->stop_at ? -1 : 0;
}

static void line_end(void *ctx, int worker)
{
	struct line *l = ctx;

	(void)worker;
	atomic_fetch_add(&l->ended, 1);
}

static void check_pipeline(int threads, size_t stop_at)
{
	static const struct threads_pipeline ops = {
		.begin = line_begin, .prepare = line_prepare, .consume = line_consume,
		.end = line_end,
	};
	struct line *l = calloc(1, sizeof *l);
	struct err e;
	int rc, in_order = 1, once = 1;

	l->stop_at = stop_at;
	rc = threads_pipeline_run(threads, ITEMS, WINDOW, &ops, l, &e);
	for (size_t i = 0; i < l->norder; i++)
		in_order = in_order && l->order[i] == i;
	for (size_t i = 0; i < l->norder; i++)
		once = once && atomic_load(&l->prepared[i]) == 1;
	if (!stop_at) {
		ok(rc == 0 && l->norder == ITEMS && in_order && once,
		   "pipeline on %d threads: every item prepared once, consumed in order", threads);
		ok(!atomic_load(&l->ahead) && !atomic_load(&l->slot_mismatch),
		   "... never more than the window ahead, each in its slot");
		ok(atomic_load(&l->begun) == threads && atomic_load(&l->ended) == threads,
		   "... every worker begun and ended once");
	} else {
		size_t prepared = 0;

		for (size_t i = 0; i < ITEMS; i++)
			prepared += (size_t)atomic_load(&l->prepared[i]);
		ok(rc == -1 && l->norder == stop_at && in_order && prepared < stop_at + WINDOW + 1,
		   "pipeline stopped by its consumer at item %zu: %zu prepared, no more",
		   stop_at, prepared);
	}
	free(l);
}

/* A source reading one byte per item from a pipe: 'x' is an item, 'e'
 * stops the run, the pipe's end ends the items. The consumer sees the
 * byte the source put in the slot. */
struct feed {
	int fd;
	char slot_byte[WINDOW];
	char got[ITEMS];
	size_t ngot, stop_at;
	atomic_int prepared_wrong;
};

static int feed_source(void *ctx, size_t item, size_t slot)
{
	struct feed *f = ctx;
	char c;

	(void)item;
	if (read(f->fd, &c, 1) != 1)
		return 0;
	if (c == 'e')
		return -1;
	f->slot_byte[slot] = c;
	return 1;
}

static void feed_prepare(void *ctx, size_t item, size_t slot, int worker)
{
	struct feed *f = ctx;

	(void)item;
	(void)worker;
	if (f->slot_byte[slot] != 'x')
		atomic_fetch_add(&f->prepared_wrong, 1);
	f->slot_byte[slot] = 'p';
}

static int feed_consume(void *ctx, size_t item, size_t slot)
{
	struct feed *f = ctx;

	f->got[f->ngot++] = f->slot_byte[slot];
	return item + 1 == f->stop_at ? -1 : 0;
}

/* Writes `bytes` into a pipe (closing it when close_after) and runs the
 * pipeline on it; the alarm turns a hang into a failure. */
static int run_feed(const char *bytes, int close_after, size_t stop_at, struct feed *f)
{
	static const struct threads_pipeline ops = {
		.source = feed_source, .prepare = feed_prepare, .consume = feed_consume,
	};
	struct err e;
	int fds[2], rc;

	memset(f, 0, sizeof *f);
	if (pipe(fds))
		return -2;
	if (write(fds[1], bytes, strlen(bytes)) != (ssize_t)strlen(bytes))
		return -2;
	if (close_after)
		close(fds[1]);
	f->fd = fds[0];
	f->stop_at = stop_at;
	alarm(20);
	rc = threads_pipeline_run(2, 0, WINDOW, &ops, f, &e);
	alarm(0);
	close(fds[0]);
	if (!close_after)
		close(fds[1]);
	return rc;
}

static void check_source(void)
{
	struct feed f;
	char many[ITEMS + 1];
	int rc, all_prepared = 1;

	memset(many, 'x', ITEMS);
	many[ITEMS] = 0;
	rc = run_feed(many, 1, 0, &f);
	for (size_t i = 0; i < f.ngot; i++)
		all_prepared = all_prepared && f.got[i] == 'p';
	ok(rc == 0 && f.ngot == ITEMS && all_prepared && !atomic_load(&f.prepared_wrong),
	   "source: %d items as it makes them, each prepared from its own slot", ITEMS);
	rc = run_feed("", 1, 0, &f);
	ok(rc == 0 && f.ngot == 0, "source with no items: a run of none");
	rc = run_feed("xxxexx", 1, 0, &f);
	ok(rc == -1 && f.ngot == 3, "source stopping the run: the items before it consumed, "
	   "-1 returned (%d, %zu)", rc, f.ngot);
	/* The pipe stays open and empty after two items: the source blocks
	 * in read, and the consumer's stop must not wait for it. */
	rc = run_feed("xx", 0, 2, &f);
	ok(rc == -1 && f.ngot == 2, "consumer stopping while the source blocks on input "
	   "that never ends: the run returns");
}

int main(void)
{
	check_parallel(1);
	check_parallel(3);
	check_parallel(THREADS_MAX + 5);
	check_parallel(2);
	check_nested();
	check_pipeline(1, 0);
	check_pipeline(4, 0);
	check_pipeline(3, 123);
	check_source();
	ok(threads_available() >= 1, "at least one core available");
	return tap_done();
}
