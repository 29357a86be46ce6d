/* stl.h — binary STL, the mesh format 3D printers and slicers open. */
#ifndef ISO_STL_H
#define ISO_STL_H

#include "recon/volume.h"
#include "util/err.h"

/* Writes m as binary STL: an 80-byte header (text), the triangle count, and
 * per triangle its unit facet normal and three vertices (little endian
 * float32, patient millimetres). */
iso_code iso_stl_write(const char *path, const iso_mesh *m, const char *header, iso_err *err);

/* The same bytes in memory (for Encapsulated STL objects); *out is malloc'd. */
iso_code iso_stl_encode(const iso_mesh *m, const char *header, uint8_t **out, size_t *len,
                        iso_err *err);

#endif
