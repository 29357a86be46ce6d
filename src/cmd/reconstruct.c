/* reconstruct.c — `isonode reconstruct SERIES_DIR --out DIR [options]`:
 * runs the reconstruction pipeline on a directory of one series and writes
 * what it made: binary STL per surface, PNG pictures, and report.json
 * (geometry found, refusal, per-stage seconds, voxels, triangles, peak
 * memory).  Progress goes to stderr, one line per stage.
 *
 * Exit status: 0 done, 3 the series was refused (the reason is printed and
 * in report.json), 1 other failure, 2 usage.
 */
#include "cmd/reconstruct.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config/config.h"
#include "anon/vault.h"
#include "derive/derive.h"
#include "store/index.h"
#include "store/layout.h"
#include "recon/recon.h"
#include "recon/stl.h"
#include "util/fsx.h"
#include "util/json.h"

/* The option that sets a [reconstruct] key: --KEY with '-' for '_'. */
static void option_name(const char *key, char *out, size_t size)
{
    snprintf(out, size, "--%s", key);
    for (char *c = out + 2; *c != '\0'; c++)
        if (*c == '_')
            *c = '-';
}

/* The [reconstruct] key an option names (by its key name or its alias). */
static const iso_recon_key *option_key(const char *opt)
{
    char name[64];
    for (size_t i = 0; i < iso_recon_nkeys; i++) {
        option_name(iso_recon_keys[i].key, name, sizeof name);
        if (strcmp(opt, name) == 0)
            return &iso_recon_keys[i];
        if (iso_recon_keys[i].alias != NULL && strncmp(opt, "--", 2) == 0 &&
            strcmp(opt + 2, iso_recon_keys[i].alias) == 0)
            return &iso_recon_keys[i];
    }
    return NULL;
}

/* Usage, with the pipeline's options written from the key table and their
 * effective defaults (the built-in ones, or -c FILE's). */
static void usage(const iso_config *cfg)
{
    fprintf(stderr,
            "usage: isonode reconstruct SERIES_DIR --out DIR [options]\n"
            "       isonode [-c FILE] reconstruct --series UID --out DIR [options]   (from the store)\n"
            "Each [reconstruct] key of the configuration is an option; the defaults shown are\n"
            "the effective ones (built in, or from -c FILE):\n");
    char name[64];
    for (size_t i = 0; i < iso_recon_nkeys; i++) {
        const iso_config_key *k = iso_config_key_find("reconstruct", iso_recon_keys[i].key);
        if (k == NULL)
            continue;
        option_name(k->key, name, sizeof name);
        fprintf(stderr, "  %s VALUE", name);
        if (iso_recon_keys[i].alias != NULL)
            fprintf(stderr, "  (or --%s)", iso_recon_keys[i].alias);
        fprintf(stderr, "\n      %s Default: ", k->doc);
        iso_config_dump_value(cfg, "reconstruct", k->key, stderr);
        fputc('\n', stderr);
    }
    fprintf(stderr,
            "and:\n"
            "  --iso VALUE[:LABEL]   one surface per option (default: the [surface] sections;\n"
            "                        built in: CT bone %g HU and skin %g HU, other modalities\n"
            "                        Otsu's threshold)\n"
            "  --keep FRACTION       decimate to this fraction of the extracted triangles\n"
            "  --normalize           map the 0.5 and 99.5 percentiles to 0 and 1000 first (MR)\n"
            "  --no-render           meshes and report only (--render no)\n"
            "  --dicom               also write the derived DICOM objects to DIR/dicom\n"
            "  --identity original   with --series --dicom: the objects carry the sender's original\n"
            "                        identity, restored from the vault (default: anonymized)\n"
            "  --quiet               no progress lines\n",
            ISO_RECON_CT_BONE_HU, ISO_RECON_CT_SKIN_HU);
}

typedef struct progress_state {
    struct timespec start;
} progress_state;

