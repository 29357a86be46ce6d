/* pipeline.c — runs the reconstruction stages in order (see recon.h), timing
 * each one and keeping no large buffer longer than a stage needs it: a
 * series of one file per slice stays in its files until the resampler
 * reads it a window of slices at a time (filter.h), so the acquired stack
 * is never whole in memory; the isotropic grid goes once every surface has
 * been extracted from it, before smoothing and decimation.  Peak memory is
 * the grid plus the extracted meshes, or the meshes plus decimation's
 * state, whichever is larger.
 */
#include "recon/recon.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "recon/filter.h"
#include "recon/isosurface.h"
#include "util/clock.h"
#include "util/par.h"

typedef struct clock_ctx {
    iso_recon_result *r;
    const iso_recon_params *p;
    double t;
} clock_ctx;

static void lap(clock_ctx *c, const char *name)
{
    double t = iso_mono_seconds();
    if (c->r->n_stages < ISO_RECON_MAX_STAGES) {
        snprintf(c->r->stage[c->r->n_stages].name, sizeof c->r->stage[0].name, "%s", name);
        c->r->stage[c->r->n_stages].seconds = t - c->t;
        c->r->n_stages++;
    }
    c->t = t;
}

static void progress(const clock_ctx *c, const char *stage, double done)
{
    if (c->p->progress != NULL)
        c->p->progress(c->p->progress_ctx, stage, done);
}

double iso_otsu_threshold(const iso_volume *v)
{
    double lo, hi;
    iso_volume_range(v, &lo, &hi);
    if (hi <= lo)
        return lo;
    double hist[256] = {0};
    size_t n = iso_volume_count(v);
    for (size_t i = 0; i < n; i++) {
        double x = v->type == ISO_VOX_I16 ? ((const int16_t *)v->data)[i] : ((const float *)v->data)[i];
        int b = (int)((x - lo) / (hi - lo) * 255.999);
        hist[b < 0 ? 0 : b > 255 ? 255 : b]++;
    }
    double sum = 0, sum_b = 0, w_b = 0, best = -1;
    int best_t = 0;
    for (int i = 0; i < 256; i++)
        sum += i * hist[i];
    for (int t = 0; t < 256; t++) {
        w_b += hist[t];
        if (w_b == 0)
            continue;
        double w_f = (double)n - w_b;
        if (w_f == 0)
            break;
        sum_b += t * hist[t];
        double m_b = sum_b / w_b, m_f = (sum - sum_b) / w_f;
        double between = w_b * w_f * (m_b - m_f) * (m_b - m_f);
        if (between > best) {
            best = between;
            best_t = t;
        }
    }
    return lo + (best_t + 1) * (hi - lo) / 256.0;
}

void iso_surface_codes(iso_surface_spec *s, const char *type_code, const char *type_meaning)
{
    snprintf(s->category[0], sizeof s->category[0], "85756007");
    snprintf(s->category[1], sizeof s->category[1], "SCT");
    snprintf(s->category[2], sizeof s->category[2], "Tissue");
    snprintf(s->type[0], sizeof s->type[0], "%s", type_code);
    snprintf(s->type[1], sizeof s->type[1], "SCT");
    snprintf(s->type[2], sizeof s->type[2], "%s", type_meaning);
}

static void default_surfaces(const char *modality, const iso_volume *v, iso_recon_params *p)
{
    if (strcmp(modality, "CT") == 0) {
        p->surfaces[0] = (iso_surface_spec){.label = "bone", .iso = ISO_RECON_CT_BONE_HU,
                                            .color = {0.93f, 0.89f, 0.78f}};
        iso_surface_codes(&p->surfaces[0], "272673000", "Bone");
        p->surfaces[1] = (iso_surface_spec){.label = "skin", .iso = ISO_RECON_CT_SKIN_HU,
                                            .color = {0.87f, 0.68f, 0.58f}};
        iso_surface_codes(&p->surfaces[1], "39937001", "Skin");
        p->n_surfaces = 2;
    } else {
        p->surfaces[0] = (iso_surface_spec){.label = "surface", .iso = iso_otsu_threshold(v),
                                            .color = {0.85f, 0.80f, 0.72f}};
        iso_surface_codes(&p->surfaces[0], "85756007", "Tissue");
        p->n_surfaces = 1;
    }
}

