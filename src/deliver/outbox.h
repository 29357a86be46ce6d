/* outbox.h — the persistent delivery queue: files to send by C-STORE to
 * configured peers, kept in DATA_DIR/outbox.sqlite (WAL, synchronous=FULL)
 * so a restart loses nothing.
 *
 * One queue per destination: each round, every destination with items due
 * is served on its own thread (one association for its batch), so a
 * destination that is down costs only its own time.  A failed attempt
 * (no association, or a failure status for the item) sets the next try
 * to now + min(retry_max, retry_base * 2^(attempts-1)); after max_attempts
 * the item is dead-lettered.  An item is marked sent in the same second its
 * success status arrives (one COMMIT per association), so a crash can only
 * repeat the last association's objects, and those carry the same SOP
 * Instance UIDs (a receiver replaces, it does not add).
 *
 * States: queued -> sent | dead; to a peer with storage_commitment = yes,
 * queued -> awaiting (sent, the commitment asked) -> committed, or back to
 * queued when the peer reports a failure or no report comes in time
 * (commit_requests.h).  `isonode outbox retry` puts dead (or queued) items
 * back to due now; `purge` deletes sent, committed and dead ones -- never
 * what is queued or awaiting.
 */
#ifndef ISO_OUTBOX_H
#define ISO_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"
#include "dicom/dicom.h"
#include "tls/tls.h"
#include "util/err.h"
#include "util/metrics.h"

typedef struct iso_outbox iso_outbox;

iso_code iso_outbox_open(const char *data_dir, iso_outbox **out, iso_err *err);
void iso_outbox_close(iso_outbox *o);
/* Counts deliveries by result into m from now on (the daemon's; NULL: none). */
void iso_outbox_set_metrics(iso_outbox *o, iso_metrics *m);

/* Queues a file for a peer (by [peer NAME]); a file already queued or sent
 * to that peer (same SOP Instance UID and content) is not queued twice --
 * except that again_before > 0 (Unix seconds) queues it again, from path,
 * if it was sent (or given up) before then: a peer that sent a series again
 * is owed its results again, and a crash and re-run of that re-delivery
 * still sends each object once. */
iso_code iso_outbox_add(iso_outbox *o, const char *peer, const char *path, const char *sop_uid,
                        const char *sha256, long again_before, iso_err *err);

/* One round: sends every due item, each destination on its own thread,
 * over DICOM TLS to peers with tls = yes (tls: the contexts; NULL if no
 * peer needs them).  Returns the number of items sent in *sent (may be
 * NULL). */
iso_code iso_outbox_run(iso_outbox *o, const iso_config *cfg, iso_tls *tls, long now, int *sent,
                        iso_err *err);


/* How old a job's result directory must be before it may go: no job runs this long. */
#define ISO_RESULTS_MIN_AGE_SECONDS 3600

/* Removes job result directories (DATA_DIR/results/J...) that no queued or
 * dead item points into and that are older than min_age seconds (a job may
 * be writing a younger one).  What they held is in the store, or was sent. */
iso_code iso_outbox_clean_results(iso_outbox *o, const char *data_dir, long min_age, long now,
                                  int *removed, iso_err *err);

/* What became of a job's results (items whose file lies in the job's
 * results folders, results/J<job_id>.*), per destination, e.g. "delivered
 * 11 of 12 to pacs; 1 refused by pacs: status 0xA700
 * (SurfaceSegmentationStorage)"; "" when the job queued nothing. */
iso_code iso_outbox_job_summary(iso_outbox *o, const char *data_dir, long long job_id, char *out,
                                size_t size, iso_err *err);

/* For retention: does the outbox still need something of a study -- an
 * item queued, awaiting commitment or dead (not delivered) whose file is
 * in the results folder of one of job_ids, or whose SOP Instance UID is one
 * of sop_uids (a forwarded stored object)? */
iso_code iso_outbox_holds(iso_outbox *o, const char *data_dir, const int64_t *job_ids,
                          size_t n_jobs, const char *const *sop_uids, size_t n_sops, bool *holds,
                          iso_err *err);

/* /metrics: the queue per destination and state, and the age of the oldest
 * item not yet delivered, in the Prometheus text format. */
iso_code iso_outbox_write_metrics(iso_outbox *o, long now, FILE *out, iso_err *err);
/* The status page: a JSON array, one object per destination: queued,
 * awaiting, dead, delivered, oldest_seconds (of what is still owed, or
 * null), last_error (of the latest item still owed), last_delivered. */
iso_code iso_outbox_destinations_json(iso_outbox *o, long now, FILE *out, iso_err *err);

/* Operator commands. */
iso_code iso_outbox_summary(iso_outbox *o, char *out, size_t size, iso_err *err);
iso_code iso_outbox_list(iso_outbox *o, FILE *out, int json, iso_err *err);
iso_code iso_outbox_retry(iso_outbox *o, long id, iso_err *err);   /* id < 0: every dead item */
iso_code iso_outbox_purge(iso_outbox *o, int *removed, iso_err *err);

#endif
