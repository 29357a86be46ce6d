/* runner.c — scheduler and worker threads over the job queue (see
 * runner.h). */
#include "jobs/runner.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "derive/derive.h"
#include "dicom/dicom.h"
#include "store/index.h"
#include "store/layout.h"
#include "util/clock.h"
#include "util/log.h"

enum { MAX_WORKERS = 16, READY_BATCH = 32 };

struct iso_runner;
typedef struct worker_arg {
    struct iso_runner *r;
    int index;
} worker_arg;

struct iso_runner {
    iso_job_env env;
    iso_jobs *jobs;
    iso_completion *completion;
    pthread_t scheduler, workers[MAX_WORKERS];
    struct worker_arg worker_args[MAX_WORKERS];
    int n_workers;
    int scheduler_started;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a job was queued, or stop */
    int stop;
    /* what each worker runs (id 0: nothing), under mu, for the status page */
    struct {
        int64_t id;
        char stage[40];
        double since;
    } running[MAX_WORKERS];
};

/* The worker's slot in running: its job began (stage "queued" until the
 * pipeline says more), or ended (id 0). */
static void note_running(iso_runner *r, int worker, int64_t id)
{
    pthread_mutex_lock(&r->mu);
    r->running[worker].id = id;
    snprintf(r->running[worker].stage, sizeof r->running[worker].stage, "starting");
    r->running[worker].since = iso_mono_seconds();
    pthread_mutex_unlock(&r->mu);
}

static void on_stage(void *ctx, int64_t job, const char *stage)
{
    iso_runner *r = ctx;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < MAX_WORKERS; i++) /* not n_workers: start writes it unlocked */
        if (r->running[i].id == job)
            snprintf(r->running[i].stage, sizeof r->running[i].stage, "%s", stage);
    pthread_mutex_unlock(&r->mu);
}

int iso_runner_running(iso_runner *r, iso_running_job *out, int max)
{
    int n = 0;
    if (r == NULL)
        return 0;
    double now = iso_mono_seconds();
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < MAX_WORKERS && n < max; i++) {
        if (r->running[i].id == 0)
            continue;
        out[n].id = r->running[i].id;
        snprintf(out[n].stage, sizeof out[n].stage, "%s", r->running[i].stage);
        out[n].seconds = now - r->running[i].since;
        n++;
    }
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* Waits on the runner's condition for up to ms; returns non-zero to stop. */
static int nap(iso_runner *r, long ms)
{
    pthread_mutex_lock(&r->mu);
    if (!r->stop) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_nsec += (ms % 1000) * 1000000L;
        t.tv_sec += ms / 1000 + t.tv_nsec / 1000000000L;
        t.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&r->cv, &r->mu, &t);
    }
    int stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    return stop;
}