/* Keeps the configured surfaces that apply to this modality. */
static int select_surfaces(const char *modality, iso_recon_params *p)
{
    int n = 0;
    for (int i = 0; i < p->n_surfaces; i++) {
        const char *m = p->surfaces[i].modality;
        if (m[0] == '\0' || strcmp(m, "*") == 0 || strcmp(m, modality) == 0)
            p->surfaces[n++] = p->surfaces[i];
    }
    p->n_surfaces = n;
    return n;
}

typedef struct render_job {
    iso_recon_result *r;
    const iso_recon_params *p;
    iso_err *errs; /* one per task */
    int per_surface;
} render_job;

static void render_one(void *ctx, size_t task, int worker)
{
    render_job *j = ctx;
    int s = (int)task / j->per_surface, k = (int)task % j->per_surface;
    iso_surface_result *sr = &j->r->surf[s];
    const iso_mesh *meshes[1] = {&sr->mesh};
    float colors[1][3];
    memcpy(colors[0], sr->spec.color, sizeof colors[0]);
    iso_scene scene = {meshes, (const float(*)[3])colors, 1, {0, 0, 0}, 0};
    iso_scene_frame(&scene);
    if (k < sr->n_views) {
        iso_render_surfaces(&scene, &sr->views[k], j->p->render_size, &sr->view_images[k],
                            &j->errs[task]);
    } else {
        iso_view v;
        iso_rotation_view(k - sr->n_views, j->p->rotation_frames, &v);
        int size = j->p->rotation_size > 0 ? j->p->rotation_size : j->p->render_size;
        iso_render_surfaces(&scene, &v, size, &sr->rotation[k - sr->n_views],
                            &j->errs[task]);
    }
}

/* One surface: iso-surface, mask, islands, smoothing, decimation, normals;
 * stage times go to the job's own list (chains run side by side). */
enum { SURFACE_STAGES = 6 };
typedef struct surface_job {
    const iso_volume *grid;
    const iso_recon_params *p;
    iso_recon_result *r;
    iso_err errs[ISO_RECON_MAX_SURFACES];
    struct {
        char name[32];
        double seconds;
    } stages[ISO_RECON_MAX_SURFACES][SURFACE_STAGES];
    int n_stages[ISO_RECON_MAX_SURFACES];
    int threads_each;
    /* pictures: task n_surf + s * per + k is picture k of surface s; it
     * waits for its surface's chain, so a thread whose chain ended early
     * renders while the longest chain still decimates */
    int per;                   /* pictures per surface (0: none) */
    iso_err *render_errs;
    double render_seconds[ISO_RECON_MAX_SURFACES];
    int chain_done[ISO_RECON_MAX_SURFACES];
    int extracted;             /* surfaces done with the grid */
    iso_volume *grid_to_free;  /* the grid, freed once every surface has been extracted */
    pthread_mutex_t mu;
    pthread_cond_t cv;
} surface_job;

static void surface_lap(surface_job *j, int s, const char *what, double *t)
{
    double t1 = iso_mono_seconds();
    int k = j->n_stages[s]++;
    snprintf(j->stages[s][k].name, sizeof j->stages[s][k].name, "%s:%s", what,
             j->r->surf[s].spec.label);
    j->stages[s][k].seconds = t1 - *t;
    *t = t1;
}