static void show_progress(void *ctx, const char *stage, double done)
{
    progress_state *ps = ctx;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    double el = (t.tv_sec - ps->start.tv_sec) + (t.tv_nsec - ps->start.tv_nsec) / 1e9;
    fprintf(stderr, "isonode reconstruct: %6.2fs %3.0f%% %s\n", el, done * 100, stage);
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static void json_vec(FILE *f, const double *v, int n)
{
    fputc('[', f);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%.6g", i ? ", " : "", v[i]);
    fputc(']', f);
}

static void json_ivec(FILE *f, const int *v, int n)
{
    fputc('[', f);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%d", i ? ", " : "", v[i]);
    fputc(']', f);
}

static iso_code write_report(const char *path, const char *series_dir, const iso_recon_params *p,
                             const iso_recon_result *r, const char *refusal,
                             const iso_path *files, int n_files, iso_err *err)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return iso_fail(err, ISO_EIO, "cannot create %s", path);
    fprintf(f, "{\n  \"series_dir\": ");
    iso_json_string(f, series_dir);
    fprintf(f, ",\n  \"refused\": ");
    if (refusal != NULL)
        iso_json_string(f, refusal);
    else
        fprintf(f, "null");
    fprintf(f, ",\n  \"parameters\": {\"spacing_mm\": %g, \"sigma_mm\": %g, \"smooth_iterations\": %d, "
               "\"max_triangles\": %zu, \"keep_fraction\": %g, \"max_gap_mm\": %g, "
               "\"min_island_mm3\": %g, \"threads\": %d, \"normalize\": %s}",
            p->spacing_mm, p->sigma_mm, p->smooth_iterations, p->max_triangles, p->keep_fraction,
            p->max_gap_mm, p->min_island_mm3, p->threads, p->normalize ? "true" : "false");
    if (refusal == NULL) {
        const iso_series_info *s = &r->series;
        fprintf(f, ",\n  \"series\": {\"StudyInstanceUID\": ");
        iso_json_string(f, s->study_uid);
        fprintf(f, ", \"SeriesInstanceUID\": ");
        iso_json_string(f, s->series_uid);
        fprintf(f, ", \"FrameOfReferenceUID\": ");
        iso_json_string(f, s->frame_of_reference_uid);
        fprintf(f, ", \"Modality\": ");
        iso_json_string(f, s->modality);
        fprintf(f, ", \"SOPClassUID\": ");
        iso_json_string(f, s->sop_class_uid);
        fprintf(f, ", \"files\": %zu, \"skipped\": %zu, \"slices\": %d, \"multiframe\": %s, "
                   "\"volumes\": %d, \"volume\": %d, \"volumes_note\": ",
                s->n_files, s->n_skipped, s->n_slices, s->multiframe ? "true" : "false",
                s->n_volumes, s->volume);
        iso_json_string(f, s->volumes_note);
        fprintf(f, ", \"set_aside\": %d, \"set_aside_note\": ", s->n_aside);
        iso_json_string(f, s->aside_note);
        fprintf(f, "}");
        fprintf(f, ",\n  \"geometry\": {\"acquired_dim\": ");
        json_ivec(f, r->acquired_dim, 3);
        fprintf(f, ", \"acquired_spacing_mm\": ");
        json_vec(f, r->acquired_spacing, 3);
        fprintf(f, ", \"slice_step_min_mm\": %.6g, \"slice_step_max_mm\": %.6g, \"uneven\": %s, "
                   "\"tilt_deg\": %.4g, \"grid_dim\": ",
                s->slice_step_min, s->slice_step_max, r->uneven ? "true" : "false", s->tilt_deg);
        json_ivec(f, r->grid_dim, 3);
        fprintf(f, ", \"grid_spacing_mm\": %g, \"grid_origin_mm\": ", r->grid_spacing_mm);
        json_vec(f, r->grid_origin, 3);
        fprintf(f, ", \"first_slice_position_mm\": ");
        json_vec(f, r->first_position, 3);
        fprintf(f, ", \"last_slice_position_mm\": ");
        json_vec(f, r->last_position, 3);
        fprintf(f, ", \"normal\": ");
        json_vec(f, r->normal, 3);
        fprintf(f, "}");
        if (r->normalized)
            fprintf(f, ",\n  \"normalized\": {\"from\": [%.6g, %.6g], \"to\": [0, 1000]}",
                    r->normalized_from[0], r->normalized_from[1]);
        double vox_in = (double)r->acquired_dim[0] * r->acquired_dim[1] * r->acquired_dim[2];
        double vox_grid = (double)r->grid_dim[0] * r->grid_dim[1] * r->grid_dim[2];
        fprintf(f, ",\n  \"voxels_acquired\": %.0f, \"voxels_grid\": %.0f, \"pixels_streamed\": %s",
                vox_in, vox_grid, r->streamed ? "true" : "false");
        fprintf(f, ",\n  \"surfaces\": [");
        for (int i = 0; i < r->n_surf; i++) {
            const iso_surface_result *sr = &r->surf[i];
            const iso_mesh_stats *ms = &sr->stats;
            fprintf(f, "%s\n    {\"label\": ", i ? "," : "");
            iso_json_string(f, sr->spec.label);
            fprintf(f, ", \"iso\": %g, \"stl\": \"surface-%s.stl\", \"triangles_extracted\": %zu, "
                       "\"islands_removed\": %zu, \"triangles\": %zu, \"vertices\": %zu, "
                       "\"area_mm2\": %.2f, \"volume_mm3\": %.2f, \"centroid_mm\": ",
                    sr->spec.iso, sr->spec.label, sr->extracted_triangles, sr->islands_removed,
                    ms->triangles, ms->vertices, ms->area_mm2, ms->volume_mm3);
            json_vec(f, ms->centroid, 3);
            fprintf(f, ", \"components\": %zu, \"euler\": %ld, \"closed\": %s, \"manifold\": %s, "
                       "\"oriented\": %s}",
                    ms->components, ms->euler, ms->boundary_edges == 0 ? "true" : "false",
                    ms->nonmanifold_edges == 0 ? "true" : "false",
                    ms->misoriented_edges == 0 ? "true" : "false");
        }
        fprintf(f, "\n  ],\n  \"pictures\": [");
        for (int i = 0; i < n_files; i++) {
            fprintf(f, "%s", i ? ", " : "");
            iso_json_string(f, files[i].s);
        }
        fprintf(f, "],\n  \"stages\": [");
        for (int i = 0; i < r->n_stages; i++) {
            fprintf(f, "%s{\"name\": ", i ? ", " : "");
            iso_json_string(f, r->stage[i].name);
            fprintf(f, ", \"seconds\": %.4f}", r->stage[i].seconds);
        }
        fprintf(f, "],\n  \"total_seconds\": %.4f, \"peak_rss_mb\": %.1f", r->total_seconds,
                r->peak_rss_kb / 1024.0);
    }
    fprintf(f, "\n}\n");
    if (fclose(f) != 0)
        return iso_fail(err, ISO_EIO, "cannot write %s", path);
    return ISO_OK;
}

