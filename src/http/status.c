/* status.c — what the status page shows: /status.json, gathered at each
 * request from the daemon's counters, the index, the job queue, the runner
 * and the outbox, and /thumb/JOB/K.png, a small picture of one view of a
 * reconstruction read from the store's own copy of the Secondary Capture
 * the job derived (so it shows what the store holds: de-identified when
 * the node de-identifies).  Nothing here writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "derive/derive.h"
#include "dicom/dicom.h"
#include "http/http_internal.h"
#include "recon/render.h"
#include "retention/retention.h"
#include "util/json.h"

enum { RECENT_JOBS = 30, RECONSTRUCTIONS = 20, MAX_VIEWS = 8, PREVIEW_SIDE = 160 };

static void iso8601(long t, char out[24])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 24, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void node_part(FILE *f, const iso_http *h, long now)
{
    const iso_config *cfg = h->env.cfg;
    char started[24];
    iso8601(h->env.metrics->start_time, started);
    fputs("\"node\": {\"ae_title\": ", f);
    iso_json_string(f, cfg->ae_title);
    fputs(", \"host\": ", f);
    iso_json_string(f, h->host);
    fprintf(f, ", \"version\": \"%s\", \"port\": %ld, \"tls_port\": %ld, \"deidentifying\": %s, "
               "\"started\": \"%s\", \"uptime_seconds\": %ld, \"now\": ",
            PACKAGE_VERSION, cfg->port, cfg->tls_port, cfg->an_enabled ? "true" : "false", started,
            now - h->env.metrics->start_time);
    char t[24];
    iso8601(now, t);
    iso_json_string(f, t);
    fputs("}", f);
}

static void store_part(FILE *f, iso_http *h, long now)
{
    const iso_config *cfg = h->env.cfg;
    iso_counts c = {0};
    int64_t objects[24], bytes[24];
    iso_err e = {0};
    iso_index *idx = iso_http_index(h, &e);
    bool counted = idx != NULL && iso_index_counts(idx, &c, &e) == ISO_OK;
    bool hourly = idx != NULL && iso_index_hourly_arrivals(idx, now, objects, bytes, &e) == ISO_OK;
    iso_http_index_done(h);
    fputs(", \"store\": {", f);
    if (counted)
        fprintf(f, "\"objects\": %lld, \"studies\": %lld, \"series\": %lld, \"bytes\": %lld, ",
                (long long)c.instances, (long long)c.studies, (long long)c.series,
                (long long)c.bytes);
    else {
        fputs("\"error\": ", f);
        iso_json_string(f, e.msg);
        fputs(", ", f);
    }
    struct statvfs v;
    if (statvfs(cfg->data_dir, &v) == 0)
        fprintf(f, "\"filesystem_bytes\": %.0f, \"free_bytes\": %.0f, ",
                (double)v.f_blocks * (double)v.f_frsize, (double)v.f_bavail * (double)v.f_frsize);
    fprintf(f, "\"used_percent\": %.1f, \"min_free_mb\": %ld, \"retention\": {\"keep_days\": %ld, "
               "\"high_water_percent\": %ld, \"low_water_percent\": %ld}}",
            iso_retention_used_percent(cfg->data_dir), cfg->min_free_mb, cfg->rt_keep_days,
            cfg->rt_high_water_percent, cfg->rt_low_water_percent);
    fprintf(f, ", \"associations_open\": %ld",
            (long)atomic_load(&h->env.metrics->associations_open));
    fputs(", \"ingest\": {", f);
    if (hourly) {
        fprintf(f, "\"last_hour_objects\": %lld, \"last_hour_bytes\": %lld, "
                   "\"last_hour_per_second\": %.3f, \"hourly_objects\": [",
                (long long)objects[0], (long long)bytes[0], (double)objects[0] / 3600.0);
        for (int i = 23; i >= 0; i--) /* oldest first, as a plot reads */
            fprintf(f, "%s%lld", i == 23 ? "" : ", ", (long long)objects[i]);
        fputs("]", f);
    }
    fputs("}", f);
}

/* The job queue: counts by state, the jobs running now with their stage,
 * the latest jobs, and latency per hour. */
