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
 * moves to the end of an overflow pool of its own partition.
 *
 * Parallel, with frozen seams: a large mesh is cut into PARTS contiguous
 * ranges of its triangle array (the iso-surface writes it slab by slab, so
 * a range is a slab of the surface).  A vertex whose triangles all lie in
 * one range belongs to it; a vertex on the cut belongs to none and is
 * frozen.  Each range is decimated on its own (its own cursor, random
 * stream and overflow pool) down to its share of the target, collapsing
 * only edges whose two ends and two opposite vertices are its own: no two
 * ranges ever write the same vertex, triangle or list, and what a range
 * reads of a frozen vertex (its position) does not change.  A serial pass
 * over the whole mesh, nothing frozen, then takes it to the target if the
 * ranges could not.  The number of ranges depends on the mesh alone, not
 * on the threads that run them, so the result is the same on any machine.
 */
#include "recon/mesh.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/par.h"

enum {
    PARTS = 4,                   /* ranges of a large mesh */
    PARALLEL_MIN_TRIANGLES = 200000, /* below this, one range */
    FROZEN = 0xFF,               /* owner of a vertex on a cut */
    SERIAL = PARTS               /* the pass with nothing frozen */
};

/* What the ranges share: each writes only what it owns (see above). */
typedef struct dec {
    iso_mesh *m;
    double *q;          /* 10 per vertex */
    uint8_t *tri_dead;
    uint8_t *owner;     /* per vertex: its range, or FROZEN */
    uint8_t *lst_pool;  /* per vertex: 0 the shared pool, 1 + r range r's overflow pool */
    uint32_t *pool[PARTS + 2]; /* triangle lists: the shared pool, then one per range
                                  and one for the serial pass */
    size_t pool_len[PARTS + 2], pool_cap[PARTS + 2];
    uint32_t *lst_off;  /* in its pool (a pool holds at most 2^32 entries: checked) */
    uint32_t *lst_n, *lst_cap;
} dec;

/* One range at work (or the serial pass: part SERIAL, the whole array). */
typedef struct part {
    dec *d;
    int id;
    size_t lo, hi;   /* its triangles */
    size_t n_alive;  /* of them */
    size_t target;
    uint64_t rng;
    int oom;
} part;

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

static uint64_t next_random(part *pt)
{
    /* xorshift64* */
    pt->rng ^= pt->rng >> 12;
    pt->rng ^= pt->rng << 25;
    pt->rng ^= pt->rng >> 27;
    return pt->rng * 2685821657736338717ULL;
}

static void kill_triangle(part *pt, uint32_t t)
{
    pt->d->tri_dead[t] = 1;
    pt->n_alive--;
}

static uint32_t *list(const dec *d, uint32_t v) { return d->pool[d->lst_pool[v]] + d->lst_off[v]; }

/* Appends t to v's list; a full list moves to the end of the overflow pool
 * of the range at work (pool 1 + id), which no other range touches. */
