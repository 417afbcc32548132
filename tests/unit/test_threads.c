/* Unit tests of the thread helpers: threads_parallel runs every task once on
 * any number of threads; threads_pipeline_run prepares every item once, never
 * more than the window ahead of the consumer, hands them over in order,
 * and stops when the consumer says so. */
#include <stdatomic.h>
#include <stdlib.h>

#include "err.h"
#include "tap.h"
#include "threads.h"

#define TASKS 1000

struct count {
	atomic_int runs[TASKS];
	atomic_int bad_thread;
	int threads;
};

static void count_task(void *ctx, size_t task, int thread)
{
	struct count *c = ctx;

	atomic_fetch_add(&c->runs[task], 1);
	if (thread < 0 || thread >= c->threads)
		atomic_fetch_add(&c->bad_thread, 1);
}

static void check_parallel(int threads)
{
	struct count *c = calloc(1, sizeof *c);
	int once = 1;

	c->threads = threads;
	threads_parallel(threads, TASKS, count_task, c);
	for (int i = 0; i < TASKS; i++)
		once = once && atomic_load(&c->runs[i]) == 1;
	ok(once && atomic_load(&c->bad_thread) == 0,
	   "threads_parallel on %d threads: every task once, thread numbers in range", threads);
	free(c);
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
	static const struct threads_pipeline ops = { line_begin, line_prepare, line_consume, line_end };
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

int main(void)
{
	check_parallel(1);
	check_parallel(3);
	check_parallel(THREADS_MAX + 5);
	check_pipeline(1, 0);
	check_pipeline(4, 0);
	check_pipeline(3, 123);
	ok(threads_available() >= 1, "at least one core available");
	return tap_done();
}
