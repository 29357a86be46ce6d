/* filter.h — volume filters: resampling a stack onto an isotropic grid,
 * Gaussian smoothing, thresholding.
 *
 * All run on several threads over independent slabs and work in place or
 * with per-thread scratch of a slice or less, so the only large allocation
 * is the output of the resampler.
 */
#ifndef ISO_FILTER_H
#define ISO_FILTER_H

#include "recon/volume.h"
#include "util/err.h"

/* Resamples a stack (sheared by gantry tilt, unevenly spaced, oblique: any
 * of these) onto a regular grid of `spacing` mm along the stack's row,
 * column and normal directions, by trilinear interpolation between the two
 * acquired slices around each output plane.  The grid covers every
 * acquired voxel; points outside all slices get the stack's minimum.
 * Output voxels are float. */
iso_code iso_resample_isotropic(iso_stack *s, double spacing, int threads, iso_volume *out,
                                iso_err *err);
/* A stack whose pixels are still in its files (iso_stack read_slice) is
 * resampled as it is read, a window of slices at a time, when no output
 * voxel falls outside the acquired slices; otherwise (a tilted stack's
 * corners) it is read whole first, since the background is the stack's
 * minimum.  Either way the grid is the same to the bit. */

/* The stack's voxels as a float volume on the stack's own grid, read from
 * the files slice by slice when the pixels are still there. */
iso_code iso_stack_to_float(iso_stack *s, int threads, iso_volume *out, iso_err *err);

/* Gaussian smoothing in place of a float volume, sigma in millimetres
 * (converted per axis with the axis lengths).  Separable: a truncated
 * kernel (radius 3 sigma) up to 4 voxels of sigma, the Young-van Vliet
 * recursive filter beyond, whose cost does not grow with sigma.  Edges
 * repeat the border voxel. */
iso_code iso_gaussian(iso_volume *v, double sigma_mm, int threads, iso_err *err);

/* Intensity normalization for images without calibrated units (MR): maps
 * the lo_pct and hi_pct percentiles of a float volume linearly onto 0 and
 * 1000 (values beyond are clamped), so iso-values mean the same across
 * scanners.  Percentiles come from a 4096-bin histogram. */
void iso_normalize(iso_volume *v, double lo_pct, double hi_pct, double *mapped_lo,
                   double *mapped_hi);

/* Clamps every voxel into [lo, hi] (a float volume). */
void iso_threshold(iso_volume *v, float lo, float hi);

/* A float copy of any volume (for filtering an int16 stack). */
iso_code iso_volume_to_float(const iso_volume *in, iso_volume *out, iso_err *err);

#endif
