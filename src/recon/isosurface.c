/* isosurface.c — iso-surface extraction of the Flying Edges kind.
 *
 * Schroeder, Maynard, Geveci, "Flying Edges: a high-performance scalable
 * isocontouring algorithm" (IEEE LDAV 2015) is the model: work is organized
 * by grid edges and rows of voxels, not by cubes and a vertex hash.
 *
 *   pass 1  per row of grid points: classify each point (at or above the
 *           iso-value or not), count x-edge crossings, remember the first
 *           and last crossing (the row's trim);
 *   pass 2  per row: count the y- and z-edge crossings the row owns and the
 *           triangles of its row of cubes, looking only inside the trims;
 *   pass 3  prefix sums: every row now knows where its vertices and
 *           triangles go, and the output is allocated once, exactly sized;
 *   pass 4  per row: interpolate one vertex per crossing edge it owns and
 *           write its cubes' triangles, finding each edge's vertex number by
 *           counting crossings along the row (no hash, no welding).
 *
 * Passes 1, 2 and 4 run in parallel over z-slabs of rows.  The points'
 * flags are not kept for the whole grid (a byte per voxel: 75 MB on a
 * 1,400-slice series): each pass computes those of the two planes a slab
 * touches into its worker's scratch, which costs a comparison per point
 * and pass and keeps the passes' byte-wise scanning as it was.  With `closed`,
 * the grid is padded by one virtual layer of points below the iso-value
 * (the volume's minimum), so surfaces that reach the border are capped and
 * every mesh is closed.  Triangles come from the generated case table
 * (tools/mctable.c): counter-clockwise seen from the lower-valued side, so
 * normals point out of bright objects; the winding is flipped if the
 * volume's axes are left-handed, keeping that true in patient space.
 */
#include "recon/isosurface.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recon/mc_table.h"
#include "util/par.h"

#define VERTEX_MARGIN 0.01

typedef struct fe {
    const iso_volume *v;
    double iso;
    float padval; /* value of virtual points */
    int pad;      /* 1 if padded */
    int P[3];     /* point grid dims */
    uint8_t **scratch;              /* per worker: the flags of two planes of points */
    int32_t *xl, *xr;               /* per row: first crossing x-edge, last + 1 */
    uint32_t *nx_, *ny_, *nz_, *nt_; /* per row: crossings owned, triangles */
    size_t *vbase, *tbase;          /* per row: first vertex, first triangle */
    float *out_v;
    uint32_t *out_t;
    float *slab_min; /* per z-slab minimum voxel value (pass 1) */
    int flip;
} fe;

static inline size_t row_of(const fe *f, int jp, int kp) { return (size_t)kp * f->P[1] + jp; }
/* The flags (point at or above iso) of the rows of planes kp and kp + 1,
 * as one pass at work on slab kp sees them. */
typedef struct fview {
    const uint8_t *buf;
    size_t first_row; /* row_of(0, kp) */
    int P0;
} fview;

static inline const uint8_t *flags_of(const fview *fv, size_t r)
{
    return fv->buf + (r - fv->first_row) * (size_t)fv->P0;
}

static inline double value_at(const fe *f, int ip, int jp, int kp)
{
    int i = ip - f->pad, j = jp - f->pad, k = kp - f->pad;
    const iso_volume *v = f->v;
    if ((unsigned)i >= (unsigned)v->dim[0] || (unsigned)j >= (unsigned)v->dim[1] ||
        (unsigned)k >= (unsigned)v->dim[2])
        return f->padval;
    size_t idx = ((size_t)k * v->dim[1] + j) * v->dim[0] + i;
    return v->type == ISO_VOX_I16 ? ((const int16_t *)v->data)[idx] : ((const float *)v->data)[idx];
}

/* The flags of row (jp, kp) of points into fl (P0 bytes); virtual points
 * (the padding) are below iso. */
