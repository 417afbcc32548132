/* Work spread over threads: a fixed list of tasks that the threads claim in
 * turn. Which thread runs a task never changes what the task computes, so
 * a result made of tasks is the same on any number of threads. */
#ifndef BASE_THREADS_H
#define BASE_THREADS_H

#include <stddef.h>

/* Threads any one call starts at most. */
#define THREADS_MAX 64

/* The cores this process may run on (its CPU affinity, as taskset or a
 * container set it), at least 1: the default thread count of every tool. */
int threads_available(void);

/* fn(ctx, task, thread) for every task in [0, ntasks), on the calling
 * thread and up to threads - 1 more (thread is 0 .. threads - 1, for
 * per-thread scratch); returns when all are done. The helper threads are
 * started at the first call and kept, waiting, for the next; a call made
 * while another holds them (from a task, or from another thread) starts
 * and joins threads of its own. A thread that cannot be started leaves
 * its share to the others. */
typedef void (*threads_task_fn)(void *ctx, size_t task, int thread);
void threads_parallel(int threads, size_t ntasks, threads_task_fn fn, void *ctx);

/* Items prepared by `threads` worker threads, in any order and at most
 * `window` ahead of the caller, and consumed by the calling thread in
 * order: a stream read, or written, in order while the work is spread.
 * The items are [0, n), or, with a source, as many as it makes: it is
 * called on a thread of its own for item after item, at most window
 * ahead, and returns 1 when the item is there, 0 after the last, -1 to
 * stop the run (the caller keeps the reason); so a list read as it comes
 * is prepared and written as it comes. Item i uses slot i % window of the
 * caller's buffers. Each worker calls begin first and end last (either
 * may be NULL), for its own state. consume returning -1 stops the run:
 * the items being prepared are finished, no more are started. Returns 0
 * when every item was consumed, -1 when consume or the source stopped it,
 * or no thread could start (the message in e). A run that stops early
 * cancels a source blocked reading its input: the source function must
 * hold nothing it would need to release at its blocking calls. */
struct threads_pipeline {
	void (*begin)(void *ctx, int worker);
	int (*source)(void *ctx, size_t item, size_t slot);
	void (*prepare)(void *ctx, size_t item, size_t slot, int worker);
	int (*consume)(void *ctx, size_t item, size_t slot);
	void (*end)(void *ctx, int worker);
};

struct err;
int threads_pipeline_run(int threads, size_t n, size_t window, const struct threads_pipeline *ops,
		    void *ctx, struct err *e);

#endif
