/* resample.c — stack to isotropic grid (see filter.h).
 *
 * The output axes are the stack's row, column and normal directions, so an
 * output plane of constant normal coordinate lies between two acquired
 * slices.  Each acquired slice is addressed in its own in-plane
 * coordinates, measured from its own Image Position: that is what makes a
 * tilted (sheared) or unevenly spaced stack come out right, without ever
 * assuming a slice step.  Column and row weights depend only on the output
 * column and row, so they are computed once per output plane.
 */
#include "recon/filter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/par.h"

typedef struct axis_map {
    int *i0;     /* left sample, or -1 if outside */
    float *w;    /* weight of the right sample */
} axis_map;

typedef struct resample_job {
    const iso_stack *s;
    iso_volume *out;
    double spacing;
    double umin, vmin;
    float background;
    const void *const *slices; /* acquired slice k's voxels (vol.type, row by row) */
    size_t first;              /* task t makes output plane first + t */
    int failed;
} resample_job;

static double dot3(const double a[3], const double b[3])
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/* Output sample a at coordinate start + a*step, input samples at
 * offset + i*pitch for i in [0, n). */
static void map_axis(int n_out, double start, double step, double offset, double pitch, int n_in,
                     int *i0, float *w)
{
    for (int a = 0; a < n_out; a++) {
        double x = (start + a * step - offset) / pitch;
        if (x < -1e-6 || x > n_in - 1 + 1e-6) {
            i0[a] = -1;
            w[a] = 0;
            continue;
        }
        int f = (int)floor(x);
        if (f >= n_in - 1)
            f = n_in - 2 < 0 ? 0 : n_in - 2;
        if (f < 0)
            f = 0;
        i0[a] = f;
        w[a] = (float)(x - f);
        if (w[a] < 0)
            w[a] = 0;
        if (w[a] > 1)
            w[a] = 1;
    }
}

static float sample(const iso_volume *v, const void *slice, int i0, float wi, int j0, float wj)
{
    size_t nx = (size_t)v->dim[0], base = (size_t)j0 * nx + i0;
    int i1 = v->dim[0] > 1, j1 = v->dim[1] > 1;
    float a, b, c, d;
    if (v->type == ISO_VOX_I16) {
        const int16_t *p = (const int16_t *)slice + base;
        a = p[0], b = p[i1], c = p[j1 * nx], d = p[j1 * nx + i1];
    } else {
        const float *p = (const float *)slice + base;
        a = p[0], b = p[i1], c = p[j1 * nx], d = p[j1 * nx + i1];
    }
    float top = a + (b - a) * wi, bot = c + (d - c) * wi;
    return top + (bot - top) * wj;
}

/* One output row from two int16 slices, every sample inside: what
 * sample() computes for each voxel, with the row pointers and the
 * per-row weights taken out of the loop. */
static void resample_row_i16(const iso_volume *v, const void *lo, const void *hi,
                             const axis_map *c0, const axis_map *c1, int r0, float w0, int r1,
                             float w1, float tw, int nxo, float *o)
{
    size_t nx = (size_t)v->dim[0];
    int i1 = v->dim[0] > 1, j1 = v->dim[1] > 1;
    const int16_t *p0 = (const int16_t *)lo + (size_t)r0 * nx, *q0 = p0 + (size_t)j1 * nx;
    const int16_t *p1 = (const int16_t *)hi + (size_t)r1 * nx, *q1 = p1 + (size_t)j1 * nx;
    for (int x = 0; x < nxo; x++) {
        int a0 = c0->i0[x], a1 = c1->i0[x];
        float wa = c0->w[x], wb = c1->w[x];
        float aa = p0[a0], ab = p0[a0 + i1], ac = q0[a0], ad = q0[a0 + i1];
        float top = aa + (ab - aa) * wa, bot = ac + (ad - ac) * wa;
        float a = top + (bot - top) * w0;
        float ba = p1[a1], bb = p1[a1 + i1], bc = q1[a1], bd = q1[a1 + i1];
        top = ba + (bb - ba) * wb;
        bot = bc + (bd - bc) * wb;
        float b = top + (bot - top) * w1;
        o[x] = a + (b - a) * tw;
    }
}