static void row_flags(const fe *f, int jp, int kp, uint8_t *fl)
{
    const iso_volume *v = f->v;
    int P0 = f->P[0], j = jp - f->pad, k = kp - f->pad;
    if (k < 0 || k >= v->dim[2] || j < 0 || j >= v->dim[1]) {
        memset(fl, 0, (size_t)P0);
        return;
    }
    size_t base = ((size_t)k * v->dim[1] + j) * v->dim[0];
    uint8_t *o = fl + f->pad;
    int n = v->dim[0];
    if (v->type == ISO_VOX_I16) {
        const int16_t *p = (const int16_t *)v->data + base;
        /* an integer volume: compare with the smallest integer at or above iso */
        double c = ceil(f->iso);
        int16_t t = c > 32767 ? 32767 : c < -32768 ? -32768 : (int16_t)c;
        if (c > 32767)
            memset(o, 0, (size_t)n);
        else
            for (int i = 0; i < n; i++)
                o[i] = (uint8_t)(p[i] >= t);
    } else {
        const float *p = (const float *)v->data + base;
        float t = (float)f->iso;
        for (int i = 0; i < n; i++)
            o[i] = (uint8_t)(p[i] >= t);
    }
    if (f->pad) {
        fl[0] = 0;
        fl[P0 - 1] = 0;
    }
}

/* The least value of row (jp, kp), if it is a row of the volume. */
static void row_min(fe *f, int jp, int kp)
{
    const iso_volume *v = f->v;
    int j = jp - f->pad, k = kp - f->pad;
    if (k < 0 || k >= v->dim[2] || j < 0 || j >= v->dim[1])
        return;
    size_t base = ((size_t)k * v->dim[1] + j) * v->dim[0];
    int n = v->dim[0];
    float mn;
    if (v->type == ISO_VOX_I16) {
        const int16_t *p = (const int16_t *)v->data + base;
        int16_t m = p[0];
        for (int i = 0; i < n; i++)
            m = p[i] < m ? p[i] : m;
        mn = m;
    } else {
        const float *p = (const float *)v->data + base;
        mn = p[0];
        for (int i = 0; i < n; i++)
            mn = p[i] < mn ? p[i] : mn;
    }
    if (mn < f->slab_min[kp])
        f->slab_min[kp] = mn;
}

/* Fills the worker's scratch with planes kp and kp + 1 (when there is one). */
static fview slab_flags(const fe *f, int kp, int worker)
{
    int P1 = f->P[1];
    uint8_t *buf = f->scratch[worker];
    for (int q = 0; q < 2 && kp + q < f->P[2]; q++)
        for (int jp = 0; jp < P1; jp++)
            row_flags(f, jp, kp + q, buf + ((size_t)q * P1 + jp) * f->P[0]);
    return (fview){buf, row_of(f, 0, kp), f->P[0]};
}

/* ---- pass 1 ---- */
static void pass1(void *ctx, size_t kp, int worker)
{
    fe *f = ctx;
    int P0 = f->P[0], P1 = f->P[1];
    for (int jp = 0; jp < P1; jp++) {
        size_t r = row_of(f, jp, (int)kp);
        uint8_t *fl = f->scratch[worker];
        row_min(f, jp, (int)kp);
        row_flags(f, jp, (int)kp, fl);
        /* crossings: count with a branch-free sum, find the ends by
         * scanning in from both sides (rows are mostly uniform) */
        uint32_t cnt = 0;
        for (int ip = 0; ip + 1 < P0; ip++)
            cnt += (uint32_t)(fl[ip] ^ fl[ip + 1]);
        int first = P0, last = 0;
        if (cnt) {
            first = 0;
            while (fl[first] == fl[first + 1])
                first++;
            last = P0 - 1;
            while (fl[last] == fl[last - 1])
                last--;
        }
        f->xl[r] = first;
        f->xr[r] = last;
        f->nx_[r] = cnt;
    }
}

/* Points [*a, *b] outside which the rows are constant and equal to each
 * other; empty (a > b) if nothing crosses between or along them. */
