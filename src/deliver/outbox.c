/* outbox.c — the persistent delivery queue (see outbox.h). */
#include "deliver/outbox.h"
#include "deliver/outbox_db.h"
#include "deliver/commit_requests.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dicom/dicom.h"
#include "net/peer.h"
#include "store/layout.h"
#include "util/dbx.h"
#include "util/fsx.h"
#include "util/json.h"
#include "util/log.h"

/* Generated from db/outbox by tools/sql2c.sh. */
extern const char *const iso_outbox_schema_migrations[];
extern const int iso_outbox_schema_version;

struct iso_outbox {
    sqlite3 *db;
    pthread_mutex_t mu; /* one connection, used by the destination threads in turn */
    iso_metrics *metrics; /* deliveries by result (NULL: not counted) */
};

void iso_outbox_set_metrics(iso_outbox *o, iso_metrics *m)
{
    o->metrics = m;
}

iso_metrics *iso_outbox_metrics(iso_outbox *o)
{
    return o->metrics;
}

/* Connection settings; the table comes from db/outbox (util/dbx.h). */
static const char settings[] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;";

static iso_code db_fail(iso_outbox *o, iso_err *err, const char *what)
{
    return iso_fail(err, ISO_EDB, "outbox: %s: %s", what, sqlite3_errmsg(o->db));
}

void iso_outbox_close(iso_outbox *o)
{
    if (o == NULL)
        return;
    sqlite3_close(o->db);
    pthread_mutex_destroy(&o->mu);
    free(o);
}

