/* volumes.c — telling apart the volumes of one series and setting aside
 * its localizers (see series.h for the rules).
 *
 * Every frame of every usable file is a candidate.  Localizers go first
 * (Image Type LOCALIZER), then frames whose orientation or size is not the
 * series' own (scouts), when they are few: at most a quarter.  Frames at
 * the same position along the normal are then told apart field by field,
 * in a fixed order, taking a field only when it separates frames the
 * fields taken so far could not; the frames sharing the values of the
 * fields taken form one volume.
 */
#include "recon/volumes.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    size_t off;
} fields[] = {
    {"temporal position", offsetof(iso_dcm_frame_keys, temporal)},
    {"image type", offsetof(iso_dcm_frame_keys, image_type)},
    {"echo", offsetof(iso_dcm_frame_keys, echo)},
    {"diffusion", offsetof(iso_dcm_frame_keys, diffusion)},
    {"stack", offsetof(iso_dcm_frame_keys, stack)},
    {"trigger time", offsetof(iso_dcm_frame_keys, trigger)},
    {"contrast phase", offsetof(iso_dcm_frame_keys, phase)},
    {"acquisition", offsetof(iso_dcm_frame_keys, acquisition)},
    {"dimension index", offsetof(iso_dcm_frame_keys, dimension)},
};
enum { N_FIELDS = sizeof fields / sizeof fields[0] };

typedef struct cand {
    int file, frame;
    size_t g;        /* index among all frames */
    double depth;    /* along the series' normal */
    int volume;      /* index into the volume list, once known */
} cand;

typedef struct picker {
    const iso_dcm_image_info *infos;
    bool taken[N_FIELDS];
} picker;

static const char *value(const picker *pk, const cand *c, int f)
{
    return (const char *)&pk->infos[c->file].planes[c->frame].keys + fields[f].off;
}

/* Is one of the '\\'-separated values M or MAGNITUDE? */
static bool magnitude(const char *v)
{
    while (*v) {
        size_t len = strcspn(v, "\\");
        if ((len == 1 && v[0] == 'M') || (len == 9 && strncmp(v, "MAGNITUDE", 9) == 0))
            return true;
        v += len;
        if (*v == '\\')
            v++;
    }
    return false;
}

/* Orders values: numbers as numbers, magnitude first among image types,
 * else as text. */
static int cmp_values(int f, const char *a, const char *b)
{
    char *ea, *eb;
    double x = strtod(a, &ea), y = strtod(b, &eb);
    if (a[0] && b[0] && *ea == '\0' && *eb == '\0' && x != y)
        return x < y ? -1 : 1;
    if (strcmp(fields[f].name, "image type") == 0) {
        bool ma = magnitude(a), mb = magnitude(b);
        if (ma != mb)
            return ma ? -1 : 1;
    }
    return strcmp(a, b);
}

/* Compares two frames by the fields taken (their volume), in order. */
static int cmp_volume(const picker *pk, const cand *a, const cand *b)
{
    for (int f = 0; f < N_FIELDS; f++) {
        if (!pk->taken[f])
            continue;
        int c = cmp_values(f, value(pk, a, f), value(pk, b, f));
        if (c != 0)
            return c;
    }
    return 0;
}

/* qsort has no context argument: the picker of the sort in progress is
 * passed through a thread-local (one sort at a time per thread). */
static _Thread_local const picker *sorting;

static int cmp_volume_depth(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    int c = cmp_volume(sorting, a, b);
    if (c != 0)
        return c;
    return a->depth < b->depth ? -1 : a->depth > b->depth;
}

static void sort_cands(const picker *pk, cand *cs, size_t n)
{
    sorting = pk;
    qsort(cs, n, sizeof *cs, cmp_volume_depth);
    sorting = NULL;
}

#define SAME_POSITION_MM 0.01

/* The first pair of frames in one volume (by the fields taken) at one
 * position: its index, or n when none (cs sorted by volume, then depth). */
