/* retention.c — the retention rules and the daemon's retention thread (see
 * retention.h). */
#include "retention/retention.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "derive/derive.h"
#include "dicom/dicom.h"
#include "store/index.h"
#include "store/layout.h"
#include "util/log.h"

/* A study as the index lists it. */
typedef struct study {
    char uid[65];
    char last[40]; /* ISO 8601 UTC, as received_at */
    long long instances, bytes;
} study;

typedef struct studies {
    study *s;
    size_t n, cap;
    bool failed;
} studies;

static int add_study(void *user, const char *uid, const char *last, int64_t instances,
                     int64_t bytes)
{
    studies *l = user;
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 256;
        study *s = realloc(l->s, nc * sizeof *s);
        if (s == NULL) {
            l->failed = true;
            return 1;
        }
        l->s = s;
        l->cap = nc;
    }
    study *s = &l->s[l->n++];
    snprintf(s->uid, sizeof s->uid, "%.64s", uid);
    snprintf(s->last, sizeof s->last, "%.39s", last ? last : "");
    s->instances = instances;
    s->bytes = bytes;
    return 0;
}

double iso_retention_used_percent(const char *data_dir)
{
    struct statvfs v;
    if (statvfs(data_dir, &v) != 0 || v.f_blocks == 0)
        return 0;
    return 100.0 * (double)(v.f_blocks - v.f_bavail) / (double)v.f_blocks;
}

