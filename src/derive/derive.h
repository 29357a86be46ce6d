/* derive.h — the reconstruction of a series as new DICOM objects.
 *
 * The objects: Secondary Capture images of the standard views, a Multi-frame
 * True Color Secondary Capture of the 360 degree rotation (cine), an
 * Encapsulated STL object per surface (Modality M3D, millimetres, the
 * source's Frame of Reference) and one Surface Segmentation holding every
 * surface (points, normals, 1-based triangle index list, the other
 * primitive lists present and empty, Finite Volume and Manifold from the
 * measured mesh), and a binary Segmentation of the voxel masks on the
 * isotropic grid (a frame per segment and plane, plane geometry in the
 * functional groups).  Surfaces come from [surface NAME] sections or the
 * built-in ones; the sender's copy gets its original identity back from
 * the vault (identity.c); jobs/work.c queues the copies in the outbox.
 *
 * Every new UID is an HMAC under the installation key of the source series
 * UID, the result version and the object's place in the result (2.25
 * form): a re-run of the same version (a crash, a retry) writes the same
 * objects again instead of adding new ones; two installations never mint
 * the same UID; and a version -- a digest of the source instances and the
 * surfaces -- changes whenever the content can, so new content never
 * comes under an old UID.
 */
#ifndef ISO_DERIVE_H
#define ISO_DERIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "anon/vault.h"
#include "dicom/dicom.h"
#include "recon/recon.h"
#include "util/err.h"
#include "util/path.h"

/* What the node's derived objects say made them. */
#define ISO_DERIVE_MANUFACTURER "isonode"
#define ISO_DERIVE_MODEL "isonode reconstruction"

/* Is this one of the node's own derived objects (come back, e.g. a PACS
 * sending the study again)?  Such objects are stored but start no job. */
bool iso_derive_is_ours(const iso_attrs *a);

typedef struct iso_derive_source {
    iso_attrs first;                 /* patient and study attributes (UTF-8) */
    char frame_of_reference_uid[65];
    const char *const *instance_uids; /* the source instances, for references */
    const char *const *class_uids;
    const char *const *frame_numbers; /* per instance: the frames used ('\\'-separated), NULL
                                         when all (or the array NULL: all of every one) */
    size_t n_instances;
    char version[65];                /* the result version: a digest of what the results
                                        are made of (iso_derive_version) */
    const uint8_t *key;              /* the installation key that keys derived UIDs
                                        (ISO_KEY_LEN bytes; NULL: unkeyed, the CLI) */
    long created;                    /* creation date/time of the objects (Unix seconds; 0:
                                        now).  A job passes its own, so a re-run after a
                                        crash writes byte-identical objects */
    int deidentified;                /* the source is de-identified and stays so: no real
                                        date or time of ours in the results (Content
                                        Date/Time from the de-identified study, no
                                        creation or series dates) */
} iso_derive_source;

/* Writes the derived objects of r into dir (created if missing), one file
 * per object named by its kind; paths receives up to max_paths of them. */
iso_code iso_derive_write(const iso_recon_result *r, const iso_derive_source *src,
                          const char *dir, iso_path *paths, int max_paths, int *n_paths,
                          iso_err *err);

/* What one derivation run is keyed and dated with. */
typedef struct iso_derive_run {
    const uint8_t *key;  /* the installation key (ISO_KEY_LEN bytes; NULL: unkeyed, the CLI) */
    const char *version; /* the results' version (iso_derive_version; NULL: from r alone) */
    long created;        /* creation time of the objects (Unix seconds; 0: now) */
} iso_derive_run;

/* The whole step for one reconstructed series: references from the
 * instances the pipeline used, patient and study attributes from one of the
 * series' files (paths), the sender's identity restored from vault when it
 * is not NULL, then iso_derive_write. */
iso_code iso_derive_series(const iso_recon_result *r, const char *const *paths, size_t n,
                           iso_vault *vault, const iso_derive_run *run, const char *dir,
                           iso_path *out, int max_out, int *n_out, iso_err *err);

/* Gives a source read from the de-identified store its original identity
 * from the vault: Patient and General Study attributes, the Study, Series
 * and Frame of Reference UIDs, and every source instance UID (written to
 * orig_uids, n_instances of them, pointed to by orig_ptrs, which src then
 * uses).  ISO_ENOTFOUND if the vault lacks a row (lost or never written).
 * Derived UIDs then follow from the original series UID, so the sender's
 * copy and the store's de-identified copy never share a UID. */
iso_code iso_derive_restore_identity(iso_vault *v, iso_derive_source *src,
                                     char (*orig_uids)[65], const char **orig_ptrs, iso_err *err);

/* The deterministic UID of object `index` of kind `kind` in version
 * `version` of the results of series `series_uid`, keyed by key (NULL:
 * unkeyed). */
void iso_derive_uid(const uint8_t *key, const char *series_uid, const char *version,
                    const char *kind, int index, char out[65]);
/* The version of a series' results: SHA-256 (hex) of the source instance
 * UIDs the pipeline used, in order, each surface's label and level, and
 * content (may be NULL): a digest of the stored bytes of the series, so
 * that a series whose instances were replaced gets new results under new
 * UIDs, and an unchanged one the same. */
void iso_derive_version(const iso_recon_result *r, const char *content, char out[65]);

#endif
