/* store.h — durable storage of received objects: files plus their index.
 *
 * Design note (the store's invariants; see doc/DESIGN.md for the whole node):
 *
 * On-disk layout under data_dir:
 *   index.sqlite (+ -wal, -shm)   the index (store/index.h)
 *   objects/XX/YY/H.dcm           a stored object; H = first 40 hex digits of
 *                                 SHA-256(SOP Instance UID), XX/YY its first
 *                                 four; a replaced object becomes H.vN.dcm.
 *                                 Paths never contain peer text.
 *   tmp/                          objects being received
 *   originals/XX/YY/H.dcm         with [anonymize] keep_originals: the
 *                                 received object before de-identification
 *                                 (H from the de-identified UID; not indexed)
 *   RUNNING                       present while a daemon has the store open
 *
 * Crash ordering of one object (the success response is sent only after 6):
 *   1. bytes are written to tmp/NAME while they arrive, hashed on the way;
 *   2. the object is parsed and checked against its C-STORE request;
 *   3. fdatasync(tmp file);
 *   4. the committer renames it to objects/XX/YY/H.dcm;
 *   5. fsync(objects/XX/YY) (and of new parent directories);
 *   6. the index row is committed (WAL, synchronous=FULL).
 * Steps 4-6 run on one committer thread for a batch of objects from all
 * associations at once: one directory fsync per directory and one COMMIT
 * per batch.  Nothing is acknowledged early.
 *
 * Invariants:
 *   I1. every committed index row names a file that exists and was fsync'd;
 *   I2. a file under objects/ with no index row is garbage from an
 *       interrupted commit (never acknowledged) and may be deleted;
 *   I3. tmp/ holds nothing worth keeping once no daemon runs.
 * Recovery: if RUNNING exists at open, the previous daemon died; tmp/ is
 * emptied and objects/ is swept for files without a row (I2).
 *
 * Duplicates (the same SOP Instance UID again): policy "keep" keeps the
 * stored copy and discards the new one; "replace" stores the new one as
 * H.vN.dcm, points the row at it in the same commit, then deletes the old
 * file.  The committer serialises decisions, so two associations sending the
 * same instance at once produce one row and one file.
 */
#ifndef ISO_STORE_H
#define ISO_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "dicom/dicom.h"
#include "util/err.h"

typedef struct iso_store iso_store;
typedef struct iso_ingest iso_ingest;

typedef struct iso_store_options {
    const char *data_dir;
    iso_dup_policy duplicates;
    long min_free_mb;
} iso_store_options;

typedef enum {
    ISO_STORED_NEW = 0,
    ISO_STORED_REPLACED = 1,
    ISO_STORED_KEPT_EXISTING = 2,
} iso_store_outcome;

typedef struct iso_recovery_report {
    unsigned tmp_removed;
    unsigned orphans_removed;
    bool was_unclean;
} iso_recovery_report;

/* Opens the store for a daemon: creates the layout, takes the store lock,
 * recovers from an unclean stop (report says what was done) and starts the
 * committer. */
iso_code iso_store_open(const iso_store_options *options, iso_store **out,
                        iso_recovery_report *report, iso_err *err);
/* Stops the committer (after pending commits) and, for a daemon, removes
 * RUNNING so the next start skips recovery.  NULL-safe. */
void iso_store_close(iso_store *store);

/* Starts receiving an object.  ISO_ENOSPC if free space is below
 * min_free_mb. */
iso_code iso_store_ingest_begin(iso_store *store, iso_ingest **out, iso_err *err);
/* Appends bytes (Part 10 header first, then the data set). */
iso_code iso_ingest_write(iso_ingest *ing, const void *buf, size_t len, iso_err *err);
/* ISO_OK, or the code of the first write that failed (ISO_ENOSPC for a full
 * disk): a failed object is never worth parsing. */
iso_code iso_ingest_write_status(const iso_ingest *ing);
/* The temporary file, for parsing before commit. */
const char *iso_ingest_tmp_path(const iso_ingest *ing);
/* Makes the object durable and indexed (steps 3-6), then frees ing.  On
 * failure nothing of it remains.  Blocks until committed. */
iso_code iso_ingest_commit(iso_ingest *ing, const iso_attrs *attrs, const char *calling_ae,
                           iso_store_outcome *outcome, iso_err *err);
/* Discards the object and frees ing.  NULL-safe. */
void iso_ingest_abort(iso_ingest *ing);
/* Keeps the received bytes as the untouched original of a de-identified
 * object: fdatasync, rename to originals/XX/YY/H.dcm (H from the stored
 * object's new SOP Instance UID, so identity never reaches a path), fsync
 * the directory; then frees ing.  On failure the file is removed. */
iso_code iso_ingest_keep_original(iso_ingest *ing, const char *new_sop_uid, iso_err *err);

/* This object replaces a stored one of the same SOP Instance UID whatever
 * the duplicates policy (the node's own derived results: a new version of
 * them supersedes the old); identical bytes keep the stored copy. */
void iso_ingest_replace_existing(iso_ingest *ing);

/* Stores a file of ours (a derived object) like a received one, replacing
 * an earlier version of it: reads its attributes, copies it into an ingest
 * and commits. */
iso_code iso_store_put_file(iso_store *store, const char *path, const char *calling_ae,
                            iso_store_outcome *outcome, iso_err *err);

#endif