/* The two acquired slices around output plane c. */
static void bracket(const iso_stack *s, double spacing, size_t c, int *lo_out, int *hi_out)
{
    double d = s->depth[0] + (double)c * spacing;
    int lo = 0, hi = s->vol.dim[2] - 1;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (s->depth[mid] <= d)
            lo = mid;
        else
            hi = mid;
    }
    *lo_out = lo;
    *hi_out = hi;
}

static void resample_plane(void *ctx, size_t task, int worker)
{
    (void)worker;
    resample_job *j = ctx;
    const iso_stack *s = j->s;
    iso_volume *out = j->out;
    size_t c = j->first + task;
    int nxo = out->dim[0], nyo = out->dim[1];
    float *dst = (float *)out->data + c * (size_t)nxo * nyo;
    double d = s->depth[0] + (double)c * j->spacing;
    int lo, hi;
    bracket(s, j->spacing, c, &lo, &hi);
    double t = (d - s->depth[lo]) / (s->depth[hi] - s->depth[lo]);
    if (t < 0)
        t = 0;
    if (t > 1)
        t = 1;
    int *ibuf = malloc(sizeof(int) * 2 * (size_t)(nxo + nyo));
    float *wbuf = malloc(sizeof(float) * 2 * (size_t)(nxo + nyo));
    if (ibuf == NULL || wbuf == NULL) {
        free(ibuf);
        free(wbuf);
        j->failed = 1;
        return;
    }
    int slice[2] = {lo, hi};
    axis_map col[2], row[2];
    for (int q = 0; q < 2; q++) {
        double rel[3];
        for (int a = 0; a < 3; a++)
            rel[a] = s->position[slice[q]][a] - s->position[0][a];
        col[q].i0 = ibuf + q * (nxo + nyo);
        col[q].w = wbuf + q * (nxo + nyo);
        row[q].i0 = col[q].i0 + nxo;
        row[q].w = col[q].w + nxo;
        map_axis(nxo, j->umin, j->spacing, dot3(rel, s->row), s->spacing[0], s->vol.dim[0],
                 col[q].i0, col[q].w);
        map_axis(nyo, j->vmin, j->spacing, dot3(rel, s->col), s->spacing[1], s->vol.dim[1],
                 row[q].i0, row[q].w);
    }
    float tw = (float)t;
    /* columns every output voxel of a row reads inside both slices: the
     * common case, done without per-voxel checks (same arithmetic) */
    int all_cols = 1;
    for (int x = 0; x < nxo && all_cols; x++)
        all_cols = col[0].i0[x] >= 0 && col[1].i0[x] >= 0;
    for (int y = 0; y < nyo; y++) {
        float *o = dst + (size_t)y * nxo;
        int r0 = row[0].i0[y], r1 = row[1].i0[y];
        if (all_cols && r0 >= 0 && r1 >= 0 && s->vol.type == ISO_VOX_I16) {
            resample_row_i16(&s->vol, j->slices[lo], j->slices[hi], &col[0], &col[1], r0,
                             row[0].w[y], r1, row[1].w[y], tw, nxo, o);
            continue;
        }
        for (int x = 0; x < nxo; x++) {
            int c0 = col[0].i0[x], c1 = col[1].i0[x];
            int in0 = r0 >= 0 && c0 >= 0, in1 = r1 >= 0 && c1 >= 0;
            float a = in0 ? sample(&s->vol, j->slices[lo], c0, col[0].w[x], r0, row[0].w[y])
                          : j->background;
            float b = in1 ? sample(&s->vol, j->slices[hi], c1, col[1].w[x], r1, row[1].w[y])
                          : j->background;
            o[x] = a + (b - a) * tw;
        }
    }
    free(ibuf);
    free(wbuf);
}

/* Is every output voxel inside both acquired slices around its plane?
 * Then the background (the stack's minimum, which needs every voxel) is
 * never used.  Decided from the geometry alone. */
