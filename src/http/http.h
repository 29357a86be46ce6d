/* http.h — the daemon's HTTP endpoint ([http] bind, port; off when port is
 * 0), on GNU libmicrohttpd (Debian's libmicrohttpd-dev: a small, well-kept
 * embedded HTTP server with its own threads, so no request ever runs on a
 * DICOM thread):
 *   /         the status page (status_page.html: static HTML and CSS with a
 *             little script that reads /status.json every 15 s);
 *   /status.json  node, store and retention thresholds, associations, the
 *             last hour's and the last 24 hours' ingest, job latency per
 *             hour, running and recent jobs, the outbox per destination, and
 *             the last 20 reconstructions with their views;
 *   /thumb/JOB/K.png  a small PNG of view K of job JOB's Secondary Capture
 *             results, read from the store's (de-identified) copy;
 *   /metrics  the Prometheus text format: the counters the SCP and
 *             retention keep (util/metrics.h), and at scrape time what the
 *             index, the job queue, the outbox and the file system say;
 *   /healthz  200 "ok" when the process is up, data_dir writable, the index
 *             answers and free space is above [node] min_free_mb; else 503
 *             with what failed (for a load balancer or a watchdog).
 * GET only.  It shows what the store holds (de-identified UIDs when the node
 * de-identifies: no names, IDs or dates of patients), and counts.  With
 * [http] token_file, every request must carry the token, as "Authorization:
 * Bearer TOKEN" or as the password of HTTP Basic authentication (a browser
 * asks for it), compared in constant time; 401 otherwise.  A bind beyond
 * the loopback is refused at start without one.
 */
#ifndef ISO_HTTP_H
#define ISO_HTTP_H

#include "config/config.h"
#include "deliver/outbox.h"
#include "jobs/queue.h"
#include "jobs/runner.h"
#include "util/err.h"
#include "util/metrics.h"

typedef struct iso_http iso_http;

typedef struct iso_http_env {
    const iso_config *cfg;
    iso_metrics *metrics;
    iso_jobs *jobs;
    iso_outbox *outbox;
    iso_runner *runner;    /* the jobs running now (may be NULL) */
    const uint8_t *key;    /* the installation key: names the derived objects (views) */
} iso_http_env;

/* *out stays NULL when [http] port is 0. */
iso_code iso_http_start(const iso_http_env *env, iso_http **out, iso_err *err);
void iso_http_stop(iso_http *h);

#endif