static void trim(const fe *f, const fview *fv, const size_t *rows, int n, int *a, int *b)
{
    int lo = f->P[0], hi = 0;
    for (int q = 0; q < n; q++) {
        if (f->xl[rows[q]] < lo)
            lo = f->xl[rows[q]];
        if (f->xr[rows[q]] > hi)
            hi = f->xr[rows[q]];
    }
    const uint8_t *f0 = flags_of(fv, rows[0]);
    for (int q = 1; q < n; q++) {
        const uint8_t *fq = flags_of(fv, rows[q]);
        if (fq[0] != f0[0])
            lo = 0;
        if (fq[f->P[0] - 1] != f0[f->P[0] - 1])
            hi = f->P[0] - 1;
    }
    *a = lo;
    *b = hi;
}

static uint32_t count_between(const fe *f, const fview *fv, size_t r1, size_t r2)
{
    size_t rows[2] = {r1, r2};
    int a, b;
    trim(f, fv, rows, 2, &a, &b);
    const uint8_t *p = flags_of(fv, r1), *q = flags_of(fv, r2);
    uint32_t n = 0;
    for (int ip = a; ip <= b; ip++)
        n += p[ip] != q[ip];
    return n;
}

static inline int cube_case(const uint8_t *f0, const uint8_t *f1, const uint8_t *f2,
                            const uint8_t *f3, int ip)
{
    return f0[ip] | f0[ip + 1] << 1 | f1[ip] << 2 | f1[ip + 1] << 3 | f2[ip] << 4 |
           f2[ip + 1] << 5 | f3[ip] << 6 | f3[ip + 1] << 7;
}

/* 1 if points ip..ip+7 of all four rows equal pat (8 copies of 0 or 1). */
static inline int uniform8(const uint8_t *f0, const uint8_t *f1, const uint8_t *f2,
                           const uint8_t *f3, int ip, uint64_t pat)
{
    uint64_t a, b, c, d;
    memcpy(&a, f0 + ip, 8);
    memcpy(&b, f1 + ip, 8);
    memcpy(&c, f2 + ip, 8);
    memcpy(&d, f3 + ip, 8);
    return ((a ^ pat) | (b ^ pat) | (c ^ pat) | (d ^ pat)) == 0;
}

/* At a uniform cube ip (case 0 or 255), returns the last cube of the
 * uniform run found 8 points at a time, so the caller resumes after it. */
static inline int skip_uniform(const uint8_t *f0, const uint8_t *f1, const uint8_t *f2,
                               const uint8_t *f3, int ip, int last_cube, int cs)
{
    uint64_t pat = cs ? 0x0101010101010101ULL : 0;
    int j = ip;
    while (j + 8 <= last_cube + 1 && uniform8(f0, f1, f2, f3, j + 1, pat))
        j += 8;
    return j > ip ? j - 1 : ip;
}

/* ---- pass 2 ---- */
static void pass2(void *ctx, size_t kpz, int worker)
{
    fe *f = ctx;
    int kp = (int)kpz, P0 = f->P[0], P1 = f->P[1], P2 = f->P[2];
    fview fv = slab_flags(f, kp, worker);
    for (int jp = 0; jp < P1; jp++) {
        size_t r = row_of(f, jp, kp);
        f->ny_[r] = jp + 1 < P1 ? count_between(f, &fv, r, r + 1) : 0;
        f->nz_[r] = kp + 1 < P2 ? count_between(f, &fv, r, r + P1) : 0;
        uint32_t tris = 0;
        if (jp + 1 < P1 && kp + 1 < P2) {
            size_t rows[4] = {r, r + 1, r + P1, r + P1 + 1};
            int a, b;
            trim(f, &fv, rows, 4, &a, &b);
            const uint8_t *f0 = flags_of(&fv, rows[0]), *f1 = flags_of(&fv, rows[1]),
                          *f2 = flags_of(&fv, rows[2]), *f3 = flags_of(&fv, rows[3]);
            int c0 = a - 1 < 0 ? 0 : a - 1, c1 = b < P0 - 2 ? b : P0 - 2;
            for (int ip = c0; ip <= c1; ip++) {
                int cs = cube_case(f0, f1, f2, f3, ip);
                if (cs == 0 || cs == 255)
                    ip = skip_uniform(f0, f1, f2, f3, ip, c1, cs);
                else
                    tris += (uint32_t)iso_mc_tris[cs][0];
            }
        }
        f->nt_[r] = tris;
    }
}