/* The derived DICOM objects in OUT/dicom; with restore_from (a data_dir),
 * the sender's identity comes back from its vault. */
static iso_code write_dicom(const iso_recon_result *r, char **paths, size_t n, const char *out,
                            const char *restore_from, int quiet, iso_err *err)
{
    iso_vault *v = NULL;
    uint8_t key[ISO_KEY_LEN]; /* restoring: the node's key also keys the derived UIDs */
    iso_path dir;
    if (iso_path_fmt(&dir, err, "%s/dicom", out) != ISO_OK)
        return err->code;
    if (restore_from != NULL) {
        iso_path path;
        if (iso_layout_path(restore_from, ISO_DATA_KEY, &path, err) != ISO_OK ||
            iso_key_load(path.s, 0, key, err) != ISO_OK ||
            iso_vault_open(restore_from, key, &v, err) != ISO_OK)
            return err->code;
    }
    iso_path *written = calloc(64, sizeof *written);
    int nw = 0;
    iso_derive_run run = {restore_from ? key : NULL, NULL, 0};
    iso_code rc = written == NULL ? iso_fail(err, ISO_ENOMEM, "out of memory")
                                  : iso_derive_series(r, (const char *const *)paths, n, v, &run,
                                                      dir.s, written, 64, &nw, err);
    iso_vault_close(v);
    if (rc == ISO_OK && !quiet)
        fprintf(stderr, "isonode reconstruct: %d DICOM objects in %s\n", nw, dir.s);
    free(written);
    return rc;
}

