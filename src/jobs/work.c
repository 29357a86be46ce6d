/* work.c — one job from series files to queued deliveries (see work.h). */
#include "jobs/work.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "derive/derive.h"
#include "jobs/routes.h"
#include "recon/recon.h"
#include "store/index.h"
#include "store/layout.h"
#include "util/clock.h"
#include "util/fsx.h"
#include "util/par.h"
#include "util/log.h"
#include "util/hex.h"

enum { MAX_DERIVED = 64, MAX_SENDERS = 4 };

/* The stored files of the series. */
typedef struct series_files {
    iso_stored_file *f;
    size_t n;
    iso_series_sender senders[MAX_SENDERS]; /* the calling AEs that sent its instances */
    int n_senders;                          /* how many in all (more are not named) */
    int64_t sent_by_caller; /* how many of them the job's calling AE sent */
    char content[65]; /* digest of what is stored: each instance's UID and SHA-256 */
} series_files;

static int by_sop_uid(const void *a, const void *b)
{
    return strcmp((*(const iso_stored_file *const *)a)->sop_uid,
                  (*(const iso_stored_file *const *)b)->sop_uid);
}

/* The digest of the series' stored content, in SOP Instance UID order. */
static iso_code content_digest(series_files *s, iso_err *err)
{
    const iso_stored_file **order = calloc(s->n ? s->n : 1, sizeof *order);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (order == NULL || c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
        free(order);
        EVP_MD_CTX_free(c);
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < s->n; i++)
        order[i] = &s->f[i];
    qsort(order, s->n, sizeof *order, by_sop_uid);
    for (size_t i = 0; i < s->n; i++) {
        EVP_DigestUpdate(c, order[i]->sop_uid, strlen(order[i]->sop_uid) + 1);
        EVP_DigestUpdate(c, order[i]->sha256, strlen(order[i]->sha256) + 1);
    }
    unsigned char md[32];
    unsigned int len = 0;
    EVP_DigestFinal_ex(c, md, &len);
    EVP_MD_CTX_free(c);
    free(order);
    iso_hex(md, 32, s->content);
    return ISO_OK;
}

static iso_code load_series(const char *data_dir, const char *series_uid, const char *calling_ae,
                            series_files *s, iso_err *err)
{
    iso_path db;
    iso_index *idx = NULL;
    if (iso_layout_path(data_dir, ISO_DATA_INDEX, &db, err) != ISO_OK ||
        iso_index_open(db.s, true, &idx, err) != ISO_OK)
        return err->code;
    iso_code rc = iso_index_series_files(idx, data_dir, series_uid, &s->f, &s->n, err);
    if (rc == ISO_OK)
        rc = iso_index_series_senders(idx, series_uid, s->senders, MAX_SENDERS, &s->n_senders,
                                      err);
    if (rc == ISO_OK)
        rc = iso_index_series_sent_by(idx, series_uid, calling_ae, &s->sent_by_caller, err);
    iso_index_close(idx);
    if (rc == ISO_OK)
        rc = content_digest(s, err);
    return rc;
}

/* Results belong to a calling AE that sent every instance of the series
 * (its stored content, or a duplicate of it): did the job's? */
static int caller_sent_all(const series_files *s)
{
    return s->sent_by_caller == (int64_t)s->n;
}

/* Appends to a result text. */
static void say(char *out, size_t size, const char *fmt, ...)
{
    size_t used = strlen(out);
    if (used + 1 >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + used, size - used, fmt, ap);
    va_end(ap);
}

/* What the outbox keys a file on: its SOP Instance UID and SHA-256. */
static iso_code outbox_key(const char *path, char sop[65], char sha[65], iso_err *err)
{
    iso_attrs a;
    if (fsx_sha256_file(path, sha, NULL, err) != ISO_OK || iso_dcm_read_attrs(path, &a, err) != ISO_OK)
        return err->code;
    snprintf(sop, 65, "%s", a.sop_instance_uid);
    return ISO_OK;
}

