/* mesh.c — measuring, island removal, Taubin smoothing and normals.
 *
 * Edge checks sort the triangles' directed edges: in a closed, oriented
 * manifold every edge a-b appears exactly once as a->b and once as b->a.
 * Smoothing uses each vertex's outgoing directed edges as its neighbour
 * list, which in such a mesh names every neighbour exactly once.
 */
#include "recon/mesh.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/par.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts 64-bit keys: LSD radix, 16 bits per pass (qsort is several times
 * slower on millions of edges). */
static iso_code sort_u64(uint64_t *k, size_t n, iso_err *err)
{
    if (n < 4096) {
        qsort(k, n, sizeof *k, cmp_u64);
        return ISO_OK;
    }
    uint64_t *tmp = malloc(n * sizeof *tmp);
    size_t *count = malloc(65536 * sizeof *count);
    if (tmp == NULL || count == NULL) {
        free(tmp);
        free(count);
        return iso_fail(err, ISO_ENOMEM, "out of memory sorting edges");
    }
    uint64_t *src = k, *dst = tmp;
    for (int shift = 0; shift < 64; shift += 16) {
        memset(count, 0, 65536 * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[(src[i] >> shift) & 0xFFFF]++;
        size_t sum = 0;
        for (size_t b = 0; b < 65536; b++) {
            size_t c = count[b];
            count[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 0xFFFF]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    /* four passes: the result is back in k */
    free(tmp);
    free(count);
    return ISO_OK;
}

static size_t find(size_t *parent, size_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

static void unite(size_t *parent, size_t a, size_t b)
{
    a = find(parent, a);
    b = find(parent, b);
    if (a != b)
        parent[a < b ? b : a] = a < b ? a : b;
}

static size_t *component_labels(const iso_mesh *m, iso_err *err)
{
    size_t *parent = malloc((m->nv ? m->nv : 1) * sizeof *parent);
    if (parent == NULL) {
        iso_fail(err, ISO_ENOMEM, "out of memory for components");
        return NULL;
    }
    for (size_t i = 0; i < m->nv; i++)
        parent[i] = i;
    for (size_t t = 0; t < m->nt; t++) {
        unite(parent, m->t[3 * t], m->t[3 * t + 1]);
        unite(parent, m->t[3 * t], m->t[3 * t + 2]);
    }
    for (size_t i = 0; i < m->nv; i++)
        parent[i] = find(parent, i);
    return parent;
}

static void tri_terms(const iso_mesh *m, size_t t, double *area, double *vol, double c[3])
{
    const float *a = m->v + 3 * m->t[3 * t], *b = m->v + 3 * m->t[3 * t + 1],
                *d = m->v + 3 * m->t[3 * t + 2];
    double u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
    double w[3] = {d[0] - a[0], d[1] - a[1], d[2] - a[2]};
    double n[3] = {u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]};
    *area = 0.5 * sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    /* signed volume of the tetrahedron (origin, a, b, d) */
    *vol = (a[0] * ((double)b[1] * d[2] - (double)b[2] * d[1]) -
            a[1] * ((double)b[0] * d[2] - (double)b[2] * d[0]) +
            a[2] * ((double)b[0] * d[1] - (double)b[1] * d[0])) / 6.0;
    for (int k = 0; k < 3; k++)
        c[k] = ((double)a[k] + b[k] + d[k]) / 4.0; /* tetra centroid, 4th vertex the origin */
}

iso_code iso_mesh_measure(const iso_mesh *m, iso_mesh_stats *s, iso_err *err)
{
    memset(s, 0, sizeof *s);
    s->vertices = m->nv;
    s->triangles = m->nt;
    double cx = 0, cy = 0, cz = 0;
    for (size_t t = 0; t < m->nt; t++) {
        double a, v, c[3];
        tri_terms(m, t, &a, &v, c);
        s->area_mm2 += a;
        s->volume_mm3 += v;
        cx += v * c[0];
        cy += v * c[1];
        cz += v * c[2];
    }
    if (s->volume_mm3 != 0) {
        s->centroid[0] = cx / s->volume_mm3;
        s->centroid[1] = cy / s->volume_mm3;
        s->centroid[2] = cz / s->volume_mm3;
    }
    size_t ne = 3 * m->nt;
    uint64_t *key = malloc((ne ? ne : 1) * sizeof *key);
    if (key == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory measuring a mesh");
    /* undirected key with the direction in the lowest bit */
    for (size_t t = 0; t < m->nt; t++)
        for (int e = 0; e < 3; e++) {
            uint64_t a = m->t[3 * t + e], b = m->t[3 * t + (e + 1) % 3];
            uint64_t lo = a < b ? a : b, hi = a < b ? b : a;
            key[3 * t + e] = (lo << 33) | (hi << 1) | (a < b ? 0 : 1);
        }
    if (sort_u64(key, ne, err) != ISO_OK) {
        free(key);
        return err->code;
    }
    for (size_t i = 0; i < ne;) {
        size_t j = i;
        while (j < ne && key[j] >> 1 == key[i] >> 1)
            j++;
        size_t uses = j - i;
        s->edges++;
        if (uses == 1)
            s->boundary_edges++;
        else if (uses > 2)
            s->nonmanifold_edges++;
        else if ((key[i] & 1) == (key[i + 1] & 1))
            s->misoriented_edges++;
        i = j;
    }
    free(key);
    size_t *label = component_labels(m, err);
    if (label == NULL)
        return err->code;
    /* vertices used by some triangle */
    char *used = calloc(m->nv ? m->nv : 1, 1);
    if (used == NULL) {
        free(label);
        return iso_fail(err, ISO_ENOMEM, "out of memory measuring a mesh");
    }
    for (size_t i = 0; i < 3 * m->nt; i++)
        used[m->t[i]] = 1;
    size_t nused = 0;
    for (size_t i = 0; i < m->nv; i++) {
        nused += used[i];
        if (used[i] && label[i] == i)
            s->components++;
    }
    s->euler = (long)nused - (long)s->edges + (long)m->nt;
    free(used);
    free(label);
    return ISO_OK;
}

iso_code iso_mesh_compact(iso_mesh *m, iso_err *err)
{
    uint32_t *map = malloc((m->nv ? m->nv : 1) * sizeof *map);
    if (map == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory compacting a mesh");
    for (size_t i = 0; i < m->nv; i++)
        map[i] = UINT32_MAX;
    for (size_t i = 0; i < 3 * m->nt; i++)
        map[m->t[i]] = 0;
    size_t n = 0;
    for (size_t i = 0; i < m->nv; i++)
        if (map[i] == 0) {
            map[i] = (uint32_t)n;
            memmove(m->v + 3 * n, m->v + 3 * i, 3 * sizeof(float));
            if (m->n != NULL)
                memmove(m->n + 3 * n, m->n + 3 * i, 3 * sizeof(float));
            n++;
        }
    for (size_t i = 0; i < 3 * m->nt; i++)
        m->t[i] = map[m->t[i]];
    m->nv = n;
    free(map);
    return ISO_OK;
}

iso_code iso_mesh_drop_islands(iso_mesh *m, double min_volume_mm3, size_t *removed, iso_err *err)
{
    *removed = 0;
    size_t *label = component_labels(m, err);
    if (label == NULL)
        return err->code;
    double *vol = calloc(m->nv ? m->nv : 1, sizeof *vol);
    if (vol == NULL) {
        free(label);
        return iso_fail(err, ISO_ENOMEM, "out of memory for components");
    }
    for (size_t t = 0; t < m->nt; t++) {
        double a, v, c[3];
        tri_terms(m, t, &a, &v, c);
        vol[label[m->t[3 * t]]] += v;
    }
    for (size_t i = 0; i < m->nv; i++)
        if (label[i] == i && vol[i] != 0 && fabs(vol[i]) < min_volume_mm3)
            (*removed)++;
    size_t k = 0;
    for (size_t t = 0; t < m->nt; t++) {
        if (fabs(vol[label[m->t[3 * t]]]) < min_volume_mm3)
            continue;
        memmove(m->t + 3 * k, m->t + 3 * t, 3 * sizeof *m->t);
        k++;
    }
    m->nt = k;
    free(vol);
    free(label);
    return iso_mesh_compact(m, err);
}

/* ---- smoothing ---- */

typedef struct smooth_job {
    const size_t *start;  /* CSR offsets, nv + 1 */
    const uint32_t *nbr;
    const float *src;
    float *dst;
    float factor;
    size_t nv;
} smooth_job;

enum { SMOOTH_CHUNK = 8192 };

static void smooth_chunk(void *ctx, size_t c, int worker)
{
    smooth_job *j = ctx;
    size_t end = (c + 1) * SMOOTH_CHUNK < j->nv ? (c + 1) * SMOOTH_CHUNK : j->nv;
    for (size_t i = c * SMOOTH_CHUNK; i < end; i++) {
        size_t a = j->start[i], b = j->start[i + 1];
        const float *p = j->src + 3 * i;
        if (a == b) {
            memcpy(j->dst + 3 * i, p, 3 * sizeof(float));
            continue;
        }
        float s[3] = {0, 0, 0};
        for (size_t e = a; e < b; e++) {
            const float *q = j->src + 3 * j->nbr[e];
            s[0] += q[0];
            s[1] += q[1];
            s[2] += q[2];
        }
        float inv = 1.0f / (float)(b - a);
        for (int k = 0; k < 3; k++)
            j->dst[3 * i + k] = p[k] + j->factor * (s[k] * inv - p[k]);
    }
}

iso_code iso_mesh_smooth(iso_mesh *m, int iterations, int threads, iso_err *err)
{
    if (iterations <= 0 || m->nt == 0)
        return ISO_OK;
    size_t *start = calloc(m->nv + 1, sizeof *start);
    uint32_t *nbr = malloc(3 * m->nt * sizeof *nbr);
    float *tmp = malloc(3 * m->nv * sizeof *tmp);
    if (start == NULL || nbr == NULL || tmp == NULL) {
        free(start);
        free(nbr);
        free(tmp);
        return iso_fail(err, ISO_ENOMEM, "out of memory for smoothing");
    }
    for (size_t i = 0; i < 3 * m->nt; i++)
        start[m->t[i] + 1]++;
    for (size_t i = 0; i < m->nv; i++)
        start[i + 1] += start[i];
    size_t *fill = malloc(m->nv * sizeof *fill);
    if (fill == NULL) {
        free(start);
        free(nbr);
        free(tmp);
        return iso_fail(err, ISO_ENOMEM, "out of memory for smoothing");
    }
    memcpy(fill, start, m->nv * sizeof *fill);
    for (size_t t = 0; t < m->nt; t++)
        for (int e = 0; e < 3; e++)
            nbr[fill[m->t[3 * t + e]]++] = m->t[3 * t + (e + 1) % 3];
    free(fill);
    threads = iso_threads(threads);
    size_t chunks = (m->nv + SMOOTH_CHUNK - 1) / SMOOTH_CHUNK;
    const float lambda = 0.5f, mu = -0.53f;
    for (int it = 0; it < iterations; it++) {
        smooth_job a = {start, nbr, m->v, tmp, lambda, m->nv};
        iso_parallel_for(chunks, threads, smooth_chunk, &a);
        smooth_job b = {start, nbr, tmp, m->v, mu, m->nv};
        iso_parallel_for(chunks, threads, smooth_chunk, &b);
    }
    free(start);
    free(nbr);
    free(tmp);
    return ISO_OK;
}

iso_code iso_mesh_normals(iso_mesh *m, iso_err *err)
{
    free(m->n);
    m->n = calloc(3 * (m->nv ? m->nv : 1), sizeof *m->n);
    if (m->n == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory for normals");
    for (size_t t = 0; t < m->nt; t++) {
        const uint32_t *tr = m->t + 3 * t;
        const float *a = m->v + 3 * tr[0], *b = m->v + 3 * tr[1], *c = m->v + 3 * tr[2];
        float u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
        float w[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        /* the cross product's length is twice the area: area weighting */
        float n[3] = {u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]};
        for (int k = 0; k < 3; k++)
            for (int q = 0; q < 3; q++)
                m->n[3 * tr[k] + q] += n[q];
    }
    for (size_t i = 0; i < m->nv; i++) {
        float *n = m->n + 3 * i;
        float l = sqrtf(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
        if (l > 0) {
            n[0] /= l;
            n[1] /= l;
            n[2] /= l;
        }
    }
    return ISO_OK;
}