static int covered(const iso_stack *s, const iso_volume *out, double spacing, double umin,
                   double vmin, iso_err *err, int *ok)
{
    int nxo = out->dim[0], nyo = out->dim[1];
    int *i0 = malloc(sizeof(int) * (size_t)(nxo > nyo ? nxo : nyo));
    float *w = malloc(sizeof(float) * (size_t)(nxo > nyo ? nxo : nyo));
    *ok = 1;
    if (i0 == NULL || w == NULL) {
        free(i0);
        free(w);
        *ok = 0;
        iso_fail(err, ISO_ENOMEM, "out of memory while resampling");
        return 0;
    }
    int all = 1;
    for (int c = 0; all && c < out->dim[2]; c++) {
        int sl[2];
        bracket(s, spacing, (size_t)c, &sl[0], &sl[1]);
        for (int q = 0; all && q < 2; q++) {
            double rel[3];
            for (int a = 0; a < 3; a++)
                rel[a] = s->position[sl[q]][a] - s->position[0][a];
            map_axis(nxo, umin, spacing, dot3(rel, s->row), s->spacing[0], s->vol.dim[0], i0, w);
            for (int x = 0; all && x < nxo; x++)
                all = i0[x] >= 0;
            map_axis(nyo, vmin, spacing, dot3(rel, s->col), s->spacing[1], s->vol.dim[1], i0, w);
            for (int y = 0; all && y < nyo; y++)
                all = i0[y] >= 0;
        }
    }
    free(i0);
    free(w);
    return all;
}

typedef struct window_read {
    iso_stack *s;
    void **slices;
    const int *which;
    iso_err *errs; /* per worker */
} window_read;

static void read_window_slice(void *ctx, size_t task, int worker)
{
    window_read *r = ctx;
    int k = r->which[task];
    if (r->errs[worker].code == ISO_OK)
        (void)r->s->read_slice(r->s->src, k, r->slices[k], &r->errs[worker]);
}

/* Output planes in chunks, each from a window of acquired slices read from
 * their files just before (those no later plane needs are let go), so the
 * acquired stack is never whole in memory.  Every plane is computed exactly
 * as from the whole stack. */
static iso_code resample_streamed(iso_stack *s, resample_job *job, int threads, iso_err *err)
{
    int nz = s->vol.dim[2], nzo = job->out->dim[2];
    int t = iso_threads(threads);
    size_t chunk = (size_t)(4 * t < 16 ? 16 : 4 * t);
    size_t bytes = iso_stack_slice_bytes(s);
    void **slices = calloc((size_t)nz, sizeof *slices);
    int *which = malloc((size_t)nz * sizeof *which);
    iso_err *errs = calloc((size_t)t, sizeof *errs);
    iso_code rc = ISO_OK;
    if (slices == NULL || which == NULL || errs == NULL)
        rc = iso_fail(err, ISO_ENOMEM, "out of memory while resampling");
    int low = 0; /* slices below it are let go */
    for (size_t c0 = 0; rc == ISO_OK && c0 < (size_t)nzo; c0 += chunk) {
        size_t c1 = c0 + chunk < (size_t)nzo ? c0 + chunk : (size_t)nzo;
        int first, last, unused;
        bracket(s, job->spacing, c0, &first, &unused);
        bracket(s, job->spacing, c1 - 1, &unused, &last);
        for (; low < first; low++) {
            free(slices[low]);
            slices[low] = NULL;
        }
        int n_read = 0;
        for (int k = first; k <= last && rc == ISO_OK; k++) {
            if (slices[k] != NULL)
                continue;
            if ((slices[k] = malloc(bytes)) == NULL)
                rc = iso_fail(err, ISO_ENOMEM, "out of memory while resampling");
            which[n_read++] = k;
        }
        if (rc != ISO_OK)
            break;
        window_read r = {s, slices, which, errs};
        iso_parallel_for((size_t)n_read, t, read_window_slice, &r);
        for (int i = 0; i < t && rc == ISO_OK; i++)
            if (errs[i].code != ISO_OK)
                rc = iso_fail(err, errs[i].code, "%s", errs[i].msg);
        if (rc != ISO_OK)
            break;
        job->slices = (const void *const *)slices;
        job->first = c0;
        iso_parallel_for(c1 - c0, t, resample_plane, job);
        if (job->failed)
            rc = iso_fail(err, ISO_ENOMEM, "out of memory while resampling");
    }
    for (int k = 0; slices != NULL && k < nz; k++)
        free(slices[k]);
    free(slices);
    free(which);
    free(errs);
    return rc;
}