static size_t first_duplicate(const picker *pk, const cand *cs, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (fabs(cs[i + 1].depth - cs[i].depth) < SAME_POSITION_MM &&
            cmp_volume(pk, &cs[i], &cs[i + 1]) == 0)
            return i;
    return n;
}

/* Does field f tell apart frames that share a volume and a position? */
static bool separates(const picker *pk, const cand *cs, size_t n, int f)
{
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && fabs(cs[j].depth - cs[i].depth) < SAME_POSITION_MM &&
               cmp_volume(pk, &cs[i], &cs[j]) == 0)
            j++;
        for (size_t k = i + 1; k < j; k++)
            if (strcmp(value(pk, &cs[i], f), value(pk, &cs[k], f)) != 0)
                return true;
        i = j;
    }
    return false;
}

static bool has_localizer_type(const char *image_type)
{
    return strstr(image_type, "LOCALIZER") != NULL;
}

/* The frame's shape: orientation (to 1e-3) and size. */
static bool same_shape(const iso_dcm_image_info *a, int fa, const iso_dcm_image_info *b, int fb)
{
    if (a->rows != b->rows || a->cols != b->cols)
        return false;
    for (int k = 0; k < 6; k++)
        if (fabs(a->planes[fa].orientation[k] - b->planes[fb].orientation[k]) > 1e-3)
            return false;
    return true;
}

/* Sets aside localizers and, when they are few, frames of another shape;
 * keeps[] marks the rest.  Returns the number of files set aside. */
static size_t set_aside(const iso_dcm_image_info *infos, const int *ok, size_t n,
                        const size_t *first_frame, char *keep, size_t n_frames,
                        size_t *localizers, size_t *scouts)
{
    *localizers = *scouts = 0;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ok[i])
            continue;
        bool loc = has_localizer_type(infos[i].image_type);
        *localizers += loc;
        for (int k = 0; k < infos[i].frames; k++) {
            keep[first_frame[i] + (size_t)k] = !loc;
            kept += !loc;
        }
    }
    /* the shape most frames have (a frame of each shape is compared with
     * the others: quadratic in shapes, which are few) */
    size_t best = 0, best_i = 0, tried = 0;
    int best_k = 0;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; ok[i] && k < infos[i].frames; k++) {
            if (!keep[first_frame[i] + (size_t)k])
                continue;
            if (++tried > 64)
                goto found; /* shapes are few; a majority shows among the first */
            size_t count = 0;
            for (size_t j = 0; j < n; j++)
                for (int l = 0; ok[j] && l < infos[j].frames; l++)
                    count += keep[first_frame[j] + (size_t)l] &&
                             same_shape(&infos[i], k, &infos[j], l);
            if (count > best) {
                best = count;
                best_i = i;
                best_k = k;
            }
            if (best * 2 > kept)
                goto found; /* a majority: no other shape can beat it */
        }
    }
found:
    if (best == 0 || (kept - best) * 4 > kept)
        return *localizers; /* no clear majority: the checks will say what is mixed */
    for (size_t j = 0; j < n; j++) {
        bool aside = false;
        for (int l = 0; ok[j] && l < infos[j].frames; l++) {
            char *kp = &keep[first_frame[j] + (size_t)l];
            if (*kp && !same_shape(&infos[best_i], best_k, &infos[j], l)) {
                *kp = 0;
                aside = true;
            }
        }
        *scouts += aside;
    }
    (void)n_frames;
    return *localizers + *scouts;
}

static double dot3(const double a[3], const double b[3])
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/* "M, FIELD_MAP" or "1, 2, ... 13": the values of the fields taken, per
 * volume (firsts: one frame of each volume, in order). */
