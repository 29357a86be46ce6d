/* store.h — durable storage of received objects: files plus their index.
 *
 * Design note (the store's invariants; see doc/DESIGN.md for the whole node):
 *
 * Where things are under data_dir (objects/XX/S/H.dcm, tmp/, originals/,
 * RUNNING, LOCK, the index) is store/layout.h's alone.
 *
 * Crash ordering of one object (the success response is sent only after 6):
 *   1. the object arrives in memory (or, too large or deflated, streams into
 *      tmp/NAME, hashed on the way);
 *   2. writer threads write it to tmp/NAME (O_DIRECT where possible; parts
 *      of it while the rest still arrives) and, after the last part,
 *      fdatasync it (step 3) while the association thread parses it, checks
 *      it against its C-STORE request and hashes it;
 *   3. fdatasync(tmp file) has returned;
 *   4. the committer renames it to objects/XX/S/H.dcm;
 *   5. fsync(objects/XX/S) (and of objects/XX if S is new);
 *   6. the index row is committed (WAL, synchronous=FULL).
 * Steps 4-6 run on one committer thread for a batch of objects from all
 * associations at once: one directory fsync per directory and one COMMIT
 * per batch.  Nothing is acknowledged early.
 *
 * Invariants (asserted in store.c where they could break: a name is given
 * only to synced bytes, recovery sweeps only before the committer runs, the
 * queues are drained at close):
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
 * file -- unless its bytes are the same, which replaces nothing.  Either
 * way the index notes the sender (instance_senders): who sent an instance,
 * as its stored content or as a duplicate of it, decides who its series'
 * results belong to.  The committer serialises decisions, so two
 * associations sending the same instance at once produce one row and one
 * file.
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

/* What a removal did: removed false when the study changed since it was
 * chosen (an instance arrived after not_after) or was gone already. */
typedef struct iso_removal {
    bool removed;
    int64_t files; /* objects and kept originals deleted */
    int64_t bytes;
} iso_removal;

typedef struct iso_recovery_report {
    unsigned tmp_removed;
    unsigned orphans_removed;
    unsigned originals_removed; /* kept originals whose object had no row */
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
/* Alignment of a buffer (and of the parts handed over) that lets the
 * writer threads bypass the page cache. */
#define ISO_INGEST_ALIGN 4096
/* Objects held whole in memory are handed over instead of written: a writer
 * thread of the store writes them (directly to disk for the
 * ISO_INGEST_ALIGN-aligned parts, when the buffer is aligned) while the
 * caller goes on receiving or parsing.  write_ahead: the first upto bytes of
 * whole are final, write what is new of them now (call with upto a multiple
 * of ISO_INGEST_ALIGN to keep them direct).  write_last: the object is
 * whole[0..len); write the rest and fdatasync; iso_ingest_commit hashes
 * whole meanwhile and waits for the writers.  No iso_ingest_write may be
 * mixed with these (checked: ISO_EINVAL), nor may parts come out of order.
 * whole's bytes must stay where they are until iso_ingest_wait_writes,
 * iso_ingest_commit or iso_ingest_abort returns; a caller that moves them
 * (a growing buffer) waits first -- a hand-over from another address while
 * parts are still being written is refused (ISO_EINVAL). */
iso_code iso_ingest_write_ahead(iso_ingest *ing, const void *whole, size_t upto, iso_err *err);
iso_code iso_ingest_write_last(iso_ingest *ing, const void *whole, size_t len, iso_err *err);
void iso_ingest_wait_writes(iso_ingest *ing);
/* The caller cannot hold the object any longer (too large): waits for the
 * parts handed over so far (whole is still their memory), hashes them, and
 * goes on with iso_ingest_write. */
iso_code iso_ingest_take_back(iso_ingest *ing, const void *whole, iso_err *err);
/* The temporary file, for parsing before commit. */
const char *iso_ingest_tmp_path(const iso_ingest *ing);
/* Makes the object durable and indexed (steps 3-6), then frees ing.  On
 * failure nothing of it remains.  Blocks until committed. */
iso_code iso_ingest_commit(iso_ingest *ing, const iso_attrs *attrs, const char *calling_ae,
                           iso_store_outcome *outcome, iso_err *err);
/* Discards the object and frees ing.  NULL-safe. */
void iso_ingest_abort(iso_ingest *ing);
/* Keeps the received bytes as the untouched original of a de-identified
 * object: fdatasync (or the writer's, after iso_ingest_write_last), rename
 * to originals/XX/S/H.dcm (S, H from the stored object's new Series and SOP
 * Instance UIDs, so identity never reaches a path), fsync the directory;
 * then frees ing.  On failure the file is removed.  *created: no original
 * was there before (so the caller removes it, with iso_store_drop_original,
 * if its object then fails to commit). */
iso_code iso_ingest_keep_original(iso_ingest *ing, const char *new_series_uid,
                                  const char *new_sop_uid, bool *created, iso_err *err);
/* Removes the kept original of an object that did not commit. */
void iso_store_drop_original(iso_store *store, const char *new_series_uid,
                             const char *new_sop_uid);

/* This object replaces a stored one of the same SOP Instance UID whatever
 * the duplicates policy (the node's own derived results: a new version of
 * them supersedes the old); identical bytes keep the stored copy. */
void iso_ingest_replace_existing(iso_ingest *ing);

/* Stores a file of ours (a derived object) like a received one, replacing
 * an earlier version of it: reads its attributes, copies it into an ingest
 * and commits. */
iso_code iso_store_put_file(iso_store *store, const char *path, const char *calling_ae,
                            iso_store_outcome *outcome, iso_err *err);

/* Removes a study (retention): its index rows in one transaction on the
 * committer thread, so nothing of it can be committing meanwhile, unless
 * an instance arrived after not_after (ISO 8601 UTC, the last arrival seen
 * when it was chosen); then its files and kept originals.  Rows first: a
 * crash in between leaves files without rows, which recovery sweeps (I2);
 * never a row without its file (I1). */
iso_code iso_store_remove_study(iso_store *s, const char *study_uid, const char *not_after,
                                iso_removal *out, iso_err *err);

#endif
