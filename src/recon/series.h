/* series.h — from the files of one series to an iso_stack in patient space.
 *
 * Slices are ordered by their position along the normal of Image
 * Orientation (Patient), never by Instance Number or file order.
 *
 * A series may hold more than one volume: echoes, image types (magnitude,
 * phase, field map), temporal positions, diffusion directions, stacks.
 * Frames at the same position are told apart by the first attributes, in
 * the order temporal position, image type, echo, diffusion, stack, trigger
 * time, contrast phase, acquisition number, dimension index (each taken
 * only when it separates frames the ones before could not); each set of
 * frames with the same values is a volume.  Volumes are numbered in the
 * order of those values (image type M first); opts->volumes picks one:
 * the first, or the largest (all: the first here; the caller asks for each
 * with opts->volume).  Localizers (Image Type LOCALIZER) and a few
 * images in another orientation or size (scouts) are set aside, not a
 * reason to refuse.
 *
 * A series that cannot give trustworthy geometry is refused with
 * ISO_EREFUSED and a one-line reason that says what the series is: a single
 * slice, only localizers, a Siemens mosaic, mixed orientations, sizes,
 * pixel spacings or frames of reference, positions no attribute tells
 * apart, a gap wider than max_gap_mm, an unsupported pixel format.
 */
#ifndef ISO_SERIES_H
#define ISO_SERIES_H

#include <stddef.h>

#include "config/config.h"
#include "recon/volume.h"
#include "util/err.h"

typedef struct iso_series_opts {
    double max_gap_mm; /* refuse if two neighbouring slices are further apart */
    int threads;
    iso_volume_choice volumes; /* which volume of a series holding several */
    int volume;                /* > 0: this volume (1-based) instead */
    int defer_pixels;          /* leave the pixels in the files when every slice is a file
                                  of its own (iso_stack's read_slice reads them later) */
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
     * free with iso_series_info_free); frame_numbers[i]: the frames used of
     * a multi-frame file ('\'-separated, 1-based), NULL when all were */
    char (*instance_uids)[65];
    char (*class_uids)[65];
    char **frame_numbers;
    int n_volumes;        /* volumes found (1: a plain series) */
    int volume;           /* the one reconstructed, 1-based */
    char volumes_note[256]; /* e.g. "2 volumes of 32 slices by image type (M, FIELD_MAP);
                               reconstructed volume 1 (image type M)"; "" for one volume */
    int n_aside;          /* images set aside (localizers, scouts) */
    char aside_note[128];
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
