/* decimate.c — quadric-error edge-collapse decimation.
 *
 * Garland & Heckbert, "Surface simplification using quadric error metrics"
 * (SIGGRAPH 1997): each vertex carries the sum of the (area-weighted)
 * plane quadrics of its triangles; collapsing edge u-v moves u to the point
 * p minimizing the summed quadric, and the cost of the collapse is p'Qp.
 *
 * Which edge goes next is chosen by multiple choice (Wu & Kobbelt,
 * "Fast mesh decimation by multiple-choice techniques", VMV 2002): each
 * step offers eight edges (a random side of each of the next eight live
 * triangles at a cursor sweeping the triangle array) and collapses the
 * cheapest one that is allowed.  That gives meshes of the same quality as a global priority
 * queue without one: on a 400k-triangle surface the queue's cache misses
 * were most of the run time.  The generator is seeded, so results repeat.
 *
 * A collapse is refused when it would break what the mesh promises:
 *   - the edge is not shared by exactly two triangles;
 *   - the link condition fails (u and v have neighbours in common other
 *     than the two opposite vertices): the collapse would pinch the
 *     surface into a non-manifold one;
 *   - an opposite vertex would be left with fewer than three triangles, or
 *     the merged vertex would;
 *   - a surviving triangle would flip or degenerate.
 * Triangle lists per vertex live in one pool; a list that outgrows its slot
 * moves to the end of the pool.
 */
#include "recon/mesh.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct dec {
    iso_mesh *m;
    double *q;          /* 10 per vertex */
    uint8_t *tri_dead;
    uint32_t *pool;     /* triangle lists */
    size_t pool_len, pool_cap;
    size_t *lst_off;
    uint32_t *lst_n, *lst_cap;
    size_t n_alive;
    uint64_t rng;
} dec;

static void plane_quadric(const float *a, const float *b, const float *c, double q[10])
{
    double u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
    double w[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
    double n[3] = {u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]};
    double len = sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    memset(q, 0, 10 * sizeof *q);
    if (len == 0)
        return;
    double area = 0.5 * len;
    for (int k = 0; k < 3; k++)
        n[k] /= len;
    double d = -(n[0] * a[0] + n[1] * a[1] + n[2] * a[2]);
    q[0] = area * n[0] * n[0];
    q[1] = area * n[0] * n[1];
    q[2] = area * n[0] * n[2];
    q[3] = area * n[1] * n[1];
    q[4] = area * n[1] * n[2];
    q[5] = area * n[2] * n[2];
    q[6] = area * n[0] * d;
    q[7] = area * n[1] * d;
    q[8] = area * n[2] * d;
    q[9] = area * d * d;
}

static double q_eval(const double q[10], const double p[3])
{
    return q[0] * p[0] * p[0] + 2 * q[1] * p[0] * p[1] + 2 * q[2] * p[0] * p[2] +
           q[3] * p[1] * p[1] + 2 * q[4] * p[1] * p[2] + q[5] * p[2] * p[2] +
           2 * (q[6] * p[0] + q[7] * p[1] + q[8] * p[2]) + q[9];
}

/* Best point for the summed quadric of u and v: the minimizer if the
 * system is well conditioned and the point stays near the edge, else the
 * best of the ends and the midpoint. */
