#include "threads.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
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

/* Claims the job's tasks until none is left. */
static void work(struct job *j, int thread)
{
	size_t t;

	while ((t = atomic_fetch_add(&j->next, 1)) < j->ntasks)
		j->fn(j->ctx, t, thread);
}

/* Helper threads started once and kept, waiting for the next job: a
 * thread started and joined for every call cost 36 us, and fine-tuning
 * makes over a hundred calls a batch, vggfeat about fifty an image. One
 * caller at a time holds the pool (pool_owner); a call that finds it
 * held, from another thread or from inside a task, starts threads of its
 * own as before. Under mu: each new job raises generation and wakes the
 * helpers; the first `wanted` to wake take thread numbers 1, 2, ... and
 * count themselves in `active`; the caller, done with its own share,
 * closes the job to latecomers (wanted = joined) and waits until active
 * is 0, after which no helper touches the job on its stack. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t wake, idle;
	struct job *job;
	unsigned long generation;
	int size, wanted, joined, active;
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER,
	   .wake = PTHREAD_COND_INITIALIZER,
	   .idle = PTHREAD_COND_INITIALIZER };
static pthread_mutex_t pool_owner = PTHREAD_MUTEX_INITIALIZER;

static void *pool_helper(void *arg)
{
	/* The generation when it was started: the jobs after it are new. */
	unsigned long seen = (unsigned long)(uintptr_t)arg;

	pthread_mutex_lock(&pool.mu);
	for (;;) {
		struct job *j;
		int thread;

		while (pool.generation == seen)
			pthread_cond_wait(&pool.wake, &pool.mu);
		seen = pool.generation;
		if (pool.joined >= pool.wanted)
			continue;
		thread = ++pool.joined;
		pool.active++;
		j = pool.job;
		pthread_mutex_unlock(&pool.mu);
		work(j, thread);
		pthread_mutex_lock(&pool.mu);
		if (--pool.active == 0)
			pthread_cond_signal(&pool.idle);
	}
	return NULL;
}

/* Up to `helpers` pool threads for the job on the caller's stack, the
 * caller running its share as thread 0. The caller holds pool_owner. */
static void pool_run(struct job *job, int helpers)
{
	pthread_attr_t attr;

	if (pthread_attr_init(&attr) == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		while (pool.size < helpers) {
			pthread_t tid;

			if (pthread_create(&tid, &attr, pool_helper,
					   (void *)(uintptr_t)pool.generation))
				break;
			pool.size++;
		}
		pthread_attr_destroy(&attr);
	}
	pthread_mutex_lock(&pool.mu);
	pool.job = job;
	pool.wanted = helpers < pool.size ? helpers : pool.size;
	pool.joined = 0;
	pool.generation++;
	pthread_cond_broadcast(&pool.wake);
	pthread_mutex_unlock(&pool.mu);
	work(job, 0);
	pthread_mutex_lock(&pool.mu);
	pool.wanted = pool.joined;
	while (pool.active > 0)
		pthread_cond_wait(&pool.idle, &pool.mu);
	pthread_mutex_unlock(&pool.mu);
}

struct spawned {
	struct job *job;
	int thread;
};

static void *spawned_work(void *arg)
{
	const struct spawned *w = arg;

	work(w->job, w->thread);
	return NULL;
}

/* The job on threads started for it and joined: where the pool is held. */
static void spawn_run(struct job *job, int helpers)
{
	struct spawned wk[THREADS_MAX];
	pthread_t tid[THREADS_MAX];
	int started[THREADS_MAX] = { 0 };

	for (int i = 1; i <= helpers; i++) {
		wk[i] = (struct spawned){ .job = job, .thread = i };
		started[i] = !pthread_create(&tid[i], NULL, spawned_work, &wk[i]);
	}
	work(job, 0);
	for (int i = 1; i <= helpers; i++)
		if (started[i])
			pthread_join(tid[i], NULL);
}

void threads_parallel(int threads, size_t ntasks, threads_task_fn fn, void *ctx)
{
	struct job job = { .fn = fn, .ctx = ctx, .ntasks = ntasks };

	if (threads < 1)
		threads = 1;
	if (threads > THREADS_MAX)
		threads = THREADS_MAX;
	if ((size_t)threads > ntasks)
		threads = ntasks ? (int)ntasks : 1;
	atomic_init(&job.next, 0);
	if (threads == 1) {
		work(&job, 0);
	} else if (pthread_mutex_trylock(&pool_owner) == 0) {
		pool_run(&job, threads - 1);
		pthread_mutex_unlock(&pool_owner);
	} else {
		spawn_run(&job, threads - 1);
	}
}

