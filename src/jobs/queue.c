/* queue.c — the persistent job queue (see queue.h).  One SQLite connection
 * behind a mutex; every change is one statement or one transaction, so a
 * crash leaves each job in exactly one state. */
#include "jobs/queue.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "store/layout.h"
#include "util/dbx.h"
#include "util/json.h"

/* Generated from db/jobs by tools/sql2c.sh. */
extern const char *const iso_jobs_schema_migrations[];
extern const int iso_jobs_schema_version;

struct iso_jobs {
    sqlite3 *db;
    pthread_mutex_t mu;
};

/* Connection settings; the tables come from db/jobs (util/dbx.h). */
static const char settings[] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;";

static iso_code db_fail(iso_jobs *j, iso_err *err, const char *what)
{
    return iso_fail(err, ISO_EDB, "jobs: %s: %s", what, sqlite3_errmsg(j->db));
}

/* Prepares sql and binds the arguments fmt names: t text, i int64, d double. */
static iso_code prepare(iso_jobs *j, sqlite3_stmt **st, const char *sql, const char *fmt,
                        iso_err *err, ...)
{
    if (sqlite3_prepare_v2(j->db, sql, -1, st, NULL) != SQLITE_OK)
        return db_fail(j, err, "prepare");
    va_list ap;
    va_start(ap, err);
    for (int k = 0; fmt[k] != '\0'; k++) {
        if (fmt[k] == 't')
            sqlite3_bind_text(*st, k + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
        else if (fmt[k] == 'i')
            sqlite3_bind_int64(*st, k + 1, va_arg(ap, int64_t));
        else
            sqlite3_bind_double(*st, k + 1, va_arg(ap, double));
    }
    va_end(ap);
    return ISO_OK;
}

/* Runs a prepared statement that returns no rows; *changes (may be NULL). */
static iso_code run(iso_jobs *j, sqlite3_stmt *st, int *changes, iso_err *err)
{
    iso_code rc = sqlite3_step(st) == SQLITE_DONE ? ISO_OK : db_fail(j, err, "step");
    sqlite3_finalize(st);
    if (changes)
        *changes = sqlite3_changes(j->db);
    return rc;
}

void iso_jobs_close(iso_jobs *j)
{
    if (j == NULL)
        return;
    sqlite3_close(j->db);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

iso_code iso_jobs_open(const char *data_dir, int readonly, iso_jobs **out, int *recovered,
                       iso_err *err)
{
    *out = NULL;
    if (recovered)
        *recovered = 0;
    iso_jobs *j = calloc(1, sizeof *j);
    if (j == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    pthread_mutex_init(&j->mu, NULL);
    iso_path path;
    int flags = SQLITE_OPEN_FULLMUTEX |
                (readonly ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    char *msg = NULL;
    iso_code rc = iso_layout_path(data_dir, ISO_DATA_JOBS, &path, err);
    if (rc != ISO_OK) {
        ;
    } else if (sqlite3_open_v2(path.s, &j->db, flags, NULL) != SQLITE_OK) {
        rc = db_fail(j, err, "open");
    } else {
        sqlite3_busy_timeout(j->db, 10000);
        if (!readonly && sqlite3_exec(j->db, settings, NULL, NULL, &msg) != SQLITE_OK)
            rc = iso_fail(err, ISO_EDB, "jobs: %s", msg ? msg : "?");
        else if (!readonly)
            rc = iso_db_migrate(j->db, "jobs", iso_jobs_schema_migrations,
                                iso_jobs_schema_version, err);
    }
    sqlite3_free(msg);
    if (rc == ISO_OK && !readonly) {
        /* a daemon opens the queue: what was running died with the last one */
        sqlite3_stmt *st = NULL;
        int n = 0;
        rc = prepare(j, &st, "UPDATE jobs SET state='queued', next_at=0 WHERE state='running'", "",
                     err);
        if (rc == ISO_OK)
            rc = run(j, st, &n, err);
        if (recovered)
            *recovered = n;
    }
    if (rc != ISO_OK) {
        iso_jobs_close(j);
        return rc;
    }
    *out = j;
    return ISO_OK;
}

/* Runs a prepared query of one integer: its first row's first column into
 * *out (ISO_ENOTFOUND: no row), then finalizes it. */
static iso_code one_int(iso_jobs *j, sqlite3_stmt *st, int64_t *out, const char *what,
                        iso_err *err)
{
    int r = sqlite3_step(st);
    iso_code rc = ISO_OK;
    if (r == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else if (r == SQLITE_DONE)
        rc = iso_fail(err, ISO_ENOTFOUND, "jobs: no %s", what);
    else
        rc = db_fail(j, err, what);
    sqlite3_finalize(st);
    return rc;
}

static iso_code covered_locked(iso_jobs *j, const char *series_uid, int64_t *instances,
                               iso_err *err)
{
    sqlite3_stmt *st = NULL;
    *instances = 0;
    if (prepare(j, &st, "SELECT coalesce(max(instances),0) FROM jobs WHERE series_uid=?", "t",
                err, series_uid) != ISO_OK)
        return err->code;
    return one_int(j, st, instances, "covered", err);
}

/* A new job (resend: for the AE that sent a covered series again). */
static iso_code insert_job(iso_jobs *j, const char *series_uid, const char *calling_ae,
                           int64_t instances, long now, int resend, int64_t *id, iso_err *err)
{
    sqlite3_stmt *st = NULL;
    iso_code rc = prepare(j, &st,
                          "INSERT INTO jobs(series_uid, calling_ae, instances, created, resend) "
                          "VALUES (?,?,?,?,?)",
                          "ttiii", err, series_uid, calling_ae, instances, (int64_t)now,
                          (int64_t)resend);
    if (rc == ISO_OK)
        rc = run(j, st, NULL, err);
    if (rc == ISO_OK && id)
        *id = sqlite3_last_insert_rowid(j->db);
    return rc;
}

iso_code iso_jobs_covered(iso_jobs *j, const char *series_uid, int64_t *instances, iso_err *err)
{
    pthread_mutex_lock(&j->mu);
    iso_code rc = covered_locked(j, series_uid, instances, err);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

iso_code iso_jobs_add(iso_jobs *j, const char *series_uid, const char *calling_ae,
                      int64_t instances, long now, int64_t *id, iso_err *err)
{
    if (id)
        *id = 0;
    pthread_mutex_lock(&j->mu);
    int64_t covered = 0;
    iso_code rc = covered_locked(j, series_uid, &covered, err);
    sqlite3_stmt *st = NULL;
    int changed = 0;
    if (rc == ISO_OK && instances <= covered) {
        /* a re-send: one job for this AE unless one has still to run */
        int64_t pending = 0;
        rc = prepare(j, &st,
                     "SELECT count(*) FROM jobs WHERE series_uid=? AND calling_ae=? AND "
                     "state IN ('queued','failed')",
                     "tt", err, series_uid, calling_ae);
        if (rc == ISO_OK)
            rc = one_int(j, st, &pending, "pending", err);
        if (rc == ISO_OK && pending == 0)
            rc = insert_job(j, series_uid, calling_ae, instances, now, 1, id, err);
    } else if (rc == ISO_OK) {
        /* a job of the series still waiting takes the new count instead */
        rc = prepare(j, &st,
                     "UPDATE jobs SET instances=?, calling_ae=?, resend=0 WHERE series_uid=? AND "
                     "state='queued' AND attempts=0",
                     "itt", err, instances, calling_ae, series_uid);
        if (rc == ISO_OK)
            rc = run(j, st, &changed, err);
        if (rc == ISO_OK && changed == 0)
            rc = insert_job(j, series_uid, calling_ae, instances, now, 0, id, err);
    }
    pthread_mutex_unlock(&j->mu);
    return rc;
}

iso_code iso_jobs_claim(iso_jobs *j, long now, iso_job *job, iso_err *err)
{
    memset(job, 0, sizeof *job);
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = prepare(j, &st,
                          "SELECT id, series_uid, calling_ae, instances, attempts, created, "
                          "resend FROM jobs WHERE state IN ('queued','failed') AND next_at <= ? AND "
                          "series_uid NOT IN (SELECT series_uid FROM jobs WHERE state='running') "
                          "ORDER BY id LIMIT 1",
                          "i", err, (int64_t)now);
    if (rc == ISO_OK) {
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            job->id = sqlite3_column_int64(st, 0);
            snprintf(job->series_uid, sizeof job->series_uid, "%s", sqlite3_column_text(st, 1));
            snprintf(job->calling_ae, sizeof job->calling_ae, "%s", sqlite3_column_text(st, 2));
            job->instances = sqlite3_column_int64(st, 3);
            job->attempts = sqlite3_column_int(st, 4) + 1;
            job->created = (long)sqlite3_column_int64(st, 5);
            job->resend = sqlite3_column_int(st, 6);
        } else if (r == SQLITE_DONE) {
            rc = iso_fail(err, ISO_ENOTFOUND, "no job due");
        } else {
            rc = db_fail(j, err, "claim");
        }
        sqlite3_finalize(st);
    }
    if (rc == ISO_OK) {
        rc = prepare(j, &st,
                     "UPDATE jobs SET state='running', attempts=?, started=? WHERE id=?", "iii",
                     err, (int64_t)job->attempts, (int64_t)now, job->id);
        if (rc == ISO_OK)
            rc = run(j, st, NULL, err);
    }
    pthread_mutex_unlock(&j->mu);
    return rc;
}

iso_code iso_jobs_done(iso_jobs *j, int64_t id, const char *route, const char *result,
                       double seconds, long now, iso_err *err)
{
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = prepare(j, &st,
                          "UPDATE jobs SET state='done', route=?, result=?, seconds=?, finished=?, "
                          "reason='' WHERE id=?",
                          "ttdii", err, route, result, seconds, (int64_t)now, id);
    if (rc == ISO_OK)
        rc = run(j, st, NULL, err);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

iso_code iso_jobs_note_version(iso_jobs *j, int64_t id, const char *version, iso_err *err)
{
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = prepare(j, &st, "UPDATE jobs SET version=? WHERE id=?", "ti", err, version, id);
    if (rc == ISO_OK)
        rc = run(j, st, NULL, err);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

iso_code iso_jobs_note_content(iso_jobs *j, int64_t id, const char *series_uid,
                               const char *content, int *seen_before, iso_err *err)
{
    *seen_before = 0;
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = prepare(j, &st,
                          "SELECT count(*) FROM jobs WHERE series_uid=? AND content=? AND id<>?",
                          "tti", err, series_uid, content, id);
    int64_t seen = 0;
    if (rc == ISO_OK)
        rc = one_int(j, st, &seen, "content", err);
    *seen_before = seen > 0;
    if (rc == ISO_OK)
        rc = prepare(j, &st, "UPDATE jobs SET content=? WHERE id=?", "ti", err, content, id);
    if (rc == ISO_OK)
        rc = run(j, st, NULL, err);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

iso_code iso_jobs_version_created(iso_jobs *j, const char *series_uid, const char *version,
                                  long *created, iso_err *err)
{
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = prepare(j, &st,
                          "SELECT created FROM jobs WHERE series_uid=? AND version=? "
                          "ORDER BY id LIMIT 1",
                          "tt", err, series_uid, version);
    int64_t when = 0;
    if (rc == ISO_OK && (rc = one_int(j, st, &when, "job that made this version", err)) == ISO_OK)
        *created = (long)when;
    pthread_mutex_unlock(&j->mu);
    return rc;
}

iso_code iso_jobs_failed(iso_jobs *j, const iso_job *job, const char *reason, long max_attempts,
                         long now, iso_err *err)
{
    int dead = job->attempts >= max_attempts;
    long wait = 30L << (job->attempts > 6 ? 6 : job->attempts - 1); /* 30 s, 60 s, ... 32 min */
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = prepare(j, &st,
                          "UPDATE jobs SET state=?, reason=?, next_at=?, finished=? WHERE id=?",
                          "ttiii", err, dead ? "dead" : "failed", reason, (int64_t)(now + wait),
                          (int64_t)now, job->id);
    if (rc == ISO_OK)
        rc = run(j, st, NULL, err);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

/* ---- operator commands ---- */

enum { NCOLS = 16 };
static const char *const col_sql =
    "SELECT id, state, series_uid, calling_ae, instances, attempts, "
    "strftime('%Y-%m-%dT%H:%M:%SZ',created,'unixepoch'), "
    "coalesce(strftime('%Y-%m-%dT%H:%M:%SZ',started,'unixepoch'),''), "
    "coalesce(strftime('%Y-%m-%dT%H:%M:%SZ',finished,'unixepoch'),''), "
    "coalesce(round(seconds,3),''), route, result, reason, "
    "CASE WHEN state='failed' THEN strftime('%Y-%m-%dT%H:%M:%SZ',next_at,'unixepoch') ELSE '' END, "
    "CASE WHEN resend THEN 'resend' ELSE 'new' END, version FROM jobs";
static const char *const col_names[NCOLS] = {
    "id",       "state",   "SeriesInstanceUID", "calling_ae", "instances", "attempts", "created",
    "started",  "finished", "seconds",          "route",      "result",    "reason",   "next_try",
    "kind",     "version"};
static const int col_number[NCOLS] = {1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};

static void print_json_row(sqlite3_stmt *st, FILE *out, const char *delivery)
{
    fputc('{', out);
    if (delivery != NULL) {
        iso_json_string(out, "delivery");
        fputs(": ", out);
        iso_json_string(out, delivery);
        fputs(", ", out);
    }
    for (int k = 0; k < NCOLS; k++) {
        const char *v = (const char *)sqlite3_column_text(st, k);
        fprintf(out, "%s", k ? ", " : "");
        iso_json_string(out, col_names[k]);
        fputs(": ", out);
        if (col_number[k] && v != NULL && v[0] != '\0')
            fputs(v, out);
        else if (col_number[k])
            fputs("null", out);
        else
            iso_json_string(out, v ? v : "");
    }
    fputc('}', out);
}

/* The jobs in id order, or the latest `latest` of them (0: all). */
static iso_code list_jobs(iso_jobs *j, FILE *out, int json, int latest, iso_job_note_fn note,
                          void *note_ctx, iso_err *err)
{
    pthread_mutex_lock(&j->mu);
    char sql[1024];
    if (latest > 0)
        snprintf(sql, sizeof sql, "SELECT * FROM (%s ORDER BY id DESC LIMIT %d) ORDER BY id",
                 col_sql, latest);
    else
        snprintf(sql, sizeof sql, "%s ORDER BY id", col_sql);
    sqlite3_stmt *st = NULL;
    iso_code rc = prepare(j, &st, sql, "", err);
    if (rc == ISO_OK) {
        if (json)
            fputc('[', out);
        else
            fprintf(out, "id\tstate\tattempts\tinstances\tseconds\tseries\tresult / reason\n");
        int first = 1, r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            char delivery[512] = "";
            if (note != NULL)
                note(note_ctx, sqlite3_column_int64(st, 0), delivery, sizeof delivery);
            if (json) {
                fputs(first ? "\n  " : ",\n  ", out);
                print_json_row(st, out, note != NULL ? delivery : NULL);
            } else {
                const char *reason = (const char *)sqlite3_column_text(st, 12);
                fprintf(out, "%s\t%s\t%s\t%s\t%s\t%s\t%s%s%s\n", sqlite3_column_text(st, 0),
                        sqlite3_column_text(st, 1), sqlite3_column_text(st, 5),
                        sqlite3_column_text(st, 4), sqlite3_column_text(st, 9),
                        sqlite3_column_text(st, 2),
                        reason && reason[0] ? reason : (const char *)sqlite3_column_text(st, 11),
                        delivery[0] ? "; " : "", delivery);
            }
            first = 0;
        }
        if (json)
            fputs(first ? "]\n" : "\n]\n", out);
        if (r != SQLITE_DONE)
            rc = db_fail(j, err, "list");
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&j->mu);
    return rc;
}

iso_code iso_jobs_list(iso_jobs *j, FILE *out, int json, iso_job_note_fn note, void *note_ctx,
                       iso_err *err)
{
    return list_jobs(j, out, json, 0, note, note_ctx, err);
}

iso_code iso_jobs_list_latest(iso_jobs *j, FILE *out, int latest, iso_job_note_fn note,
                              void *note_ctx, iso_err *err)
{
    return list_jobs(j, out, 1, latest > 0 ? latest : 1, note, note_ctx, err);
}

iso_code iso_jobs_reconstructed(iso_jobs *j, int max, iso_done_job *out, int *n, iso_err *err)
{
    *n = 0;
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = prepare(j, &st,
                          "SELECT id, series_uid, version, strftime('%Y-%m-%dT%H:%M:%SZ',finished,"
                          "'unixepoch'), coalesce(seconds,0), result FROM jobs WHERE state='done' "
                          "AND version != '' AND result LIKE '%reconstructed % surfaces%' "
                          "ORDER BY id DESC LIMIT ?",
                          "i", err, (int64_t)max);
    int r = SQLITE_DONE;
    while (rc == ISO_OK && *n < max && (r = sqlite3_step(st)) == SQLITE_ROW) {
        iso_done_job *d = &out[(*n)++];
        d->id = sqlite3_column_int64(st, 0);
        snprintf(d->series_uid, sizeof d->series_uid, "%.64s", sqlite3_column_text(st, 1));
        snprintf(d->version, sizeof d->version, "%.64s", sqlite3_column_text(st, 2));
        snprintf(d->finished, sizeof d->finished, "%.23s", sqlite3_column_text(st, 3));
        d->seconds = sqlite3_column_double(st, 4);
        snprintf(d->result, sizeof d->result, "%s", sqlite3_column_text(st, 5));
    }
    if (rc == ISO_OK && r != SQLITE_DONE && r != SQLITE_ROW)
        rc = db_fail(j, err, "reconstructed");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

iso_code iso_jobs_get_done(iso_jobs *j, int64_t id, iso_done_job *out, iso_err *err)
{
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = prepare(j, &st,
                          "SELECT series_uid, version FROM jobs WHERE id=? AND state='done' AND "
                          "version != ''",
                          "i", err, id);
    if (rc == ISO_OK) {
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            memset(out, 0, sizeof *out);
            out->id = id;
            snprintf(out->series_uid, sizeof out->series_uid, "%.64s", sqlite3_column_text(st, 0));
            snprintf(out->version, sizeof out->version, "%.64s", sqlite3_column_text(st, 1));
        } else {
            rc = r == SQLITE_DONE ? iso_fail(err, ISO_ENOTFOUND, "no finished job %lld",
                                             (long long)id)
                                  : db_fail(j, err, "get");
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

iso_code iso_jobs_hourly(iso_jobs *j, long now, iso_jobs_hour hours[24], iso_err *err)
{
    memset(hours, 0, 24 * sizeof *hours);
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = prepare(j, &st,
                          "SELECT (?1 - finished) / 3600 AS h, count(*), avg(finished - created), "
                          "max(finished - created), avg(seconds) FROM jobs WHERE finished > ?1 - "
                          "86400 AND finished <= ?1 AND state IN ('done','failed','dead') GROUP BY h",
                          "i", err, (int64_t)now);
    int r = SQLITE_DONE;
    while (rc == ISO_OK && (r = sqlite3_step(st)) == SQLITE_ROW) {
        int h = sqlite3_column_int(st, 0);
        if (h < 0 || h > 23)
            continue;
        hours[h].jobs = sqlite3_column_int(st, 1);
        hours[h].mean_latency = sqlite3_column_double(st, 2);
        hours[h].max_latency = sqlite3_column_double(st, 3);
        hours[h].mean_seconds = sqlite3_column_double(st, 4);
    }
    if (rc == ISO_OK && r != SQLITE_DONE)
        rc = db_fail(j, err, "hourly");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

iso_code iso_jobs_show(iso_jobs *j, int64_t id, FILE *out, iso_err *err)
{
    pthread_mutex_lock(&j->mu);
    char sql[1024];
    snprintf(sql, sizeof sql, "%s WHERE id=?", col_sql);
    sqlite3_stmt *st = NULL;
    iso_code rc = prepare(j, &st, sql, "i", err, id);
    if (rc == ISO_OK) {
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            for (int k = 0; k < NCOLS; k++)
                fprintf(out, "%-18s %s\n", col_names[k], sqlite3_column_text(st, k));
        } else {
            rc = r == SQLITE_DONE ? iso_fail(err, ISO_ENOTFOUND, "no job %lld", (long long)id)
                                  : db_fail(j, err, "show");
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&j->mu);
    return rc;
}

static iso_code change_state(iso_jobs *j, int64_t id, const char *sql, const char *what,
                             iso_err *err)
{
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = NULL;
    int n = 0;
    iso_code rc = prepare(j, &st, sql, "i", err, id);
    if (rc == ISO_OK)
        rc = run(j, st, &n, err);
    pthread_mutex_unlock(&j->mu);
    if (rc == ISO_OK && n == 0)
        rc = iso_fail(err, ISO_ENOTFOUND, "no job %lld that can be %s", (long long)id, what);
    return rc;
}

iso_code iso_jobs_retry(iso_jobs *j, int64_t id, iso_err *err)
{
    return change_state(j, id,
                        "UPDATE jobs SET state='queued', attempts=0, next_at=0, reason='' "
                        "WHERE id=? AND state IN ('done','failed','dead','cancelled')",
                        "retried", err);
}

iso_code iso_jobs_cancel(iso_jobs *j, int64_t id, iso_err *err)
{
    return change_state(j, id,
                        "UPDATE jobs SET state='cancelled' WHERE id=? AND "
                        "state IN ('queued','failed','dead')",
                        "cancelled", err);
}

iso_code iso_jobs_summary(iso_jobs *j, char *out, size_t size, iso_err *err)
{
    pthread_mutex_lock(&j->mu);
    iso_code rc = iso_db_state_counts(j->db, "jobs", out, size, err);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

iso_code iso_jobs_series_state(iso_jobs *j, const char *series_uid, bool *busy, int64_t *ids,
                               size_t max, size_t *n, iso_err *err)
{
    *busy = false;
    *n = 0;
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = prepare(j, &st, "SELECT id, state IN ('queued','running','failed') FROM jobs "
                                  "WHERE series_uid=? ORDER BY id",
                          "t", err, series_uid);
    if (rc == ISO_OK) {
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            *busy = *busy || sqlite3_column_int(st, 1) != 0;
            if (*n < max)
                ids[(*n)++] = sqlite3_column_int64(st, 0);
        }
        if (r != SQLITE_DONE)
            rc = db_fail(j, err, "series state");
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&j->mu);
    return rc;
}

iso_code iso_jobs_series_route(iso_jobs *j, const char *series_uid, char *route, size_t size,
                               iso_err *err)
{
    route[0] = '\0';
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = prepare(j, &st, "SELECT route FROM jobs WHERE series_uid=? AND route != '' "
                                  "ORDER BY id DESC LIMIT 1",
                          "t", err, series_uid);
    if (rc == ISO_OK) {
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW)
            snprintf(route, size, "%s", (const char *)sqlite3_column_text(st, 0));
        else if (r != SQLITE_DONE)
            rc = db_fail(j, err, "series route");
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&j->mu);
    return rc;
}
