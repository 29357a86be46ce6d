/* http_internal.h — what the HTTP module's files share (src/http only):
 * the server's state, and the pages each file writes. */
#ifndef ISO_HTTP_INTERNAL_H
#define ISO_HTTP_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "store/index.h"

struct iso_http {
    iso_http_env env;
    struct MHD_Daemon *d;
    char token[256];   /* "" when no token_file: no Authorization needed */
    pthread_mutex_t mu; /* over idx: requests are served by one thread, but say so */
    iso_index *idx;    /* read-only, opened at the first request that needs it */
    char host[64];     /* this machine's name, for the page */
};

/* The index, read-only, under h->mu (NULL with err filled if it cannot be
 * opened); iso_http_index_done releases it. */
iso_index *iso_http_index(iso_http *h, iso_err *err);
void iso_http_index_done(iso_http *h);

/* /metrics: the Prometheus text (malloc'd, *len bytes), NULL if out of memory. */
char *iso_http_metrics_text(iso_http *h, size_t *len);
/* /status.json (malloc'd), NULL if out of memory. */
char *iso_http_status_json(iso_http *h, size_t *len);
/* /thumb/JOB/K.png: the K-th Secondary Capture view of job JOB's results
 * as a PNG (malloc'd); ISO_ENOTFOUND when there is no such view. */
iso_code iso_http_thumbnail(iso_http *h, long long job, int k, uint8_t **png, size_t *len,
                            iso_err *err);
/* The page itself (status_page.html, made a C string at build time). */
extern const char iso_http_status_page[];

#endif