/* Queues one file for each peer named in list (comma separated). */
static iso_code queue_for(const iso_job_env *env, const char *list, const char *path,
                          const char *sop_uid, const char *sha256, iso_err *err)
{
    char peer[64];
    for (const char *p = list; (p = iso_config_list_next(p, peer, sizeof peer)) != NULL;)
        if (iso_outbox_add(env->outbox, peer, path, sop_uid, sha256, 0, err) != ISO_OK)
            return err->code;
    return ISO_OK;
}

/* forward_to: the series as it was received. */
static iso_code forward_originals(const iso_job_env *env, const char *series_uid,
                                  const series_files *s, const char *peers, long *queued, iso_err *err)
{
    for (size_t i = 0; i < s->n; i++) {
        const iso_stored_file *f = &s->f[i];
        if (env->anon == NULL) { /* the store holds what arrived */
            if (queue_for(env, peers, f->path, f->sop_uid, f->sha256, err) != ISO_OK)
                return err->code;
            (*queued)++;
            continue;
        }
        char rel[ISO_LAYOUT_REL_MAX], sop[65], sha[65];
        iso_path path;
        iso_layout_original(series_uid, f->sop_uid, rel);
        if (iso_layout_abs(env->cfg->data_dir, rel, &path, err) != ISO_OK)
            return err->code;
        iso_err e = {0};
        if (outbox_key(path.s, sop, sha, &e) != ISO_OK) {
            ISO_WARN("job: no kept original of %s to forward: %s", f->sop_uid, e.msg);
            continue;
        }
        if (queue_for(env, peers, path.s, sop, sha, err) != ISO_OK)
            return err->code;
        (*queued)++;
    }
    return ISO_OK;
}

/* forward_anonymized_to: the store's own de-identified files, or copies
 * de-identified now when the store keeps originals. */
static iso_code forward_anonymized(const iso_job_env *env, const series_files *s,
                                   const char *peers, const char *work_dir, long *queued,
                                   iso_err *err)
{
    iso_path dir;
    if (iso_path_fmt(&dir, err, "%s/forward", work_dir) != ISO_OK ||
        (env->anon == NULL && fsx_mkdir_p(dir.s, err) != ISO_OK))
        return err->code;
    for (size_t i = 0; i < s->n; i++) {
        const iso_stored_file *f = &s->f[i];
        if (env->anon != NULL) {
            /* stored flagged (burned_in = flag: PatientIdentityRemoved NO):
             * its pixels may show identity, so it is not sent on */
            iso_attrs at;
            iso_err e = {0};
            if (iso_dcm_read_attrs(f->path, &at, &e) != ISO_OK)
                return iso_fail(err, e.code, "reading %s: %s", f->sop_uid, e.msg);
            if (strcmp(at.identity_removed, "YES") != 0) {
                ISO_WARN("job: %s not forwarded de-identified: stored flagged for possible "
                         "burned-in text",
                         f->sop_uid);
                continue;
            }
            if (queue_for(env, peers, f->path, f->sop_uid, f->sha256, err) != ISO_OK)
                return err->code;
            (*queued)++;
            continue;
        }
        if (env->forward_anon == NULL)
            return iso_fail(err, ISO_ECONFIG, "no de-identification available to forward with");
        char sop[65], sha[65], why[256] = "";
        iso_path out;
        if (iso_path_fmt(&out, err, "%s/%zu.dcm", dir.s, i) != ISO_OK)
            return err->code;
        iso_anon_outcome how;
        iso_err e = {0};
        if (iso_anon_file(env->forward_anon, f->path, out.s, &how, why, sizeof why, &e) !=
            ISO_OK) {
            if (e.code != ISO_EREFUSED)
                return iso_fail(err, e.code, "de-identifying %s: %s", f->sop_uid, e.msg);
            ISO_WARN("job: %s not forwarded de-identified: %s", f->sop_uid, e.msg);
            continue;
        }
        if (how == ISO_ANON_FLAGGED) { /* burned_in = flag: identity may be in the pixels */
            ISO_WARN("job: %s not forwarded de-identified: %s", f->sop_uid, why);
            (void)unlink(out.s);
            continue;
        }
        if (outbox_key(out.s, sop, sha, err) != ISO_OK ||
            queue_for(env, peers, out.s, sop, sha, err) != ISO_OK)
            return err->code;
        (*queued)++;
    }
    return ISO_OK;
}