/* The stored files of one series. */
static iso_code series_from_store(const iso_config *cfg, const char *uid, char ***paths, size_t *n,
                                  iso_err *err)
{
    iso_path db;
    iso_index *idx = NULL;
    if (iso_layout_path(cfg->data_dir, ISO_DATA_INDEX, &db, err) != ISO_OK ||
        iso_index_open(db.s, true, &idx, err) != ISO_OK)
        return err->code;
    iso_code rc = iso_index_series_paths(idx, cfg->data_dir, uid, paths, n, err);
    iso_index_close(idx);
    return rc;
}

/* One --iso VALUE[:LABEL]: a surface of its own, replacing configured ones. */
static int add_iso_surface(iso_recon_params *p, const char *v)
{
    if (p->n_surfaces == ISO_RECON_MAX_SURFACES) {
        fprintf(stderr, "isonode reconstruct: at most %d surfaces\n", ISO_RECON_MAX_SURFACES);
        return -1;
    }
    char num[64];
    const char *colon = strchr(v, ':');
    snprintf(num, sizeof num, "%.*s", colon ? (int)(colon - v) : (int)strlen(v), v);
    iso_surface_spec *s = &p->surfaces[p->n_surfaces];
    memset(s, 0, sizeof *s);
    iso_surface_codes(s, "85756007", "Tissue");
    if (parse_double(num, &s->iso) != 0) {
        fprintf(stderr, "isonode reconstruct: --iso %s: not a number\n", v);
        return -1;
    }
    if (colon != NULL && colon[1] != '\0')
        snprintf(s->label, sizeof s->label, "%s", colon + 1);
    else
        snprintf(s->label, sizeof s->label, "iso%g", s->iso);
    for (char *c = s->label; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '.'))
            *c = '_';
    static const float palette[3][3] = {
        {0.93f, 0.89f, 0.78f}, {0.87f, 0.68f, 0.58f}, {0.70f, 0.78f, 0.90f}};
    memcpy(s->color, palette[p->n_surfaces % 3], sizeof s->color);
    p->n_surfaces++;
    return 0;
}

/* What the command line asked for; [reconstruct] keys go into opts, a
 * copy of the configuration checked as the file's values are. */
typedef struct cli_options {
    iso_config opts;
    const char *dir, *out, *series_uid;
    const char *isos[ISO_RECON_MAX_SURFACES + 1];
    int n_isos, quiet, dicom, original, normalize;
    double keep;
    int n_volumes; /* of the series, once reconstructed */
} cli_options;

/* One option that takes a value; returns 0, or the exit status (2). */
static int option_with_value(const iso_config *cfg, cli_options *o, const char *a, const char *v)
{
    iso_err e = {0};
    const iso_recon_key *rk = option_key(a);
    if (rk != NULL) {
        if (iso_config_set(&o->opts, "reconstruct", rk->key, v, &e) == ISO_OK)
            return 0;
        fprintf(stderr, "isonode reconstruct: %s: %s\n", a, e.msg);
    } else if (strcmp(a, "--out") == 0) {
        o->out = v;
        return 0;
    } else if (strcmp(a, "--series") == 0) {
        o->series_uid = v;
        return 0;
    } else if (strcmp(a, "--identity") == 0) {
        o->original = strcmp(v, "original") == 0;
        if (o->original || strcmp(v, "anonymized") == 0)
            return 0;
        fprintf(stderr, "isonode reconstruct: --identity original|anonymized\n");
    } else if (strcmp(a, "--iso") == 0) {
        if (o->n_isos < ISO_RECON_MAX_SURFACES) {
            o->isos[o->n_isos++] = v;
            return 0;
        }
        fprintf(stderr, "isonode reconstruct: at most %d surfaces\n", ISO_RECON_MAX_SURFACES);
    } else if (strcmp(a, "--keep") == 0) {
        if (parse_double(v, &o->keep) == 0 && o->keep > 0 && o->keep <= 1)
            return 0;
        fprintf(stderr, "isonode reconstruct: --keep %s: not a fraction in (0, 1]\n", v);
    } else {
        fprintf(stderr, "isonode reconstruct: unknown option %s\n", a);
        usage(cfg);
    }
    return 2;
}