static void surface_chain(surface_job *j, int s)
{
    int threads = j->threads_each;
    const iso_recon_params *p = j->p;
    iso_surface_result *sr = &j->r->surf[s];
    iso_err *err = &j->errs[s];
    double t = iso_mono_seconds();
    iso_code rc = iso_isosurface(j->grid, sr->spec.iso, 1, threads, &sr->mesh, err);
    if (rc == ISO_OK && p->keep_masks) {
        size_t nvox = iso_volume_count(j->grid);
        const float *g = j->grid->data;
        float iso = (float)sr->spec.iso;
        if ((sr->mask = malloc(nvox)) == NULL) {
            rc = iso_fail(err, ISO_ENOMEM, "out of memory for a segmentation mask");
        } else {
            for (size_t i = 0; i < nvox; i++)
                sr->mask[i] = g[i] >= iso;
        }
    }
    /* the last surface to have read the grid lets it go: smoothing and
     * decimation, which need the most memory, do not share it with the grid */
    pthread_mutex_lock(&j->mu);
    if (++j->extracted == j->r->n_surf)
        iso_volume_free(j->grid_to_free);
    pthread_mutex_unlock(&j->mu);
    if (rc != ISO_OK)
        return;
    sr->extracted_triangles = sr->mesh.nt;
    surface_lap(j, s, "isosurface", &t);
    if (iso_mesh_drop_islands(&sr->mesh, p->min_island_mm3, &sr->islands_removed, err) != ISO_OK)
        return;
    surface_lap(j, s, "islands", &t);
    if (iso_mesh_smooth(&sr->mesh, p->smooth_iterations, threads, err) != ISO_OK)
        return;
    surface_lap(j, s, "smooth", &t);
    size_t target = p->max_triangles;
    if (p->keep_fraction > 0) {
        size_t frac = (size_t)(p->keep_fraction * (double)sr->mesh.nt);
        target = target == 0 || frac < target ? frac : target;
    }
    if (target > 0 && iso_mesh_decimate(&sr->mesh, target, threads, err) != ISO_OK)
        return;
    surface_lap(j, s, "decimate", &t);
    if (iso_mesh_normals(&sr->mesh, err) != ISO_OK)
        return;
    surface_lap(j, s, "normals", &t);
    if (iso_mesh_measure(&sr->mesh, &sr->stats, err) != ISO_OK)
        return;
    surface_lap(j, s, "measure", &t);
}

/* A task of the surface phase: a chain, or one picture once its chain is done. */
static void surface_task(void *ctx, size_t task, int worker)
{
    surface_job *j = ctx;
    int n_surf = j->r->n_surf;
    (void)worker;
    if ((int)task < n_surf) {
        surface_chain(j, (int)task);
        pthread_mutex_lock(&j->mu);
        j->chain_done[task] = 1;
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
        return;
    }
    int k = (int)task - n_surf, s = k / j->per;
    /* tasks are handed out in order, so every chain has a thread before any picture waits */
    pthread_mutex_lock(&j->mu);
    while (!j->chain_done[s])
        pthread_cond_wait(&j->cv, &j->mu);
    pthread_mutex_unlock(&j->mu);
    if (j->errs[s].code != ISO_OK)
        return;
    double t = iso_mono_seconds();
    render_job rj = {j->r, j->p, j->render_errs, j->per};
    render_one(&rj, (size_t)k, worker);
    pthread_mutex_lock(&j->mu);
    j->render_seconds[s] += iso_mono_seconds() - t;
    pthread_mutex_unlock(&j->mu);
}

void iso_recon_result_free(iso_recon_result *r)
{
    for (int s = 0; s < r->n_surf; s++) {
        iso_surface_result *sr = &r->surf[s];
        iso_mesh_free(&sr->mesh);
        for (int k = 0; k < 3; k++)
            iso_image_free(&sr->view_images[k]);
        for (int k = 0; k < sr->n_rotation && sr->rotation != NULL; k++)
            iso_image_free(&sr->rotation[k]);
        free(sr->rotation);
        sr->rotation = NULL;
        free(sr->mask);
        sr->mask = NULL;
    }
    for (int k = 0; k < 3; k++)
        iso_image_free(&r->mip[k]);
    iso_series_info_free(&r->series);
    r->n_surf = 0;
    r->n_mip = 0;
}

