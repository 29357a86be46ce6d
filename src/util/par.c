/* par.c — see par.h. */
#include "util/par.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

typedef struct par_job {
    atomic_size_t next;
    size_t n_tasks;
    void (*fn)(void *ctx, size_t task, int worker);
    void *ctx;
} par_job;

typedef struct par_worker {
    par_job *job;
    int id;
} par_worker;

static void run(par_job *job, int id)
{
    for (;;) {
        size_t t = atomic_fetch_add(&job->next, 1);
        if (t >= job->n_tasks)
            return;
        job->fn(job->ctx, t, id);
    }
}

static void *thread_main(void *arg)
{
    par_worker *w = arg;
    run(w->job, w->id);
    return NULL;
}

void iso_parallel_for(size_t n_tasks, int threads, void (*fn)(void *ctx, size_t task, int worker),
                      void *ctx)
{
    par_job job = {.n_tasks = n_tasks, .fn = fn, .ctx = ctx};
    atomic_init(&job.next, 0);
    enum { MAX_THREADS = 64 };
    pthread_t tid[MAX_THREADS];
    par_worker w[MAX_THREADS];
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if ((size_t)threads > n_tasks)
        threads = (int)(n_tasks ? n_tasks : 1);
    int started = 0;
    for (int i = 1; i < threads; i++) {
        w[i].job = &job;
        w[i].id = i;
        if (pthread_create(&tid[i], NULL, thread_main, &w[i]) != 0)
            break; /* fewer threads: still correct */
        started = i;
    }
    run(&job, 0);
    for (int i = 1; i <= started; i++)
        pthread_join(tid[i], NULL);
}

int iso_threads(int requested)
{
    if (requested > 0)
        return requested > 64 ? 64 : requested;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}
