/* http.c — /metrics and /healthz on libmicrohttpd (see http.h). */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "store/index.h"
#include "store/layout.h"
#include "util/log.h"

struct iso_http {
    iso_http_env env;
    struct MHD_Daemon *d;
    char token[256]; /* "" when no token_file: no Authorization needed */
};

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

static char *metrics_text(const iso_http *h, size_t *len)
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
    /* what the databases and the file system say now */
    iso_path p;
    iso_index *idx = NULL;
    iso_counts c = {0};
    iso_err e = {0};
    if (iso_layout_path(cfg->data_dir, ISO_DATA_INDEX, &p, &e) == ISO_OK &&
        iso_index_open(p.s, true, &idx, &e) == ISO_OK && iso_index_counts(idx, &c, &e) == ISO_OK) {
        gauge(f, "isonode_stored_objects", "Objects in the store.", (double)c.instances);
        gauge(f, "isonode_stored_bytes", "Bytes of the objects in the store.", (double)c.bytes);
        gauge(f, "isonode_stored_studies", "Studies in the store.", (double)c.studies);
    }
    iso_index_close(idx);
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

/* "" when healthy, else what is not. */
static void health(const iso_http *h, char *why, size_t size)
{
    const iso_config *cfg = h->env.cfg;
    why[0] = '\0';
    iso_path tmp, idxp;
    iso_err e = {0};
    if (iso_layout_path(cfg->data_dir, ISO_DATA_TMP, &tmp, &e) != ISO_OK ||
        iso_path_fmt(&tmp, &e, "%s/healthz-%ld", tmp.s, (long)getpid()) != ISO_OK) {
        snprintf(why, size, "data_dir: %.400s\n", e.msg);
        return;
    }
    int fd = open(tmp.s, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, "ok", 2) != 2) {
        snprintf(why, size, "data_dir is not writable: %s\n", strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp.s);
        return;
    }
    close(fd);
    unlink(tmp.s);
    iso_index *idx = NULL;
    iso_counts c;
    if (iso_layout_path(cfg->data_dir, ISO_DATA_INDEX, &idxp, &e) != ISO_OK ||
        iso_index_open(idxp.s, true, &idx, &e) != ISO_OK || iso_index_counts(idx, &c, &e) != ISO_OK) {
        iso_index_close(idx);
        snprintf(why, size, "the index does not answer: %.400s\n", e.msg);
        return;
    }
    iso_index_close(idx);
    struct statvfs v;
    if (statvfs(cfg->data_dir, &v) == 0) {
        double free_mb = (double)v.f_bavail * (double)v.f_frsize / 1048576.0;
        if (free_mb < (double)cfg->min_free_mb)
            snprintf(why, size, "%.0f MB free, below min_free_mb %ld\n", free_mb,
                     cfg->min_free_mb);
    }
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;
    iso_http *h = cls;
    unsigned status = MHD_HTTP_OK;
    char *body = NULL;
    size_t len = 0;
    const char *type = "text/plain; charset=utf-8";
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    char want[300];
    snprintf(want, sizeof want, "Bearer %s", h->token);
    bool authorized = h->token[0] == '\0' ||
                      (auth != NULL && strlen(auth) == strlen(want) &&
                       CRYPTO_memcmp(auth, want, strlen(want)) == 0); /* constant time */
    if (!authorized) {
        status = MHD_HTTP_UNAUTHORIZED;
        body = strdup("a token is needed: Authorization: Bearer TOKEN\n");
    } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        body = strdup("GET only\n");
    } else if (strcmp(url, "/metrics") == 0) {
        body = metrics_text(h, &len);
        type = "text/plain; version=0.0.4; charset=utf-8";
        if (body == NULL)
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    } else if (strcmp(url, "/healthz") == 0) {
        char why[512];
        health(h, why, sizeof why);
        status = why[0] ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK;
        body = strdup(why[0] ? why : "ok\n");
    } else {
        status = MHD_HTTP_NOT_FOUND;
        body = strdup("not found: /metrics, /healthz\n");
    }
    if (body == NULL)
        body = strdup("");
    if (body == NULL)
        return MHD_NO;
    if (len == 0)
        len = strlen(body);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

iso_code iso_http_start(const iso_http_env *env, iso_http **out, iso_err *err)
{
    *out = NULL;
    const iso_config *cfg = env->cfg;
    if (cfg->http_port == 0)
        return ISO_OK;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg->http_port);
    if (inet_pton(AF_INET, cfg->http_bind, &sa.sin_addr) != 1)
        return iso_fail(err, ISO_ECONFIG, "[http] bind '%s' is not an IPv4 address", cfg->http_bind);
    iso_http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    h->env = *env;
    if (cfg->http_token_file[0] != '\0') {
        FILE *f = fopen(cfg->http_token_file, "r");
        if (f == NULL || fgets(h->token, sizeof h->token, f) == NULL) {
            if (f != NULL)
                fclose(f);
            free(h);
            return iso_fail(err, ISO_ECONFIG, "[http] token_file %s cannot be read",
                            cfg->http_token_file);
        }
        fclose(f);
        h->token[strcspn(h->token, "\r\n")] = '\0';
        if (strlen(h->token) < 16) {
            free(h);
            return iso_fail(err, ISO_ECONFIG, "[http] token_file %s: the token is shorter than "
                                              "16 characters", cfg->http_token_file);
        }
    }
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                            (uint16_t)cfg->http_port, NULL, NULL, answer, h, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, 16u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (h->d == NULL) {
        free(h);
        return iso_fail(err, ISO_ENET, "cannot listen for HTTP on %s:%ld", cfg->http_bind,
                        cfg->http_port);
    }
    ISO_INFO("http: /metrics and /healthz on %s:%ld", cfg->http_bind, cfg->http_port);
    *out = h;
    return ISO_OK;
}

void iso_http_stop(iso_http *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}
