/* decimate.c — quadric-error edge-collapse decimation.
 *
 * Garland & Heckbert, "Surface simplification using quadric error metrics"
 * (SIGGRAPH 1997): each vertex carries the sum of the (area-weighted)
 * plane quadrics of its triangles; collapsing edge u-v to the point p that
 * minimizes the summed quadric costs p'Qp.  Edges wait in a binary min-heap;
 * an entry carries the versions of both ends and is skipped when stale
 * (lazy deletion), so a collapse only pushes the new edges around u.
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

typedef struct heap_entry {
    double cost;
    uint32_t u, v;
    uint32_t ver_u, ver_v;
    float p[3];
} heap_entry;

typedef struct dec {
    iso_mesh *m;
    double *q;          /* 10 per vertex */
    uint32_t *ver;      /* version per vertex; UINT32_MAX = removed */
    uint8_t *tri_dead;
    uint32_t *pool;     /* triangle lists */
    size_t pool_len, pool_cap;
    size_t *lst_off;
    uint32_t *lst_n, *lst_cap;
    heap_entry *heap;
    size_t heap_n, heap_cap;
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
    double A[3][3] = {{q[0], q[1], q[2]}, {q[1], q[3], q[4]}, {q[2], q[4], q[5]}};
    double det = A[0][0] * (A[1][1] * A[2][2] - A[1][2] * A[2][1]) -
                 A[0][1] * (A[1][0] * A[2][2] - A[1][2] * A[2][0]) +
                 A[0][2] * (A[1][0] * A[2][1] - A[1][1] * A[2][0]);
    double scale = q[0] + q[3] + q[5];
    if (scale > 0 && fabs(det) > 1e-9 * scale * scale * scale) {
        double bb[3] = {-q[6], -q[7], -q[8]};
        double x[3];
        /* Cramer's rule */
        for (int c = 0; c < 3; c++) {
            double M[3][3];
            memcpy(M, A, sizeof M);
            for (int r = 0; r < 3; r++)
                M[r][c] = bb[r];
            x[c] = (M[0][0] * (M[1][1] * M[2][2] - M[1][2] * M[2][1]) -
                    M[0][1] * (M[1][0] * M[2][2] - M[1][2] * M[2][0]) +
                    M[0][2] * (M[1][0] * M[2][1] - M[1][1] * M[2][0])) / det;
        }
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

static int heap_push(dec *d, const heap_entry *e)
{
    if (d->heap_n == d->heap_cap) {
        size_t nc = d->heap_cap * 2;
        heap_entry *h = realloc(d->heap, nc * sizeof *h);
        if (h == NULL)
            return -1;
        d->heap = h;
        d->heap_cap = nc;
    }
    size_t i = d->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (d->heap[p].cost <= e->cost)
            break;
        d->heap[i] = d->heap[p];
        i = p;
    }
    d->heap[i] = *e;
    return 0;
}

static heap_entry heap_pop(dec *d)
{
    heap_entry top = d->heap[0], last = d->heap[--d->heap_n];
    size_t i = 0, n = d->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && d->heap[c + 1].cost < d->heap[c].cost)
            c++;
        if (d->heap[c].cost >= last.cost)
            break;
        d->heap[i] = d->heap[c];
        i = c;
    }
    if (n > 0)
        d->heap[i] = last;
    return top;
}

static int push_edge(dec *d, uint32_t u, uint32_t v)
{
    heap_entry e = {.u = u, .v = v, .ver_u = d->ver[u], .ver_v = d->ver[v]};
    double p[3];
    e.cost = best_point(d, u, v, p);
    e.p[0] = (float)p[0];
    e.p[1] = (float)p[1];
    e.p[2] = (float)p[2];
    return heap_push(d, &e);
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
    d->tri_dead[shared[0]] = d->tri_dead[shared[1]] = 1;
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
    d->ver[u]++;
    d->ver[v] = UINT32_MAX;
    int cn = neighbours(d, u, UINT32_MAX, nu, MAX_NEIGHBOURS);
    for (int i = 0; i < cn; i++)
        if (push_edge(d, u, nu[i]) != 0)
            return -1;
    return 1;
}

iso_code iso_mesh_decimate(iso_mesh *m, size_t target, iso_err *err)
{
    if (m->nt <= target || m->nt == 0)
        return ISO_OK;
    dec d = {.m = m};
    iso_code rc = ISO_OK;
    size_t nv = m->nv, nt = m->nt;
    d.q = calloc(10 * nv, sizeof *d.q);
    d.ver = calloc(nv, sizeof *d.ver);
    d.tri_dead = calloc(nt, 1);
    d.lst_off = malloc(nv * sizeof *d.lst_off);
    d.lst_n = calloc(nv, sizeof *d.lst_n);
    d.lst_cap = calloc(nv, sizeof *d.lst_cap);
    d.pool_cap = 3 * nt + nv * 4 + 1024;
    d.pool = malloc(d.pool_cap * sizeof *d.pool);
    d.heap_cap = 3 * nt / 2 + 1024;
    d.heap = malloc(d.heap_cap * sizeof *d.heap);
    if (!d.q || !d.ver || !d.tri_dead || !d.lst_off || !d.lst_n || !d.lst_cap || !d.pool || !d.heap) {
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
    size_t off = 0;
    for (size_t v = 0; v < nv; v++) {
        d.lst_off[v] = off;
        d.lst_cap[v] += 2; /* a little slack before the first move */
        off += d.lst_cap[v];
    }
    d.pool_len = off;
    if (off > d.pool_cap) {
        rc = iso_fail(err, ISO_EINVAL, "decimation pool sizing");
        goto done;
    }
    for (size_t t = 0; t < nt; t++)
        for (int k = 0; k < 3; k++) {
            uint32_t v = m->t[3 * t + k];
            d.pool[d.lst_off[v] + d.lst_n[v]++] = (uint32_t)t;
        }
    for (size_t t = 0; t < nt; t++)
        for (int k = 0; k < 3; k++) {
            uint32_t a = m->t[3 * t + k], b = m->t[3 * t + (k + 1) % 3];
            if (a < b && push_edge(&d, a, b) != 0) {
                rc = iso_fail(err, ISO_ENOMEM, "out of memory for decimation");
                goto done;
            }
        }
    size_t alive = nt;
    while (alive > target && d.heap_n > 0) {
        heap_entry e = heap_pop(&d);
        if (d.ver[e.u] != e.ver_u || d.ver[e.v] != e.ver_v)
            continue;
        int r = collapse(&d, e.u, e.v, e.p);
        if (r < 0) {
            rc = iso_fail(err, ISO_ENOMEM, "out of memory for decimation");
            goto done;
        }
        if (r > 0)
            alive -= 2;
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
    free(d.ver);
    free(d.tri_dead);
    free(d.lst_off);
    free(d.lst_n);
    free(d.lst_cap);
    free(d.pool);
    free(d.heap);
    return rc;
}