static double best_point(const dec *d, uint32_t u, uint32_t v, double p[3])
{
    double q[10];
    for (int k = 0; k < 10; k++)
        q[k] = d->q[10 * u + k] + d->q[10 * v + k];
    const float *a = d->m->v + 3 * u, *b = d->m->v + 3 * v;
    double mid[3] = {(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0, (a[2] + b[2]) / 2.0};
    double len2 = (a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) +
                  (a[2] - b[2]) * (a[2] - b[2]);
    /* A = [[q0 q1 q2] [q1 q3 q4] [q2 q4 q5]] is symmetric: its inverse is the
     * cofactor matrix over the determinant, six cofactors */
    double c00 = q[3] * q[5] - q[4] * q[4], c01 = q[2] * q[4] - q[1] * q[5],
           c02 = q[1] * q[4] - q[2] * q[3], c11 = q[0] * q[5] - q[2] * q[2],
           c12 = q[1] * q[2] - q[0] * q[4], c22 = q[0] * q[3] - q[1] * q[1];
    double det = q[0] * c00 + q[1] * c01 + q[2] * c02;
    double scale = q[0] + q[3] + q[5];
    if (scale > 0 && fabs(det) > 1e-9 * scale * scale * scale) {
        double bb[3] = {-q[6], -q[7], -q[8]};
        double x[3] = {(c00 * bb[0] + c01 * bb[1] + c02 * bb[2]) / det,
                       (c01 * bb[0] + c11 * bb[1] + c12 * bb[2]) / det,
                       (c02 * bb[0] + c12 * bb[1] + c22 * bb[2]) / det};
        double dist2 = (x[0] - mid[0]) * (x[0] - mid[0]) + (x[1] - mid[1]) * (x[1] - mid[1]) +
                       (x[2] - mid[2]) * (x[2] - mid[2]);
        if (dist2 <= len2) {
            memcpy(p, x, sizeof x);
            return fmax(0, q_eval(q, p));
        }
    }
    double cand[3][3] = {{a[0], a[1], a[2]}, {b[0], b[1], b[2]}, {mid[0], mid[1], mid[2]}};
    double best = 1e300;
    for (int c = 0; c < 3; c++) {
        double e = q_eval(q, cand[c]);
        if (e < best) {
            best = e;
            memcpy(p, cand[c], 3 * sizeof(double));
        }
    }
    return fmax(0, best);
}

static uint64_t next_random(dec *d)
{
    /* xorshift64* */
    d->rng ^= d->rng >> 12;
    d->rng ^= d->rng << 25;
    d->rng ^= d->rng >> 27;
    return d->rng * 2685821657736338717ULL;
}

static void kill_triangle(dec *d, uint32_t t)
{
    d->tri_dead[t] = 1;
    d->n_alive--;
}

static uint32_t *list(const dec *d, uint32_t v) { return d->pool + d->lst_off[v]; }

static int list_append(dec *d, uint32_t v, uint32_t t)
{
    if (d->lst_n[v] == d->lst_cap[v]) {
        uint32_t nc = d->lst_cap[v] * 2 + 4;
        if (d->pool_len + nc > d->pool_cap) {
            size_t pc = (d->pool_cap + nc) * 3 / 2;
            uint32_t *np = realloc(d->pool, pc * sizeof *np);
            if (np == NULL)
                return -1;
            d->pool = np;
            d->pool_cap = pc;
        }
        memcpy(d->pool + d->pool_len, list(d, v), d->lst_n[v] * sizeof(uint32_t));
        d->lst_off[v] = d->pool_len;
        d->lst_cap[v] = nc;
        d->pool_len += nc;
    }
    list(d, v)[d->lst_n[v]++] = t;
    return 0;
}

static void list_prune(dec *d, uint32_t v)
{
    uint32_t *l = list(d, v), n = 0;
    for (uint32_t i = 0; i < d->lst_n[v]; i++)
        if (!d->tri_dead[l[i]])
            l[n++] = l[i];
    d->lst_n[v] = n;
}

static void tri_normal(const float *a, const float *b, const float *c, double n[3])
{
    double u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
    double w[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
    n[0] = u[1] * w[2] - u[2] * w[1];
    n[1] = u[2] * w[0] - u[0] * w[2];
    n[2] = u[0] * w[1] - u[1] * w[0];
}

/* Would moving vertex `from` (of triangles around it not shared with
 * `other`) to p flip or degenerate a triangle? */
static int flips(const dec *d, uint32_t from, uint32_t other, const float p[3])
{
    const uint32_t *l = list(d, from);
    for (uint32_t i = 0; i < d->lst_n[from]; i++) {
        const uint32_t *t = d->m->t + 3 * l[i];
        if (t[0] == other || t[1] == other || t[2] == other)
            continue;
        const float *pt[3], *nw[3];
        for (int k = 0; k < 3; k++) {
            pt[k] = d->m->v + 3 * t[k];
            nw[k] = t[k] == from ? p : pt[k];
        }
        double n0[3], n1[3];
        tri_normal(pt[0], pt[1], pt[2], n0);
        tri_normal(nw[0], nw[1], nw[2], n1);
        double l0 = sqrt(n0[0] * n0[0] + n0[1] * n0[1] + n0[2] * n0[2]);
        double l1 = sqrt(n1[0] * n1[0] + n1[1] * n1[1] + n1[2] * n1[2]);
        if (l1 <= 1e-12 * (l0 + 1e-30) || l1 == 0)
            return 1;
        if ((n0[0] * n1[0] + n0[1] * n1[1] + n0[2] * n1[2]) < 0.2 * l0 * l1)
            return 1;
    }
    return 0;
}

/* Neighbours of v (other than `skip`), deduplicated, into out (cap n). */
static int neighbours(const dec *d, uint32_t v, uint32_t skip, uint32_t *out, int cap)
{
    int n = 0;
    const uint32_t *l = list(d, v);
    for (uint32_t i = 0; i < d->lst_n[v]; i++) {
        const uint32_t *t = d->m->t + 3 * l[i];
        for (int k = 0; k < 3; k++) {
            uint32_t w = t[k];
            if (w == v || w == skip)
                continue;
            int seen = 0;
            for (int j = 0; j < n; j++)
                if (out[j] == w)
                    seen = 1;
            if (!seen) {
                if (n == cap)
                    return -1;
                out[n++] = w;
            }
        }
    }
    return n;
}

enum { MAX_NEIGHBOURS = 256 };

/* Tries to collapse u-v into u at p; 1 if done, 0 if refused, -1 on OOM. */
static int collapse(dec *d, uint32_t u, uint32_t v, const float p[3])
{
    uint32_t shared[2];
    int ns = 0;
    const uint32_t *lu = list(d, u);
    for (uint32_t i = 0; i < d->lst_n[u]; i++) {
        const uint32_t *t = d->m->t + 3 * lu[i];
        if (t[0] == v || t[1] == v || t[2] == v) {
            if (ns == 2)
                return 0;
            shared[ns++] = lu[i];
        }
    }
    if (ns != 2)
        return 0;
    uint32_t opp[2];
    for (int s = 0; s < 2; s++) {
        const uint32_t *t = d->m->t + 3 * shared[s];
        opp[s] = t[0] != u && t[0] != v ? t[0] : t[1] != u && t[1] != v ? t[1] : t[2];
        if (d->lst_n[opp[s]] <= 3)
            return 0;
    }
    if (opp[0] == opp[1])
        return 0;
    if (d->lst_n[u] + d->lst_n[v] < 4 + 3)
        return 0;
    uint32_t nu[MAX_NEIGHBOURS], nv[MAX_NEIGHBOURS];
    int cu = neighbours(d, u, v, nu, MAX_NEIGHBOURS), cv = neighbours(d, v, u, nv, MAX_NEIGHBOURS);
    if (cu < 0 || cv < 0)
        return 0;
    int common = 0;
    for (int i = 0; i < cu; i++)
        for (int j = 0; j < cv; j++)
            if (nu[i] == nv[j])
                common++;
    if (common != 2)
        return 0;
    if (flips(d, u, v, p) || flips(d, v, u, p))
        return 0;
    /* do it */
    kill_triangle(d, shared[0]);
    kill_triangle(d, shared[1]);
    uint32_t nlv = d->lst_n[v];
    for (uint32_t i = 0; i < nlv; i++) {
        uint32_t t = list(d, v)[i];
        if (d->tri_dead[t])
            continue;
        uint32_t *tt = d->m->t + 3 * t;
        for (int k = 0; k < 3; k++)
            if (tt[k] == v)
                tt[k] = u;
        if (list_append(d, u, t) != 0)
            return -1;
    }
    list_prune(d, u);
    list_prune(d, opp[0]);
    list_prune(d, opp[1]);
    d->lst_n[v] = 0;
    for (int k = 0; k < 10; k++)
        d->q[10 * u + k] += d->q[10 * v + k];
    memcpy(d->m->v + 3 * u, p, 3 * sizeof(float));
    return 1;
}

enum { CHOICES = 8, MAX_FUTILE_ROUNDS = 20000 };

iso_code iso_mesh_decimate(iso_mesh *m, size_t target, iso_err *err)
{
    if (m->nt <= target || m->nt == 0)
        return ISO_OK;
    dec d = {.m = m, .rng = 0x9E3779B97F4A7C15ULL};
    iso_code rc = ISO_OK;
    size_t nv = m->nv, nt = m->nt;
    d.q = calloc(10 * nv, sizeof *d.q);
    d.tri_dead = calloc(nt, 1);
    d.lst_off = malloc(nv * sizeof *d.lst_off);
    d.lst_n = calloc(nv, sizeof *d.lst_n);
    d.lst_cap = calloc(nv, sizeof *d.lst_cap);
    d.pool_cap = 3 * nt + nv * 4 + 1024;
    d.pool = malloc(d.pool_cap * sizeof *d.pool);
    if (!d.q || !d.tri_dead || !d.lst_off || !d.lst_n || !d.lst_cap || !d.pool) {
        rc = iso_fail(err, ISO_ENOMEM, "out of memory for decimation");
        goto done;
    }
    for (size_t t = 0; t < nt; t++) {
        uint32_t *tr = m->t + 3 * t;
        double q[10];
        plane_quadric(m->v + 3 * tr[0], m->v + 3 * tr[1], m->v + 3 * tr[2], q);
        for (int k = 0; k < 3; k++) {
            d.lst_cap[tr[k]]++;
            for (int c = 0; c < 10; c++)
                d.q[10 * tr[k] + c] += q[c];
        }
    }
    d.n_alive = nt;
    size_t off = 0;
    for (size_t v = 0; v < nv; v++) {
        d.lst_off[v] = off;
        d.lst_cap[v] += 2; /* a little slack before the first move */
        off += d.lst_cap[v];
    }
    d.pool_len = off;
    for (size_t t = 0; t < nt; t++)
        for (int k = 0; k < 3; k++) {
            uint32_t v = m->t[3 * t + k];
            d.pool[d.lst_off[v] + d.lst_n[v]++] = (uint32_t)t;
        }
    int futile = 0;
    size_t cursor = 0;
    while (d.n_alive > target && futile < MAX_FUTILE_ROUNDS) {
        /* draw edges (a random live triangle, a random side of it) */
        uint32_t bu = 0, bv = 0;
        double best = INFINITY, bp[3] = {0, 0, 0};
        /* The candidates are the next eight live triangles at a cursor
         * that sweeps the triangle array, which the iso-surface wrote row
         * by row: consecutive rounds work on neighbouring triangles whose
         * vertices, lists and quadrics are already in cache.  Drawing them
         * at random places all over a large mesh made cache misses most of
         * the run time.  The random part is which side of each triangle is
         * offered, and a small skip. */
        uint64_t r = next_random(&d);
        cursor = (cursor + (size_t)(r >> 60)) % nt;
        size_t t = cursor;
        for (int c = 0; c < CHOICES; c++, t = t + 1 == nt ? 0 : t + 1) {
            while (d.tri_dead[t])
                t = t + 1 == nt ? 0 : t + 1;
            int k = (int)((r >> (2 * c)) & 3) % 3;
            uint32_t a = m->t[3 * t + k], b = m->t[3 * t + (k + 1) % 3];
            double p[3];
            double cost = best_point(&d, a, b, p);
            if (cost < best) {
                best = cost;
                bu = a;
                bv = b;
                memcpy(bp, p, sizeof bp);
            }
        }
        cursor = t;
        float p[3] = {(float)bp[0], (float)bp[1], (float)bp[2]};
        int got = collapse(&d, bu, bv, p);
        if (got < 0) {
            rc = iso_fail(err, ISO_ENOMEM, "out of memory for decimation");
            goto done;
        }
        futile = got > 0 ? 0 : futile + 1;
    }
    size_t k = 0;
    for (size_t t = 0; t < nt; t++)
        if (!d.tri_dead[t]) {
            memmove(m->t + 3 * k, m->t + 3 * t, 3 * sizeof *m->t);
            k++;
        }
    m->nt = k;
    free(m->n);
    m->n = NULL;
    rc = iso_mesh_compact(m, err);
done:
    free(d.q);
    free(d.tri_dead);
    free(d.lst_off);
    free(d.lst_n);
    free(d.lst_cap);
    free(d.pool);
    return rc;
}
