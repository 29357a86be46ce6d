/* render.h — software pictures of meshes and volumes (no GPU, no display).
 *
 * Views are named the way radiologists name them: anterior (looking at the
 * patient's front, head up, patient's right on the viewer's left), left
 * lateral, superior (looking down on the head, anterior up), and a
 * rotation about the patient's head-foot axis starting from anterior.
 * One orthographic camera framing fits the bounding sphere of everything
 * drawn, so frames of a rotation share one scale.  Each picture carries the
 * patient direction letters at its edges (R/L, A/P, S/I) and nothing else:
 * no text that could identify the patient.
 */
#ifndef ISO_RENDER_H
#define ISO_RENDER_H

#include <stdint.h>

#include "recon/volume.h"
#include "util/err.h"

typedef struct iso_image {
    int w, h;
    uint8_t *rgb; /* w*h*3, rows top to bottom */
} iso_image;

typedef struct iso_view {
    char name[32];
    double dir[3]; /* viewing direction, from the eye into the patient (LPS) */
    double up[3];  /* screen up (LPS) */
} iso_view;

/* The standard views: anterior, left lateral, superior. */
int iso_standard_views(iso_view *out, int max);
/* Frame `i` of an n-frame rotation about the superior axis, from anterior
 * towards the patient's left. */
void iso_rotation_view(int i, int n, iso_view *out);

typedef struct iso_scene {
    const iso_mesh *const *meshes; /* with normals */
    const float (*colors)[3];      /* RGB 0..1 per mesh */
    int n;
    double center[3], radius;      /* framing, from iso_scene_frame */
} iso_scene;

/* Sets the framing to the bounding sphere of the meshes' vertices. */
void iso_scene_frame(iso_scene *s);

/* Shaded surface rendering (z-buffer, per-pixel Blinn-Phong lighting from
 * a head light), size x size pixels, black background. */
iso_code iso_render_surfaces(const iso_scene *s, const iso_view *v, int size, iso_image *out,
                             iso_err *err);

/* Maximum intensity projection of a volume along the view, mapped through
 * a bone-like transfer function: values below lo black, rising to ivory
 * white at hi. */
iso_code iso_render_mip(const iso_volume *vol, const iso_view *v, int size, double lo, double hi,
                        int threads, iso_image *out, iso_err *err);

void iso_image_free(iso_image *img);

/* Writes an 8-bit RGB PNG (png.c). */
iso_code iso_png_write(const char *path, const iso_image *img, iso_err *err);
/* The same PNG in memory: *png (malloc'd, *png_len bytes). */
iso_code iso_png_encode(const iso_image *img, uint8_t **png, size_t *png_len, iso_err *err);

#endif
