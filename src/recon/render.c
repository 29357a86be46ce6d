/* render.c — shaded surface and MIP pictures in software (see render.h).
 *
 * Surfaces: triangles facing the eye (the meshes are closed and oriented,
 * so back faces are hidden anyway and are culled) are scan-converted with
 * edge functions over their bounding box; depth and the vertex normals are
 * interpolated per pixel and lit with a head light placed a little above
 * and left of the eye, which reads as depth to a human viewer.
 *
 * MIP: one ray per pixel through the volume, sampled every half voxel at
 * the nearest voxel, stepping in index space (the inverse of the volume's
 * axes computed once).
 */
#include "recon/render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/par.h"

static void set3(double *o, double x, double y, double z)
{
    o[0] = x;
    o[1] = y;
    o[2] = z;
}

int iso_standard_views(iso_view *out, int max)
{
    static const struct {
        const char *name;
        double dir[3], up[3];
    } views[] = {
        {"anterior", {0, 1, 0}, {0, 0, 1}},      /* eye in front, looking posterior */
        {"left-lateral", {-1, 0, 0}, {0, 0, 1}}, /* eye at the patient's left */
        {"superior", {0, 0, -1}, {0, -1, 0}},    /* eye above the head, anterior up */
    };
    int n = 0;
    for (size_t i = 0; i < sizeof views / sizeof views[0] && n < max; i++, n++) {
        snprintf(out[n].name, sizeof out[n].name, "%s", views[i].name);
        memcpy(out[n].dir, views[i].dir, sizeof out[n].dir);
        memcpy(out[n].up, views[i].up, sizeof out[n].up);
    }
    return n;
}

void iso_rotation_view(int i, int n, iso_view *out)
{
    double a = 2 * M_PI * i / n;
    snprintf(out->name, sizeof out->name, "rotation-%02d", i);
    /* anterior (0,1,0) turning towards the patient's left: eye moves from
     * -Y to +X, so the direction goes from +Y to -X */
    set3(out->dir, -sin(a), cos(a), 0);
    set3(out->up, 0, 0, 1);
}

static void normalize(double v[3])
{
    double l = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    if (l > 0)
        for (int k = 0; k < 3; k++)
            v[k] /= l;
}

/* Screen basis: right = dir x up, up re-orthogonalized. */
static void basis(const iso_view *v, double f[3], double r[3], double u[3])
{
    memcpy(f, v->dir, 3 * sizeof *f);
    normalize(f);
    double up[3];
    memcpy(up, v->up, sizeof up);
    r[0] = f[1] * up[2] - f[2] * up[1];
    r[1] = f[2] * up[0] - f[0] * up[2];
    r[2] = f[0] * up[1] - f[1] * up[0];
    normalize(r);
    u[0] = r[1] * f[2] - r[2] * f[1];
    u[1] = r[2] * f[0] - r[0] * f[2];
    u[2] = r[0] * f[1] - r[1] * f[0];
    normalize(u);
}

/* ---- orientation letters ----
 * Radiologists read a 3D picture by the patient directions at its edges
 * (R/L, A/P, S/I), as on their workstations.  The letters carry no patient
 * identity, so the pictures stay free of identifying burned-in text. */

