/* deliverer.c — the delivery thread and its timers (see deliverer.h). */
#include "deliver/deliverer.h"

#include "deliver/commit_requests.h"
#include "deliver/commitments.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "util/log.h"

struct iso_deliverer {
    const iso_config *cfg;
    iso_tls *tls;
    iso_outbox *outbox;
    long last_clean; /* Unix seconds of the last sweep of results/ */
    pthread_t thread;
    pthread_mutex_t mu; /* guards stop and pairs with cv */
    pthread_cond_t cv;
    bool stop;
};

/* Once an hour: result folders nothing points into any more. */
static void clean_results(iso_deliverer *d, long now)
{
    if (now - d->last_clean < ISO_RESULTS_MIN_AGE_SECONDS)
        return;
    int removed = 0;
    iso_err err = {0};
    if (iso_outbox_clean_results(d->outbox, d->cfg->data_dir, ISO_RESULTS_MIN_AGE_SECONDS, now,
                                 &removed, &err) != ISO_OK)
        ISO_WARN("outbox: cleaning results: %s", err.msg);
    else if (removed > 0)
        ISO_INFO("outbox: %d job result director%s no longer needed removed", removed,
                 removed == 1 ? "y" : "ies");
    d->last_clean = now;
}

static void *deliverer_main(void *arg)
{
    iso_deliverer *d = arg;
    pthread_mutex_lock(&d->mu);
    while (!d->stop) {
        pthread_mutex_unlock(&d->mu);
        iso_err err = {0};
        long now = (long)time(NULL);
        if (iso_outbox_run(d->outbox, d->cfg, d->tls, now, NULL, &err) != ISO_OK)
            ISO_ERROR("outbox: %s", err.msg);
        iso_err ce = {0};
        if (iso_commit_run(d->outbox, d->cfg, d->tls, now, NULL, &ce) != ISO_OK)
            ISO_ERROR("storage commitment: %s", ce.msg);
        iso_err_clear(&ce);
        if (iso_commit_requests_expire(d->outbox, d->cfg, now, NULL, &ce) != ISO_OK)
            ISO_ERROR("storage commitment: %s", ce.msg);
        clean_results(d, now);
        pthread_mutex_lock(&d->mu);
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += 1;
        if (!d->stop)
            pthread_cond_timedwait(&d->cv, &d->mu, &t);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

iso_code iso_deliverer_start(const iso_config *cfg, iso_tls *tls, iso_metrics *metrics,
                             iso_deliverer **out, iso_err *err)
{
    *out = NULL;
    iso_deliverer *d = calloc(1, sizeof *d);
    if (d == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    d->cfg = cfg;
    d->tls = tls;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    iso_code rc = iso_outbox_open(cfg->data_dir, &d->outbox, err);
    if (rc == ISO_OK)
        iso_outbox_set_metrics(d->outbox, metrics); /* before the thread reads it */
    if (rc == ISO_OK && pthread_create(&d->thread, NULL, deliverer_main, d) != 0)
        rc = iso_fail(err, ISO_ENOMEM, "cannot start the delivery thread");
    if (rc != ISO_OK) {
        iso_outbox_close(d->outbox);
        pthread_mutex_destroy(&d->mu);
        pthread_cond_destroy(&d->cv);
        free(d);
        return rc;
    }
    *out = d;
    return ISO_OK;
}

iso_outbox *iso_deliverer_outbox(iso_deliverer *d)
{
    return d->outbox;
}

void iso_deliverer_kick(void *arg)
{
    iso_deliverer *d = arg;
    pthread_mutex_lock(&d->mu);
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

void iso_deliverer_stop(iso_deliverer *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    iso_outbox_close(d->outbox);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d);
}