static int list_append(part *pt, uint32_t v, uint32_t t)
{
    dec *d = pt->d;
    if (d->lst_n[v] == d->lst_cap[v]) {
        int pi = 1 + pt->id;
        uint32_t nc = d->lst_cap[v] * 2 + 4;
        if (d->pool_len[pi] + nc > UINT32_MAX)
            return -1;
        if (d->pool_len[pi] + nc > d->pool_cap[pi]) {
            size_t pc = (d->pool_cap[pi] + nc) * 3 / 2 + 1024;
            uint32_t *np = realloc(d->pool[pi], pc * sizeof *np);
            if (np == NULL)
                return -1;
            d->pool[pi] = np;
            d->pool_cap[pi] = pc;
        }
        memcpy(d->pool[pi] + d->pool_len[pi], list(d, v), d->lst_n[v] * sizeof(uint32_t));
        d->lst_pool[v] = (uint8_t)pi;
        d->lst_off[v] = (uint32_t)d->pool_len[pi];
        d->lst_cap[v] = nc;
        d->pool_len[pi] += nc;
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

/* May the range at work write vertex w? */
static int mine(const part *pt, uint32_t w)
{
    return pt->id == SERIAL || pt->d->owner[w] == pt->id;
}

/* Tries to collapse u-v into u at p; 1 if done, 0 if refused, -1 on OOM. */
static int collapse(part *pt, uint32_t u, uint32_t v, const float p[3])
{
    dec *d = pt->d;
    if (!mine(pt, u) || !mine(pt, v))
        return 0;
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
        if (!mine(pt, opp[s]) || d->lst_n[opp[s]] <= 3)
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
    kill_triangle(pt, shared[0]);
    kill_triangle(pt, shared[1]);
    /* u's list loses the two dead triangles before it takes v's: it then
     * outgrows its slot less often (the order of what stays is the same) */
    list_prune(d, u);
    uint32_t nlv = d->lst_n[v];
    for (uint32_t i = 0; i < nlv; i++) {
        uint32_t t = list(d, v)[i];
        if (d->tri_dead[t])
            continue;
        uint32_t *tt = d->m->t + 3 * t;
        for (int k = 0; k < 3; k++)
            if (tt[k] == v)
                tt[k] = u;
        if (list_append(pt, u, t) != 0)
            return -1;
    }
    list_prune(d, opp[0]);
    list_prune(d, opp[1]);
    d->lst_n[v] = 0;
    for (int k = 0; k < 10; k++)
        d->q[10 * u + k] += d->q[10 * v + k];
    memcpy(d->m->v + 3 * u, p, 3 * sizeof(float));
    return 1;
}

enum { CHOICES = 8, MAX_FUTILE_ROUNDS = 20000 };

/* Collapses edges of the range's triangles until it is down to its target
 * or nothing more can go. */
static void decimate_range(part *pt)
{
    dec *d = pt->d;
    const iso_mesh *m = d->m;
    size_t lo = pt->lo, span = pt->hi - pt->lo;
    int futile = 0;
    size_t cursor = 0; /* relative to lo */
    while (pt->n_alive > pt->target && futile < MAX_FUTILE_ROUNDS) {
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
        uint64_t r = next_random(pt);
        cursor = (cursor + (size_t)(r >> 60)) % span;
        size_t t = cursor;
        for (int c = 0; c < CHOICES; c++, t = t + 1 == span ? 0 : t + 1) {
            while (d->tri_dead[lo + t])
                t = t + 1 == span ? 0 : t + 1;
            int k = (int)((r >> (2 * c)) & 3) % 3;
            uint32_t a = m->t[3 * (lo + t) + k], b = m->t[3 * (lo + t) + (k + 1) % 3];
            double p[3];
            double cost = best_point(d, a, b, p);
            if (cost < best) {
                best = cost;
                bu = a;
                bv = b;
                memcpy(bp, p, sizeof bp);
            }
        }
        cursor = t;
        float p[3] = {(float)bp[0], (float)bp[1], (float)bp[2]};
        int got = collapse(pt, bu, bv, p);
        if (got < 0) {
            pt->oom = 1;
            return;
        }
        futile = got > 0 ? 0 : futile + 1;
    }
}

static void range_task(void *ctx, size_t task, int worker)
{
    (void)worker;
    decimate_range((part *)ctx + task);
}

/* Setup over triangles [lo, hi): the quadric sums and list sizes of the
 * vertices whose owner is `who` (a range, or FROZEN). */
static void count_range(dec *d, size_t lo, size_t hi, int who)
{
    const iso_mesh *m = d->m;
    for (size_t t = lo; t < hi; t++) {
        const uint32_t *tr = m->t + 3 * t;
        if (d->owner[tr[0]] != who && d->owner[tr[1]] != who && d->owner[tr[2]] != who)
            continue;
        double q[10];
        plane_quadric(m->v + 3 * tr[0], m->v + 3 * tr[1], m->v + 3 * tr[2], q);
        for (int k = 0; k < 3; k++) {
            if (d->owner[tr[k]] != who)
                continue;
            d->lst_cap[tr[k]]++;
            for (int c = 0; c < 10; c++)
                d->q[10 * tr[k] + c] += q[c];
        }
    }
}

/* ... and their triangle lists (lst_off set). */
static void fill_range(dec *d, size_t lo, size_t hi, int who)
{
    for (size_t t = lo; t < hi; t++)
        for (int k = 0; k < 3; k++) {
            uint32_t v = d->m->t[3 * t + k];
            if (d->owner[v] == who)
                d->pool[0][d->lst_off[v] + d->lst_n[v]++] = (uint32_t)t;
        }
}

typedef struct setup {
    dec *d;
    const part *parts;
} setup;

static void count_task(void *ctx, size_t task, int worker)
{
    (void)worker;
    const setup *s = ctx;
    count_range(s->d, s->parts[task].lo, s->parts[task].hi, (int)task);
}

static void fill_task(void *ctx, size_t task, int worker)
{
    (void)worker;
    const setup *s = ctx;
    fill_range(s->d, s->parts[task].lo, s->parts[task].hi, (int)task);
}

iso_code iso_mesh_decimate(iso_mesh *m, size_t target, int threads, iso_err *err)
{
    if (m->nt <= target || m->nt == 0)
        return ISO_OK;
    dec d = {.m = m};
    iso_code rc = ISO_OK;
    size_t nv = m->nv, nt = m->nt;
    d.q = calloc(10 * nv, sizeof *d.q);
    d.tri_dead = calloc(nt, 1);
    d.owner = malloc(nv);
    d.lst_pool = calloc(nv, 1);
    d.lst_off = malloc(nv * sizeof *d.lst_off);
    d.lst_n = calloc(nv, sizeof *d.lst_n);
    d.lst_cap = calloc(nv, sizeof *d.lst_cap);
    if (3 * nt + 2 * nv > UINT32_MAX) {
        rc = iso_fail(err, ISO_EREFUSED, "%zu triangles: too many to decimate", nt);
        goto done;
    }
    if (!d.q || !d.tri_dead || !d.owner || !d.lst_pool || !d.lst_off || !d.lst_n || !d.lst_cap) {
        rc = iso_fail(err, ISO_ENOMEM, "out of memory for decimation");
        goto done;
    }
    int n_parts = nt >= PARALLEL_MIN_TRIANGLES ? PARTS : 1;
    part parts[PARTS + 1];
    memset(parts, 0, sizeof parts);
    memset(d.owner, 0xFE, nv); /* not seen yet */
    for (int r = 0; r < n_parts; r++) {
        parts[r] = (part){&d, r, nt * (size_t)r / (size_t)n_parts,
                          nt * (size_t)(r + 1) / (size_t)n_parts, 0, 0,
                          0x9E3779B97F4A7C15ULL ^ (0xD1B54A32D192ED03ULL * (uint64_t)r), 0};
        parts[r].n_alive = parts[r].hi - parts[r].lo;
        parts[r].target = (size_t)((double)target * (double)parts[r].n_alive / (double)nt);
        for (size_t t = parts[r].lo; t < parts[r].hi; t++)
            for (int k = 0; k < 3; k++) {
                uint8_t *o = &d.owner[m->t[3 * t + k]];
                *o = *o == 0xFE ? (uint8_t)r : *o == r ? *o : FROZEN;
            }
    }
    /* quadrics and triangle lists: each range for the vertices it owns (in
     * parallel), then the frozen ones; either way in triangle order, so
     * sums and lists are the same as one pass would make */
    setup s = {&d, parts};
    iso_parallel_for((size_t)n_parts, threads > 0 ? threads : 1, count_task, &s);
    count_range(&d, 0, nt, FROZEN);
    size_t off = 0;
    for (size_t v = 0; v < nv; v++) {
        d.lst_off[v] = (uint32_t)off;
        d.lst_cap[v] += 2; /* a little slack before the first move */
        off += d.lst_cap[v];
    }
    /* the shared pool exactly as large as the lists: lists that outgrow
     * their slot move to the overflow pools */
    d.pool_len[0] = d.pool_cap[0] = off;
    if ((d.pool[0] = malloc((off ? off : 1) * sizeof *d.pool[0])) == NULL) {
        rc = iso_fail(err, ISO_ENOMEM, "out of memory for decimation");
        goto done;
    }
    iso_parallel_for((size_t)n_parts, threads > 0 ? threads : 1, fill_task, &s);
    fill_range(&d, 0, nt, FROZEN);
    /* the ranges side by side, then the whole mesh with nothing frozen */
    iso_parallel_for((size_t)n_parts, threads > 0 ? threads : 1, range_task, parts);
    size_t alive = 0;
    for (int r = 0; r < n_parts; r++) {
        alive += parts[r].n_alive;
        if (parts[r].oom)
            rc = iso_fail(err, ISO_ENOMEM, "out of memory for decimation");
    }
    part *whole = &parts[n_parts];
    *whole = (part){&d, SERIAL, 0, nt, alive, target, 0x2545F4914F6CDD1DULL, 0};
    if (rc == ISO_OK && n_parts > 1 && alive > target) {
        decimate_range(whole);
        if (whole->oom)
            rc = iso_fail(err, ISO_ENOMEM, "out of memory for decimation");
    }
    if (rc != ISO_OK)
        goto done;
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
    free(d.owner);
    free(d.lst_pool);
    free(d.lst_off);
    free(d.lst_n);
    free(d.lst_cap);
    for (int i = 0; i < PARTS + 2; i++)
        free(d.pool[i]);
    return rc;
}