/* Fills o from argv; returns 0, or the exit status (2: usage). */
static int parse_options(const iso_config *cfg, int argc, char **argv, cli_options *o)
{
    memset(o, 0, sizeof *o);
    o->opts = *cfg;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        iso_err e = {0};
        if (a[0] != '-') {
            if (o->dir != NULL) {
                usage(cfg);
                return 2;
            }
            o->dir = a;
        } else if (strcmp(a, "--no-render") == 0) {
            (void)iso_config_set(&o->opts, "reconstruct", "render", "no", &e);
        } else if (strcmp(a, "--dicom") == 0) {
            o->dicom = 1;
        } else if (strcmp(a, "--normalize") == 0) {
            o->normalize = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = 1;
        } else if (i + 1 == argc) {
            fprintf(stderr, "isonode reconstruct: %s needs a value\n", a);
            return 2;
        } else if (option_with_value(cfg, o, a, argv[++i]) != 0) {
            return 2;
        }
    }
    if ((o->dir == NULL) == (o->series_uid == NULL) ||
        (o->original && (o->series_uid == NULL || !o->dicom)) || o->out == NULL) {
        usage(cfg);
        return 2;
    }
    return 0;
}

/* The STL of each surface, its pictures and the MIPs as files in out; the
 * pictures' names go to files (at least n_mip + n_surf * (views + frames)). */
static iso_code write_pictures(const iso_recon_result *r, const char *out, iso_path *files,
                               int *nf, iso_err *err)
{
    iso_path path;
    for (int s = 0; s < r->n_surf; s++) {
        const iso_surface_result *sr = &r->surf[s];
        char header[80];
        snprintf(header, sizeof header, "isonode %s iso %g mm LPS", sr->spec.label, sr->spec.iso);
        if (iso_path_fmt(&path, err, "%s/surface-%s.stl", out, sr->spec.label) != ISO_OK ||
            iso_stl_write(path.s, &sr->mesh, header, err) != ISO_OK)
            return err->code;
        for (int k = 0; k < sr->n_views; k++)
            if (iso_path_fmt(&files[*nf], err, "%s-%s.png", sr->spec.label,
                             sr->views[k].name) != ISO_OK ||
                iso_path_fmt(&path, err, "%s/%s", out, files[(*nf)++].s) != ISO_OK ||
                iso_png_write(path.s, &sr->view_images[k], err) != ISO_OK)
                return err->code;
        for (int k = 0; k < sr->n_rotation; k++)
            if (iso_path_fmt(&files[*nf], err, "%s-rotation-%02d.png", sr->spec.label, k) !=
                    ISO_OK ||
                iso_path_fmt(&path, err, "%s/%s", out, files[(*nf)++].s) != ISO_OK ||
                iso_png_write(path.s, &sr->rotation[k], err) != ISO_OK)
                return err->code;
    }
    for (int k = 0; k < r->n_mip; k++)
        if (iso_path_fmt(&files[*nf], err, "mip-%s.png", r->mip_views[k].name) != ISO_OK ||
            iso_path_fmt(&path, err, "%s/%s", out, files[(*nf)++].s) != ISO_OK ||
            iso_png_write(path.s, &r->mip[k], err) != ISO_OK)
            return err->code;
    return ISO_OK;
}

/* The files, the report and the closing lines of a reconstruction that
 * succeeded; returns the exit status. */
static int write_outputs(const cli_options *o, const iso_recon_params *p,
                         const iso_recon_result *r, const char *report, const char *dir)
{
    iso_err err = {0};
    int max_files = r->n_mip + r->n_surf * (3 + p->rotation_frames);
    iso_path *files = calloc((size_t)(max_files > 0 ? max_files : 1), sizeof *files);
    int nf = 0;
    iso_code rc = files == NULL ? iso_fail(&err, ISO_ENOMEM, "out of memory")
                                : write_pictures(r, o->out, files, &nf, &err);
    if (rc == ISO_OK)
        rc = write_report(report, dir, p, r, NULL, files, nf, &err);
    free(files);
    if (rc != ISO_OK) {
        fprintf(stderr, "isonode reconstruct: %s\n", err.msg);
        return 1;
    }
    for (int s = 0; s < r->n_surf && !o->quiet; s++) {
        const iso_mesh_stats *st = &r->surf[s].stats;
        fprintf(stderr, "isonode reconstruct: %s: %zu triangles, %.1f cm3, %s\n",
                r->surf[s].spec.label, st->triangles, st->volume_mm3 / 1000,
                st->boundary_edges == 0 && st->nonmanifold_edges == 0 ? "closed manifold"
                                                                      : "NOT closed");
    }
    return 0;
}

