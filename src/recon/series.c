/* series.c — reads a series' files, checks that they form one trustworthy
 * stack, sorts the slices along the normal and decodes them into memory.
 *
 * Two passes over the files: headers first (cheap: pixel data is not
 * read), so the checks can refuse a series -- and the volumes of a series
 * be told apart, localizers set aside -- before any memory is spent on
 * pixels; then each file decodes straight into its own slots of the volume,
 * in parallel (a multi-frame file of which only some frames are used goes
 * through a buffer of its own).  Slices then move into sorted order in
 * place (cycle by cycle, one slice of scratch), so peak memory is the
 * volume itself.
 */
#include "recon/series.h"

#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dicom/dicom.h"
#include "recon/volumes.h"
#include "util/par.h"

typedef struct slice_ref {
    int file;     /* index into the infos */
    int frame;    /* frame within that file */
    size_t load;  /* slot the decoder writes it to */
    double depth; /* normal . position */
} slice_ref;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void iso_series_paths_free(char **paths, size_t n)
{
    for (size_t i = 0; i < n && paths != NULL; i++)
        free(paths[i]);
    free(paths);
}

iso_code iso_series_list_dir(const char *dir, char ***paths, size_t *n, iso_err *err)
{
    *paths = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return iso_fail(err, ISO_ENOTFOUND, "cannot open directory %s", dir);
    size_t cap = 0;
    char **list = NULL;
    struct dirent *e;
    iso_code rc = ISO_OK;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *p = malloc(strlen(dir) + strlen(e->d_name) + 2);
        if (p == NULL) {
            rc = iso_fail(err, ISO_ENOMEM, "out of memory listing %s", dir);
            break;
        }
        sprintf(p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(p);
            continue;
        }
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **nl = realloc(list, nc * sizeof *nl);
            if (nl == NULL) {
                free(p);
                rc = iso_fail(err, ISO_ENOMEM, "out of memory listing %s", dir);
                break;
            }
            list = nl;
            cap = nc;
        }
        list[(*n)++] = p;
    }
    closedir(d);
    if (rc != ISO_OK) {
        iso_series_paths_free(list, *n);
        *n = 0;
        return rc;
    }
    if (*n > 1)
        qsort(list, *n, sizeof *list, cmp_str);
    *paths = list;
    return ISO_OK;
}

void iso_series_info_free(iso_series_info *info)
{
    if (info != NULL) {
        for (size_t i = 0; info->frame_numbers != NULL && i < info->n_files; i++)
            free(info->frame_numbers[i]);
        free(info->frame_numbers);
        info->frame_numbers = NULL;
        free(info->instance_uids);
        free(info->class_uids);
        info->instance_uids = info->class_uids = NULL;
    }
}

/* ---- pass 1: headers ---- */

typedef struct header_job {
    char *const *paths;
    iso_dcm_image_info *infos;
    int *ok;
} header_job;

static void read_header(void *ctx, size_t i, int worker)
{
    header_job *j = ctx;
    iso_err e = {0};
    j->ok[i] = iso_dcm_read_image_info(j->paths[i], &j->infos[i], &e) == ISO_OK &&
               j->infos[i].has_pixel_data && j->infos[i].rows > 0 && j->infos[i].cols > 0;
}

static double dot3(const double a[3], const double b[3])
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

static void cross3(const double a[3], const double b[3], double out[3])
{
    out[0] = a[1] * b[2] - a[2] * b[1];
    out[1] = a[2] * b[0] - a[0] * b[2];
    out[2] = a[0] * b[1] - a[1] * b[0];
}

