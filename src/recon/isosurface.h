/* isosurface.h — one iso-surface of a volume as an indexed mesh in patient
 * millimetres (Flying Edges kind; see isosurface.c for the passes). */
#ifndef ISO_ISOSURFACE_H
#define ISO_ISOSURFACE_H

#include "recon/volume.h"
#include "util/err.h"

/* Extracts the surface where the volume crosses iso.  closed = 1 pads the
 * border so the mesh is closed (what the pipeline uses); closed = 0 leaves
 * it open where it meets the border, as VTK's filters do (for comparison).
 * Triangles are counter-clockwise seen from the side below iso. */
iso_code iso_isosurface(const iso_volume *v, double iso, int closed, int threads, iso_mesh *out,
                        iso_err *err);

#endif