static void jobs_part(FILE *f, iso_http *h, long now)
{
    iso_jobs *jobs = h->env.jobs;
    char summary[512] = "none";
    iso_err e = {0};
    fputs(", \"jobs\": {\"summary\": ", f);
    if (jobs != NULL)
        (void)iso_jobs_summary(jobs, summary, sizeof summary, &e);
    iso_json_string(f, summary);
    iso_running_job running[16];
    int n = iso_runner_running(h->env.runner, running, 16);
    fputs(", \"running\": [", f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s{\"id\": %lld, \"stage\": ", i ? ", " : "", (long long)running[i].id);
        iso_json_string(f, running[i].stage);
        fprintf(f, ", \"seconds\": %.1f}", running[i].seconds);
    }
    fputs("], \"latest\": ", f);
    if (jobs == NULL || iso_jobs_list_latest(jobs, f, RECENT_JOBS, NULL, NULL, &e) != ISO_OK)
        fputs("[]", f);
    iso_jobs_hour hours[24];
    fputs(", \"hourly\": [", f);
    if (jobs != NULL && iso_jobs_hourly(jobs, now, hours, &e) == ISO_OK)
        for (int i = 23; i >= 0; i--)
            fprintf(f, "%s{\"jobs\": %d, \"mean_latency\": %.3f, \"max_latency\": %.3f, "
                       "\"mean_seconds\": %.3f}",
                    i == 23 ? "" : ", ", hours[i].jobs, hours[i].mean_latency,
                    hours[i].max_latency, hours[i].mean_seconds);
    fputs("]}", f);
}

/* The SOP Instance UID of view k (1-based) of a job's results, as the
 * store's copy has it (derive.c names them so). */
static void view_uid(const iso_http *h, const iso_done_job *d, int k, char uid[65])
{
    iso_derive_uid(h->env.key, d->series_uid, d->version, "sc", k, uid);
}

/* How many views of the job's results the store holds (1.. in a row). */
static int count_views(iso_http *h, const iso_done_job *d)
{
    int n = 0;
    iso_err e = {0};
    iso_index *idx = iso_http_index(h, &e);
    for (int k = 1; idx != NULL && k <= MAX_VIEWS; k++) {
        char uid[65];
        iso_instance_row row;
        view_uid(h, d, k, uid);
        if (iso_index_find_instance(idx, uid, &row, &e) != ISO_OK)
            break;
        n = k;
    }
    iso_http_index_done(h);
    return n;
}

static void reconstructions_part(FILE *f, iso_http *h)
{
    fputs(", \"reconstructions\": [", f);
    iso_done_job *done = calloc(RECONSTRUCTIONS, sizeof *done);
    int n = 0;
    iso_err e = {0};
    if (done != NULL && h->env.jobs != NULL && h->env.key != NULL &&
        iso_jobs_reconstructed(h->env.jobs, RECONSTRUCTIONS, done, &n, &e) == ISO_OK) {
        for (int i = 0; i < n; i++) {
            fprintf(f, "%s{\"job\": %lld, \"series\": ", i ? ", " : "", (long long)done[i].id);
            iso_json_string(f, done[i].series_uid);
            fputs(", \"finished\": ", f);
            iso_json_string(f, done[i].finished);
            fprintf(f, ", \"seconds\": %.3f, \"result\": ", done[i].seconds);
            iso_json_string(f, done[i].result);
            fprintf(f, ", \"views\": %d}", count_views(h, &done[i]));
        }
    }
    free(done);
    fputs("]", f);
}

char *iso_http_status_json(iso_http *h, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (f == NULL)
        return NULL;
    long now = (long)time(NULL);
    fputc('{', f);
    node_part(f, h, now);
    store_part(f, h, now);
    jobs_part(f, h, now);
    iso_err e = {0};
    fputs(", \"outbox\": ", f);
    if (h->env.outbox == NULL || iso_outbox_destinations_json(h->env.outbox, now, f, &e) != ISO_OK)
        fputs("[]", f);
    reconstructions_part(f, h);
    fputs("}\n", f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

iso_code iso_http_thumbnail(iso_http *h, long long job, int k, uint8_t **png, size_t *len,
                            iso_err *err)
{
    *png = NULL;
    *len = 0;
    iso_done_job d;
    if (h->env.jobs == NULL || h->env.key == NULL)
        return iso_fail(err, ISO_ENOTFOUND, "no jobs");
    if (iso_jobs_get_done(h->env.jobs, job, &d, err) != ISO_OK)
        return err->code;
    char uid[65];
    view_uid(h, &d, k, uid);
    iso_instance_row row;
    iso_index *idx = iso_http_index(h, err);
    iso_code rc = idx != NULL ? iso_index_find_instance(idx, uid, &row, err) : err->code;
    iso_http_index_done(h);
    if (rc != ISO_OK)
        return rc;
    iso_path path;
    if (iso_path_fmt(&path, err, "%s/%s", h->env.cfg->data_dir, row.path) != ISO_OK)
        return err->code;
    iso_image img = {0, 0, NULL};
    if (iso_dcm_read_rgb_preview(path.s, PREVIEW_SIDE, &img.rgb, &img.w, &img.h, err) != ISO_OK)
        return err->code;
    rc = iso_png_encode(&img, png, len, err);
    free(img.rgb);
    return rc;
}
