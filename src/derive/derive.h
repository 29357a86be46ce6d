/* derive.h — the reconstruction of a series as new DICOM objects.
 *
 * So far: Secondary Capture images of the standard views, a Multi-frame
 * True Color Secondary Capture of the 360 degree rotation (cine), an
 * Encapsulated STL object per surface (Modality M3D, millimetres, the
 * source's Frame of Reference) and one Surface Segmentation holding every
 * surface (points, normals, 1-based triangle index list, the other
 * primitive lists present and empty, Finite Volume and Manifold from the
 * measured mesh), and a binary Segmentation of the voxel masks on the
 * isotropic grid (a frame per segment and plane, plane geometry in the
 * functional groups).  Surfaces come from [surface NAME] sections or the
 * built-in ones; the sender's copy gets its original identity back from
 * the vault (identity.c).  Delivery (outbox, C-STORE to the sender) is the
 * rest of the derived-objects issue.
 *
 * Every new UID is derived from the source series UID, the result version
 * and the object's place in the result (2.25 form), so a re-run of the
 * same version rewrites the same objects instead of adding new ones.
 */
#ifndef ISO_DERIVE_H
#define ISO_DERIVE_H

#include "anon/vault.h"
#include "dicom/dicom.h"
#include "recon/recon.h"
#include "util/err.h"

typedef struct iso_derive_source {
    iso_attrs first;                 /* patient and study attributes (UTF-8) */
    char frame_of_reference_uid[65];
    const char *const *instance_uids; /* the source instances, for references */
    const char *const *class_uids;
    size_t n_instances;
    int version;                     /* result version, 1 for the first run */
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
                          const char *dir, char (*paths)[512], int max_paths, int *n_paths,
                          iso_err *err);

/* The whole step for one reconstructed series: references from the
 * instances the pipeline used, patient and study attributes from one of the
 * series' files (paths), the sender's identity restored from vault when it
 * is not NULL, creation time `created` (0: now), then iso_derive_write. */
iso_code iso_derive_series(const iso_recon_result *r, const char *const *paths, size_t n,
                           iso_vault *vault, long created, const char *dir, char (*out)[512],
                           int max_out, int *n_out, iso_err *err);

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
 * `version` of the results of series `series_uid`. */
void iso_derive_uid(const char *series_uid, int version, const char *kind, int index,
                    char out[65]);

#endif