iso_code iso_reconstruct(char *const *paths, size_t n, const iso_recon_params *params,
                         iso_recon_result *r, iso_err *err)
{
    memset(r, 0, sizeof *r);
    iso_recon_params p = *params;
    clock_ctx ck = {r, &p, iso_mono_seconds()};
    double t_start = ck.t;
    int threads = iso_threads(p.threads);
    iso_stack st;
    iso_volume grid = {0};
    iso_code rc;
    progress(&ck, "load", 0);
    /* a series of one file per slice stays in its files until resampled */
    iso_series_opts so = {p.max_gap_mm > 0 ? p.max_gap_mm : ISO_SERIES_DEFAULT_MAX_GAP_MM, threads,
                          p.volumes, p.volume, !p.read_whole};
    if ((rc = iso_series_load(paths, n, &so, &st, &r->series, err)) != ISO_OK)
        return rc;
    lap(&ck, "load");
    memcpy(r->acquired_dim, st.vol.dim, sizeof r->acquired_dim);
    r->acquired_spacing[0] = st.spacing[0];
    r->acquired_spacing[1] = st.spacing[1];
    r->acquired_spacing[2] = (st.depth[st.vol.dim[2] - 1] - st.depth[0]) / (st.vol.dim[2] - 1);
    r->uneven = st.uneven;
    memcpy(r->first_position, st.position[0], sizeof r->first_position);
    memcpy(r->last_position, st.position[st.vol.dim[2] - 1], sizeof r->last_position);
    memcpy(r->normal, st.normal, sizeof r->normal);
    int is_ct = strcmp(r->series.modality, "CT") == 0;

    progress(&ck, "resample", 0);
    if (p.spacing_mm > 0 || st.uneven) {
        double sp = p.spacing_mm > 0 ? p.spacing_mm : fmin(st.spacing[0], st.spacing[1]);
        if ((rc = iso_resample_isotropic(&st, sp, threads, &grid, err)) != ISO_OK)
            goto fail;
        r->grid_spacing_mm = sp;
    } else {
        if ((rc = iso_stack_to_float(&st, threads, &grid, err)) != ISO_OK)
            goto fail;
        r->grid_spacing_mm = 0;
    }
    r->streamed = st.vol.data == NULL; /* the resampler never had to read it whole */
    iso_stack_free(&st);
    memcpy(r->grid_dim, grid.dim, sizeof r->grid_dim);
    memcpy(r->grid_origin, grid.origin, sizeof r->grid_origin);
    memcpy(r->grid_axis, grid.axis, sizeof r->grid_axis);
    lap(&ck, "resample");

    if (p.normalize) {
        iso_normalize(&grid, 0.5, 99.5, &r->normalized_from[0], &r->normalized_from[1]);
        r->normalized = 1;
        lap(&ck, "normalize");
    }
    if (p.configured && select_surfaces(r->series.modality, &p) == 0) {
        rc = iso_fail(err, ISO_EREFUSED, "no [surface] configured for modality %s",
                      r->series.modality[0] ? r->series.modality : "(none)");
        goto fail;
    }
    if (p.n_surfaces == 0)
        default_surfaces(r->series.modality, &grid, &p);

    if (p.render && p.mip) {
        progress(&ck, "mip", 0);
        double lo = 100, hi = 1500;
        if (!is_ct) {
            double a, b;
            iso_volume_range(&grid, &a, &b);
            lo = p.surfaces[0].iso * 0.5;
            hi = b;
        }
        r->n_mip = iso_standard_views(r->mip_views, 3);
        for (int k = 0; k < r->n_mip; k++)
            if ((rc = iso_render_mip(&grid, &r->mip_views[k], p.render_size, lo, hi, threads,
                                     &r->mip[k], err)) != ISO_OK)
                goto fail;
        lap(&ck, "mip");
    }

    if (is_ct && !p.normalize)
        iso_threshold(&grid, -1024.0f, 3071.0f); /* metal and padding values would ring */
    progress(&ck, "gaussian", 0);
    if ((rc = iso_gaussian(&grid, p.sigma_mm, threads, err)) != ISO_OK)
        goto fail;
    lap(&ck, "gaussian");

    /* the surfaces are independent: each its own chain, the chains side by
     * side (decimation, the longest stage, is serial within a surface), and
     * each surface's pictures as soon as its mesh is ready */
    surface_job sj;
    memset(&sj, 0, sizeof sj);
    sj.grid = &grid;
    sj.grid_to_free = &grid;
    sj.p = &p;
    sj.r = r;
    int chains = p.n_surfaces < threads ? p.n_surfaces : threads;
    sj.threads_each = threads / (chains > 0 ? chains : 1);
    for (int s = 0; s < p.n_surfaces; s++) {
        r->surf[s].spec = p.surfaces[s];
        progress(&ck, p.surfaces[s].label, (double)s / p.n_surfaces);
    }
    r->n_surf = p.n_surfaces;
    if (p.render && r->n_surf > 0) {
        sj.per = 3 + p.rotation_frames;
        for (int s = 0; s < r->n_surf; s++) {
            iso_surface_result *sr = &r->surf[s];
            sr->n_views = iso_standard_views(sr->views, 3);
            sr->rotation = calloc((size_t)(p.rotation_frames > 0 ? p.rotation_frames : 1),
                                  sizeof *sr->rotation);
            if (sr->rotation == NULL) {
                rc = iso_fail(err, ISO_ENOMEM, "out of memory for renders");
                goto fail;
            }
            sr->n_rotation = p.rotation_frames;
        }
        sj.render_errs = calloc((size_t)(sj.per * r->n_surf), sizeof *sj.render_errs);
        if (sj.render_errs == NULL) {
            rc = iso_fail(err, ISO_ENOMEM, "out of memory for renders");
            goto fail;
        }
    }
    pthread_mutex_init(&sj.mu, NULL);
    pthread_cond_init(&sj.cv, NULL);
    iso_parallel_for((size_t)(r->n_surf + sj.per * r->n_surf), threads, surface_task, &sj);
    pthread_mutex_destroy(&sj.mu);
    pthread_cond_destroy(&sj.cv);
    for (int s = 0; s < p.n_surfaces && rc == ISO_OK; s++) {
        if (sj.errs[s].code != ISO_OK)
            rc = iso_fail(err, sj.errs[s].code, "%s", sj.errs[s].msg);
        for (int k = 0; k < sj.n_stages[s] && r->n_stages < ISO_RECON_MAX_STAGES; k++) {
            snprintf(r->stage[r->n_stages].name, sizeof r->stage[0].name, "%s", sj.stages[s][k].name);
            r->stage[r->n_stages++].seconds = sj.stages[s][k].seconds;
        }
        if (sj.per > 0 && r->n_stages < ISO_RECON_MAX_STAGES) {
            snprintf(r->stage[r->n_stages].name, sizeof r->stage[0].name, "render:%s",
                     r->surf[s].spec.label);
            r->stage[r->n_stages++].seconds = sj.render_seconds[s];
        }
    }
    for (int i = 0; rc == ISO_OK && i < sj.per * r->n_surf; i++)
        if (sj.render_errs[i].code != ISO_OK)
            rc = iso_fail(err, sj.render_errs[i].code, "%s", sj.render_errs[i].msg);
    free(sj.render_errs);
    if (rc != ISO_OK)
        goto fail;
    iso_volume_free(&grid);
    r->total_seconds = iso_mono_seconds() - t_start;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        r->peak_rss_kb = ru.ru_maxrss;
    progress(&ck, "done", 1);
    return ISO_OK;
fail:
    iso_stack_free(&st);
    iso_volume_free(&grid);
    iso_recon_result_free(r);
    return rc;
}
