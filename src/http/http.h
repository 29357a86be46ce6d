/* http.h — the daemon's HTTP endpoint ([http] bind, port; off when port is
 * 0), on GNU libmicrohttpd (Debian's libmicrohttpd-dev: a small, well-kept
 * embedded HTTP server with its own threads, so no request ever runs on a
 * DICOM thread):
 *   /metrics  the Prometheus text format: the counters the SCP and
 *             retention keep (util/metrics.h), and at scrape time what the
 *             index, the job queue, the outbox and the file system say;
 *   /healthz  200 "ok" when the process is up, data_dir writable, the index
 *             answers and free space is above [node] min_free_mb; else 503
 *             with what failed (for a load balancer or a watchdog).
 * GET only; it shows nothing identifying (counts and destinations' names).
 * With [http] token_file, every request must carry "Authorization: Bearer
 * TOKEN" (compared in constant time; 401 otherwise); a bind beyond the
 * loopback is refused at start without one.
 */
#ifndef ISO_HTTP_H
#define ISO_HTTP_H

#include "config/config.h"
#include "deliver/outbox.h"
#include "jobs/queue.h"
#include "util/err.h"
#include "util/metrics.h"

typedef struct iso_http iso_http;

typedef struct iso_http_env {
    const iso_config *cfg;
    iso_metrics *metrics;
    iso_jobs *jobs;
    iso_outbox *outbox;
} iso_http_env;

/* *out stays NULL when [http] port is 0. */
iso_code iso_http_start(const iso_http_env *env, iso_http **out, iso_err *err);
void iso_http_stop(iso_http *h);

#endif