static int cmp_depth(const void *a, const void *b)
{
    double x = ((const slice_ref *)a)->depth, y = ((const slice_ref *)b)->depth;
    return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Checks everything that must agree between slices; fills the directions. */
static iso_code check_headers(const iso_dcm_image_info *infos, const size_t *first_frame,
                              const char *take, size_t n, const int *used, iso_stack *s,
                              iso_series_info *info, iso_err *err)
{
    const iso_dcm_image_info *first = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!used[i])
            continue;
        const iso_dcm_image_info *f = &infos[i];
        if (f->samples_per_pixel != 1 ||
            (strcmp(f->photometric, "MONOCHROME1") != 0 && strcmp(f->photometric, "MONOCHROME2") != 0) ||
            (f->bits_allocated != 8 && f->bits_allocated != 16) || f->bits_stored < 1 ||
            f->bits_stored > f->bits_allocated)
            return iso_fail(err, ISO_EREFUSED,
                            "unsupported pixel format: %s, %d samples, %d bits allocated, %d stored",
                            f->photometric, f->samples_per_pixel, f->bits_allocated,
                            f->bits_stored);
        for (int k = 0; k < f->frames; k++) {
            const iso_dcm_plane *p = &f->planes[k];
            if (!take[first_frame[i] + (size_t)k])
                continue;
            if (!p->has_position || !p->has_orientation || !p->has_spacing)
                return iso_fail(err, ISO_EREFUSED,
                                "no plane geometry (Image Position/Orientation, Pixel Spacing) in %s",
                                f->sop_instance_uid);
            if (p->spacing[0] <= 0 || p->spacing[1] <= 0)
                return iso_fail(err, ISO_EREFUSED, "non-positive Pixel Spacing in %s",
                                f->sop_instance_uid);
        }
        if (first == NULL) {
            first = f;
            continue;
        }
        if (strcmp(f->series_uid, first->series_uid) != 0)
            return iso_fail(err, ISO_EREFUSED, "more than one series (%s and %s)",
                            first->series_uid, f->series_uid);
        if (f->rows != first->rows || f->cols != first->cols)
            return iso_fail(err, ISO_EREFUSED, "mixed image sizes (%dx%d and %dx%d)", first->cols,
                            first->rows, f->cols, f->rows);
        if (strcmp(f->frame_of_reference_uid, first->frame_of_reference_uid) != 0)
            return iso_fail(err, ISO_EREFUSED, "mixed frames of reference");
    }
    if (first == NULL)
        return iso_fail(err, ISO_EREFUSED, "no images with pixel data");
    const iso_dcm_plane *p0 = NULL;
    for (size_t i = 0; i < n && p0 == NULL; i++)
        for (int k = 0; used[i] && k < infos[i].frames && p0 == NULL; k++)
            if (take[first_frame[i] + (size_t)k])
                p0 = &infos[i].planes[k];
    for (size_t i = 0; i < n; i++) {
        if (!used[i])
            continue;
        for (int k = 0; k < infos[i].frames; k++) {
            const iso_dcm_plane *p = &infos[i].planes[k];
            if (!take[first_frame[i] + (size_t)k])
                continue;
            for (int a = 0; a < 6; a++)
                if (fabs(p->orientation[a] - p0->orientation[a]) > 1e-3)
                    return iso_fail(err, ISO_EREFUSED, "mixed orientations (%g and %g in cosine %d)",
                                    p0->orientation[a], p->orientation[a], a + 1);
            for (int a = 0; a < 2; a++)
                if (fabs(p->spacing[a] - p0->spacing[a]) > 1e-3 * p0->spacing[a])
                    return iso_fail(err, ISO_EREFUSED, "mixed pixel spacings (%g and %g mm)",
                                    p0->spacing[a], p->spacing[a]);
        }
    }
    for (int a = 0; a < 3; a++) {
        s->row[a] = p0->orientation[a];
        s->col[a] = p0->orientation[3 + a];
    }
    double lr = sqrt(dot3(s->row, s->row)), lc = sqrt(dot3(s->col, s->col));
    if (fabs(lr - 1) > 0.01 || fabs(lc - 1) > 0.01 || fabs(dot3(s->row, s->col)) > 0.01)
        return iso_fail(err, ISO_EREFUSED, "Image Orientation (Patient) is not two unit, "
                        "orthogonal vectors");
    for (int a = 0; a < 3; a++) {
        s->row[a] /= lr;
        s->col[a] /= lc;
    }
    /* re-orthogonalize the column against the row, then the normal */
    double d = dot3(s->row, s->col), lc2 = 0;
    for (int a = 0; a < 3; a++)
        s->col[a] -= d * s->row[a];
    lc2 = sqrt(dot3(s->col, s->col));
    for (int a = 0; a < 3; a++)
        s->col[a] /= lc2;
    cross3(s->row, s->col, s->normal);
    s->spacing[0] = p0->spacing[1]; /* between columns */
    s->spacing[1] = p0->spacing[0]; /* between rows */
    snprintf(info->study_uid, sizeof info->study_uid, "%s", first->study_uid);
    snprintf(info->series_uid, sizeof info->series_uid, "%s", first->series_uid);
    snprintf(info->frame_of_reference_uid, sizeof info->frame_of_reference_uid, "%s",
             first->frame_of_reference_uid);
    snprintf(info->modality, sizeof info->modality, "%s", first->modality);
    snprintf(info->sop_class_uid, sizeof info->sop_class_uid, "%s", first->sop_class_uid);
    return ISO_OK;
}

