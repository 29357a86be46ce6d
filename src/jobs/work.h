/* work.h — running one job: a complete series goes through its route.
 *
 *   files of the series (index) ─► route decision
 *     ├─ forward_to / forward_anonymized_to: the files (originals, stored
 *     │  de-identified copies, or copies de-identified now) into the outbox
 *     └─ reconstruct ─► derive the store's copy (the store's identity) and,
 *        when the store de-identifies, the sender's copy (original identity
 *        from the vault), both at once ─► outbox, one row per object and
 *        destination (the delivery thread starts at once) ─► store the
 *        store's copy (indexed like a received instance, calling AE = our
 *        own title)
 * A refusal of the engine is an outcome, not a failure: the series stays
 * stored and routed, the reason goes into the job's result.
 *
 * Results go back only to the job's calling AE, and only if it sent every
 * instance of the series (store/index.h: instance senders).  A re-send job
 * (the series came again) skips forwarding and routed destinations and
 * returns the results to its sender again, reconstructed: re-identified
 * copies are not kept on disk, identity lives only in the vault.
 *
 * A version of the results (iso_derive_version: the instances used, their
 * stored bytes, the surfaces) has UIDs keyed by it and the creation time of
 * the first job that made it (noted in the queue), and every attempt writes
 * to a fresh directory: a re-run after a crash, or a re-send of an
 * unchanged series, produces byte-identical objects under the same UIDs.
 * The outbox recognises them (same destination, UID and SHA-256) and does
 * not queue them again -- unless a re-send job asks for those sent before
 * it was created -- so the receiver gets each result once per request, and
 * a changed series gets new results under new UIDs.
 */
#ifndef ISO_JOBS_WORK_H
#define ISO_JOBS_WORK_H

#include <stddef.h>

#include "anon/anon.h"
#include "config/config.h"
#include "deliver/outbox.h"
#include "jobs/queue.h"
#include "store/store.h"
#include "util/metrics.h"

typedef struct iso_job_env {
    const iso_config *cfg;
    iso_store *store;
    iso_outbox *outbox;
    iso_anon *anon;         /* the store de-identifies (NULL: it keeps what it received) */
    iso_anon *forward_anon; /* for forward_anonymized_to from a store of originals (or NULL) */
    const uint8_t *key;     /* the installation key: keys derived UIDs (ISO_KEY_LEN bytes) */
    iso_jobs *jobs;         /* where result versions are noted (NULL: each job dates its own) */
    void (*kick)(void *);   /* deliveries were queued: start a round now (may be NULL) */
    void *kick_ctx;
    iso_metrics *metrics;   /* stage durations for /metrics (NULL: not counted) */
    /* the job entered a stage ("load", "gaussian", a surface's label,
     * "derive", "deliver", "store"); may be NULL */
    void (*on_stage)(void *ctx, int64_t job, const char *stage);
    void *stage_ctx;
} iso_job_env;

/* Runs the job.  ISO_OK: done, with the rule that decided in route and what
 * happened in result.  Anything else: the job failed (err says why) and may
 * be tried again. */
iso_code iso_job_run(const iso_job_env *env, const iso_job *job, char *route, size_t route_size,
                     char *result, size_t result_size, iso_err *err);

#endif