static void describe_values(const picker *pk, const cand *const *firsts, int nv, char *out,
                            size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (int v = 0; v < nv; v++) {
        if (nv > 4 && v == 2) {
            used += (size_t)snprintf(out + used, size - used, ", ...");
            v = nv - 1;
        }
        char one[96] = "";
        size_t u = 0;
        for (int f = 0; f < N_FIELDS && u + 1 < sizeof one; f++)
            if (pk->taken[f])
                u += (size_t)snprintf(one + u, sizeof one - u, "%s%s", u ? "/" : "",
                                      value(pk, firsts[v], f)[0] ? value(pk, firsts[v], f) : "-");
        if (used + 1 < size)
            used += (size_t)snprintf(out + used, size - used, "%s%s", v ? ", " : "", one);
        if (used >= size)
            used = size - 1;
    }
}

static void field_names(const picker *pk, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (int f = 0; f < N_FIELDS; f++)
        if (pk->taken[f] && used + 1 < size)
            used += (size_t)snprintf(out + used, size - used, "%s%s", used ? " and " : "",
                                     fields[f].name);
}

iso_code iso_series_pick_volume(const iso_dcm_image_info *infos, const int *ok, size_t n,
                                const size_t *first_frame, size_t n_frames,
                                const iso_series_opts *opts, char *take, iso_series_info *info,
                                iso_err *err)
{
    size_t localizers = 0, scouts = 0;
    set_aside(infos, ok, n, first_frame, take, n_frames, &localizers, &scouts);
    size_t nc = 0;
    const iso_dcm_image_info *ref = NULL;
    int ref_k = 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; ok[i] && k < infos[i].frames; k++)
            if (take[first_frame[i] + (size_t)k]) {
                if (ref == NULL) {
                    ref = &infos[i];
                    ref_k = k;
                }
                nc++;
            }
    if (localizers + scouts > 0) {
        info->n_aside = (int)(localizers + scouts);
        snprintf(info->aside_note, sizeof info->aside_note, "set aside %zu localizer%s%s%zu %s",
                 localizers, localizers == 1 ? "" : "s", " and ", scouts,
                 scouts == 1 ? "image of another orientation or size"
                             : "images of another orientation or size");
    }
    if (nc == 0)
        return iso_fail(err, ISO_EREFUSED, "%s", localizers > 0 ? "only localizers, no volume"
                                                                : "no images with pixel data");
    for (size_t i = 0; i < n; i++)
        if (ok[i] && infos[i].mosaic && take[first_frame[i]])
            return iso_fail(err, ISO_EREFUSED,
                            "a Siemens mosaic (%d images tiled in each frame): not supported, "
                            "because where each tile lies is only in Siemens' private CSA "
                            "header, whose layout is not published, and a wrong guess gives a "
                            "plausible but misplaced volume",
                            infos[i].mosaic);
    /* shapes left mixed (no clear majority to set the rest aside): the
     * series is refused for what it is, before positions are compared */
    for (size_t i = 0; i < n; i++)
        for (int k = 0; ok[i] && k < infos[i].frames; k++) {
            if (!take[first_frame[i] + (size_t)k] || same_shape(ref, ref_k, &infos[i], k))
                continue;
            if (infos[i].rows != ref->rows || infos[i].cols != ref->cols)
                return iso_fail(err, ISO_EREFUSED, "mixed image sizes (%dx%d and %dx%d)",
                                ref->cols, ref->rows, infos[i].cols, infos[i].rows);
            return iso_fail(err, ISO_EREFUSED, "mixed orientations (%s)",
                            "no orientation shared by three quarters of the images");
        }
    /* the normal of the series' own shape orders positions */
    double row[3], col[3], normal[3];
    memcpy(row, ref->planes[ref_k].orientation, sizeof row);
    memcpy(col, ref->planes[ref_k].orientation + 3, sizeof col);
    normal[0] = row[1] * col[2] - row[2] * col[1];
    normal[1] = row[2] * col[0] - row[0] * col[2];
    normal[2] = row[0] * col[1] - row[1] * col[0];
    cand *cs = calloc(nc, sizeof *cs);
    const cand **firsts = NULL;
    if (cs == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory for %zu frames", nc);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; ok[i] && k < infos[i].frames; k++)
            if (take[first_frame[i] + (size_t)k])
                cs[m++] = (cand){(int)i, k, first_frame[i] + (size_t)k,
                                 dot3(normal, infos[i].planes[k].position), 0};
    picker pk = {infos, {false}};
    sort_cands(&pk, cs, nc);
    for (int f = 0; f < N_FIELDS && first_duplicate(&pk, cs, nc) < nc; f++)
        if (separates(&pk, cs, nc, f)) {
            pk.taken[f] = true;
            sort_cands(&pk, cs, nc);
        }
    iso_code rc = ISO_OK;
    size_t dup = first_duplicate(&pk, cs, nc);
    if (dup < nc) {
        rc = iso_fail(err, ISO_EREFUSED,
                      "two images at %.2f mm along the normal that no attribute tells apart "
                      "(temporal position, image type, echo, diffusion, stack, trigger time, "
                      "contrast phase, acquisition, dimension index)",
                      cs[dup].depth);
        goto out;
    }
    /* volumes: runs of equal field values */
    int nv = 0;
    for (size_t i = 0; i < nc; i++) {
        if (i > 0 && cmp_volume(&pk, &cs[i - 1], &cs[i]) != 0)
            nv++;
        cs[i].volume = nv;
    }
    nv++;
    firsts = calloc((size_t)nv, sizeof *firsts);
    size_t *sizes = calloc((size_t)nv, sizeof *sizes);
    if (firsts == NULL || sizes == NULL) {
        free(sizes);
        rc = iso_fail(err, ISO_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nc; i++) {
        if (sizes[cs[i].volume]++ == 0)
            firsts[cs[i].volume] = &cs[i];
    }
    int chosen = 0;
    if (opts->volume > 0) {
        if (opts->volume > nv) {
            free(sizes);
            rc = iso_fail(err, ISO_EREFUSED, "volume %d asked for, the series has %d",
                          opts->volume, nv);
            goto out;
        }
        chosen = opts->volume - 1;
    } else if (opts->volumes == ISO_VOLUMES_LARGEST) {
        for (int v = 1; v < nv; v++)
            if (sizes[v] > sizes[chosen])
                chosen = v;
    }
    memset(take, 0, n_frames);
    for (size_t i = 0; i < nc; i++)
        take[cs[i].g] = cs[i].volume == chosen;
    info->n_volumes = nv;
    info->volume = chosen + 1;
    if (nv > 1) {
        bool same = true;
        for (int v = 1; v < nv; v++)
            same = same && sizes[v] == sizes[0];
        char names[160], vals[160], counts[64] = "", one[96];
        field_names(&pk, names, sizeof names);
        describe_values(&pk, firsts, nv, vals, sizeof vals);
        describe_values(&pk, &firsts[chosen], 1, one, sizeof one);
        if (same)
            snprintf(counts, sizeof counts, " of %zu slices", sizes[0]);
        else {
            size_t lo = sizes[0], hi = sizes[0];
            for (int v = 1; v < nv; v++) {
                lo = sizes[v] < lo ? sizes[v] : lo;
                hi = sizes[v] > hi ? sizes[v] : hi;
            }
            snprintf(counts, sizeof counts, " (%zu to %zu slices)", lo, hi);
        }
        int w = snprintf(info->volumes_note, sizeof info->volumes_note,
                         "%s%d volumes%s by %s (%s); reconstructed volume %d (%s %s)",
                         pk.taken[0] ? "4D series: " : "", nv, counts, names, vals, chosen + 1,
                         names, one);
        if (w >= (int)sizeof info->volumes_note) /* a note: cut, and said so */
            memcpy(info->volumes_note + sizeof info->volumes_note - 4, "...", 4);
    }
    free(sizes);
out:
    free(firsts);
    free(cs);
    return rc;
}
