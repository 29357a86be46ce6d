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
 * stored and routed, the reason goes into the job's result.  Derived
 * objects carry the job's creation time, and every attempt writes them to
 * a fresh directory, so a re-run after a crash produces byte-identical
 * objects that the outbox recognises (same destination, UID and SHA-256)
 * and does not queue again: the receiver gets each result once.
 */
#ifndef ISO_JOBS_WORK_H
#define ISO_JOBS_WORK_H

#include <stddef.h>

#include "anon/anon.h"
#include "config/config.h"
#include "deliver/outbox.h"
#include "jobs/queue.h"
#include "store/store.h"

typedef struct iso_job_env {
    const iso_config *cfg;
    iso_store *store;
    iso_outbox *outbox;
    iso_anon *anon;         /* the store de-identifies (NULL: it keeps what it received) */
    iso_anon *forward_anon; /* for forward_anonymized_to from a store of originals (or NULL) */
    const uint8_t *key;     /* the installation key: keys derived UIDs (ISO_KEY_LEN bytes) */
    void (*kick)(void *);   /* deliveries were queued: start a round now (may be NULL) */
    void *kick_ctx;
} iso_job_env;

/* Runs the job.  ISO_OK: done, with the rule that decided in route and what
 * happened in result.  Anything else: the job failed (err says why) and may
 * be tried again. */
iso_code iso_job_run(const iso_job_env *env, const iso_job *job, char *route, size_t route_size,
                     char *result, size_t result_size, iso_err *err);

#endif
