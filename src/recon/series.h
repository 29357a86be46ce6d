/* series.h — from the files of one series to an iso_stack in patient space.
 *
 * Slices are ordered by their position along the normal of Image
 * Orientation (Patient), never by Instance Number or file order.  A series
 * that cannot give trustworthy geometry is refused with ISO_EREFUSED and a
 * one-line reason: a single slice, a localizer, mixed orientations, sizes,
 * pixel spacings or frames of reference, duplicate positions, a gap wider
 * than max_gap_mm, an unsupported pixel format.
 */
#ifndef ISO_SERIES_H
#define ISO_SERIES_H

#include <stddef.h>

#include "recon/volume.h"
#include "util/err.h"

typedef struct iso_series_opts {
    double max_gap_mm; /* refuse if two neighbouring slices are further apart */
    int threads;
} iso_series_opts;

typedef struct iso_series_info {
    char study_uid[65];
    char series_uid[65];
    char frame_of_reference_uid[65];
    char modality[17];
    char sop_class_uid[65];
    size_t n_files;      /* image files used */
    size_t n_skipped;    /* files that are not DICOM images (e.g. DICOMDIR) */
    int n_slices;
    int multiframe;      /* slices came from enhanced multi-frame objects */
    double slice_step_min, slice_step_max; /* mm along the normal */
    double tilt_deg;     /* angle between the stacking direction and the normal */
    /* the image files used, for references from derived objects (malloc'd;
     * free with iso_series_info_free) */
    char (*instance_uids)[65];
    char (*class_uids)[65];
} iso_series_info;

void iso_series_info_free(iso_series_info *info);

#define ISO_SERIES_DEFAULT_MAX_GAP_MM 10.0

/* Lists the regular files of dir (not recursive), sorted by name. */
iso_code iso_series_list_dir(const char *dir, char ***paths, size_t *n, iso_err *err);
void iso_series_paths_free(char **paths, size_t n);

/* Reads the files and builds the stack.  On refusal returns ISO_EREFUSED
 * with the reason in err. */
iso_code iso_series_load(char *const *paths, size_t n, const iso_series_opts *opts,
                         iso_stack *stack, iso_series_info *info, iso_err *err);

#endif
