/* metrics_text.c — /metrics in the Prometheus text format (version 0.0.4):
 * the daemon's counters (util/metrics.h: relaxed atomics, read here without
 * a lock) and, at scrape time, what the index, the job queue, the outbox
 * and the file system say. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "http/http_internal.h"

static const char *const assoc_results[ISO_ASSOC_RESULTS] = {
    "released", "aborted", "timeout", "error", "shutdown", "rejected"};

static void counter(FILE *f, const char *name, const char *help, unsigned long v)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %lu\n", name, help, name, name, v);
}

static void gauge(FILE *f, const char *name, const char *help, double v)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

/* The job queue's "done 3, queued 1" as one line per state. */
static void job_states(FILE *f, iso_jobs *jobs)
{
    char summary[512];
    iso_err e = {0};
    fputs("# HELP isonode_jobs Jobs in the queue, by state.\n# TYPE isonode_jobs gauge\n", f);
    if (jobs == NULL || iso_jobs_summary(jobs, summary, sizeof summary, &e) != ISO_OK ||
        strcmp(summary, "none") == 0)
        return;
    char *save = NULL;
    for (char *p = strtok_r(summary, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save)) {
        char state[32];
        long long n;
        if (sscanf(p, " %31s %lld", state, &n) == 2)
            fprintf(f, "isonode_jobs{state=\"%s\"} %lld\n", state, n);
    }
}

/* Deliveries by result: a counter per iso_delivery_result. */
static void deliveries(FILE *f, const iso_metrics *m)
{
    fputs("# HELP isonode_deliveries_total Objects sent to peers (and storage commitments asked "
          "of them), by result.\n# TYPE isonode_deliveries_total counter\n",
          f);
    for (int r = 0; r < ISO_DELIVERY_RESULTS; r++)
        fprintf(f, "isonode_deliveries_total{result=\"%s\"} %lu\n", iso_delivery_result_names[r],
                atomic_load(&m->deliveries[r]));
}

/* Job stage durations: one histogram, labelled by stage. */
static void stages(FILE *f, const iso_metrics *m)
{
    fputs("# HELP isonode_job_stage_seconds How long each stage of a reconstruction took.\n"
          "# TYPE isonode_job_stage_seconds histogram\n",
          f);
    for (int s = 0; s < ISO_JOB_STAGES; s++) {
        unsigned long cum = 0;
        const char *name = iso_job_stage_names[s];
        for (int b = 0; b < ISO_STAGE_BUCKETS; b++) {
            cum += atomic_load(&m->stage_bucket[s][b]);
            if (b == ISO_STAGE_BUCKETS - 1)
                fprintf(f, "isonode_job_stage_seconds_bucket{stage=\"%s\",le=\"+Inf\"} %lu\n", name,
                        cum);
            else
                fprintf(f, "isonode_job_stage_seconds_bucket{stage=\"%s\",le=\"%g\"} %lu\n", name,
                        iso_stage_bounds[b], cum);
        }
        fprintf(f, "isonode_job_stage_seconds_sum{stage=\"%s\"} %.6f\n", name,
                (double)atomic_load(&m->stage_sum_us[s]) / 1e6);
        fprintf(f, "isonode_job_stage_seconds_count{stage=\"%s\"} %lu\n", name,
                atomic_load(&m->stage_count[s]));
    }
}

char *iso_http_metrics_text(iso_http *h, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (f == NULL)
        return NULL;
    const iso_metrics *m = h->env.metrics;
    const iso_config *cfg = h->env.cfg;
    gauge(f, "isonode_up", "The daemon is running.", 1);
    gauge(f, "isonode_start_time_seconds", "When the daemon started (Unix seconds).",
          (double)m->start_time);
    gauge(f, "isonode_associations_open", "DICOM associations open now.",
          (double)atomic_load(&m->associations_open));
    fputs("# HELP isonode_associations_total Associations ended, by how.\n"
          "# TYPE isonode_associations_total counter\n",
          f);
    for (int r = 0; r < ISO_ASSOC_RESULTS; r++)
        fprintf(f, "isonode_associations_total{result=\"%s\"} %lu\n", assoc_results[r],
                atomic_load(&m->associations[r]));
    fputs("# HELP isonode_cstore_total C-STORE requests answered, by status class.\n"
          "# TYPE isonode_cstore_total counter\n",
          f);
    fprintf(f, "isonode_cstore_total{status=\"success\"} %lu\n", atomic_load(&m->cstore_success));
    fprintf(f, "isonode_cstore_total{status=\"warning\"} %lu\n", atomic_load(&m->cstore_warning));
    fprintf(f, "isonode_cstore_total{status=\"failure\"} %lu\n", atomic_load(&m->cstore_failure));
    counter(f, "isonode_received_bytes_total", "Bytes received in associations.",
            atomic_load(&m->received_bytes));
    fputs("# HELP isonode_ingest_latency_seconds From an object's last byte received to its "
          "success response (durable and indexed).\n"
          "# TYPE isonode_ingest_latency_seconds histogram\n",
          f);
    unsigned long cum = 0;
    for (int b = 0; b < ISO_LATENCY_BUCKETS; b++) {
        cum += atomic_load(&m->latency_bucket[b]);
        if (b == ISO_LATENCY_BUCKETS - 1)
            fprintf(f, "isonode_ingest_latency_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
        else
            fprintf(f, "isonode_ingest_latency_seconds_bucket{le=\"%g\"} %lu\n",
                    iso_latency_bounds[b], cum);
    }
    fprintf(f, "isonode_ingest_latency_seconds_sum %.6f\n",
            (double)atomic_load(&m->latency_sum_us) / 1e6);
    fprintf(f, "isonode_ingest_latency_seconds_count %lu\n", atomic_load(&m->latency_count));
    counter(f, "isonode_deidentification_refusals_total",
            "Objects refused by de-identification (burned-in text and burned_in = reject).",
            atomic_load(&m->deidentification_refusals));
    counter(f, "isonode_tls_handshake_failures_total", "TLS connections that failed their handshake.",
            atomic_load(&m->tls_handshake_failures));
    counter(f, "isonode_retention_removals_total", "Studies removed by retention.",
            atomic_load(&m->retention_removals));
    counter(f, "isonode_retention_removed_bytes_total", "Bytes freed by retention.",
            atomic_load(&m->retention_bytes));
    deliveries(f, m);
    stages(f, m);
    /* what the databases and the file system say now */
    iso_counts c = {0};
    iso_err e = {0};
    iso_index *idx = iso_http_index(h, &e);
    if (idx != NULL && iso_index_counts(idx, &c, &e) == ISO_OK) {
        gauge(f, "isonode_stored_objects", "Objects in the store.", (double)c.instances);
        gauge(f, "isonode_stored_bytes", "Bytes of the objects in the store.", (double)c.bytes);
        gauge(f, "isonode_stored_studies", "Studies in the store.", (double)c.studies);
    }
    iso_http_index_done(h);
    struct statvfs v;
    if (statvfs(cfg->data_dir, &v) == 0) {
        gauge(f, "isonode_free_bytes", "Free space for the daemon on data_dir's file system.",
              (double)v.f_bavail * (double)v.f_frsize);
        gauge(f, "isonode_filesystem_bytes", "Size of data_dir's file system.",
              (double)v.f_blocks * (double)v.f_frsize);
    }
    job_states(f, h->env.jobs);
    iso_err oe = {0};
    if (h->env.outbox != NULL)
        (void)iso_outbox_write_metrics(h->env.outbox, (long)time(NULL), f, &oe);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