iso_code iso_resample_isotropic(iso_stack *s, double spacing, int threads, iso_volume *out,
                                iso_err *err)
{
    memset(out, 0, sizeof *out);
    if (!(spacing > 0))
        return iso_fail(err, ISO_EINVAL, "resampling spacing must be positive");
    int nz = s->vol.dim[2];
    double umin = 1e300, umax = -1e300, vmin = 1e300, vmax = -1e300;
    for (int k = 0; k < nz; k++) {
        double rel[3];
        for (int a = 0; a < 3; a++)
            rel[a] = s->position[k][a] - s->position[0][a];
        double u = dot3(rel, s->row), v = dot3(rel, s->col);
        umin = fmin(umin, u);
        vmin = fmin(vmin, v);
        umax = fmax(umax, u + (s->vol.dim[0] - 1) * s->spacing[0]);
        vmax = fmax(vmax, v + (s->vol.dim[1] - 1) * s->spacing[1]);
    }
    double wspan = s->depth[nz - 1] - s->depth[0];
    int dim[3] = {(int)floor((umax - umin) / spacing + 1e-6) + 1,
                  (int)floor((vmax - vmin) / spacing + 1e-6) + 1,
                  (int)floor(wspan / spacing + 1e-6) + 1};
    if ((double)dim[0] * dim[1] * dim[2] > 2e9)
        return iso_fail(err, ISO_EREFUSED, "resampling to %.3g mm gives %dx%dx%d voxels: too many",
                        spacing, dim[0], dim[1], dim[2]);
    if (iso_volume_alloc(out, dim, ISO_VOX_F32, err) != ISO_OK)
        return err->code;
    for (int a = 0; a < 3; a++) {
        out->origin[a] = s->position[0][a] + umin * s->row[a] + vmin * s->col[a];
        out->axis[0][a] = s->row[a] * spacing;
        out->axis[1][a] = s->col[a] * spacing;
        out->axis[2][a] = s->normal[a] * spacing;
    }
    resample_job job = {s, out, spacing, umin, vmin, 0, NULL, 0, 0};
    iso_code rc = ISO_OK;
    if (s->vol.data == NULL) {
        /* pixels still in the files: streamed, unless some output voxel
         * needs the background, which needs the whole stack's minimum */
        int ok;
        if (!covered(s, out, spacing, umin, vmin, err, &ok) && ok)
            rc = iso_stack_read_all(s, threads, err);
        else if (!ok)
            rc = err->code;
        else
            rc = resample_streamed(s, &job, threads, err);
        if (rc != ISO_OK || s->vol.data == NULL) {
            if (rc != ISO_OK)
                iso_volume_free(out);
            return rc;
        }
    }
    const void **slices = malloc((size_t)nz * sizeof *slices);
    if (slices == NULL) {
        iso_volume_free(out);
        return iso_fail(err, ISO_ENOMEM, "out of memory while resampling");
    }
    for (int k = 0; k < nz; k++)
        slices[k] = (const char *)s->vol.data + (size_t)k * iso_stack_slice_bytes(s);
    double lo, hi;
    iso_volume_range(&s->vol, &lo, &hi);
    job.background = (float)lo;
    job.slices = slices;
    iso_parallel_for((size_t)dim[2], threads, resample_plane, &job);
    free(slices);
    if (job.failed) {
        iso_volume_free(out);
        return iso_fail(err, ISO_ENOMEM, "out of memory while resampling");
    }
    return ISO_OK;
}

typedef struct float_job {
    iso_stack *s;
    iso_volume *out;
    void **scratch; /* per worker: one int16 slice */
    iso_err *errs;  /* per worker */
} float_job;

static void float_slice(void *ctx, size_t k, int worker)
{
    float_job *j = ctx;
    if (j->errs[worker].code != ISO_OK)
        return;
    size_t plane = (size_t)j->s->vol.dim[0] * j->s->vol.dim[1];
    float *dst = (float *)j->out->data + k * plane;
    if (j->s->vol.type == ISO_VOX_F32) {
        (void)j->s->read_slice(j->s->src, (int)k, dst, &j->errs[worker]);
        return;
    }
    const int16_t *p = j->scratch[worker];
    if (j->s->read_slice(j->s->src, (int)k, j->scratch[worker], &j->errs[worker]) == ISO_OK)
        for (size_t i = 0; i < plane; i++)
            dst[i] = p[i];
}