static const char *const glyph_rows[6][7] = {
    {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"}, /* A */
    {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."}, /* P */
    {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"}, /* R */
    {"#....", "#....", "#....", "#....", "#....", "#....", "#####"}, /* L */
    {".####", "#....", "#....", ".###.", "....#", "....#", "####."}, /* S */
    {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."}, /* I */
};

/* The patient direction a screen direction mostly points to (LPS axes). */
static int direction_letter(const double d[3])
{
    int a = 0;
    for (int k = 1; k < 3; k++)
        if (fabs(d[k]) > fabs(d[a]))
            a = k;
    static const int pos[3] = {3, 1, 4}, neg[3] = {2, 0, 5}; /* L P S / R A I */
    return d[a] >= 0 ? pos[a] : neg[a];
}

static void draw_letter(iso_image *img, int letter, int cx, int cy, int scale)
{
    int w = 5 * scale, h = 7 * scale;
    int x0 = cx - w / 2, y0 = cy - h / 2;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            if (glyph_rows[letter][y / scale][x / scale] != '#')
                continue;
            int px = x0 + x, py = y0 + y;
            if (px < 0 || py < 0 || px >= img->w || py >= img->h)
                continue;
            uint8_t *o = img->rgb + 3 * ((size_t)py * img->w + px);
            o[0] = 255;
            o[1] = 230;
            o[2] = 120;
        }
}

static void label_edges(iso_image *img, const double r[3], const double u[3])
{
    int scale = img->w >= 400 ? 3 : 2, m = 6 * scale;
    double nr[3] = {-r[0], -r[1], -r[2]}, nu[3] = {-u[0], -u[1], -u[2]};
    draw_letter(img, direction_letter(r), img->w - m, img->h / 2, scale);
    draw_letter(img, direction_letter(nr), m, img->h / 2, scale);
    draw_letter(img, direction_letter(u), img->w / 2, m, scale);
    draw_letter(img, direction_letter(nu), img->w / 2, img->h - m, scale);
}

void iso_scene_frame(iso_scene *s)
{
    double lo[3] = {1e300, 1e300, 1e300}, hi[3] = {-1e300, -1e300, -1e300};
    for (int m = 0; m < s->n; m++)
        for (size_t i = 0; i < s->meshes[m]->nv; i++)
            for (int k = 0; k < 3; k++) {
                double x = s->meshes[m]->v[3 * i + k];
                lo[k] = x < lo[k] ? x : lo[k];
                hi[k] = x > hi[k] ? x : hi[k];
            }
    double r2 = 0;
    for (int k = 0; k < 3; k++) {
        s->center[k] = lo[k] <= hi[k] ? (lo[k] + hi[k]) / 2 : 0;
        r2 += lo[k] <= hi[k] ? (hi[k] - lo[k]) * (hi[k] - lo[k]) / 4 : 0;
    }
    s->radius = sqrt(r2) > 0 ? sqrt(r2) : 1;
}

void iso_image_free(iso_image *img)
{
    if (img != NULL) {
        free(img->rgb);
        img->rgb = NULL;
    }
}

static iso_code image_alloc(iso_image *img, int size, iso_err *err)
{
    img->w = img->h = size;
    img->rgb = calloc((size_t)size * size, 3);
    if (img->rgb == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory for a %dx%d picture", size, size);
    return ISO_OK;
}

iso_code iso_render_surfaces(const iso_scene *s, const iso_view *v, int size, iso_image *out,
                             iso_err *err)
{
    if (image_alloc(out, size, err) != ISO_OK)
        return err->code;
    float *zbuf = malloc((size_t)size * size * sizeof *zbuf);
    float *nbuf = malloc((size_t)size * size * 3 * sizeof *nbuf);
    int16_t *mbuf = malloc((size_t)size * size * sizeof *mbuf);
    if (zbuf == NULL || nbuf == NULL || mbuf == NULL) {
        free(zbuf);
        free(nbuf);
        free(mbuf);
        iso_image_free(out);
        return iso_fail(err, ISO_ENOMEM, "out of memory for a z-buffer");
    }
    for (size_t i = 0; i < (size_t)size * size; i++) {
        zbuf[i] = -INFINITY;
        mbuf[i] = -1;
    }
    double f[3], r[3], u[3];
    basis(v, f, r, u);
    double scale = 0.5 * size * 0.92 / s->radius; /* pixels per mm */
    double half = size / 2.0;
    iso_code rc = ISO_OK;
    for (int mi = 0; mi < s->n && rc == ISO_OK; mi++) {
        const iso_mesh *m = s->meshes[mi];
        /* every vertex to the screen once (a vertex is in about six triangles) */
        double *scr = malloc(m->nv * 3 * sizeof *scr);
        if (scr == NULL) {
            rc = iso_fail(err, ISO_ENOMEM, "out of memory for screen coordinates");
            break;
        }
        for (size_t i = 0; i < m->nv; i++) {
            const float *p = m->v + 3 * i;
            double d[3] = {p[0] - s->center[0], p[1] - s->center[1], p[2] - s->center[2]};
            scr[3 * i] = half + scale * (d[0] * r[0] + d[1] * r[1] + d[2] * r[2]);
            scr[3 * i + 1] = half - scale * (d[0] * u[0] + d[1] * u[1] + d[2] * u[2]);
            scr[3 * i + 2] = -(d[0] * f[0] + d[1] * f[1] + d[2] * f[2]); /* larger: nearer */
        }
        for (size_t t = 0; t < m->nt; t++) {
            const uint32_t *tr = m->t + 3 * t;
            double sx[3], sy[3], sz[3];
            for (int k = 0; k < 3; k++) {
                sx[k] = scr[3 * tr[k]];
                sy[k] = scr[3 * tr[k] + 1];
                sz[k] = scr[3 * tr[k] + 2];
            }
            /* counter-clockwise from outside = facing the eye; in screen
             * coordinates (y down) that is a negative signed area */
            double area = (sx[1] - sx[0]) * (sy[2] - sy[0]) - (sx[2] - sx[0]) * (sy[1] - sy[0]);
            if (area >= 0)
                continue;
            /* pixel centres x + 0.5 inside [min, max]: x from ceil(min - 0.5) to
             * floor(max - 0.5); most triangles here cover one centre or none */
            double mnx = sx[0] < sx[1] ? sx[0] : sx[1], mxx = sx[0] > sx[1] ? sx[0] : sx[1];
            double mny = sy[0] < sy[1] ? sy[0] : sy[1], mxy = sy[0] > sy[1] ? sy[0] : sy[1];
            mnx = sx[2] < mnx ? sx[2] : mnx;
            mxx = sx[2] > mxx ? sx[2] : mxx;
            mny = sy[2] < mny ? sy[2] : mny;
            mxy = sy[2] > mxy ? sy[2] : mxy;
            if (mxx < 0.5 || mxy < 0.5 || mnx > size - 0.5 || mny > size - 0.5)
                continue;
            int x0 = (int)ceil(mnx - 0.5), x1 = (int)floor(mxx - 0.5);
            int y0 = (int)ceil(mny - 0.5), y1 = (int)floor(mxy - 0.5);
            x0 = x0 < 0 ? 0 : x0;
            y0 = y0 < 0 ? 0 : y0;
            x1 = x1 > size - 1 ? size - 1 : x1;
            y1 = y1 > size - 1 ? size - 1 : y1;
            if (x0 > x1 || y0 > y1)
                continue;
            /* barycentric weights are affine in x: start of each row plus a step */
            double inv = 1.0 / area;
            double a0 = -(sy[2] - sy[1]) * inv, a1 = -(sy[0] - sy[2]) * inv;
            for (int y = y0; y <= y1; y++) {
                double py = y + 0.5, px = x0 + 0.5;
                double w0 = ((sx[2] - sx[1]) * (py - sy[1]) - (sy[2] - sy[1]) * (px - sx[1])) * inv;
                double w1 = ((sx[0] - sx[2]) * (py - sy[2]) - (sy[0] - sy[2]) * (px - sx[2])) * inv;
                for (int x = x0; x <= x1; x++, w0 += a0, w1 += a1) {
                    double w2 = 1 - w0 - w1;
                    if (w0 < 0 || w1 < 0 || w2 < 0)
                        continue;
                    float z = (float)(w0 * sz[0] + w1 * sz[1] + w2 * sz[2]);
                    size_t pi = (size_t)y * size + x;
                    if (z <= zbuf[pi])
                        continue;
                    zbuf[pi] = z;
                    mbuf[pi] = (int16_t)mi;
                    for (int c = 0; c < 3; c++)
                        nbuf[3 * pi + c] = m->n ? (float)(w0 * m->n[3 * tr[0] + c] +
                                                          w1 * m->n[3 * tr[1] + c] +
                                                          w2 * m->n[3 * tr[2] + c])
                                                : 0;
                }
            }
        }
        free(scr);
    }
    if (rc != ISO_OK) {
        free(zbuf);
        free(nbuf);
        free(mbuf);
        iso_image_free(out);
        return rc;
    }
    /* head light: from the eye, a little above and to the left */
    double L[3], H[3];
    for (int k = 0; k < 3; k++)
        L[k] = -f[k] + 0.35 * u[k] - 0.25 * r[k];
    normalize(L);
    for (int k = 0; k < 3; k++)
        H[k] = L[k] - f[k];
    normalize(H);
    for (size_t pi = 0; pi < (size_t)size * size; pi++) {
        if (mbuf[pi] < 0)
            continue;
        double n[3] = {nbuf[3 * pi], nbuf[3 * pi + 1], nbuf[3 * pi + 2]};
        normalize(n);
        double diff = fmax(0, n[0] * L[0] + n[1] * L[1] + n[2] * L[2]);
        double h = fmax(0, n[0] * H[0] + n[1] * H[1] + n[2] * H[2]);
        double h2 = h * h, h8 = h2 * h2 * h2 * h2, h32 = h8 * h8 * h8 * h8;
        double spec = h32 * h8; /* h^40, the Blinn-Phong exponent, without pow() */
        const float *col = s->colors[mbuf[pi]];
        for (int c = 0; c < 3; c++) {
            double val = col[c] * (0.12 + 0.88 * diff) + 0.3 * spec;
            out->rgb[3 * pi + c] = (uint8_t)(255 * fmin(1, fmax(0, val)) + 0.5);
        }
    }
    free(zbuf);
    free(nbuf);
    free(mbuf);
    label_edges(out, r, u);
    return ISO_OK;
}

/* ---- MIP ---- */

typedef struct mip_job {
    const iso_volume *vol;
    double inv[3][3];     /* patient offset -> index */
    double f[3], r[3], u[3], center[3], radius, scale;
    int size;
    double lo, hi;
    iso_image *out;
} mip_job;

static void mip_row(void *ctx, size_t y, int worker)
{
    mip_job *j = ctx;
    const iso_volume *v = j->vol;
    double step_mm = 1e300;
    for (int a = 0; a < 3; a++)
        step_mm = fmin(step_mm, sqrt(v->axis[a][0] * v->axis[a][0] + v->axis[a][1] * v->axis[a][1] +
                                     v->axis[a][2] * v->axis[a][2]));
    step_mm *= 0.7; /* finer than a voxel along any axis direction */
    int steps = (int)ceil(2 * j->radius / step_mm);
    double half = j->size / 2.0;
    /* index-space step along the ray */
    double di[3];
    for (int a = 0; a < 3; a++)
        di[a] = step_mm * (j->inv[a][0] * j->f[0] + j->inv[a][1] * j->f[1] + j->inv[a][2] * j->f[2]);
    for (int x = 0; x < j->size; x++) {
        double sxm = (x + 0.5 - half) / j->scale, sym = (half - (y + 0.5)) / j->scale;
        double p[3];
        for (int k = 0; k < 3; k++)
            p[k] = j->center[k] + sxm * j->r[k] + sym * j->u[k] - j->radius * j->f[k] - v->origin[k];
        double idx[3];
        for (int a = 0; a < 3; a++)
            idx[a] = j->inv[a][0] * p[0] + j->inv[a][1] * p[1] + j->inv[a][2] * p[2];
        /* clip the ray to the volume: the steps s where every index stays
         * within [-0.5, dim - 0.5] */
        double s_lo = 0, s_hi = steps - 1;
        for (int a = 0; a < 3; a++) {
            double lo = -0.5, hi = v->dim[a] - 0.5;
            if (fabs(di[a]) < 1e-12) {
                if (idx[a] < lo || idx[a] > hi)
                    s_hi = -1;
                continue;
            }
            double s0 = (lo - idx[a]) / di[a], s1 = (hi - idx[a]) / di[a];
            if (s0 > s1) {
                double tmp = s0;
                s0 = s1;
                s1 = tmp;
            }
            s_lo = fmax(s_lo, s0);
            s_hi = fmin(s_hi, s1);
        }
        double best = -INFINITY;
        int first = (int)ceil(s_lo), last = (int)floor(s_hi);
        for (int a = 0; a < 3; a++)
            idx[a] += first * di[a];
        for (int s = first; s <= last; s++) {
            int i = (int)lrint(idx[0]), jj = (int)lrint(idx[1]), k = (int)lrint(idx[2]);
            if ((unsigned)i < (unsigned)v->dim[0] && (unsigned)jj < (unsigned)v->dim[1] &&
                (unsigned)k < (unsigned)v->dim[2]) {
                size_t q = ((size_t)k * v->dim[1] + jj) * v->dim[0] + i;
                double val = v->type == ISO_VOX_I16 ? ((const int16_t *)v->data)[q]
                                                    : ((const float *)v->data)[q];
                best = val > best ? val : best;
            }
            idx[0] += di[0];
            idx[1] += di[1];
            idx[2] += di[2];
        }
        double t = best == -INFINITY ? 0 : (best - j->lo) / (j->hi - j->lo);
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        t = pow(t, 0.8);
        /* ivory: bone-like, warm white at the top */
        static const double ivory[3] = {1.0, 0.96, 0.86};
        uint8_t *o = j->out->rgb + 3 * ((size_t)y * j->size + x);
        for (int c = 0; c < 3; c++)
            o[c] = (uint8_t)lrint(255 * t * ivory[c]);
    }
}

static int invert3(const double m[3][3], double inv[3][3])
{
    double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                 m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                 m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if (fabs(det) < 1e-12)
        return -1;
    inv[0][0] = (m[1][1] * m[2][2] - m[1][2] * m[2][1]) / det;
    inv[0][1] = (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det;
    inv[0][2] = (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det;
    inv[1][0] = (m[1][2] * m[2][0] - m[1][0] * m[2][2]) / det;
    inv[1][1] = (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det;
    inv[1][2] = (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det;
    inv[2][0] = (m[1][0] * m[2][1] - m[1][1] * m[2][0]) / det;
    inv[2][1] = (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det;
    inv[2][2] = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det;
    return 0;
}

iso_code iso_render_mip(const iso_volume *vol, const iso_view *v, int size, double lo, double hi,
                        int threads, iso_image *out, iso_err *err)
{
    mip_job j = {.vol = vol, .size = size, .lo = lo, .hi = hi > lo ? hi : lo + 1, .out = out};
    /* M maps index to patient offset: column a of M is axis a */
    double M[3][3];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            M[r][c] = vol->axis[c][r];
    if (invert3(M, j.inv) != 0)
        return iso_fail(err, ISO_EINVAL, "volume axes are degenerate");
    basis(v, j.f, j.r, j.u);
    double corner_max = 0;
    double ext[3] = {vol->dim[0] - 1, vol->dim[1] - 1, vol->dim[2] - 1};
    iso_volume_to_patient(vol, ext[0] / 2, ext[1] / 2, ext[2] / 2, j.center);
    for (int c = 0; c < 8; c++) {
        double p[3];
        iso_volume_to_patient(vol, c & 1 ? ext[0] : 0, c & 2 ? ext[1] : 0, c & 4 ? ext[2] : 0, p);
        double d = sqrt((p[0] - j.center[0]) * (p[0] - j.center[0]) +
                        (p[1] - j.center[1]) * (p[1] - j.center[1]) +
                        (p[2] - j.center[2]) * (p[2] - j.center[2]));
        corner_max = fmax(corner_max, d);
    }
    j.radius = corner_max > 0 ? corner_max : 1;
    j.scale = 0.5 * size / j.radius;
    if (image_alloc(out, size, err) != ISO_OK)
        return err->code;
    iso_parallel_for((size_t)size, iso_threads(threads), mip_row, &j);
    label_edges(out, j.r, j.u);
    return ISO_OK;
}
