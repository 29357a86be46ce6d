/* volumes.h — which frames of a series form the volume to reconstruct
 * (series.h says how volumes are told apart and localizers set aside). */
#ifndef ISO_VOLUMES_H
#define ISO_VOLUMES_H

#include <stddef.h>

#include "dicom/dicom.h"
#include "recon/series.h"
#include "util/err.h"

/* infos[i] for the n files (ok[i]: a usable image); frame k of file i is
 * frame first_frame[i] + k of the series' n_frames.  Sets take[g] for the
 * frames of the chosen volume (take has n_frames entries) and the volume
 * and set-aside fields of info.  ISO_EREFUSED with the reason in err. */
iso_code iso_series_pick_volume(const iso_dcm_image_info *infos, const int *ok, size_t n,
                                const size_t *first_frame, size_t n_frames,
                                const iso_series_opts *opts, char *take, iso_series_info *info,
                                iso_err *err);

#endif
