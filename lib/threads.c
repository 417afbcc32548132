#include "threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

int vp_available_cores(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	return 1;
}

struct job {
	vp_task_fn fn;
	void *ctx;
	size_t ntasks;
	atomic_size_t next;
};

struct worker {
	struct job *job;
	int thread;
};

static void *work(void *arg)
{
	const struct worker *w = arg;
	struct job *j = w->job;
	size_t t;

	while ((t = atomic_fetch_add(&j->next, 1)) < j->ntasks)
		j->fn(j->ctx, t, w->thread);
	return NULL;
}

void vp_parallel(int threads, size_t ntasks, vp_task_fn fn, void *ctx)
{
	struct job job = { .fn = fn, .ctx = ctx, .ntasks = ntasks };
	struct worker wk[VP_MAX_THREADS];
	pthread_t tid[VP_MAX_THREADS];
	int started[VP_MAX_THREADS] = { 0 };

	if (threads > VP_MAX_THREADS)
		threads = VP_MAX_THREADS;
	if ((size_t)threads > ntasks)
		threads = (int)ntasks;
	atomic_init(&job.next, 0);
	for (int i = 0; i < threads || i == 0; i++)
		wk[i] = (struct worker){ .job = &job, .thread = i };
	for (int i = 1; i < threads; i++)
		started[i] = !pthread_create(&tid[i], NULL, work, &wk[i]);
	work(&wk[0]);
	for (int i = 1; i < threads; i++)
		if (started[i])
			pthread_join(tid[i], NULL);
}