static void put_vertex(fe *f, size_t id, int ip, int jp, int kp, int axis)
{
    const iso_volume *v = f->v;
    int i = ip - f->pad, j = jp - f->pad, k = kp - f->pad;
    int i2 = i + (axis == 0), j2 = j + (axis == 1), k2 = k + (axis == 2);
    double a, b;
    if ((unsigned)i < (unsigned)v->dim[0] && (unsigned)j < (unsigned)v->dim[1] &&
        (unsigned)k < (unsigned)v->dim[2] && (unsigned)i2 < (unsigned)v->dim[0] &&
        (unsigned)j2 < (unsigned)v->dim[1] && (unsigned)k2 < (unsigned)v->dim[2]) {
        size_t ia = ((size_t)k * v->dim[1] + j) * v->dim[0] + i;
        size_t ib = ((size_t)k2 * v->dim[1] + j2) * v->dim[0] + i2;
        if (v->type == ISO_VOX_I16) {
            a = ((const int16_t *)v->data)[ia];
            b = ((const int16_t *)v->data)[ib];
        } else {
            a = ((const float *)v->data)[ia];
            b = ((const float *)v->data)[ib];
        }
    } else {
        a = value_at(f, ip, jp, kp);
        b = value_at(f, ip + (axis == 0), jp + (axis == 1), kp + (axis == 2));
    }
    /* A voxel exactly at the iso-value would put the vertices of all its
     * crossing edges on one point: distinct vertices, one position, which
     * is a pinch once an STL reader welds by position.  Keeping vertices
     * a hundredth of a voxel off the grid points avoids that. */
    double t = (f->iso - a) / (b - a);
    if (!(t >= VERTEX_MARGIN))
        t = VERTEX_MARGIN;
    if (t > 1 - VERTEX_MARGIN)
        t = 1 - VERTEX_MARGIN;
    double idx[3] = {i, j, k};
    idx[axis] += t;
    float *o = f->out_v + 3 * id;
    for (int c = 0; c < 3; c++)
        o[c] = (float)(v->origin[c] + idx[0] * v->axis[0][c] + idx[1] * v->axis[1][c] +
                       idx[2] * v->axis[2][c]);
}

/* The first ip in [ip, last] where a and b differ, or last + 1; compares
 * eight bytes at a time, since crossings are sparse along a row. */
static inline int next_diff(const uint8_t *a, const uint8_t *b, int ip, int last)
{
    while (ip + 8 <= last + 1) {
        uint64_t x, y;
        memcpy(&x, a + ip, 8);
        memcpy(&y, b + ip, 8);
        if (x != y)
            break;
        ip += 8;
    }
    while (ip <= last && a[ip] == b[ip])
        ip++;
    return ip;
}