static void wake_workers(iso_runner *r)
{
    pthread_mutex_lock(&r->mu);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

typedef struct scan_ctx {
    iso_runner *r;
    iso_index *idx;
    double now;
    int added;
    iso_err err;
} scan_ctx;

/* Are a series' instances the node's own results, come back from a peer
 * (one file says it: a series is made by one producer)? */
static bool our_results(iso_index *idx, const char *data_dir, const char *series_uid)
{
    char **paths = NULL;
    size_t n = 0;
    iso_err e = {0};
    bool ours = false;
    if (iso_index_series_paths(idx, data_dir, series_uid, &paths, &n, &e) == ISO_OK && n > 0) {
        iso_attrs a;
        ours = iso_dcm_read_attrs(paths[0], &a, &e) == ISO_OK && iso_derive_is_ours(&a);
    }
    iso_index_paths_free(paths, n);
    return ours;
}

static int scan_series(void *user, const char *series_uid, int64_t instances,
                       const char *calling_ae)
{
    scan_ctx *s = user;
    if (strcmp(calling_ae, s->r->env.cfg->ae_title) == 0)
        return 0; /* our own derived results */
    int64_t covered = 0;
    if (iso_jobs_covered(s->r->jobs, series_uid, &covered, &s->err) != ISO_OK)
        return 1;
    if (instances > covered && our_results(s->idx, s->r->env.cfg->data_dir, series_uid))
        return 0; /* the node's own results, come back: no job */
    if (instances > covered) {
        if (iso_completion_pending(s->r->completion, series_uid, calling_ae, s->now, &s->err) !=
            ISO_OK)
            return 1;
        s->added++;
    }
    return 0;
}

static void *scheduler_main(void *arg)
{
    iso_runner *r = arg;
    const iso_config *cfg = r->env.cfg;
    iso_path db;
    iso_index *idx = NULL;
    iso_err err = {0};
    if (iso_layout_path(cfg->data_dir, ISO_DATA_INDEX, &db, &err) != ISO_OK ||
        iso_index_open(db.s, true, &idx, &err) != ISO_OK) {
        ISO_ERROR("jobs: cannot open the index: %s", err.msg);
        return NULL;
    }
    scan_ctx sc = {r, idx, iso_mono_seconds(), 0, {0}};
    if (iso_index_each_series(idx, scan_series, &sc, &err) != ISO_OK || sc.err.code != ISO_OK)
        ISO_ERROR("jobs: scanning stored series: %s", err.code ? err.msg : sc.err.msg);
    else if (sc.added > 0)
        ISO_INFO("jobs: %d stored series without a job since the last run, settling again",
                 sc.added);
    iso_ready_series ready[READY_BATCH];
    while (!nap(r, 50)) { /* a short scan under a mutex: cheap, and settle stays exact */
        int n = iso_completion_take_ready(r->completion, iso_mono_seconds(), (double)cfg->rc_settle_seconds,
                                          ready, READY_BATCH);
        for (int i = 0; i < n; i++) {
            int64_t count = 0, id = 0, covered = 0;
            iso_err e = {0};
            if (iso_index_series_count(idx, ready[i].series_uid, &count, &e) != ISO_OK ||
                iso_jobs_covered(r->jobs, ready[i].series_uid, &covered, &e) != ISO_OK ||
                iso_jobs_add(r->jobs, ready[i].series_uid, ready[i].calling_ae, count,
                             (long)time(NULL), &id, &e) != ISO_OK) {
                ISO_ERROR("jobs: series %s: %s", ready[i].series_uid, e.msg);
                continue;
            }
            if (id > 0)
                ISO_INFO("job %lld queued: series %s from %s, %lld instances%s", (long long)id,
                         ready[i].series_uid, ready[i].calling_ae, (long long)count,
                         count <= covered ? " (sent again)" : "");
        }
        if (n > 0)
            wake_workers(r);
    }
    iso_index_close(idx);
    return NULL;
}

static void *worker_main(void *arg)
{
    iso_runner *r = ((worker_arg *)arg)->r;
    int me = ((worker_arg *)arg)->index;
    const iso_config *cfg = r->env.cfg;
    /* niceness is per thread on Linux, and the pipeline's own threads inherit it */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), (int)cfg->rc_nice) != 0)
        ISO_WARN("jobs: cannot lower the workers' priority");
    for (;;) {
        iso_job job;
        iso_err err = {0};
        iso_code rc = iso_jobs_claim(r->jobs, (long)time(NULL), &job, &err);
        if (rc == ISO_ENOTFOUND) {
            if (nap(r, 1000))
                break;
            continue;
        }
        if (rc != ISO_OK) {
            ISO_ERROR("jobs: %s", err.msg);
            if (nap(r, 5000))
                break;
            continue;
        }
        ISO_INFO("job %lld started: series %s, attempt %d", (long long)job.id, job.series_uid,
                 job.attempts);
        double t0 = iso_mono_seconds();
        char route[80], result[1024];
        note_running(r, me, job.id);
        rc = iso_job_run(&r->env, &job, route, sizeof route, result, sizeof result, &err);
        note_running(r, me, 0);
        double secs = iso_mono_seconds() - t0;
        iso_err e = {0};
        if (rc == ISO_OK) {
            ISO_INFO("job %lld done in %.2f s (%s): %s", (long long)job.id, secs, route, result);
            if (iso_jobs_done(r->jobs, job.id, route, result, secs, (long)time(NULL), &e) != ISO_OK)
                ISO_ERROR("jobs: %s", e.msg);
        } else {
            ISO_ERROR("job %lld failed (attempt %d of %ld): %s", (long long)job.id, job.attempts,
                      cfg->rc_max_attempts, err.msg);
            if (iso_jobs_failed(r->jobs, &job, err.msg, cfg->rc_max_attempts, (long)time(NULL),
                                &e) != ISO_OK)
                ISO_ERROR("jobs: %s", e.msg);
        }
        if (r->env.kick != NULL) /* forwarding queues deliveries too */
            r->env.kick(r->env.kick_ctx);
    }
    return NULL;
}

void iso_runner_stop(iso_runner *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (r->scheduler_started)
        pthread_join(r->scheduler, NULL);
    for (int i = 0; i < r->n_workers; i++)
        pthread_join(r->workers[i], NULL);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

iso_code iso_runner_start(const iso_job_env *env, iso_jobs *jobs, iso_completion *completion,
                          iso_runner **out, iso_err *err)
{
    *out = NULL;
    iso_runner *r = calloc(1, sizeof *r);
    if (r == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    r->env = *env;
    r->env.jobs = jobs; /* result versions are noted in the queue */
    r->env.on_stage = on_stage;
    r->env.stage_ctx = r;
    r->jobs = jobs;
    r->completion = completion;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->scheduler, NULL, scheduler_main, r) != 0) {
        iso_runner_stop(r);
        return iso_fail(err, ISO_ENOMEM, "cannot start the job scheduler");
    }
    r->scheduler_started = 1;
    long n = env->cfg->rc_workers < MAX_WORKERS ? env->cfg->rc_workers : MAX_WORKERS;
    for (long i = 0; i < n; i++) {
        r->worker_args[r->n_workers] = (worker_arg){r, r->n_workers};
        if (pthread_create(&r->workers[r->n_workers], NULL, worker_main,
                           &r->worker_args[r->n_workers]) != 0) {
            iso_runner_stop(r);
            return iso_fail(err, ISO_ENOMEM, "cannot start job workers");
        }
        r->n_workers++;
    }
    *out = r;
    return ISO_OK;
}
