/* layout.h — every path under data_dir, in one place.
 *
 * data_dir/
 *   LOCK             flock'd by the one process that writes the store
 *   RUNNING          present while a writer runs; found at start = it crashed
 *   index.sqlite     the store's index        (db/index migrations)
 *   jobs.sqlite      the job queue            (db/jobs)
 *   outbox.sqlite    deliveries               (db/outbox)
 *   vault.sqlite     original identities      (db/vault), encrypted rows
 *   secret.key       the installation key, when [anonymize] key_file is empty
 *   objects/XX/S/H.dcm, H.vN.dcm   stored objects (iso_layout_object)
 *   originals/XX/S/H.dcm           kept originals of de-identified objects
 *   tmp/             partial receptions (*.part) and spilled parse buffers
 *   results/J<job>.<attempt>.<start>/   a job's working folder
 *
 * Nothing here is ever built from peer text: object names are digests.
 * Paths are iso_paths (util/path.h): too long is an error, never a
 * truncated name.  store.c, its recovery, verify.c, the queue, the outbox,
 * the vault and the CLI all ask here. */
#ifndef ISO_LAYOUT_H
#define ISO_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"
#include "util/path.h"

typedef enum iso_data_entry {
    ISO_DATA_LOCK,
    ISO_DATA_RUNNING,
    ISO_DATA_INDEX,
    ISO_DATA_JOBS,
    ISO_DATA_OUTBOX,
    ISO_DATA_VAULT,
    ISO_DATA_KEY,
    ISO_DATA_OBJECTS,
    ISO_DATA_ORIGINALS,
    ISO_DATA_TMP,
    ISO_DATA_RESULTS,
} iso_data_entry;

/* data_dir/<entry>. */
iso_code iso_layout_path(const char *data_dir, iso_data_entry entry, iso_path *out, iso_err *err);

/* data_dir/rel, for a relative path the index recorded. */
iso_code iso_layout_abs(const char *data_dir, const char *rel, iso_path *out, iso_err *err);

/* A job's working folder: results/J<job>.<attempt>.<started>. */
iso_code iso_layout_job_dir(const char *data_dir, long long job_id, int attempt, long started,
                            iso_path *out, iso_err *err);

/* The longest relative path the layout makes, with room to spare
 * (objects/XX/ + 40 + / + 40 + .v<int> + .dcm is 106 bytes): the index's
 * path column is read into buffers of this size. */
#define ISO_LAYOUT_REL_MAX 128

/* Relative object path for an instance of a series, and its version (1 =
 * first): objects/XX/S/H.dcm or objects/XX/S/H.vN.dcm, S and H = 40 hex
 * digits of SHA-256 of the Series and SOP Instance UIDs, XX = S's first two.
 * The index row records the path, so older layouts stay readable. */
void iso_layout_object(const char *series_uid, const char *sop_uid, int version,
                       char out[ISO_LAYOUT_REL_MAX]);

/* Relative path of the kept original of a de-identified object, from the
 * stored (de-identified) Series and SOP Instance UIDs: originals/XX/S/H.dcm. */
void iso_layout_original(const char *stored_series_uid, const char *stored_sop_uid,
                         char out[ISO_LAYOUT_REL_MAX]);

/* objects/XX for XX = i (0..255): the store creates all 256 when it opens. */
void iso_layout_fan_dir(unsigned i, char out[ISO_LAYOUT_REL_MAX]);

/* Calls fn(user, rel, abs) for each file under data_dir/objects/XX/S/, rel
 * being relative to data_dir.  A non-OK return from fn stops the walk and is
 * returned. */
typedef iso_code (*iso_object_fn)(void *user, const char *rel, const char *abs, iso_err *err);
iso_code iso_layout_walk(const char *data_dir, iso_object_fn fn, void *user, iso_err *err);
/* The same over the kept originals, data_dir/originals/XX/S/. */
iso_code iso_layout_walk_originals(const char *data_dir, iso_object_fn fn, void *user,
                                   iso_err *err);
/* The index path every stored version of the object whose original is
 * orig_rel starts with ("originals/XX/S/H.dcm" -> "objects/XX/S/H."; an
 * original's path mirrors its object's, in every layout this store has
 * had); false if orig_rel is not an original's path. */
bool iso_layout_object_prefix(const char *orig_rel, char out[ISO_LAYOUT_REL_MAX]);

#endif
