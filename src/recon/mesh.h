/* mesh.h — clean-up and measurement of triangle meshes.
 *
 * Every operation keeps a closed, consistently oriented 2-manifold closed,
 * oriented and manifold: component removal drops whole components,
 * smoothing moves vertices only, decimation (decimate.c) collapses an edge
 * only when the link condition holds and no triangle flips.
 */
#ifndef ISO_MESH_H
#define ISO_MESH_H

#include "recon/volume.h"
#include "util/err.h"

typedef struct iso_mesh_stats {
    size_t vertices, triangles, edges;
    size_t boundary_edges;     /* used by one triangle */
    size_t nonmanifold_edges;  /* used by more than two */
    size_t misoriented_edges;  /* two triangles traverse it the same way */
    long euler;                /* V - E + F */
    size_t components;
    double area_mm2;
    double volume_mm3;         /* signed: positive when oriented outward */
    double centroid[3];        /* of the enclosed volume */
} iso_mesh_stats;

iso_code iso_mesh_measure(const iso_mesh *m, iso_mesh_stats *s, iso_err *err);

/* Removes connected components enclosing less than min_volume_mm3. */
iso_code iso_mesh_drop_islands(iso_mesh *m, double min_volume_mm3, size_t *removed, iso_err *err);

/* Taubin lambda|mu smoothing (lambda 0.5, mu -0.53): low-pass without the
 * shrinking of plain Laplacian smoothing. */
iso_code iso_mesh_smooth(iso_mesh *m, int iterations, int threads, iso_err *err);

/* Area-weighted vertex normals, unit length, pointing outward. */
iso_code iso_mesh_normals(iso_mesh *m, iso_err *err);

/* Quadric-error edge-collapse decimation (Garland & Heckbert) down to at
 * most target_triangles (decimate.c); a large mesh in ranges side by side
 * on up to `threads` threads, with the same result on any number. */
iso_code iso_mesh_decimate(iso_mesh *m, size_t target_triangles, int threads, iso_err *err);

/* Drops vertices no triangle uses, renumbering the rest. */
iso_code iso_mesh_compact(iso_mesh *m, iso_err *err);

#endif
