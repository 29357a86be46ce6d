/* runner.h — the daemon's job threads.
 *
 * A scheduler thread turns series the completion tracker calls ready into
 * queued jobs (at the instance count the index has then); `workers` worker
 * threads claim jobs and run them (work.h) at niceness `nice`, so the SCP's
 * threads always come first.  At start every stored series that no job
 * covers is handed to the tracker again (a restart loses no pending series;
 * the node's own derived series are skipped).  Stop waits for running jobs
 * to finish; a job cut short by a crash is re-run after the restart.
 */
#ifndef ISO_JOBS_RUNNER_H
#define ISO_JOBS_RUNNER_H

#include "jobs/completion.h"
#include "jobs/queue.h"
#include "jobs/work.h"

typedef struct iso_runner iso_runner;

/* env->kick (may be NULL) is called after each job, which may have queued
 * deliveries. */
iso_code iso_runner_start(const iso_job_env *env, iso_jobs *jobs, iso_completion *completion,
                          iso_runner **out, iso_err *err);
void iso_runner_stop(iso_runner *r);

/* A job running now: its stage and how long it has run. */
typedef struct iso_running_job {
    int64_t id;
    char stage[40];
    double seconds;
} iso_running_job;
/* The jobs running now (at most max into out); returns how many. */
int iso_runner_running(iso_runner *r, iso_running_job *out, int max);

#endif
