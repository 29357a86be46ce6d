/* retention.h — removing old studies so an unattended node never fills its
 * disk, without ever removing what is still needed.
 *
 * Rules ([retention]): a study whose last instance arrived more than
 * keep_days ago (or its routes' longer keep_days) goes; when the file system of data_dir is fuller than
 * high_water_percent, the oldest studies (by last arrival) go until it is
 * below low_water_percent.  Whatever the rule, a study is kept while
 *   - a job of one of its series is queued, running or waiting to be
 *     retried, or one of its series has no job yet (still settling, or
 *     waiting for one): the scheduler's own test, so the node's own results
 *     (calling AE = our AE title, or come back from a peer) do not count;
 *   - the outbox has not delivered something of it: an item queued,
 *     awaiting a peer's storage commitment, or dead, whose file is in the
 *     results folder of one of its jobs or is one of its stored objects;
 * Each removal goes through iso_store_remove_study (rows first, on the
 * committer thread, then files) and is logged with the (de-identified)
 * Study Instance UID, what it freed and why.
 *
 * A [route] keep_days keeps the studies whose series that route decided
 * longer (the longest of a study's routes wins).  With keep_vault_days,
 * the vault rows of a removed study (its study and every series and
 * instance UID) go that many days after the removal, unless the store
 * holds the UID again by then.
 */
#ifndef ISO_RETENTION_H
#define ISO_RETENTION_H

#include <stdbool.h>
#include <stdio.h>

#include "config/config.h"
#include "anon/vault.h"
#include "deliver/outbox.h"
#include "jobs/queue.h"
#include "store/store.h"
#include "util/err.h"
#include "util/metrics.h"

typedef struct iso_retention_env {
    const iso_config *cfg;
    iso_store *store; /* NULL: nothing is removed (a dry run) */
    iso_jobs *jobs;
    iso_outbox *outbox; /* NULL: no outbox yet, nothing held */
    iso_vault *vault;   /* NULL: no de-identification, no vault rows to expire */
    iso_metrics *metrics; /* NULL: not counted */
} iso_retention_env;

typedef struct iso_retention_opts {
    bool dry_run;           /* say what would go, remove nothing */
    long older_than_days;   /* > 0: instead of keep_days (isonode purge --older-than) */
    const char *study_uid;  /* non-NULL: this study only, whatever its age (isonode purge --study) */
    bool watermarks;        /* apply high/low_water_percent */
    FILE *out;              /* non-NULL: a line per study removed (or that would be) */
} iso_retention_opts;

typedef struct iso_retention_report {
    int removed;        /* studies removed (or that would be) */
    int kept;           /* candidates kept because something still needs them */
    long long bytes;    /* freed (or that would be) */
    double used_percent; /* of the file system after the run */
    int vault_rows;      /* vault rows of removed studies deleted (keep_vault_days) */
} iso_retention_report;

iso_code iso_retention_run(const iso_retention_env *env, const iso_retention_opts *o, long now,
                           iso_retention_report *report, iso_err *err);

/* The daemon's thread: applies the rules every [retention]
 * interval_seconds when keep_days or high_water_percent is set. */
typedef struct iso_retention iso_retention;
iso_code iso_retention_start(const iso_retention_env *env, iso_retention **out, iso_err *err);
void iso_retention_stop(iso_retention *r);

/* The file system of data_dir: percent of its blocks in use (root's
 * reserve counts as used), as the high and low water marks are read. */
double iso_retention_used_percent(const char *data_dir);

#endif