static void iso_time(long t, char *out, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

/* ---- what still needs a study ---- */

enum { MAX_SERIES = 256, MAX_JOBS = 512 };

typedef struct study_parts {
    const char *data_dir;
    char series[MAX_SERIES][65];
    long long count[MAX_SERIES];
    char calling_ae[MAX_SERIES][17];
    char first_path[MAX_SERIES][ISO_LAYOUT_REL_MAX];
    int n_series;
    char **sops;
    size_t n_sops, cap_sops;
    bool failed;
} study_parts;

static int add_instance(void *user, const char *rel, const char *series_uid, const char *sop_uid,
                        const char *calling_ae)
{
    study_parts *p = user;
    int k = 0;
    while (k < p->n_series && strcmp(p->series[k], series_uid) != 0)
        k++;
    if (k == p->n_series) {
        if (p->n_series == MAX_SERIES) {
            p->failed = true;
            return 1;
        }
        snprintf(p->series[k], sizeof p->series[k], "%.64s", series_uid);
        snprintf(p->first_path[k], sizeof p->first_path[k], "%s", rel);
        p->count[k] = 0;
        p->n_series++;
    }
    p->count[k]++;
    snprintf(p->calling_ae[k], sizeof p->calling_ae[k], "%.16s", calling_ae ? calling_ae : "");
    if (p->n_sops == p->cap_sops) {
        size_t nc = p->cap_sops ? 2 * p->cap_sops : 256;
        char **s = realloc(p->sops, nc * sizeof *s);
        if (s == NULL) {
            p->failed = true;
            return 1;
        }
        p->sops = s;
        p->cap_sops = nc;
    }
    if ((p->sops[p->n_sops] = strdup(sop_uid)) == NULL) {
        p->failed = true;
        return 1;
    }
    p->n_sops++;
    return 0;
}

static void parts_free(study_parts *p)
{
    for (size_t i = 0; i < p->n_sops; i++)
        free(p->sops[i]);
    free(p->sops);
}

/* Are a series' instances the node's own results (come back from a peer)? */
static bool our_results(const char *data_dir, const char *rel)
{
    iso_path abs;
    iso_attrs a;
    iso_err e = {0};
    return iso_layout_abs(data_dir, rel, &abs, &e) == ISO_OK &&
           iso_dcm_read_attrs(abs.s, &a, &e) == ISO_OK && iso_derive_is_ours(&a);
}

/* The keep_days of a study: the longest its series' routes ask for
 * ([route] keep_days), else [retention]'s (0: no age limit). */
static long study_keep_days(const iso_retention_env *env, iso_index *idx, const study *s,
                            iso_err *err)
{
    study_parts *p = calloc(1, sizeof *p);
    long days = 0;
    if (p == NULL || iso_index_study_instances(idx, s->uid, add_instance, p, err) != ISO_OK) {
        if (p != NULL)
            parts_free(p);
        free(p);
        return env->cfg->rt_keep_days;
    }
    for (int k = 0; k < p->n_series; k++) {
        char route[96];
        iso_err e = {0};
        if (iso_jobs_series_route(env->jobs, p->series[k], route, sizeof route, &e) != ISO_OK ||
            strncmp(route, "route ", 6) != 0)
            continue;
        for (size_t r = 0; r < env->cfg->n_routes; r++)
            if (strcmp(env->cfg->routes[r].name, route + 6) == 0 &&
                env->cfg->routes[r].keep_days > days)
                days = env->cfg->routes[r].keep_days;
    }
    parts_free(p);
    free(p);
    return days > 0 ? days : env->cfg->rt_keep_days;
}

/* NULL when nothing needs the study any more, else what does. */
static const char *still_needed(const iso_retention_env *env, iso_index *idx, const study *s,
                                iso_err *err)
{
    study_parts *p = calloc(1, sizeof *p);
    if (p == NULL) {
        iso_fail(err, ISO_ENOMEM, "out of memory");
        return "out of memory";
    }
    p->data_dir = env->cfg->data_dir;
    const char *why = NULL;
    int64_t *jobs = calloc(MAX_JOBS, sizeof *jobs);
    size_t n_jobs = 0;
    if (jobs == NULL || iso_index_study_instances(idx, s->uid, add_instance, p, err) != ISO_OK ||
        p->failed) {
        why = "cannot be listed";
        goto out;
    }
    for (int k = 0; k < p->n_series && why == NULL; k++) {
        bool busy = false;
        size_t n = 0;
        int64_t covered = 0;
        if (iso_jobs_series_state(env->jobs, p->series[k], &busy, jobs + n_jobs,
                                  MAX_JOBS - n_jobs, &n, err) != ISO_OK ||
            iso_jobs_covered(env->jobs, p->series[k], &covered, err) != ISO_OK) {
            why = "its jobs cannot be read";
            break;
        }
        n_jobs += n;
        if (busy)
            why = "a job of it is queued, running or to be retried";
        else if (covered < p->count[k] && strcmp(p->calling_ae[k], env->cfg->ae_title) != 0 &&
                 !our_results(p->data_dir, p->first_path[k]))
            why = "a series of it is still settling or has no job yet";
    }
    bool holds = false;
    if (why == NULL && env->outbox != NULL &&
        iso_outbox_holds(env->outbox, env->cfg->data_dir, jobs, n_jobs,
                         (const char *const *)p->sops, p->n_sops, &holds, err) != ISO_OK)
        why = "the outbox cannot be read";
    if (why == NULL && holds)
        why = "the outbox has not delivered all of it (queued, awaiting commitment or dead)";
out:
    free(jobs);
    parts_free(p);
    free(p);
    return why;
}

/* ---- the vault rows of removed studies ---- */

typedef struct vault_keys {
    const char **kinds, **pseudos;
    char (*uids)[65];
    size_t n, cap;
    bool failed;
} vault_keys;

static bool add_key(vault_keys *k, const char *kind, const char *uid)
{
    for (size_t i = 0; i < k->n; i++) /* a series is named by each of its instances */
        if (strcmp(k->uids[i], uid) == 0 && strcmp(k->kinds[i], kind) == 0)
            return true;
    if (k->n == k->cap) {
        size_t nc = k->cap ? 2 * k->cap : 256;
        const char **a = realloc(k->kinds, nc * sizeof *a);
        if (a != NULL)
            k->kinds = a;
        const char **b = realloc(k->pseudos, nc * sizeof *b);
        if (b != NULL)
            k->pseudos = b;
        char(*c)[65] = realloc(k->uids, nc * sizeof *c);
        if (c != NULL)
            k->uids = c;
        if (a == NULL || b == NULL || c == NULL)
            return false;
        k->cap = nc;
    }
    snprintf(k->uids[k->n], 65, "%.64s", uid);
    k->kinds[k->n] = kind;
    k->n++;
    return true;
}

static int add_instance_keys(void *user, const char *rel, const char *series_uid,
                             const char *sop_uid, const char *calling_ae)
{
    vault_keys *k = user;
    (void)rel;
    (void)calling_ae;
    if (!add_key(k, "uid", series_uid) || !add_key(k, "uid", sop_uid)) {
        k->failed = true;
        return 1;
    }
    return 0;
}

/* Before a study is removed: its vault keys (the study row and the UID
 * rows of the study, its series and instances). */
static iso_code study_vault_keys(iso_index *idx, const char *study_uid, vault_keys *k,
                                 iso_err *err)
{
    if (!add_key(k, "study", study_uid) || !add_key(k, "uid", study_uid))
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    if (iso_index_study_instances(idx, study_uid, add_instance_keys, k, err) != ISO_OK)
        return err->code;
    if (k->failed)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    for (size_t i = 0; i < k->n; i++)
        k->pseudos[i] = k->uids[i];
    return ISO_OK;
}

static void vault_keys_free(vault_keys *k)
{
    free(k->kinds);
    free(k->pseudos);
    free(k->uids);
}

/* Is what a due vault row re-identifies in the store again? */
static int uid_stored_again(void *user, const char *kind, const char *pseudo)
{
    (void)kind;
    bool has = true; /* when the index cannot say: keep */
    iso_err e = {0};
    (void)iso_index_has_uid(user, pseudo, &has, &e);
    return has;
}

/* ---- a run ---- */

iso_code iso_retention_run(const iso_retention_env *env, const iso_retention_opts *o, long now,
                           iso_retention_report *report, iso_err *err)
{
    memset(report, 0, sizeof *report);
    const iso_config *cfg = env->cfg;
    iso_path path;
    iso_index *idx = NULL;
    studies l = {NULL, 0, 0, false};
    if (iso_layout_path(cfg->data_dir, ISO_DATA_INDEX, &path, err) != ISO_OK ||
        iso_index_open(path.s, true, &idx, err) != ISO_OK)
        return err->code;
    iso_code rc = iso_index_each_study_by_age(idx, add_study, &l, err);
    if (rc == ISO_OK && l.failed)
        rc = iso_fail(err, ISO_ENOMEM, "out of memory listing studies");
    bool any_route_days = false;
    for (size_t r = 0; r < cfg->n_routes; r++)
        any_route_days = any_route_days || cfg->routes[r].keep_days > 0;
    double used = iso_retention_used_percent(cfg->data_dir);
    bool for_space = false;
    for (size_t i = 0; rc == ISO_OK && i < l.n; i++) {
        const study *s = &l.s[i];
        char reason[128], cutoff[40];
        if (o->study_uid != NULL && strcmp(s->uid, o->study_uid) != 0)
            continue;
        long days = o->older_than_days > 0 ? o->older_than_days
                    : any_route_days      ? study_keep_days(env, idx, s, err)
                                          : cfg->rt_keep_days;
        bool aged = false;
        if (days > 0 && o->study_uid == NULL) {
            iso_time(now - days * 86400, cutoff, sizeof cutoff);
            aged = strcmp(s->last, cutoff) < 0;
        }
        if (o->study_uid != NULL) {
            snprintf(reason, sizeof reason, "asked for (isonode purge --study)");
        } else if (aged) {
            snprintf(reason, sizeof reason, "last instance arrived more than %ld days ago", days);
        } else if (o->watermarks && cfg->rt_high_water_percent > 0 &&
                   (for_space ? used >= cfg->rt_low_water_percent
                              : used >= cfg->rt_high_water_percent)) {
            for_space = true;
            snprintf(reason, sizeof reason,
                     "the disk is %.0f%% full (high_water_percent %ld, removing the oldest to "
                     "below low_water_percent %ld)",
                     used, cfg->rt_high_water_percent, cfg->rt_low_water_percent);
        } else {
            continue;
        }
        iso_err e = {0};
        const char *needed = still_needed(env, idx, s, &e);
        if (needed != NULL) {
            report->kept++;
            ISO_DEBUG("retention: study %s kept: %s", s->uid, needed);
            if (o->out != NULL && o->study_uid != NULL)
                fprintf(o->out, "kept\t%s\t%s\n", s->uid, needed);
            continue;
        }
        if (o->dry_run || env->store == NULL) {
            report->removed++;
            report->bytes += s->bytes;
            if (o->out != NULL)
                fprintf(o->out, "would remove\t%s\t%lld instances, %.1f MB\t%s\n", s->uid,
                        s->instances, (double)s->bytes / 1e6, reason);
            continue;
        }
        vault_keys keys = {0};
        if (env->vault != NULL && cfg->rt_keep_vault_days > 0 &&
            study_vault_keys(idx, s->uid, &keys, err) != ISO_OK) {
            vault_keys_free(&keys);
            rc = err->code;
            break;
        }
        iso_removal rm;
        rc = iso_store_remove_study(env->store, s->uid, s->last, &rm, err);
        if (rc == ISO_OK && rm.removed && keys.n > 0)
            rc = iso_vault_schedule_expiry(env->vault, keys.kinds, keys.pseudos, keys.n,
                                           now + cfg->rt_keep_vault_days * 86400, err);
        vault_keys_free(&keys);
        if (rc != ISO_OK)
            break;
        if (!rm.removed) {
            ISO_INFO("retention: study %s not removed: an instance arrived meanwhile", s->uid);
            continue;
        }
        report->removed++;
        report->bytes += rm.bytes;
        if (env->metrics != NULL) {
            atomic_fetch_add(&env->metrics->retention_removals, 1);
            atomic_fetch_add(&env->metrics->retention_bytes, (unsigned long)rm.bytes);
        }
        ISO_INFO("retention: removed study %s (%lld instances, %lld files, %.1f MB): %s", s->uid,
                 s->instances, (long long)rm.files, (double)rm.bytes / 1e6, reason);
        if (o->out != NULL)
            fprintf(o->out, "removed\t%s\t%lld instances, %.1f MB\t%s\n", s->uid, s->instances,
                    (double)rm.bytes / 1e6, reason);
        used = iso_retention_used_percent(cfg->data_dir);
    }
    if (rc == ISO_OK && env->vault != NULL && !o->dry_run && env->store != NULL) {
        rc = iso_vault_expire(env->vault, now, uid_stored_again, idx, &report->vault_rows, err);
        if (rc == ISO_OK && report->vault_rows > 0)
            ISO_INFO("retention: %d vault row(s) of studies removed %ld days ago deleted",
                     report->vault_rows, cfg->rt_keep_vault_days);
    }
    report->used_percent = iso_retention_used_percent(cfg->data_dir);
    iso_index_close(idx);
    free(l.s);
    return rc;
}

/* ---- the daemon's thread ---- */

struct iso_retention {
    iso_retention_env env;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

static void *retention_main(void *arg)
{
    iso_retention *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += r->env.cfg->rt_interval_seconds;
        while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &t) == 0)
            ;
        if (r->stop)
            break;
        pthread_mutex_unlock(&r->mu);
        iso_retention_opts o = {.watermarks = true};
        iso_retention_report rep;
        iso_err err = {0};
        if (iso_retention_run(&r->env, &o, (long)time(NULL), &rep, &err) != ISO_OK)
            ISO_ERROR("retention: %s", err.msg);
        else if (rep.removed > 0)
            ISO_INFO("retention: %d stud%s removed (%.1f MB), %d kept because still needed; "
                     "data_dir %.0f%% full",
                     rep.removed, rep.removed == 1 ? "y" : "ies", (double)rep.bytes / 1e6,
                     rep.kept, rep.used_percent);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

iso_code iso_retention_start(const iso_retention_env *env, iso_retention **out, iso_err *err)
{
    *out = NULL;
    if (env->cfg->rt_keep_days == 0 && env->cfg->rt_high_water_percent == 0)
        return ISO_OK; /* no rule: no thread */
    iso_retention *r = calloc(1, sizeof *r);
    if (r == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    r->env = *env;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->thread, NULL, retention_main, r) != 0) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        free(r);
        return iso_fail(err, ISO_ENOMEM, "cannot start the retention thread");
    }
    *out = r;
    return ISO_OK;
}

void iso_retention_stop(iso_retention *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}