/* int16 holds the modality values exactly if every slope and intercept is an
 * integer and the extreme stored values stay in range after rescaling. */
static int fits_int16(const iso_dcm_image_info *infos, size_t n, const int *used)
{
    for (size_t i = 0; i < n; i++) {
        if (!used[i])
            continue;
        const iso_dcm_image_info *f = &infos[i];
        if (f->lut != NULL) {
            for (long k = 0; k < f->lut_n; k++)
                if (f->lut[k] > 32767)
                    return 0;
            continue;
        }
        double lo = f->pixel_representation ? -ldexp(1, f->bits_stored - 1) : 0;
        double hi = f->pixel_representation ? ldexp(1, f->bits_stored - 1) - 1
                                            : ldexp(1, f->bits_stored) - 1;
        for (int k = 0; k < f->frames; k++) {
            const iso_dcm_plane *p = &f->planes[k];
            if (p->slope != floor(p->slope) || p->intercept != floor(p->intercept))
                return 0;
            double a = lo * p->slope + p->intercept, b = hi * p->slope + p->intercept;
            if (fmin(a, b) < -32768 || fmax(a, b) > 32767)
                return 0;
        }
    }
    return 1;
}

/* ---- pass 2: pixels ---- */

typedef struct decode_job {
    char *const *paths;
    const iso_dcm_image_info *infos;
    const int *used;
    const size_t *first_slot;  /* the slot of the file's first frame used */
    const size_t *first_frame; /* index of the file's frame 0 among all frames */
    const char *take;          /* per frame: part of the volume */
    iso_volume *vol;
    iso_err *errs;
} decode_job;

static void decode_file(void *ctx, size_t i, int worker)
{
    decode_job *j = ctx;
    if (!j->used[i])
        return;
    size_t slice = (size_t)j->vol->dim[0] * j->vol->dim[1];
    size_t bytes = (j->vol->type == ISO_VOX_I16 ? 2 : 4) * slice;
    char *dst = (char *)j->vol->data + j->first_slot[i] * bytes;
    int frames = j->infos[i].frames, taken = 0;
    for (int k = 0; k < frames; k++)
        taken += j->take[j->first_frame[i] + (size_t)k] != 0;
    if (taken == frames) { /* every frame: straight into the volume */
        iso_dcm_read_frames(j->paths[i], &j->infos[i], dst, j->vol->type == ISO_VOX_F32,
                            &j->errs[i]);
        return;
    }
    /* some frames (another volume shares the object): through a buffer */
    char *buf = malloc((size_t)frames * bytes);
    if (buf == NULL) {
        iso_fail(&j->errs[i], ISO_ENOMEM, "out of memory decoding %d frames", frames);
        return;
    }
    if (iso_dcm_read_frames(j->paths[i], &j->infos[i], buf, j->vol->type == ISO_VOX_F32,
                            &j->errs[i]) == ISO_OK)
        for (int k = 0; k < frames; k++)
            if (j->take[j->first_frame[i] + (size_t)k]) {
                memcpy(dst, buf + (size_t)k * bytes, bytes);
                dst += bytes;
            }
    free(buf);
}

/* ---- pixels left in the files: one file per slice ---- */

typedef struct slice_src {
    size_t n;
    char **paths;              /* per sorted slice */
    iso_dcm_image_info *infos; /* per sorted slice (moved from the header pass) */
    int as_float;
} slice_src;

static iso_code read_deferred(void *src, int k, void *dst, iso_err *err)
{
    slice_src *ss = src;
    if (k < 0 || (size_t)k >= ss->n)
        return iso_fail(err, ISO_EINVAL, "no slice %d", k);
    return iso_dcm_read_frames(ss->paths[k], &ss->infos[k], dst, ss->as_float, err);
}