/* One reconstruction into o->out; returns the exit status and, in
 * o->n_volumes, how many volumes the series holds. */
static int run_one(const iso_config *cfg, cli_options *o, const iso_recon_params *p,
                   char **paths, size_t n, const char *report, const char *dir)
{
    iso_err err = {0};
    iso_recon_result r;
    int status = 0;
    iso_code rc = iso_reconstruct(paths, n, p, &r, &err);
    if (rc == ISO_EREFUSED) {
        fprintf(stderr, "isonode reconstruct: refused: %s\n", err.msg);
        iso_err e2 = {0};
        if (write_report(report, dir, p, &r, err.msg, NULL, 0, &e2) != ISO_OK)
            fprintf(stderr, "isonode reconstruct: %s\n", e2.msg);
        status = 3;
    } else if (rc != ISO_OK) {
        fprintf(stderr, "isonode reconstruct: %s\n", err.msg);
        status = 1;
    } else if (o->dicom && write_dicom(&r, paths, n, o->out, o->original ? cfg->data_dir : NULL,
                                       o->quiet, &err) != ISO_OK) {
        fprintf(stderr, "isonode reconstruct: %s\n", err.msg);
        status = 1;
    } else {
        status = write_outputs(o, p, &r, report, dir);
    }
    o->n_volumes = rc == ISO_OK ? r.series.n_volumes : 1;
    if (rc == ISO_OK)
        iso_recon_result_free(&r);
    return status;
}

int iso_cli_reconstruct(const iso_config *cfg, int argc, char **argv)
{
    cli_options o;
    int status = parse_options(cfg, argc, argv, &o);
    if (status != 0)
        return status;
    iso_recon_params p;
    iso_recon_params_from_config(&o.opts, &p);
    p.keep_masks = o.dicom;
    p.normalize = o.normalize;
    p.keep_fraction = o.keep;
    if (o.n_isos > 0) { /* --iso replaces the configured surfaces */
        p.n_surfaces = 0;
        p.configured = 0;
        for (int k = 0; k < o.n_isos; k++)
            if (add_iso_surface(&p, o.isos[k]) != 0)
                return 2;
    }
    iso_err err = {0};
    iso_path report;
    char **paths = NULL;
    size_t n = 0;
    if (fsx_mkdir_p(o.out, &err) != ISO_OK ||
        iso_path_fmt(&report, &err, "%s/report.json", o.out) != ISO_OK ||
        (o.series_uid != NULL ? series_from_store(cfg, o.series_uid, &paths, &n, &err)
                              : iso_series_list_dir(o.dir, &paths, &n, &err)) != ISO_OK) {
        fprintf(stderr, "isonode reconstruct: %s\n", err.msg);
        return 1;
    }
    progress_state ps;
    clock_gettime(CLOCK_MONOTONIC, &ps.start);
    if (!o.quiet) {
        p.progress = show_progress;
        p.progress_ctx = &ps;
    }
    const char *dir = o.dir != NULL ? o.dir : o.series_uid;
    /* volumes = all: volume 1 in OUT, volume k in OUT/volume-k */
    bool all = p.volumes == ISO_VOLUMES_ALL && p.volume == 0;
    int n_volumes = 1;
    iso_path vdir;
    for (int v = 1; v <= n_volumes && status == 0; v++) {
        cli_options ov = o;
        if (all)
            p.volume = v;
        if (v > 1 && (iso_path_fmt(&vdir, &err, "%s/volume-%d", o.out, v) != ISO_OK ||
                      fsx_mkdir_p(vdir.s, &err) != ISO_OK ||
                      iso_path_fmt(&report, &err, "%s/report.json", vdir.s) != ISO_OK)) {
            fprintf(stderr, "isonode reconstruct: %s\n", err.msg);
            status = 1;
            break;
        }
        if (v > 1)
            ov.out = vdir.s;
        status = run_one(cfg, &ov, &p, paths, n, report.s, dir);
        if (all && v == 1)
            n_volumes = ov.n_volumes;
    }
    iso_series_paths_free(paths, n);
    return status;
}