/* ---- pass 4 ---- */
static void pass4(void *ctx, size_t kpz, int worker)
{
    fe *f = ctx;
    int kp = (int)kpz, P0 = f->P[0], P1 = f->P[1], P2 = f->P[2];
    fview fv = slab_flags(f, kp, worker);
    for (int jp = 0; jp < P1; jp++) {
        size_t r = row_of(f, jp, kp);
        const uint8_t *fr = flags_of(&fv, r);
        size_t xb = f->vbase[r], yb = xb + f->nx_[r], zb = yb + f->ny_[r];
        /* vertices on the edges this row owns */
        size_t id = xb;
        for (int ip = next_diff(fr, fr + 1, f->xl[r], f->xr[r] - 1); ip < f->xr[r];
             ip = next_diff(fr, fr + 1, ip + 1, f->xr[r] - 1))
            put_vertex(f, id++, ip, jp, kp, 0);
        if (f->ny_[r]) {
            size_t rows[2] = {r, r + 1};
            int a, b;
            trim(f, &fv, rows, 2, &a, &b);
            const uint8_t *fy = flags_of(&fv, r + 1);
            id = yb;
            for (int ip = next_diff(fr, fy, a, b); ip <= b; ip = next_diff(fr, fy, ip + 1, b))
                put_vertex(f, id++, ip, jp, kp, 1);
        }
        if (f->nz_[r]) {
            size_t rows[2] = {r, r + P1};
            int a, b;
            trim(f, &fv, rows, 2, &a, &b);
            const uint8_t *fz = flags_of(&fv, r + P1);
            id = zb;
            for (int ip = next_diff(fr, fz, a, b); ip <= b; ip = next_diff(fr, fz, ip + 1, b))
                put_vertex(f, id++, ip, jp, kp, 2);
        }
        if (f->nt_[r] == 0 || jp + 1 >= P1 || kp + 1 >= P2)
            continue;
        /* triangles of this row of cubes */
        size_t q[4] = {r, r + 1, r + P1, r + P1 + 1}; /* (y,z) = 00, 10, 01, 11 */
        const uint8_t *f0 = flags_of(&fv, q[0]), *f1 = flags_of(&fv, q[1]),
                      *f2 = flags_of(&fv, q[2]), *f3 = flags_of(&fv, q[3]);
        size_t xbase[4], ybase[2], zbase[2];
        for (int i = 0; i < 4; i++)
            xbase[i] = f->vbase[q[i]];
        ybase[0] = f->vbase[q[0]] + f->nx_[q[0]];
        ybase[1] = f->vbase[q[2]] + f->nx_[q[2]];
        zbase[0] = f->vbase[q[0]] + f->nx_[q[0]] + f->ny_[q[0]];
        zbase[1] = f->vbase[q[1]] + f->nx_[q[1]] + f->ny_[q[1]];
        size_t cx[4] = {0, 0, 0, 0}, cy[2] = {0, 0}, cz[2] = {0, 0};
        int a, b;
        trim(f, &fv, q, 4, &a, &b);
        int c0 = a - 1 < 0 ? 0 : a - 1, c1 = b < P0 - 2 ? b : P0 - 2;
        uint32_t *tri = f->out_t + 3 * f->tbase[r];
        for (int ip = c0; ip <= c1; ip++) {
            int cs = cube_case(f0, f1, f2, f3, ip);
            if (cs == 0 || cs == 255) {
                ip = skip_uniform(f0, f1, f2, f3, ip, c1, cs);
                continue; /* no crossing: no counter moves */
            }
            int ex[4] = {f0[ip] != f0[ip + 1], f1[ip] != f1[ip + 1], f2[ip] != f2[ip + 1],
                         f3[ip] != f3[ip + 1]};
            int ey0 = f0[ip] != f1[ip], ey1 = f2[ip] != f3[ip];
            int ez0 = f0[ip] != f2[ip], ez1 = f1[ip] != f3[ip];
            if (iso_mc_tris[cs][0] > 0) {
                size_t e[12];
                e[0] = xbase[0] + cx[0];
                e[2] = xbase[1] + cx[1];
                e[4] = xbase[2] + cx[2];
                e[6] = xbase[3] + cx[3];
                e[3] = ybase[0] + cy[0];
                e[1] = ybase[0] + cy[0] + (size_t)ey0;
                e[7] = ybase[1] + cy[1];
                e[5] = ybase[1] + cy[1] + (size_t)ey1;
                e[8] = zbase[0] + cz[0];
                e[9] = zbase[0] + cz[0] + (size_t)ez0;
                e[11] = zbase[1] + cz[1];
                e[10] = zbase[1] + cz[1] + (size_t)ez1;
                const signed char *tt = iso_mc_tris[cs];
                for (int t = 0; t < tt[0]; t++) {
                    uint32_t A = (uint32_t)e[tt[1 + 3 * t]], B = (uint32_t)e[tt[2 + 3 * t]],
                             C = (uint32_t)e[tt[3 + 3 * t]];
                    tri[0] = A;
                    tri[1] = f->flip ? C : B;
                    tri[2] = f->flip ? B : C;
                    tri += 3;
                }
            }
            for (int i = 0; i < 4; i++)
                cx[i] += (size_t)ex[i];
            cy[0] += (size_t)ey0;
            cy[1] += (size_t)ey1;
            cz[0] += (size_t)ez0;
            cz[1] += (size_t)ez1;
        }
    }
}