/* The state the source, the workers and the consumer share, under mu;
 * each waits on `changed` for what it needs and broadcasts what it did.
 * Items [0, avail) exist; ready[slot] says the slot holds its item,
 * prepared. */
struct pipe {
	const struct threads_pipeline *ops;
	void *ctx;
	size_t avail, window, next, consumed;
	int ended, stop, source_failed;
	unsigned char *ready;
	pthread_mutex_t mu;
	pthread_cond_t changed;
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

		while (!p->stop && !(p->ended && p->next >= p->avail) &&
		       (p->next >= p->avail || p->next >= p->consumed + p->window))
			pthread_cond_wait(&p->changed, &p->mu);
		if (p->stop || p->next >= p->avail)
			break;
		i = p->next++;
		pthread_mutex_unlock(&p->mu);
		p->ops->prepare(p->ctx, i, i % p->window, w->id);
		pthread_mutex_lock(&p->mu);
		p->ready[i % p->window] = 1;
		pthread_cond_broadcast(&p->changed);
	}
	pthread_mutex_unlock(&p->mu);
	if (p->ops->end)
		p->ops->end(p->ctx, w->id);
	return NULL;
}

/* Items one after the other, no further ahead of the consumer than the
 * window: the source may block (a list read as it comes) while the
 * workers and the consumer go on. It may be cancelled only inside the
 * caller's source function, blocked on its input, never holding mu. */
static void *pipe_source(void *arg)
{
	struct pipe *p = arg;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		size_t i = p->avail;
		int rc;

		if (i >= p->consumed + p->window) {
			pthread_cond_wait(&p->changed, &p->mu);
			continue;
		}
		pthread_mutex_unlock(&p->mu);
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		rc = p->ops->source(p->ctx, i, i % p->window);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		pthread_mutex_lock(&p->mu);
		if (rc == 1)
			p->avail++;
		else
			p->ended = 1;
		p->source_failed = rc < 0;
		pthread_cond_broadcast(&p->changed);
		if (rc != 1)
			break;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int threads_pipeline_run(int threads, size_t n, size_t window, const struct threads_pipeline *ops,
			 void *ctx, struct err *e)
{
	struct pipe p = { .ops = ops, .ctx = ctx, .avail = ops->source ? 0 : n,
			  .ended = !ops->source, .window = window ? window : 1 };
	struct pipe_worker wk[THREADS_MAX];
	pthread_t tid[THREADS_MAX], source;
	int started = 0, rc = 0, sourcing = 0;

	if (threads > THREADS_MAX)
		threads = THREADS_MAX;
	if (!(p.ready = err_calloc(p.window, 1, e)))
		return -1;
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.changed, NULL);
	if (ops->source) {
		if ((errno = pthread_create(&source, NULL, pipe_source, &p)))
			rc = err_fail(e, "cannot start a thread: %s", strerror(errno));
		sourcing = !rc;
	}
	/* A thread that cannot start leaves the work to the others; with
	 * none, nothing can be done. */
	for (; !rc && started < (threads > 0 ? threads : 1); started++) {
		wk[started] = (struct pipe_worker){ .p = &p, .id = started };
		if ((errno = pthread_create(&tid[started], NULL, pipe_work, &wk[started]))) {
			if (!started)
				rc = err_fail(e, "cannot start a thread: %s", strerror(errno));
			break;
		}
	}
	for (size_t i = 0; !rc; i++) {
		size_t slot = i % p.window;

		pthread_mutex_lock(&p.mu);
		while (!p.ready[slot] && !(p.ended && i >= p.avail))
			pthread_cond_wait(&p.changed, &p.mu);
		pthread_mutex_unlock(&p.mu);
		if (!p.ready[slot])
			break;
		rc = ops->consume(ctx, i, slot);
		pthread_mutex_lock(&p.mu);
		p.ready[slot] = 0;
		p.consumed++;
		pthread_cond_broadcast(&p.changed);
		pthread_mutex_unlock(&p.mu);
	}
	pthread_mutex_lock(&p.mu);
	p.stop = 1;
	pthread_cond_broadcast(&p.changed);
	pthread_mutex_unlock(&p.mu);
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	/* A run stopped early does not wait for the rest of an input that
	 * may never end (a list fed as photos arrive): a source blocked
	 * reading it is cancelled. */
	if (sourcing) {
		pthread_cancel(source);
		pthread_join(source, NULL);
	}
	pthread_cond_destroy(&p.changed);
	pthread_mutex_destroy(&p.mu);
	free(p.ready);
	return rc || p.source_failed ? -1 : 0;
}
