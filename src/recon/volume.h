/* volume.h — the data the reconstruction engine passes between its stages.
 *
 *   iso_stack   the slices of a series as acquired: one plane per slice,
 *               each with its own position (gantry tilt shears the stack,
 *               spacing may be uneven);
 *   iso_volume  a regular grid whose index (i, j, k) maps to patient LPS
 *               millimetres by origin + i*axis[0] + j*axis[1] + k*axis[2];
 *   iso_mesh    an indexed triangle mesh in patient millimetres, triangles
 *               counter-clockwise seen from outside.
 *
 * Voxels are int16 (CT in HU and most stored images) or float (after
 * rescaling with a fractional slope, and after filtering); i varies fastest.
 */
#ifndef ISO_VOLUME_H
#define ISO_VOLUME_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef enum { ISO_VOX_I16 = 0, ISO_VOX_F32 = 1 } iso_voxel_type;

typedef struct iso_volume {
    int dim[3];
    iso_voxel_type type;
    void *data;
    double origin[3];
    double axis[3][3];
} iso_volume;

typedef struct iso_stack {
    iso_volume vol;          /* voxels; axis[2] = the mean step between slices */
    double row[3], col[3];   /* unit direction of increasing column / row index */
    double normal[3];        /* row x col */
    double spacing[2];       /* between columns (along row), between rows (along col) */
    double (*position)[3];   /* dim[2] slice origins, sorted along normal */
    double *depth;           /* normal . position, increasing */
    int uneven;              /* 1 if the slices are not one regular grid */
    /* Pixels read later (vol.data NULL, vol.dim and vol.type set): the
     * series loader leaves them in the files when asked, so a long series
     * is never whole in memory; read_slice(src, k, dst) decodes sorted
     * slice k as vol.type into dst, free_src releases src. */
    iso_code (*read_slice)(void *src, int k, void *dst, iso_err *err);
    void (*free_src)(void *src);
    void *src;
} iso_stack;

typedef struct iso_mesh {
    float *v;     /* nv * 3 */
    uint32_t *t;  /* nt * 3 */
    float *n;     /* nv * 3 vertex normals, or NULL */
    size_t nv, nt;
} iso_mesh;

/* Allocates dim[0]*dim[1]*dim[2] voxels of the given type (zeroed). */
iso_code iso_volume_alloc(iso_volume *v, const int dim[3], iso_voxel_type type, iso_err *err);
void iso_volume_free(iso_volume *v);
size_t iso_volume_count(const iso_volume *v);
/* Minimum and maximum voxel value. */
void iso_volume_range(const iso_volume *v, double *lo, double *hi);
/* Patient coordinates of a continuous index. */
void iso_volume_to_patient(const iso_volume *v, double i, double j, double k, double out[3]);

void iso_stack_free(iso_stack *s);
/* Reads every slice of a stack whose pixels were left in the files into
 * vol.data (nothing to do when they are there). */
iso_code iso_stack_read_all(iso_stack *s, int threads, iso_err *err);
/* Bytes of one slice of the stack. */
size_t iso_stack_slice_bytes(const iso_stack *s);
void iso_mesh_free(iso_mesh *m);

#endif
