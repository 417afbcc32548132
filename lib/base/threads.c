#include "threads.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

int threads_available(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	return 1;
}

struct job {
	threads_task_fn fn;
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

void threads_parallel(int threads, size_t ntasks, threads_task_fn fn, void *ctx)
{
	struct job job = { .fn = fn, .ctx = ctx, .ntasks = ntasks };
	struct worker wk[THREADS_MAX];
	pthread_t tid[THREADS_MAX];
	int started[THREADS_MAX] = { 0 };

	if (threads < 1)
		threads = 1;
	if (threads > THREADS_MAX)
		threads = THREADS_MAX;
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

/* The state the workers and the consumer share, under mu. ready[slot]
 * says the slot holds its item, prepared. */
struct pipe {
	const struct threads_pipeline *ops;
	void *ctx;
	size_t n, window, next, consumed;
	int stop;
	unsigned char *ready;
	pthread_mutex_t mu;
	pthread_cond_t slot_free, slot_ready;
};

struct pipe_worker {
	struct pipe *p;
	int id;
};

static void *pipe_work(void *arg)
{
	const struct pipe_worker *w = arg;
	struct pipe *p = w->p;

	if (p->ops->begin)
		p->ops->begin(p->ctx, w->id);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		size_t i;

		while (!p->stop && p->next < p->n && p->next >= p->consumed + p->window)
			pthread_cond_wait(&p->slot_free, &p->mu);
		if (p->stop || p->next >= p->n)
			break;
		i = p->next++;
		pthread_mutex_unlock(&p->mu);
		p->ops->prepare(p->ctx, i, i % p->window, w->id);
		pthread_mutex_lock(&p->mu);
		p->ready[i % p->window] = 1;
		pthread_cond_broadcast(&p->slot_ready);
	}
	pthread_mutex_unlock(&p->mu);
	if (p->ops->end)
		p->ops->end(p->ctx, w->id);
	return NULL;
}

int threads_pipeline_run(int threads, size_t n, size_t window, const struct threads_pipeline *ops,
		    void *ctx, struct err *e)
{
	struct pipe p = { .ops = ops, .ctx = ctx, .n = n, .window = window ? window : 1 };
	struct pipe_worker wk[THREADS_MAX];
	pthread_t tid[THREADS_MAX];
	int started = 0, rc = 0;

	if (threads > THREADS_MAX)
		threads = THREADS_MAX;
	if (!(p.ready = err_calloc(p.window, 1, e)))
		return -1;
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.slot_free, NULL);
	pthread_cond_init(&p.slot_ready, NULL);
	/* A thread that cannot start leaves the work to the others; with
	 * none, nothing can be done. */
	for (; started < (threads > 0 ? threads : 1); started++) {
		wk[started] = (struct pipe_worker){ .p = &p, .id = started };
		if ((errno = pthread_create(&tid[started], NULL, pipe_work, &wk[started]))) {
			if (!started)
				rc = err_fail(e, "cannot start a thread: %s", strerror(errno));
			break;
		}
	}
	for (size_t i = 0; i < n && !rc; i++) {
		size_t slot = i % p.window;

		pthread_mutex_lock(&p.mu);
		while (!p.ready[slot])
			pthread_cond_wait(&p.slot_ready, &p.mu);
		pthread_mutex_unlock(&p.mu);
		rc = ops->consume(ctx, i, slot);
		pthread_mutex_lock(&p.mu);
		p.ready[slot] = 0;
		p.consumed++;
		pthread_cond_broadcast(&p.slot_free);
		pthread_mutex_unlock(&p.mu);
	}
	pthread_mutex_lock(&p.mu);
	p.stop = 1;
	pthread_cond_broadcast(&p.slot_free);
	pthread_mutex_unlock(&p.mu);
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	pthread_cond_destroy(&p.slot_free);
	pthread_cond_destroy(&p.slot_ready);
	pthread_mutex_destroy(&p.mu);
	free(p.ready);
	return rc ? -1 : 0;
}
