/* completion.c — the in-memory tracker of series still arriving (see
 * completion.h).  A flat array: a node has a handful of series in flight,
 * and every operation is a short scan under the mutex. */
#include "jobs/completion.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_ASSOCS = 8 }; /* associations remembered per series; more count as one open */

typedef struct tracked {
    char series_uid[65];
    char calling_ae[17];
    double last_arrival;
    long expected, received;
    uint64_t assocs[MAX_ASSOCS]; /* open associations that delivered to it */
    int n_assocs;
    int overflow;                /* more than MAX_ASSOCS: wait for all to end */
} tracked;

struct iso_completion {
    pthread_mutex_t mu;
    tracked *items;
    int n, cap;
};

iso_code iso_completion_new(iso_completion **out, iso_err *err)
{
    iso_completion *c = calloc(1, sizeof *c);
    if (c == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return ISO_OK;
}

void iso_completion_free(iso_completion *c)
{
    if (c == NULL)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c->items);
    free(c);
}

static tracked *find_or_add(iso_completion *c, const char *series_uid, iso_err *err)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->items[i].series_uid, series_uid) == 0)
            return &c->items[i];
    if (c->n == c->cap) {
        int nc = c->cap ? c->cap * 2 : 16;
        tracked *ni = realloc(c->items, (size_t)nc * sizeof *ni);
        if (ni == NULL) {
            iso_fail(err, ISO_ENOMEM, "out of memory");
            return NULL;
        }
        c->items = ni;
        c->cap = nc;
    }
    tracked *t = &c->items[c->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->series_uid, sizeof t->series_uid, "%s", series_uid);
    return t;
}

iso_code iso_completion_stored(iso_completion *c, uint64_t assoc, const char *series_uid,
                               const char *calling_ae, long expected, int duplicate, double now,
                               iso_err *err)
{
    pthread_mutex_lock(&c->mu);
    tracked *t = find_or_add(c, series_uid, err);
    if (t != NULL) {
        snprintf(t->calling_ae, sizeof t->calling_ae, "%s", calling_ae);
        t->last_arrival = now;
        if (!duplicate)
            t->received++;
        if (expected > 0)
            t->expected = expected;
        int known = 0;
        for (int i = 0; i < t->n_assocs; i++)
            known |= t->assocs[i] == assoc;
        if (!known) {
            if (t->n_assocs < MAX_ASSOCS)
                t->assocs[t->n_assocs++] = assoc;
            else
                t->overflow = 1;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return t != NULL ? ISO_OK : err->code;
}

void iso_completion_assoc_end(iso_completion *c, uint64_t assoc)
{
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n; i++) {
        tracked *t = &c->items[i];
        for (int k = 0; k < t->n_assocs; k++)
            if (t->assocs[k] == assoc) {
                t->assocs[k] = t->assocs[--t->n_assocs];
                break;
            }
        /* an overflowing series is released once its known ones have ended:
         * the settle time still has to pass with nothing arriving */
        if (t->n_assocs == 0)
            t->overflow = 0;
    }
    pthread_mutex_unlock(&c->mu);
}

iso_code iso_completion_pending(iso_completion *c, const char *series_uid,
                                const char *calling_ae, double now, iso_err *err)
{
    pthread_mutex_lock(&c->mu);
    tracked *t = find_or_add(c, series_uid, err);
    if (t != NULL) {
        snprintf(t->calling_ae, sizeof t->calling_ae, "%s", calling_ae);
        t->last_arrival = now;
    }
    pthread_mutex_unlock(&c->mu);
    return t != NULL ? ISO_OK : err->code;
}

int iso_completion_take_ready(iso_completion *c, double now, double settle_seconds,
                              iso_ready_series *out, int max)
{
    int n = 0;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n && n < max;) {
        tracked *t = &c->items[i];
        int all_there = t->expected > 0 && t->received >= t->expected;
        int settled = t->n_assocs == 0 && !t->overflow && now - t->last_arrival >= settle_seconds;
        if (all_there || settled) {
            snprintf(out[n].series_uid, sizeof out[n].series_uid, "%s", t->series_uid);
            snprintf(out[n].calling_ae, sizeof out[n].calling_ae, "%s", t->calling_ae);
            n++;
            c->items[i] = c->items[--c->n];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}

int iso_completion_count(iso_completion *c)
{
    pthread_mutex_lock(&c->mu);
    int n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}