iso_code iso_outbox_open(const char *data_dir, iso_outbox **out, iso_err *err)
{
    *out = NULL;
    iso_outbox *o = calloc(1, sizeof *o);
    if (o == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    pthread_mutex_init(&o->mu, NULL);
    iso_path path;
    char *msg = NULL;
    iso_code rc = iso_layout_path(data_dir, ISO_DATA_OUTBOX, &path, err);
    if (rc != ISO_OK)
        ;
    else if (sqlite3_open_v2(path.s, &o->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                          SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK)
        rc = db_fail(o, err, "open");
    else if (sqlite3_busy_timeout(o->db, 10000), sqlite3_exec(o->db, settings, NULL, NULL, &msg) != SQLITE_OK)
        rc = iso_fail(err, ISO_EDB, "outbox: %s", msg ? msg : "?");
    else
        rc = iso_db_migrate(o->db, "outbox", iso_outbox_schema_migrations,
                            iso_outbox_schema_version, err);
    sqlite3_free(msg);
    if (rc != ISO_OK) {
        iso_outbox_close(o);
        return rc;
    }
    *out = o;
    return ISO_OK;
}

iso_code iso_outbox_add(iso_outbox *o, const char *peer, const char *path, const char *sop_uid,
                        const char *sha256, long again_before, iso_err *err)
{
    pthread_mutex_lock(&o->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = ISO_OK;
    /* sent_at is text in UTC ISO 8601, which orders as time does */
    if (sqlite3_prepare_v2(
            o->db,
            "INSERT INTO outbox(dest, path, sop_uid, sha256) VALUES (?1,?2,?3,?4) "
            "ON CONFLICT (dest, sop_uid, sha256) DO UPDATE SET state='queued', path=excluded.path, "
            "attempts=0, next_at=0, last_error='', sent_at=NULL WHERE ?5 > 0 AND "
            "state IN ('sent','committed','dead') AND "
            "coalesce(sent_at, created) < strftime('%Y-%m-%dT%H:%M:%SZ', ?5, 'unixepoch')",
            -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(o, err, "prepare");
    } else {
        sqlite3_bind_text(st, 1, peer, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, sop_uid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, sha256, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, again_before);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_fail(o, err, "insert");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&o->mu);
    return rc;
}

/* ---- a round ---- */

enum { BATCH = 256, MAX_DESTS = 64 };

typedef struct dest_job {
    iso_outbox *o;
    const iso_config *cfg;
    iso_tls *tls;
    long now;
    char dest[64];
    int sent;
    iso_err err;
} dest_job;

long iso_outbox_backoff(const iso_config *cfg, long attempts)
{
    long delay = cfg->ob_retry_base_seconds;
    for (long k = 1; k < attempts && delay < cfg->ob_retry_max_seconds; k++)
        delay *= 2;
    return delay > cfg->ob_retry_max_seconds ? cfg->ob_retry_max_seconds : delay;
}

sqlite3 *iso_outbox_db_lock(iso_outbox *o)
{
    pthread_mutex_lock(&o->mu);
    return o->db;
}

void iso_outbox_db_unlock(iso_outbox *o)
{
    pthread_mutex_unlock(&o->mu);
}

/* Marks the outcome of one item (under the lock, inside a transaction):
 * delivered to a peer asked to commit (commit_request > 0), it awaits the
 * commitment. */
static void mark(iso_outbox *o, const iso_config *cfg, long id, int ok, const char *why, long now,
                 int attempts, sqlite3_int64 commit_request)
{
    sqlite3_stmt *st = NULL;
    if (ok) {
        sqlite3_prepare_v2(o->db,
                           "UPDATE outbox SET state=CASE WHEN ?2 > 0 THEN 'awaiting' ELSE 'sent' "
                           "END, commit_request=CASE WHEN ?2 > 0 THEN ?2 END, attempts=attempts+1, "
                           "last_error='', sent_at=strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id=?1",
                           -1, &st, NULL);
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, commit_request);
    } else {
        long n = attempts + 1;
        long delay = iso_outbox_backoff(cfg, n);
        sqlite3_prepare_v2(o->db,
                           "UPDATE outbox SET attempts=?, last_error=?, next_at=?, "
                           "state=CASE WHEN ? >= ? THEN 'dead' ELSE 'queued' END WHERE id=?",
                           -1, &st, NULL);
        sqlite3_bind_int64(st, 1, n);
        sqlite3_bind_text(st, 2, why, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, now + delay);
        sqlite3_bind_int64(st, 4, n);
        sqlite3_bind_int64(st, 5, cfg->ob_max_attempts);
        sqlite3_bind_int64(st, 6, id);
    }
    if (st == NULL || sqlite3_step(st) != SQLITE_DONE)
        ISO_ERROR("outbox: cannot record the outcome of item %ld: %s", id, sqlite3_errmsg(o->db));
    sqlite3_finalize(st);
}

static void *serve_dest(void *arg)
{
    dest_job *j = arg;
    iso_outbox *o = j->o;
    long ids[BATCH];
    int attempts[BATCH];
    char *paths[BATCH];
    size_t n = 0;
    pthread_mutex_lock(&o->mu);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(o->db,
                           "SELECT id, path, attempts FROM outbox WHERE dest=? AND state='queued' "
                           "AND next_at<=? ORDER BY id LIMIT ?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, j->dest, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, j->now);
        sqlite3_bind_int(st, 3, BATCH);
        while (n < BATCH && sqlite3_step(st) == SQLITE_ROW) {
            ids[n] = sqlite3_column_int64(st, 0);
            paths[n] = strdup((const char *)sqlite3_column_text(st, 1));
            attempts[n] = sqlite3_column_int(st, 2);
            if (paths[n] == NULL)
                break;
            n++;
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&o->mu);
    if (n == 0)
        return NULL;
    const iso_peer *peer = iso_config_peer_by_name(j->cfg, j->dest);
    uint16_t statuses[BATCH];
    iso_err e = {0};
    iso_code rc;
    if (peer == NULL) {
        rc = iso_fail(&e, ISO_ECONFIG, "no [peer %s] configured", j->dest);
    } else {
        iso_scu_params p;
        rc = iso_peer_scu_params(j->cfg, peer, j->tls, &p, &e);
        if (rc == ISO_OK)
            rc = iso_dcm_scu_send_files(&p, (const char *const *)paths, n, statuses, &e);
    }
    /* success and warnings (0xB000, 0x0107, 0x0116) delivered the object */
    int ok[BATCH];
    const char *delivered[BATCH];
    size_t n_ok = 0;
    for (size_t i = 0; i < n; i++) {
        ok[i] = rc == ISO_OK && (statuses[i] == 0x0000 || (statuses[i] & 0xF000) == 0xB000 ||
                                 statuses[i] == 0x0107 || statuses[i] == 0x0116);
        if (ok[i])
            delivered[n_ok++] = paths[i];
    }
    pthread_mutex_lock(&o->mu);
    sqlite3_exec(o->db, "BEGIN", NULL, NULL, NULL);
    /* a peer asked to commit gets one request for what this association
     * delivered, written with the outcomes, before it is asked */
    sqlite3_int64 request = 0;
    char transaction_uid[65] = "";
    iso_err ce = {0};
    if (n_ok > 0 && peer != NULL && peer->storage_commitment &&
        iso_commit_request_new(o->db, j->dest, j->now, &request, transaction_uid, &ce) != ISO_OK) {
        ISO_ERROR("outbox: %s (the objects count as sent, without commitment)", ce.msg);
        request = 0;
    }
    for (size_t i = 0; i < n; i++) {
        char why[sizeof e.msg];
        if (rc != ISO_OK) {
            snprintf(why, sizeof why, "%s", e.msg);
        } else if (!ok[i]) {
            /* what was refused, by whom, with which status: where people look */
            char cls[65] = "", uid[65] = "";
            iso_err ie = {0};
            if (iso_dcm_file_ids(paths[i], cls, uid, &ie) != ISO_OK)
                snprintf(cls, sizeof cls, "?");
            snprintf(why, sizeof why, "status 0x%04X (%s)%s", statuses[i],
                     iso_dcm_uid_name(cls), statuses[i] == 0xFFFF ? ": no presentation context" : "");
            /* the item id, not the SOP Instance UID: a forward_to route of a
             * de-identifying node sends kept originals, whose UIDs are PHI */
            ISO_WARN("outbox: %s refused %s (outbox item %ld): %s", j->dest,
                     iso_dcm_uid_name(cls), ids[i], why);
        } else {
            why[0] = '\0';
        }
        mark(o, j->cfg, ids[i], ok[i], why, j->now, attempts[i], request);
        j->sent += ok[i];
    }
    iso_metrics_delivery(o->metrics, ISO_DELIVERY_DELIVERED, (unsigned long)n_ok);
    iso_metrics_delivery(o->metrics, rc == ISO_OK ? ISO_DELIVERY_REFUSED : ISO_DELIVERY_NOT_SENT,
                         (unsigned long)(n - n_ok));
    bool committed = sqlite3_exec(o->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
    if (!committed)
        ISO_ERROR("outbox: commit: %s", sqlite3_errmsg(o->db));
    pthread_mutex_unlock(&o->mu);
    if (rc != ISO_OK)
        ISO_WARN("outbox: %zu object(s) for %s not sent: %s", n, j->dest, e.msg);
    else
        iso_log(j->sent == (int)n ? ISO_LOG_INFO : ISO_LOG_WARN,
                "outbox: %d of %zu object(s) delivered to %s%s", j->sent, n, j->dest,
                j->sent == (int)n ? "" : " (the refusals are logged above)");
    if (committed && request > 0)
        iso_commit_request_send(o, j->cfg, j->tls, request, j->dest, transaction_uid, delivered,
                                n_ok);
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    return NULL;
}

iso_code iso_outbox_run(iso_outbox *o, const iso_config *cfg, iso_tls *tls, long now, int *sent,
                        iso_err *err)
{
    if (sent)
        *sent = 0;
    dest_job jobs[MAX_DESTS];
    int nd = 0;
    pthread_mutex_lock(&o->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = ISO_OK;
    if (sqlite3_prepare_v2(o->db,
                           "SELECT DISTINCT dest FROM outbox WHERE state='queued' AND next_at<=?",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(o, err, "prepare");
    } else {
        sqlite3_bind_int64(st, 1, now);
        while (nd < MAX_DESTS && sqlite3_step(st) == SQLITE_ROW) {
            memset(&jobs[nd], 0, sizeof jobs[nd]);
            jobs[nd].o = o;
            jobs[nd].cfg = cfg;
            jobs[nd].tls = tls;
            jobs[nd].now = now;
            snprintf(jobs[nd].dest, sizeof jobs[nd].dest, "%s", sqlite3_column_text(st, 0));
            nd++;
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&o->mu);
    if (rc != ISO_OK)
        return rc;
    pthread_t tid[MAX_DESTS];
    int started[MAX_DESTS] = {0};
    for (int i = 0; i < nd; i++)
        started[i] = pthread_create(&tid[i], NULL, serve_dest, &jobs[i]) == 0;
    for (int i = 0; i < nd; i++) {
        if (started[i])
            pthread_join(tid[i], NULL);
        else
            serve_dest(&jobs[i]); /* no thread: serve it here */
        if (sent)
            *sent += jobs[i].sent;
    }
    return ISO_OK;
}

iso_code iso_outbox_list(iso_outbox *o, FILE *out, int json, iso_err *err)
{
    pthread_mutex_lock(&o->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = ISO_OK;
    if (sqlite3_prepare_v2(o->db,
                           "SELECT id, dest, state, attempts, CASE WHEN next_at > 0 THEN "
                           "strftime('%Y-%m-%dT%H:%M:%SZ', next_at, 'unixepoch') ELSE '' END, "
                           "sop_uid, last_error, path, created, coalesce(sent_at,'') FROM outbox "
                           "ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(o, err, "prepare");
    } else {
        int first = 1;
        if (json)
            fputc('[', out);
        else
            fprintf(out, "id\tdestination\tstate\tattempts\tnext_at\tsop_instance_uid\tlast_error\n");
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *c[10];
            for (int k = 0; k < 10; k++)
                c[k] = (const char *)sqlite3_column_text(st, k);
            if (!json) {
                fprintf(out, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c[0], c[1], c[2], c[3], c[4], c[5],
                        c[6]);
                continue;
            }
            static const char *const keys[] = {"id", "destination", "state", "attempts",
                                               "next_at", "SOPInstanceUID", "last_error",
                                               "path", "created", "sent_at"};
            fprintf(out, "%s\n  {", first ? "" : ",");
            first = 0;
            for (int k = 0; k < 10; k++) {
                fprintf(out, "%s", k ? ", " : "");
                iso_json_string(out, keys[k]);
                fputs(": ", out);
                if (k == 0 || k == 3)
                    fputs(c[k], out);
                else
                    iso_json_string(out, c[k] ? c[k] : "");
            }
            fputc('}', out);
        }
        if (json)
            fputs("\n]\n", out);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&o->mu);
    return rc;
}

iso_code iso_outbox_retry(iso_outbox *o, long id, iso_err *err)
{
    pthread_mutex_lock(&o->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = ISO_OK;
    const char *sql = id < 0 ? "UPDATE outbox SET state='queued', next_at=0, attempts=0 WHERE state='dead'"
                             : "UPDATE outbox SET state='queued', next_at=0, attempts=0 WHERE id=? "
                               "AND state IN ('queued','dead')";
    if (sqlite3_prepare_v2(o->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(o, err, "prepare");
    } else {
        if (id >= 0)
            sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_fail(o, err, "update");
        else if (id >= 0 && sqlite3_changes(o->db) == 0)
            rc = iso_fail(err, ISO_ENOTFOUND, "no queued or dead item %ld", id);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&o->mu);
    return rc;
}

iso_code iso_outbox_purge(iso_outbox *o, int *removed, iso_err *err)
{
    pthread_mutex_lock(&o->mu);
    iso_code rc = ISO_OK;
    if (sqlite3_exec(o->db, "DELETE FROM outbox WHERE state IN ('sent','committed','dead')", NULL, NULL, NULL) !=
        SQLITE_OK)
        rc = db_fail(o, err, "delete");
    *removed = sqlite3_changes(o->db);
    /* requests settled and no longer referred to go with them */
    if (rc == ISO_OK &&
        sqlite3_exec(o->db,
                     "DELETE FROM commit_requests WHERE state IN ('reported','expired') AND NOT "
                     "EXISTS (SELECT 1 FROM outbox WHERE commit_request = commit_requests.id)",
                     NULL, NULL, NULL) != SQLITE_OK)
        rc = db_fail(o, err, "delete requests");
    pthread_mutex_unlock(&o->mu);
    return rc;
}

iso_code iso_outbox_clean_results(iso_outbox *o, const char *data_dir, long min_age, long now,
                                  int *removed, iso_err *err)
{
    *removed = 0;
    iso_path dir;
    if (iso_layout_path(data_dir, ISO_DATA_RESULTS, &dir, err) != ISO_OK)
        return err->code;
    DIR *d = opendir(dir.s);
    if (d == NULL)
        return errno == ENOENT ? ISO_OK
                               : iso_fail(err, ISO_EIO, "open %s: %s", dir.s, strerror(errno));
    iso_code rc = ISO_OK;
    struct dirent *e;
    while (rc == ISO_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] != 'J')
            continue;
        iso_path path, prefix;
        struct stat st;
        if (iso_path_fmt(&path, err, "%s/%s", dir.s, e->d_name) != ISO_OK ||
            iso_path_fmt(&prefix, err, "%s/", path.s) != ISO_OK) {
            rc = err->code;
            break;
        }
        if (lstat(path.s, &st) != 0 || !S_ISDIR(st.st_mode) || now - (long)st.st_mtime < min_age)
            continue;
        pthread_mutex_lock(&o->mu);
        sqlite3_stmt *q = NULL;
        int in_use = 1;
        if (sqlite3_prepare_v2(o->db,
                               "SELECT 1 FROM outbox WHERE state IN ('queued','awaiting','dead') AND "
                               "substr(path, 1, length(?1)) = ?1 LIMIT 1",
                               -1, &q, NULL) != SQLITE_OK) {
            rc = db_fail(o, err, "prepare");
        } else {
            sqlite3_bind_text(q, 1, prefix.s, -1, SQLITE_STATIC);
            int r = sqlite3_step(q);
            if (r == SQLITE_DONE)
                in_use = 0;
            else if (r != SQLITE_ROW)
                rc = db_fail(o, err, "results in use");
        }
        sqlite3_finalize(q);
        pthread_mutex_unlock(&o->mu);
        if (rc == ISO_OK && !in_use) {
            rc = fsx_remove_tree(path.s, err);
            if (rc == ISO_OK)
                (*removed)++;
        }
    }
    closedir(d);
    return rc;
}

iso_code iso_outbox_summary(iso_outbox *o, char *out, size_t size, iso_err *err)
{
    pthread_mutex_lock(&o->mu);
    iso_code rc = iso_db_state_counts(o->db, "outbox", out, size, err);
    pthread_mutex_unlock(&o->mu);
    return rc;
}

iso_code iso_outbox_job_summary(iso_outbox *o, const char *data_dir, long long job_id, char *out,
                                size_t size, iso_err *err)
{
    out[0] = '\0';
    iso_path results, prefix;
    if (iso_layout_path(data_dir, ISO_DATA_RESULTS, &results, err) != ISO_OK ||
        iso_path_fmt(&prefix, err, "%s/J%lld.", results.s, job_id) != ISO_OK)
        return err->code;
    pthread_mutex_lock(&o->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = ISO_OK;
    if (sqlite3_prepare_v2(o->db,
                           "SELECT dest, sum(state IN ('sent','committed')), count(*), "
                           "sum(state = 'awaiting'), sum(state = 'queued'), sum(state = 'dead'), "
                           "max(CASE WHEN state IN ('queued','dead') THEN last_error END) "
                           "FROM outbox WHERE substr(path, 1, length(?1)) = ?1 GROUP BY dest "
                           "ORDER BY dest",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(o, err, "prepare");
    } else {
        sqlite3_bind_text(st, 1, prefix.s, -1, SQLITE_STATIC);
        size_t used = 0;
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW && used + 1 < size) {
            const char *dest = (const char *)sqlite3_column_text(st, 0);
            long done = sqlite3_column_int64(st, 1), all = sqlite3_column_int64(st, 2);
            long awaiting = sqlite3_column_int64(st, 3), queued = sqlite3_column_int64(st, 4);
            long dead = sqlite3_column_int64(st, 5);
            const char *last = (const char *)sqlite3_column_text(st, 6);
            int w = snprintf(out + used, size - used, "%sdelivered %ld of %ld to %s", used ? "; " : "",
                             done, all, dest);
            if (w > 0 && awaiting > 0)
                w += snprintf(out + used + (size_t)w, size - used - (size_t)w,
                              ", %ld awaiting commitment", awaiting);
            if (w > 0 && queued > 0 && (size_t)w < size - used)
                w += snprintf(out + used + (size_t)w, size - used - (size_t)w, ", %ld to retry",
                              queued);
            if (w > 0 && dead > 0 && (size_t)w < size - used)
                w += snprintf(out + used + (size_t)w, size - used - (size_t)w, ", %ld refused",
                              dead);
            if (w > 0 && (queued > 0 || dead > 0) && last != NULL && (size_t)w < size - used)
                w += snprintf(out + used + (size_t)w, size - used - (size_t)w, " (%s)", last);
            if (w < 0 || (size_t)w >= size - used) {
                used = size - 1; /* cut: a summary, said as much as fits */
                break;
            }
            used += (size_t)w;
        }
        if (r != SQLITE_ROW && r != SQLITE_DONE)
            rc = db_fail(o, err, "job summary");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&o->mu);
    return rc;
}

iso_code iso_outbox_holds(iso_outbox *o, const char *data_dir, const int64_t *job_ids,
                          size_t n_jobs, const char *const *sop_uids, size_t n_sops, bool *holds,
                          iso_err *err)
{
    *holds = false;
    iso_path results;
    if (iso_layout_path(data_dir, ISO_DATA_RESULTS, &results, err) != ISO_OK)
        return err->code;
    pthread_mutex_lock(&o->mu);
    sqlite3_stmt *by_job = NULL, *by_sop = NULL;
    iso_code rc = ISO_OK;
    if (sqlite3_prepare_v2(o->db,
                           "SELECT 1 FROM outbox WHERE state IN ('queued','awaiting','dead') AND "
                           "substr(path, 1, length(?1)) = ?1 LIMIT 1",
                           -1, &by_job, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(o->db,
                           "SELECT 1 FROM outbox WHERE sop_uid = ?1 AND state IN "
                           "('queued','awaiting','dead') LIMIT 1",
                           -1, &by_sop, NULL) != SQLITE_OK)
        rc = db_fail(o, err, "prepare holds");
    for (size_t i = 0; rc == ISO_OK && !*holds && i < n_jobs; i++) {
        iso_path prefix;
        if (iso_path_fmt(&prefix, err, "%s/J%lld.", results.s, (long long)job_ids[i]) != ISO_OK) {
            rc = err->code;
            break;
        }
        sqlite3_reset(by_job);
        sqlite3_bind_text(by_job, 1, prefix.s, -1, SQLITE_TRANSIENT);
        int r = sqlite3_step(by_job);
        if (r == SQLITE_ROW)
            *holds = true;
        else if (r != SQLITE_DONE)
            rc = db_fail(o, err, "holds");
    }
    for (size_t i = 0; rc == ISO_OK && !*holds && i < n_sops; i++) {
        sqlite3_reset(by_sop);
        sqlite3_bind_text(by_sop, 1, sop_uids[i], -1, SQLITE_STATIC);
        int r = sqlite3_step(by_sop);
        if (r == SQLITE_ROW)
            *holds = true;
        else if (r != SQLITE_DONE)
            rc = db_fail(o, err, "holds");
    }
    sqlite3_finalize(by_job);
    sqlite3_finalize(by_sop);
    pthread_mutex_unlock(&o->mu);
    return rc;
}

iso_code iso_outbox_destinations_json(iso_outbox *o, long now, FILE *out, iso_err *err)
{
    pthread_mutex_lock(&o->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = ISO_OK;
    /* last_error: that of the latest item still owed (queued or dead) */
    if (sqlite3_prepare_v2(o->db,
                           "SELECT dest, sum(state='queued'), sum(state='awaiting'), "
                           "sum(state='dead'), sum(state IN ('sent','committed')), "
                           "coalesce(?1 - CAST(strftime('%s', min(CASE WHEN state IN "
                           "('queued','awaiting') THEN created END)) AS INTEGER), -1), "
                           "coalesce((SELECT last_error FROM outbox AS l WHERE l.dest = o.dest AND "
                           "l.state IN ('queued','dead') AND l.last_error != '' ORDER BY l.id DESC "
                           "LIMIT 1), ''), coalesce(max(sent_at), '') FROM outbox AS o GROUP BY "
                           "dest ORDER BY dest",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(o, err, "prepare destinations");
    } else {
        sqlite3_bind_int64(st, 1, now);
        fputc('[', out);
        int r, first = 1;
        static const char *const names[] = {"queued", "awaiting", "dead", "delivered"};
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            fputs(first ? "{\"destination\": " : ", {\"destination\": ", out);
            iso_json_string(out, (const char *)sqlite3_column_text(st, 0));
            for (int k = 0; k < 4; k++)
                fprintf(out, ", \"%s\": %lld", names[k],
                        (long long)sqlite3_column_int64(st, k + 1));
            long long oldest = sqlite3_column_int64(st, 5);
            if (oldest >= 0)
                fprintf(out, ", \"oldest_seconds\": %lld", oldest);
            else
                fputs(", \"oldest_seconds\": null", out);
            fputs(", \"last_error\": ", out);
            iso_json_string(out, (const char *)sqlite3_column_text(st, 6));
            fputs(", \"last_delivered\": ", out);
            iso_json_string(out, (const char *)sqlite3_column_text(st, 7));
            fputc('}', out);
            first = 0;
        }
        fputc(']', out);
        if (r != SQLITE_DONE)
            rc = db_fail(o, err, "destinations");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&o->mu);
    return rc;
}

iso_code iso_outbox_write_metrics(iso_outbox *o, long now, FILE *out, iso_err *err)
{
    pthread_mutex_lock(&o->mu);
    sqlite3_stmt *st = NULL;
    iso_code rc = ISO_OK;
    fputs("# HELP isonode_outbox_items Deliveries in the outbox, by destination and state.\n"
          "# TYPE isonode_outbox_items gauge\n",
          out);
    if (sqlite3_prepare_v2(o->db, "SELECT dest, state, count(*) FROM outbox GROUP BY dest, state",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(o, err, "prepare metrics");
    } else {
        while (sqlite3_step(st) == SQLITE_ROW)
            fprintf(out, "isonode_outbox_items{destination=\"%s\",state=\"%s\"} %lld\n",
                    sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                    (long long)sqlite3_column_int64(st, 2));
    }
    sqlite3_finalize(st);
    st = NULL;
    fputs("# HELP isonode_outbox_oldest_seconds Age of the oldest delivery not yet made, by "
          "destination.\n# TYPE isonode_outbox_oldest_seconds gauge\n",
          out);
    if (rc == ISO_OK &&
        sqlite3_prepare_v2(o->db,
                           "SELECT dest, ?1 - CAST(strftime('%s', min(created)) AS INTEGER) FROM "
                           "outbox WHERE state IN ('queued','awaiting') GROUP BY dest",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(o, err, "prepare metrics");
    } else if (rc == ISO_OK) {
        sqlite3_bind_int64(st, 1, now);
        while (sqlite3_step(st) == SQLITE_ROW)
            fprintf(out, "isonode_outbox_oldest_seconds{destination=\"%s\"} %lld\n",
                    sqlite3_column_text(st, 0), (long long)sqlite3_column_int64(st, 1));
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&o->mu);
    return rc;
}