static void free_deferred(void *src)
{
    slice_src *ss = src;
    if (ss == NULL)
        return;
    for (size_t k = 0; k < ss->n; k++) {
        free(ss->paths[k]);
        iso_dcm_image_info_free(&ss->infos[k]);
    }
    free(ss->paths);
    free(ss->infos);
    free(ss);
}

/* Hands the sorted slices' files and headers to the stack instead of
 * decoding them (each used file holds exactly one slice). */
static iso_code defer_pixels(iso_stack *s, char *const *paths, iso_dcm_image_info *infos,
                             const slice_ref *sl, size_t n_slices, iso_err *err)
{
    slice_src *ss = calloc(1, sizeof *ss);
    if (ss == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    ss->paths = calloc(n_slices, sizeof *ss->paths);
    ss->infos = calloc(n_slices, sizeof *ss->infos);
    ss->as_float = s->vol.type == ISO_VOX_F32;
    if (ss->paths == NULL || ss->infos == NULL) {
        free_deferred(ss);
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < n_slices; k++) {
        if ((ss->paths[k] = strdup(paths[sl[k].file])) == NULL) {
            free_deferred(ss);
            return iso_fail(err, ISO_ENOMEM, "out of memory");
        }
        ss->infos[k] = infos[sl[k].file]; /* moved: the header pass forgets it */
        memset(&infos[sl[k].file], 0, sizeof infos[sl[k].file]);
        ss->n = k + 1;
    }
    s->src = ss;
    s->read_slice = read_deferred;
    s->free_src = free_deferred;
    return ISO_OK;
}

/* Moves slices so that slot k holds sorted slice k: order[k] is the load
 * slot of sorted slice k. */
static iso_code permute_slices(iso_volume *vol, const size_t *order, iso_err *err)
{
    size_t nz = (size_t)vol->dim[2];
    size_t bytes = (size_t)vol->dim[0] * vol->dim[1] * (vol->type == ISO_VOX_I16 ? 2 : 4);
    char *done = calloc(nz, 1), *tmp = malloc(bytes);
    if (done == NULL || tmp == NULL) {
        free(done);
        free(tmp);
        return iso_fail(err, ISO_ENOMEM, "out of memory sorting slices");
    }
    char *base = vol->data;
    for (size_t k = 0; k < nz; k++) {
        if (done[k] || order[k] == k) {
            done[k] = 1;
            continue;
        }
        /* cycle: slot k <- order[k] <- order[order[k]] ... */
        memcpy(tmp, base + k * bytes, bytes);
        size_t cur = k;
        for (;;) {
            size_t src = order[cur];
            done[cur] = 1;
            if (src == k) {
                memcpy(base + cur * bytes, tmp, bytes);
                break;
            }
            memcpy(base + cur * bytes, base + src * bytes, bytes);
            cur = src;
        }
    }
    free(done);
    free(tmp);
    return ISO_OK;
}

/* The frames used of a multi-frame file, as Referenced Frame Number values
 * (1-based, '\\'-separated); NULL when all are (or on no memory: then
 * the reference names the whole object). */
static char *frame_list(const iso_dcm_image_info *f, const char *take)
{
    if (f->frames < 2)
        return NULL;
    int taken = 0;
    for (int k = 0; k < f->frames; k++)
        taken += take[k] != 0;
    if (taken == f->frames)
        return NULL;
    size_t cap = (size_t)taken * 7 + 1, used = 0;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    out[0] = '\0';
    for (int k = 0; k < f->frames; k++)
        if (take[k])
            used += (size_t)snprintf(out + used, cap - used, "%s%d", used ? "\\" : "", k + 1);
    return out;
}

iso_code iso_series_load(char *const *paths, size_t n, const iso_series_opts *opts,
                         iso_stack *s, iso_series_info *info, iso_err *err)
{
    memset(s, 0, sizeof *s);
    memset(info, 0, sizeof *info);
    if (n == 0)
        return iso_fail(err, ISO_EREFUSED, "no files");
    int threads = iso_threads(opts->threads);
    iso_code rc = ISO_OK;
    iso_dcm_image_info *infos = calloc(n, sizeof *infos);
    int *ok = calloc(n, sizeof *ok), *used = calloc(n, sizeof *used);
    size_t *first_slot = calloc(n, sizeof *first_slot), *first_frame = calloc(n, sizeof *first_frame);
    char *take = NULL;
    slice_ref *sl = NULL;
    size_t *order = NULL;
    iso_err *errs = NULL;
    if (infos == NULL || ok == NULL || used == NULL || first_slot == NULL || first_frame == NULL) {
        rc = iso_fail(err, ISO_ENOMEM, "out of memory for %zu headers", n);
        goto out;
    }
    header_job hj = {paths, infos, ok};
    iso_parallel_for(n, threads, read_header, &hj);
    size_t n_frames = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ok[i]) {
            info->n_skipped++;
            continue;
        }
        first_frame[i] = n_frames;
        n_frames += (size_t)infos[i].frames;
    }
    take = calloc(n_frames ? n_frames : 1, 1);
    if (take == NULL) {
        rc = iso_fail(err, ISO_ENOMEM, "out of memory for %zu frames", n_frames);
        goto out;
    }
    /* which frames: localizers set aside, one volume of several */
    if ((rc = iso_series_pick_volume(infos, ok, n, first_frame, n_frames, opts, take, info,
                                     err)) != ISO_OK)
        goto out;
    size_t n_slices = 0;
    for (size_t i = 0; i < n; i++) {
        int taken = 0;
        for (int k = 0; ok[i] && k < infos[i].frames; k++)
            taken += take[first_frame[i] + (size_t)k] != 0;
        if (taken == 0)
            continue;
        used[i] = 1;
        info->n_files++;
        first_slot[i] = n_slices;
        n_slices += (size_t)taken;
        if (infos[i].frames > 1)
            info->multiframe = 1;
    }
    if ((rc = check_headers(infos, first_frame, take, n, used, s, info, err)) != ISO_OK)
        goto out;
    info->instance_uids = calloc(info->n_files ? info->n_files : 1, sizeof *info->instance_uids);
    info->class_uids = calloc(info->n_files ? info->n_files : 1, sizeof *info->class_uids);
    info->frame_numbers = calloc(info->n_files ? info->n_files : 1, sizeof *info->frame_numbers);
    if (info->instance_uids == NULL || info->class_uids == NULL || info->frame_numbers == NULL) {
        rc = iso_fail(err, ISO_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0, k = 0; i < n; i++)
        if (used[i]) {
            memcpy(info->instance_uids[k], infos[i].sop_instance_uid, 65);
            memcpy(info->class_uids[k], infos[i].sop_class_uid, 65);
            info->frame_numbers[k++] = frame_list(&infos[i], take + first_frame[i]);
        }
    if (n_slices < 2) {
        rc = iso_fail(err, ISO_EREFUSED, "a single slice, not a volume");
        goto out;
    }
    if (n_slices > 65535) {
        rc = iso_fail(err, ISO_EREFUSED, "%zu slices: more than this engine takes", n_slices);
        goto out;
    }
    sl = calloc(n_slices, sizeof *sl);
    order = calloc(n_slices, sizeof *order);
    errs = calloc(n, sizeof *errs);
    if (sl == NULL || order == NULL || errs == NULL) {
        rc = iso_fail(err, ISO_ENOMEM, "out of memory for %zu slices", n_slices);
        goto out;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        size_t slot = first_slot[i];
        for (int k = 0; used[i] && k < infos[i].frames; k++) {
            if (!take[first_frame[i] + (size_t)k])
                continue;
            sl[m].file = (int)i;
            sl[m].frame = k;
            sl[m].load = slot++;
            sl[m].depth = dot3(s->normal, infos[i].planes[k].position);
            m++;
        }
    }
    qsort(sl, n_slices, sizeof *sl, cmp_depth);
    double *steps = malloc((n_slices - 1) * sizeof *steps);
    if (steps == NULL) {
        rc = iso_fail(err, ISO_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t k = 0; k + 1 < n_slices; k++) {
        steps[k] = sl[k + 1].depth - sl[k].depth;
        if (steps[k] < 0.01) { /* the volume picker separated every same position */
            rc = iso_fail(err, ISO_EREFUSED, "duplicate slice positions at %.2f mm along the normal",
                          sl[k].depth);
            free(steps);
            goto out;
        }
        if (steps[k] > opts->max_gap_mm) {
            rc = iso_fail(err, ISO_EREFUSED, "a gap of %.2f mm between slices (limit %.2f mm)",
                          steps[k], opts->max_gap_mm);
            free(steps);
            goto out;
        }
    }
    qsort(steps, n_slices - 1, sizeof *steps, cmp_double);
    info->slice_step_min = steps[0];
    info->slice_step_max = steps[n_slices - 2];
    double median = steps[(n_slices - 1) / 2];
    free(steps);
    info->n_slices = (int)n_slices;

    /* geometry of the stack */
    s->position = malloc(n_slices * sizeof *s->position);
    s->depth = malloc(n_slices * sizeof *s->depth);
    if (s->position == NULL || s->depth == NULL) {
        rc = iso_fail(err, ISO_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < n_slices; k++) {
        memcpy(s->position[k], infos[sl[k].file].planes[sl[k].frame].position, sizeof s->position[k]);
        s->depth[k] = sl[k].depth;
        order[k] = sl[k].load;
    }
    double span = s->depth[n_slices - 1] - s->depth[0], step[3];
    for (int a = 0; a < 3; a++)
        step[a] = (s->position[n_slices - 1][a] - s->position[0][a]) / (double)(n_slices - 1);
    /* uneven: spacing varies by more than 1 %, or a slice is off the line */
    s->uneven = info->slice_step_max - info->slice_step_min > 0.01 * median;
    for (size_t k = 0; k < n_slices && !s->uneven; k++)
        for (int a = 0; a < 3; a++)
            if (fabs(s->position[0][a] + step[a] * (double)k - s->position[k][a]) > 0.01)
                s->uneven = 1;
    double cosang = span / ((double)(n_slices - 1) * sqrt(dot3(step, step)));
    info->tilt_deg = acos(fmin(1.0, cosang)) * 180.0 / M_PI;

    int dim[3] = {infos[sl[0].file].cols, infos[sl[0].file].rows, (int)n_slices};
    iso_voxel_type type = fits_int16(infos, n, used) ? ISO_VOX_I16 : ISO_VOX_F32;
    memcpy(s->vol.origin, s->position[0], sizeof s->vol.origin);
    for (int a = 0; a < 3; a++) {
        s->vol.axis[0][a] = s->row[a] * s->spacing[0];
        s->vol.axis[1][a] = s->col[a] * s->spacing[1];
        s->vol.axis[2][a] = step[a];
    }
    bool one_per_file = true;
    for (size_t i = 0; i < n; i++)
        if (used[i] && infos[i].frames != 1)
            one_per_file = false;
    if (opts->defer_pixels && one_per_file) {
        memcpy(s->vol.dim, dim, sizeof s->vol.dim);
        s->vol.type = type;
        rc = defer_pixels(s, paths, infos, sl, n_slices, err);
        goto out;
    }
    double origin[3], axis[3][3];
    memcpy(origin, s->vol.origin, sizeof origin);
    memcpy(axis, s->vol.axis, sizeof axis);
    if ((rc = iso_volume_alloc(&s->vol, dim, type, err)) != ISO_OK)
        goto out;
    memcpy(s->vol.origin, origin, sizeof origin);
    memcpy(s->vol.axis, axis, sizeof axis);
    decode_job dj = {paths, infos, used, first_slot, first_frame, take, &s->vol, errs};
    iso_parallel_for(n, threads, decode_file, &dj);
    for (size_t i = 0; i < n; i++)
        if (used[i] && errs[i].code != ISO_OK) {
            rc = iso_fail(err, errs[i].code == ISO_EREFUSED ? ISO_EREFUSED : ISO_EDICOM, "%s",
                          errs[i].msg);
            goto out;
        }
    rc = permute_slices(&s->vol, order, err);
out:
    if (rc != ISO_OK) {
        iso_stack_free(s);
        iso_series_info_free(info);
    }
    for (size_t i = 0; infos != NULL && i < n; i++)
        iso_dcm_image_info_free(&infos[i]);
    free(infos);
    free(ok);
    free(used);
    free(first_slot);
    free(first_frame);
    free(take);
    free(sl);
    free(order);
    free(errs);
    return rc;
}