/* One copy of the derived objects: their files, and (once a destination
 * needs them) the SOP Instance UID and SHA-256 the outbox keys on, read once
 * however many destinations get the copy. */
typedef struct derived_copy {
    iso_path *path;
    int n;
    char (*sop)[65];
    char (*sha)[65];
} derived_copy;

static iso_code describe(derived_copy *c, iso_err *err)
{
    if (c->sop != NULL)
        return ISO_OK;
    c->sop = calloc((size_t)(c->n ? c->n : 1), sizeof *c->sop);
    c->sha = calloc((size_t)(c->n ? c->n : 1), sizeof *c->sha);
    if (c->sop == NULL || c->sha == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    for (int i = 0; i < c->n; i++)
        if (outbox_key(c->path[i].s, c->sop[i], c->sha[i], err) != ISO_OK)
            return err->code;
    return ISO_OK;
}

/* Queues the derived objects for a peer, in the copy whose identity it asks
 * for; again_before > 0: again if they were sent before then (a re-send). */
static iso_code queue_results(const iso_job_env *env, const char *peer, derived_copy *store_copy,
                              derived_copy *sender_copy, long again_before, iso_err *err)
{
    const iso_peer *p = iso_config_peer_by_name(env->cfg, peer);
    if (p == NULL)
        return iso_fail(err, ISO_ECONFIG, "no [peer %s]", peer);
    derived_copy *c = p->identity == ISO_IDENTITY_ANONYMIZED ? store_copy : sender_copy;
    if (describe(c, err) != ISO_OK)
        return err->code;
    for (int i = 0; i < c->n; i++)
        if (iso_outbox_add(env->outbox, peer, c->path[i].s, c->sop[i], c->sha[i], again_before,
                           err) != ISO_OK)
            return err->code;
    return ISO_OK;
}

/* Both copies of the derived objects, each on its own thread. */
typedef struct derive_job {
    const iso_recon_result *r;
    const char *const *paths;
    size_t n_paths;
    iso_derive_run run;
    iso_path dir[2];
    iso_path *out[2];
    int n[2];
    iso_err errs[2];
    iso_vault *vault[2]; /* [0] NULL: the store's identity; [1] the vault: the original one */
} derive_job;

static void derive_copy(void *ctx, size_t task, int worker)
{
    derive_job *j = ctx;
    (void)worker;
    iso_derive_series(j->r, j->paths, j->n_paths, j->vault[task], &j->run, j->dir[task].s,
                      j->out[task], MAX_DERIVED, &j->n[task], &j->errs[task]);
}

/* The version of this run's results, and their creation time: that of the
 * first job that made this version (this one, if none did), so that every
 * job of one version writes the same bytes under the same UIDs. */
static iso_code version_of(const iso_job_env *env, const iso_job *job, const series_files *s,
                           const iso_recon_result *r, char version[65], long *created,
                           iso_err *err)
{
    iso_derive_version(r, s->content, version);
    *created = job->created;
    if (env->jobs == NULL)
        return ISO_OK;
    iso_code rc = iso_jobs_version_created(env->jobs, job->series_uid, version, created, err);
    if (rc == ISO_ENOTFOUND) { /* a new version: this job's time stands */
        iso_err_clear(err);
        rc = ISO_OK;
    }
    if (rc == ISO_OK)
        rc = iso_jobs_note_version(env->jobs, job->id, version, err);
    return rc;
}

/* Names the senders of a series for a result or log line: "MODA 10, MODB 1". */
static void name_senders(const series_files *s, char *out, size_t size)
{
    out[0] = '\0';
    for (int i = 0; i < s->n_senders && i < MAX_SENDERS; i++)
        say(out, size, "%s%s %lld", i ? ", " : "", s->senders[i].ae,
            (long long)s->senders[i].instances);
    if (s->n_senders > MAX_SENDERS)
        say(out, size, ", ...");
}

/* What the pipeline says it is doing, passed on as the job's stage. */
typedef struct stage_note {
    const iso_job_env *env;
    int64_t job;
} stage_note;

static void note_stage(void *ctx, const char *stage, double done)
{
    (void)done;
    const stage_note *sn = ctx;
    if (sn->env->on_stage != NULL)
        sn->env->on_stage(sn->env->stage_ctx, sn->job, stage);
}

/* Reconstructs, derives, stores and queues the results. */
/* Both copies of the derived objects (the store's identity; the original
 * identity when de-identifying), derived side by side into work_dir/store
 * and work_dir/sender.  copies[0] is the store's, copies[1] the sender's
 * (empty when not de-identifying); the caller frees their arrays. */
static iso_code derive_both(const iso_job_env *env, const iso_job *job, const series_files *s,
                            const iso_recon_result *r, char **paths, const char *work_dir,
                            derived_copy copies[2], iso_err *err)
{
    char version[65];
    long created = job->created;
    int n_copies = env->anon != NULL ? 2 : 1;
    derive_job dj = {r, (const char *const *)paths, s->n, {env->key, version, created}, {{{0}}},
                     {NULL, NULL}, {0, 0}, {{0}, {0}},
                     {NULL, env->anon != NULL ? iso_anon_vault(env->anon) : NULL}};
    iso_code rc = version_of(env, job, s, r, version, &dj.run.created, err);
    for (int k = 0; rc == ISO_OK && k < n_copies; k++)
        if ((dj.out[k] = calloc(MAX_DERIVED, sizeof *dj.out[k])) == NULL)
            rc = iso_fail(err, ISO_ENOMEM, "out of memory");
    if (rc == ISO_OK && (iso_path_fmt(&dj.dir[0], err, "%s/store", work_dir) != ISO_OK ||
                         iso_path_fmt(&dj.dir[1], err, "%s/sender", work_dir) != ISO_OK))
        rc = err->code;
    if (rc == ISO_OK)
        iso_parallel_for((size_t)n_copies, 2, derive_copy, &dj);
    for (int k = 0; rc == ISO_OK && k < n_copies; k++)
        if (dj.errs[k].code != ISO_OK)
            rc = iso_fail(err, dj.errs[k].code, "deriving: %s", dj.errs[k].msg);
    if (rc == ISO_OK && n_copies == 2 && dj.n[0] != dj.n[1])
        rc = iso_fail(err, ISO_EMISMATCH, "the two copies of the results differ in number");
    for (int k = 0; k < 2; k++)
        copies[k] = (derived_copy){dj.out[k], dj.n[k], NULL, NULL};
    return rc;
}

/* Queues the results for the sender and the route's destinations.
 * Results go back only to the calling AE whose sending completed the
 * series, and only if it sent every instance: a peer that adds an instance
 * to another's series gets nothing back, a peer that sends a whole series
 * again gets its results (a route's send_results_to still names
 * destinations). */
static iso_code queue_all_results(const iso_job_env *env, const iso_job *job,
                                  const series_files *s, const iso_route_decision *d,
                                  derived_copy *store_copy, derived_copy *sender_copy,
                                  char *result, size_t result_size, iso_err *err)
{
    iso_code rc = ISO_OK;
    if (d->return_results) {
        char senders[128];
        name_senders(s, senders, sizeof senders);
        const iso_peer *back = iso_config_peer_by_ae(env->cfg, job->calling_ae);
        if (!caller_sent_all(s)) {
            say(result, result_size,
                "; return withheld: the series came from %d calling AEs (%s of %zu) and %s did "
                "not send every instance",
                s->n_senders, senders, s->n, job->calling_ae);
            ISO_WARN("job %lld: results not returned: series %s came from %d calling AEs (%s of "
                     "%zu) and %s did not send every instance",
                     (long long)job->id, job->series_uid, s->n_senders, senders, s->n,
                     job->calling_ae);
        } else if (back == NULL) {
            say(result, result_size, "; not returned: no [peer] has ae_title %s",
                job->calling_ae);
            ISO_WARN("job %lld: results not returned: no [peer] has ae_title %s",
                     (long long)job->id, job->calling_ae);
        } else {
            rc = queue_results(env, back->name, store_copy, sender_copy,
                               job->resend ? job->created : 0, err);
            say(result, result_size, "; %s to %s", job->resend ? "returned again" : "returned",
                back->name);
        }
    }
    if (rc == ISO_OK && d->send_results_to[0] != '\0' && !job->resend) {
        char peer[64];
        for (const char *next = d->send_results_to;
             rc == ISO_OK && (next = iso_config_list_next(next, peer, sizeof peer)) != NULL;)
            rc = queue_results(env, peer, store_copy, sender_copy, 0, err);
        say(result, result_size, "; sent to %s", d->send_results_to);
    }
    if (rc == ISO_OK && env->kick != NULL)
        env->kick(env->kick_ctx);
    return rc;
}

/* One volume of the series (volume 0: the one [reconstruct] picks), its
 * results derived in work_dir, queued and stored; *n_volumes: how many
 * the series holds. */
static iso_code reconstruct_volume(const iso_job_env *env, const iso_job *job,
                                   const series_files *s, const iso_route_decision *d,
                                   const char *work_dir, int volume, char *result,
                                   size_t result_size, int *n_volumes, iso_err *err)
{
    *n_volumes = 1;
    char **paths = calloc(s->n ? s->n : 1, sizeof *paths);
    if (paths == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    for (size_t i = 0; i < s->n; i++)
        paths[i] = s->f[i].path;
    iso_recon_params p;
    iso_recon_params_for_surfaces(env->cfg, d->surfaces, &p);
    p.keep_masks = 1;
    p.mip = 0; /* pictures of the volume are for people at the CLI; no result carries them */
    if (volume > 0)
        p.volume = volume;
    stage_note sn = {env, job->id};
    p.progress = note_stage;
    p.progress_ctx = &sn;
    iso_recon_result r;
    iso_err e = {0};
    double lap[5];
    lap[0] = iso_mono_seconds();
    iso_code rc = iso_reconstruct(paths, s->n, &p, &r, &e);
    lap[1] = iso_mono_seconds();
    if (rc == ISO_OK && iso_log_enabled(ISO_LOG_DEBUG)) {
        char stages[1024] = "";
        for (int i = 0; i < r.n_stages; i++)
            say(stages, sizeof stages, "%s%s %.3f", i ? ", " : "", r.stage[i].name,
                r.stage[i].seconds);
        ISO_DEBUG("job %lld: stages %s", (long long)job->id, stages);
    }
    /* What the stored objects are -- unsuitable, malformed (lying offset
     * tables, undecodable frames), nested too deep, too large -- does not
     * change on a retry: the job is refused with the reason, not failed. */
    if (rc == ISO_EREFUSED || rc == ISO_EDICOM || rc == ISO_ENESTING || rc == ISO_ELIMIT) {
        say(result, result_size, "not reconstructed: %s", e.msg);
        ISO_INFO("job %lld: series %s not reconstructed: %s", (long long)job->id, job->series_uid,
                 e.msg);
        free(paths);
        return ISO_OK;
    }
    if (rc != ISO_OK) {
        free(paths);
        return iso_fail(err, rc, "reconstruction: %s", e.msg);
    }
    *n_volumes = r.series.n_volumes;
    derived_copy copies[2];
    note_stage(&sn, "derive", 0);
    rc = derive_both(env, job, s, &r, paths, work_dir, copies, err);
    derived_copy *store_copy = &copies[0];
    derived_copy *sender_copy = env->anon != NULL ? &copies[1] : &copies[0];
    lap[2] = iso_mono_seconds();
    if (volume > 0 && r.series.n_volumes > 1) /* volumes = all */
        say(result, result_size, "%svolume %d: ", volume > 1 ? "; " : "", volume);
    say(result, result_size, "reconstructed %d surfaces, %d objects", r.n_surf, store_copy->n);
    if (r.series.volumes_note[0] != '\0' && volume <= 1)
        say(result, result_size, " (%s)", r.series.volumes_note);
    if (r.series.aside_note[0] != '\0')
        say(result, result_size, " (%s)", r.series.aside_note);
    /* deliveries first: the receiver is waiting, the store's copy is not */
    note_stage(&sn, "deliver", 0);
    if (rc == ISO_OK)
        rc = queue_all_results(env, job, s, d, store_copy, sender_copy, result, result_size,
                               err);
    lap[3] = iso_mono_seconds();
    note_stage(&sn, "store", 0);
    /* the store keeps its copy, indexed like any instance (a crash before
     * this is mended by the re-run: the outbox ignores the rows it has) */
    for (int i = 0; rc == ISO_OK && i < store_copy->n; i++) {
        iso_store_outcome how;
        rc = iso_store_put_file(env->store, store_copy->path[i].s, env->cfg->ae_title, &how,
                                err);
    }
    lap[4] = iso_mono_seconds();
    if (rc == ISO_OK) {
        for (int i = 0; i < r.n_stages; i++)
            iso_metrics_stage(env->metrics, r.stage[i].name, r.stage[i].seconds);
        iso_metrics_stage(env->metrics, "derive", lap[2] - lap[1]);
        iso_metrics_stage(env->metrics, "store", lap[4] - lap[3]);
    }
    ISO_DEBUG("job %lld: reconstruct %.2f s, derive both copies %.2f s, queue %.2f s, store %.2f s",
              (long long)job->id, lap[1] - lap[0], lap[2] - lap[1], lap[3] - lap[2],
              lap[4] - lap[3]);
    for (int k = 0; k < 2; k++) {
        free(copies[k].path);
        free(copies[k].sop);
        free(copies[k].sha);
    }
    iso_recon_result_free(&r);
    free(paths);
    return rc;
}

/* The series' volume, or with volumes = all each of them: volume 1's
 * results in work_dir, volume k's in work_dir/volume-k. */
static iso_code reconstruct(const iso_job_env *env, const iso_job *job, const series_files *s,
                            const iso_route_decision *d, const char *work_dir, char *result,
                            size_t result_size, iso_err *err)
{
    bool all = env->cfg->rc_volumes == ISO_VOLUMES_ALL && env->cfg->rc_volume == 0;
    int n_volumes = 1;
    iso_code rc = reconstruct_volume(env, job, s, d, work_dir, all ? 1 : 0, result, result_size,
                                     &n_volumes, err);
    for (int v = 2; all && rc == ISO_OK && v <= n_volumes; v++) {
        iso_path dir;
        if (iso_path_fmt(&dir, err, "%s/volume-%d", work_dir, v) != ISO_OK ||
            fsx_mkdir_p(dir.s, err) != ISO_OK)
            return err->code;
        int ignored;
        rc = reconstruct_volume(env, job, s, d, dir.s, v, result, result_size, &ignored, err);
    }
    return rc;
}

iso_code iso_job_run(const iso_job_env *env, const iso_job *queued, char *route,
                     size_t route_size, char *result, size_t result_size, iso_err *err)
{
    result[0] = route[0] = '\0';
    series_files s = {.f = NULL};
    iso_code rc = load_series(env->cfg->data_dir, queued->series_uid, queued->calling_ae, &s, err);
    if (rc == ISO_ENOTFOUND) {
        snprintf(result, result_size, "the series is no longer stored");
        return ISO_OK;
    }
    if (rc != ISO_OK)
        return rc;
    /* a series sent again whose stored content changed (instances replaced)
     * is a new version: the whole route, not only a return to its sender */
    iso_job effective = *queued;
    const iso_job *job = &effective;
    int seen = 1;
    if (env->jobs != NULL &&
        iso_jobs_note_content(env->jobs, job->id, job->series_uid, s.content, &seen, err) !=
            ISO_OK) {
        iso_index_files_free(s.f, s.n);
        return err->code;
    }
    if (effective.resend && !seen) {
        effective.resend = 0;
        say(result, result_size, "sent again with changed content: ");
        ISO_INFO("job %lld: series %s sent again by %s with changed content: a new version",
                 (long long)job->id, job->series_uid, job->calling_ae);
    }
    iso_attrs first;
    iso_err e = {0};
    if (iso_dcm_read_attrs(s.f[0].path, &first, &e) != ISO_OK) {
        iso_index_files_free(s.f, s.n);
        return iso_fail(err, e.code, "reading %s: %s", s.f[0].rel, e.msg);
    }
    iso_series_facts facts = {first.modality,     first.body_part, first.series_description,
                              first.sop_class_uid, job->calling_ae, (long)s.n,
                              first.slice_thickness};
    iso_route_decision d;
    iso_route_decide(env->cfg, &facts, &d);
    snprintf(route, route_size, "%s", d.rule);
    /* a fresh directory per attempt: files an earlier attempt queued stay as they are */
    iso_path work_dir;
    if (iso_layout_job_dir(env->cfg->data_dir, (long long)job->id, job->attempts,
                           (long)time(NULL), &work_dir, err) != ISO_OK) {
        iso_index_files_free(s.f, s.n);
        return err->code;
    }
    if (job->resend) {
        /* The series came again, unchanged: what was forwarded or sent to
         * routed destinations went already; only the sender may be owed its
         * results again. */
        if (!caller_sent_all(&s)) {
            char senders[128];
            name_senders(&s, senders, sizeof senders);
            say(result, result_size,
                "re-sent by %s, which did not send every instance (%s of %zu): nothing returned",
                job->calling_ae, senders, s.n);
            ISO_INFO("job %lld: series %s re-sent by %s, which did not send every instance: "
                     "nothing returned",
                     (long long)job->id, job->series_uid, job->calling_ae);
        } else if (!d.reconstruct || !d.return_results) {
            say(result, result_size, "re-sent by %s: route %s returns no results",
                job->calling_ae, d.rule);
        } else {
            say(result, result_size, "re-sent by %s: ", job->calling_ae);
            rc = reconstruct(env, job, &s, &d, work_dir.s, result, result_size, err);
        }
        iso_index_files_free(s.f, s.n);
        return rc;
    }
    long forwarded = 0;
    if (d.forward_to[0] != '\0')
        rc = forward_originals(env, job->series_uid, &s, d.forward_to, &forwarded, err);
    if (rc == ISO_OK && d.forward_anonymized_to[0] != '\0')
        rc = forward_anonymized(env, &s, d.forward_anonymized_to, work_dir.s, &forwarded, err);
    if (rc == ISO_OK && d.reconstruct)
        rc = reconstruct(env, job, &s, &d, work_dir.s, result, result_size, err);
    else if (rc == ISO_OK && d.ignore)
        say(result, result_size, "stored, ignored (%s)", d.rule);
    else if (rc == ISO_OK)
        say(result, result_size, "stored, not reconstructed (%s)", d.rule);
    if (rc == ISO_OK && forwarded > 0)
        say(result, result_size, "; forwarded %ld files", forwarded);
    iso_index_files_free(s.f, s.n);
    return rc;
}