static double det3(const double m[3][3])
{
    return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
           m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
           m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

iso_code iso_isosurface(const iso_volume *v, double iso, int closed, int threads, iso_mesh *out,
                        iso_err *err)
{
    memset(out, 0, sizeof *out);
    fe f = {.v = v, .iso = iso, .pad = closed ? 1 : 0};
    for (int a = 0; a < 3; a++)
        f.P[a] = v->dim[a] + 2 * f.pad;
    if (f.P[0] < 2 || f.P[1] < 2 || f.P[2] < 2)
        return iso_fail(err, ISO_EINVAL, "volume too small for an iso-surface");
    f.flip = det3(v->axis) < 0;
    size_t rows = (size_t)f.P[1] * f.P[2];
    threads = iso_threads(threads);
    iso_code rc = ISO_OK;
    f.scratch = calloc((size_t)threads, sizeof *f.scratch);
    for (int w = 0; f.scratch != NULL && w < threads; w++)
        if ((f.scratch[w] = malloc(2 * (size_t)f.P[0] * f.P[1])) == NULL)
            rc = ISO_ENOMEM;
    f.xl = malloc(rows * sizeof *f.xl);
    f.xr = malloc(rows * sizeof *f.xr);
    f.nx_ = malloc(rows * sizeof *f.nx_);
    f.ny_ = malloc(rows * sizeof *f.ny_);
    f.nz_ = malloc(rows * sizeof *f.nz_);
    f.nt_ = malloc(rows * sizeof *f.nt_);
    f.vbase = malloc(rows * sizeof *f.vbase);
    f.tbase = malloc(rows * sizeof *f.tbase);
    f.slab_min = malloc((size_t)f.P[2] * sizeof *f.slab_min);
    if (rc != ISO_OK || !f.slab_min || !f.scratch || !f.xl || !f.xr || !f.nx_ || !f.ny_ || !f.nz_ || !f.nt_ || !f.vbase || !f.tbase) {
        rc = iso_fail(err, ISO_ENOMEM, "out of memory for iso-surface bookkeeping");
        goto done;
    }
    for (int k = 0; k < f.P[2]; k++)
        f.slab_min[k] = INFINITY;
    iso_parallel_for((size_t)f.P[2], threads, pass1, &f);
    /* virtual points: the volume's minimum, as if padded with it; below
     * iso in any case */
    float lo = INFINITY;
    for (int k = 0; k < f.P[2]; k++)
        lo = f.slab_min[k] < lo ? f.slab_min[k] : lo;
    f.padval = lo < iso ? lo : (float)(iso - 1);
    if (v->type == ISO_VOX_I16 && f.padval >= ceil(iso))
        f.padval = (float)(ceil(iso) - 1);
    iso_parallel_for((size_t)f.P[2], threads, pass2, &f);
    size_t nv = 0, nt = 0;
    for (size_t r = 0; r < rows; r++) {
        f.vbase[r] = nv;
        f.tbase[r] = nt;
        nv += (size_t)f.nx_[r] + f.ny_[r] + f.nz_[r];
        nt += f.nt_[r];
    }
    if (nv >= UINT32_MAX) {
        rc = iso_fail(err, ISO_EREFUSED, "iso-surface of %zu vertices: too large", nv);
        goto done;
    }
    out->nv = nv;
    out->nt = nt;
    out->v = malloc((nv ? nv : 1) * 3 * sizeof(float));
    out->t = malloc((nt ? nt : 1) * 3 * sizeof(uint32_t));
    if (out->v == NULL || out->t == NULL) {
        iso_mesh_free(out);
        rc = iso_fail(err, ISO_ENOMEM, "out of memory for %zu triangles", nt);
        goto done;
    }
    f.out_v = out->v;
    f.out_t = out->t;
    iso_parallel_for((size_t)f.P[2], threads, pass4, &f);
done:
    for (int w = 0; f.scratch != NULL && w < threads; w++)
        free(f.scratch[w]);
    free(f.scratch);
    free(f.xl);
    free(f.xr);
    free(f.nx_);
    free(f.ny_);
    free(f.nz_);
    free(f.nt_);
    free(f.vbase);
    free(f.tbase);
    free(f.slab_min);
    return rc;
}
