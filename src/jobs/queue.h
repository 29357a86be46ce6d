/* queue.h — the persistent job queue: one row per reconstruction (or
 * routing) of a series, in DATA_DIR/jobs.sqlite (WAL, synchronous=FULL).
 *
 * States:
 *   queued ──claim──► running ──► done        (reconstructed, refused with a
 *     ▲                  │                      reason, or routed only)
 *     │                  ├──► failed ──(next_at)──► claimed again
 *     │                  └──► dead   (max_attempts failures)
 *     └── retry (operator) ◄── dead | failed | done;  cancel: queued|failed|dead → cancelled
 * A job left `running` by a crash goes back to `queued` when the queue is
 * opened (its attempt counts).  A job covers the instance count the series
 * had when it was queued; instances arriving later make a new job (the
 * next version), and a series never has two jobs running at once.  A series
 * that arrives again when its jobs already cover its instance count (a
 * re-send: duplicates, or replaced content) gets a re-send job for the AE
 * that sent it: its results go back to that AE alone, if it sent every
 * instance (jobs/work.c), reconstructed again when the content changed.
 */
#ifndef ISO_JOBS_QUEUE_H
#define ISO_JOBS_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

typedef struct iso_jobs iso_jobs;

typedef struct iso_job {
    int64_t id;
    char series_uid[65];
    char calling_ae[17];
    int64_t instances;
    int attempts;
    long created; /* Unix seconds: the creation time of a new version's derived objects */
    int resend;   /* the series was sent again: results go back to calling_ae only */
} iso_job;

/* Opens (creating) the queue; *recovered = jobs put back from running. */
iso_code iso_jobs_open(const char *data_dir, int readonly, iso_jobs **out, int *recovered,
                       iso_err *err);
void iso_jobs_close(iso_jobs *j);

/* Queues the series at this instance count; a queued job of the series not
 * yet started is updated instead of adding another.  A count the series'
 * jobs already cover is a re-send: a re-send job for calling_ae is added
 * unless one of the series' jobs for that AE has still to run.  *id (may be
 * NULL) gets the job, 0 if none was needed. */
iso_code iso_jobs_add(iso_jobs *j, const char *series_uid, const char *calling_ae,
                      int64_t instances, long now, int64_t *id, iso_err *err);
/* The instance count the series' jobs cover (0: none). */
iso_code iso_jobs_covered(iso_jobs *j, const char *series_uid, int64_t *instances, iso_err *err);

/* Takes the oldest due job (ISO_ENOTFOUND: none) and marks it running. */
iso_code iso_jobs_claim(iso_jobs *j, long now, iso_job *job, iso_err *err);
/* The job ended: done with what was done (route, result). */
iso_code iso_jobs_done(iso_jobs *j, int64_t id, const char *route, const char *result,
                       double seconds, long now, iso_err *err);
/* The job failed: again after a back-off, or dead after max_attempts. */
iso_code iso_jobs_failed(iso_jobs *j, const iso_job *job, const char *reason, long max_attempts,
                         long now, iso_err *err);

/* Result versions (iso_derive_version).  A job notes the version its
 * results are; *created gets the creation time of the series' first job
 * that noted this version (ISO_ENOTFOUND: none did), which the objects of
 * that version keep, so each version's objects are the same bytes whichever
 * job writes them. */
iso_code iso_jobs_note_version(iso_jobs *j, int64_t id, const char *version, iso_err *err);
/* A job notes the digest of the series' stored content it runs on;
 * *seen_before: another job of the series ran on the same content. */
iso_code iso_jobs_note_content(iso_jobs *j, int64_t id, const char *series_uid,
                               const char *content, int *seen_before, iso_err *err);
iso_code iso_jobs_version_created(iso_jobs *j, const char *series_uid, const char *version,
                                  long *created, iso_err *err);

/* For retention: whether a job of the series is still to run or running
 * (queued, running, failed and waiting to be retried), and the ids of all
 * its jobs (at most max, in ids; *n how many were written). */
iso_code iso_jobs_series_state(iso_jobs *j, const char *series_uid, bool *busy, int64_t *ids,
                               size_t max, size_t *n, iso_err *err);
/* The rule that decided the series' latest finished job ("route NAME",
 * "default", ...), "" if none did. */
iso_code iso_jobs_series_route(iso_jobs *j, const char *series_uid, char *route, size_t size,
                               iso_err *err);

/* Operator commands (isonode jobs, status). */
iso_code iso_jobs_summary(iso_jobs *j, char *out, size_t size, iso_err *err);
/* note (may be NULL) adds what became of a job's results (the outbox's
 * view, isonode jobs): after the result in text, as "delivery" in JSON. */
typedef void (*iso_job_note_fn)(void *ctx, long long job_id, char *out, size_t size);
iso_code iso_jobs_list(iso_jobs *j, FILE *out, int json, iso_job_note_fn note, void *note_ctx,
                       iso_err *err);
/* The latest `latest` jobs, oldest first, as iso_jobs_list's JSON. */
iso_code iso_jobs_list_latest(iso_jobs *j, FILE *out, int latest, iso_job_note_fn note,
                              void *note_ctx, iso_err *err);
iso_code iso_jobs_show(iso_jobs *j, int64_t id, FILE *out, iso_err *err);

/* A finished reconstruction (the status page). */
typedef struct iso_done_job {
    int64_t id;
    char series_uid[65];
    char version[65]; /* with series_uid and the key, names the derived objects */
    char finished[24]; /* ISO 8601 UTC */
    double seconds;
    char result[1024];
} iso_done_job;
/* The latest reconstructions that made results, newest first (at most max). */
iso_code iso_jobs_reconstructed(iso_jobs *j, int max, iso_done_job *out, int *n, iso_err *err);
/* One of them by id (series_uid and version only); ISO_ENOTFOUND if the
 * job is not done with results. */
iso_code iso_jobs_get_done(iso_jobs *j, int64_t id, iso_done_job *out, iso_err *err);
/* Jobs finished in each of the last 24 hours (hours[0]: the last hour):
 * how many, and their latency from queued to finished (mean, max) and run
 * time (mean), in seconds. */
typedef struct iso_jobs_hour {
    int jobs;
    double mean_latency, max_latency, mean_seconds;
} iso_jobs_hour;
iso_code iso_jobs_hourly(iso_jobs *j, long now, iso_jobs_hour hours[24], iso_err *err);
iso_code iso_jobs_retry(iso_jobs *j, int64_t id, iso_err *err);
iso_code iso_jobs_cancel(iso_jobs *j, int64_t id, iso_err *err);

#endif