iso_code iso_stack_to_float(iso_stack *s, int threads, iso_volume *out, iso_err *err)
{
    if (s->vol.data != NULL)
        return iso_volume_to_float(&s->vol, out, err);
    if (iso_volume_alloc(out, s->vol.dim, ISO_VOX_F32, err) != ISO_OK)
        return err->code;
    memcpy(out->origin, s->vol.origin, sizeof out->origin);
    memcpy(out->axis, s->vol.axis, sizeof out->axis);
    int t = iso_threads(threads);
    void **scratch = calloc((size_t)t, sizeof *scratch);
    iso_err *errs = calloc((size_t)t, sizeof *errs);
    iso_code rc = scratch != NULL && errs != NULL ? ISO_OK
                                                  : iso_fail(err, ISO_ENOMEM, "out of memory");
    for (int i = 0; rc == ISO_OK && i < t; i++)
        if ((scratch[i] = malloc(iso_stack_slice_bytes(s))) == NULL)
            rc = iso_fail(err, ISO_ENOMEM, "out of memory");
    if (rc == ISO_OK) {
        float_job j = {s, out, scratch, errs};
        iso_parallel_for((size_t)s->vol.dim[2], t, float_slice, &j);
        for (int i = 0; i < t && rc == ISO_OK; i++)
            if (errs[i].code != ISO_OK)
                rc = iso_fail(err, errs[i].code, "%s", errs[i].msg);
    }
    for (int i = 0; scratch != NULL && i < t; i++)
        free(scratch[i]);
    free(scratch);
    free(errs);
    if (rc != ISO_OK)
        iso_volume_free(out);
    return rc;
}

iso_code iso_volume_to_float(const iso_volume *in, iso_volume *out, iso_err *err)
{
    if (iso_volume_alloc(out, in->dim, ISO_VOX_F32, err) != ISO_OK)
        return err->code;
    memcpy(out->origin, in->origin, sizeof out->origin);
    memcpy(out->axis, in->axis, sizeof out->axis);
    size_t n = iso_volume_count(in);
    float *o = out->data;
    if (in->type == ISO_VOX_I16) {
        const int16_t *p = in->data;
        for (size_t i = 0; i < n; i++)
            o[i] = p[i];
    } else {
        memcpy(o, in->data, n * sizeof *o);
    }
    return ISO_OK;
}

void iso_threshold(iso_volume *v, float lo, float hi)
{
    float *p = v->data;
    size_t n = iso_volume_count(v);
    for (size_t i = 0; i < n; i++)
        p[i] = p[i] < lo ? lo : p[i] > hi ? hi : p[i];
}

void iso_normalize(iso_volume *v, double lo_pct, double hi_pct, double *mapped_lo,
                   double *mapped_hi)
{
    enum { BINS = 4096 };
    double lo, hi;
    iso_volume_range(v, &lo, &hi);
    float *p = v->data;
    size_t n = iso_volume_count(v);
    *mapped_lo = lo;
    *mapped_hi = hi;
    if (!(hi > lo))
        return;
    size_t *hist = calloc(BINS, sizeof *hist);
    if (hist == NULL)
        return; /* the volume stays as it is */
    double scale = (BINS - 1) / (hi - lo);
    for (size_t i = 0; i < n; i++)
        hist[(size_t)((p[i] - lo) * scale)]++;
    double want_lo = lo_pct / 100.0 * (double)n, want_hi = hi_pct / 100.0 * (double)n;
    double a = lo, b = hi, cum = 0;
    int got_lo = 0;
    for (int k = 0; k < BINS; k++) {
        cum += (double)hist[k];
        if (!got_lo && cum >= want_lo) {
            a = lo + k / scale;
            got_lo = 1;
        }
        if (cum >= want_hi) {
            b = lo + k / scale;
            break;
        }
    }
    free(hist);
    if (!(b > a))
        b = a + 1;
    *mapped_lo = a;
    *mapped_hi = b;
    float m = (float)(1000.0 / (b - a)), off = (float)a;
    for (size_t i = 0; i < n; i++) {
        float x = (p[i] - off) * m;
        p[i] = x < 0 ? 0 : x > 1000 ? 1000 : x;
    }
}
