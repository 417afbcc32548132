/* Work spread over threads: a fixed list of tasks that the threads claim in
 * turn. Which thread runs a task never changes what the task computes, so
 * a result made of tasks is the same on any number of threads. */
#ifndef VP_THREADS_H
#define VP_THREADS_H

#include <stddef.h>

/* Threads any one call starts at most. */
#define VP_MAX_THREADS 64

/* The cores this process may run on (its CPU affinity, as taskset or a
 * container set it), at least 1: the default thread count of every tool. */
int vp_available_cores(void);

/* fn(ctx, task, thread) for every task in [0, ntasks), on the calling
 * thread and up to threads - 1 more (thread is 0 .. threads - 1, for
 * per-thread scratch); returns when all are done. A thread that cannot be
 * started leaves its share to the others. */
typedef void (*vp_task_fn)(void *ctx, size_t task, int thread);
void vp_parallel(int threads, size_t ntasks, vp_task_fn fn, void *ctx);

#endif
