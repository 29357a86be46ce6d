/* commit_requests.c — asking peers to commit what the node delivered, and
 * recording their reports (see commit_requests.h). */
#include "deliver/commit_requests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "deliver/outbox_db.h"
#include "net/peer.h"
#include "util/dbx.h"
#include "util/log.h"
#include "util/uid.h"

static iso_code sql_fail(sqlite3 *db, iso_err *err, const char *what)
{
    return iso_fail(err, ISO_EDB, "storage commitment requests: %s: %s", what,
                    sqlite3_errmsg(db));
}

iso_code iso_commit_request_new(sqlite3 *db, const char *dest, long now, sqlite3_int64 *id,
                                char transaction_uid[65], iso_err *err)
{
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return iso_fail(err, ISO_EIO, "no random bytes for a Transaction UID");
    iso_uid_from_hash(r, transaction_uid);
    sqlite3_stmt *st = NULL;
    iso_code rc = ISO_OK;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO commit_requests (dest, transaction_uid, asked_at) "
                           "VALUES (?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return sql_fail(db, err, "prepare");
    sqlite3_bind_text(st, 1, dest, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, transaction_uid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = sql_fail(db, err, "insert");
    else
        *id = sqlite3_last_insert_rowid(db);
    sqlite3_finalize(st);
    return rc;
}

/* Records the N-ACTION's outcome: open, or the reason it could not be
 * made (the request then waits for its expiry, which sends again). */
static void record_asked(iso_outbox *o, sqlite3_int64 id, bool ok, const char *why)
{
    sqlite3 *db = iso_outbox_db_lock(o);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "UPDATE commit_requests SET state = CASE WHEN ?1 THEN 'open' ELSE "
                           "state END, last_error = ?2 WHERE id = ?3 AND state = 'asking'",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int(st, 1, ok);
        sqlite3_bind_text(st, 2, ok ? "" : why, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, id);
        if (sqlite3_step(st) != SQLITE_DONE)
            ISO_ERROR("storage commitment: cannot record request %lld: %s", (long long)id,
                      sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    iso_outbox_db_unlock(o);
}

void iso_commit_request_send(iso_outbox *o, const iso_config *cfg, iso_tls *tls,
                             sqlite3_int64 id, const char *dest, const char *transaction_uid,
                             const char *const *paths, size_t n)
{
    iso_err e = {0};
    iso_commit_item *items = calloc(n ? n : 1, sizeof *items);
    char(*ids)[2][65] = calloc(n ? n : 1, sizeof *ids);
    iso_code rc = items == NULL || ids == NULL ? iso_fail(&e, ISO_ENOMEM, "out of memory") : ISO_OK;
    for (size_t i = 0; rc == ISO_OK && i < n; i++) {
        rc = iso_dcm_file_ids(paths[i], ids[i][0], ids[i][1], &e);
        items[i] = (iso_commit_item){ids[i][0], ids[i][1], 0};
    }
    const iso_peer *peer = iso_config_peer_by_name(cfg, dest);
    iso_scu_params p;
    if (rc == ISO_OK)
        rc = peer == NULL ? iso_fail(&e, ISO_ECONFIG, "no [peer %s]", dest)
                          : iso_peer_scu_params(cfg, peer, tls, &p, &e);
    if (rc == ISO_OK)
        rc = iso_dcm_scu_commit_request(&p, transaction_uid, items, n, &e);
    record_asked(o, id, rc == ISO_OK, e.msg);
    if (rc == ISO_OK)
        ISO_INFO("storage commitment: asked %s to commit %zu object(s), transaction %s", dest, n,
                 transaction_uid);
    else
        ISO_WARN("storage commitment: could not ask %s to commit %zu object(s) (sent again "
                 "after %ld s): %s", dest, n, cfg->ob_commitment_timeout_seconds, e.msg);
    free(items);
    free(ids);
}

static const char *failure_name(uint16_t reason)
{
    switch (reason) {
    case 0x0110: return "processing failure";
    case 0x0112: return "no such object instance";
    case 0x0119: return "class-instance conflict";
    case 0x0122: return "referenced SOP class not supported";
    case 0x0131: return "duplicate transaction UID";
    case 0x0213: return "resource limitation";
    default: return "failure";
    }
}

/* Queues awaiting objects again (sent and asked once more), or
 * dead-letters them after max_attempts: those of request id, and of them
 * only sop_uid (NULL: all still awaiting). */
static iso_code requeue(sqlite3 *db, const iso_config *cfg, sqlite3_int64 id, const char *sop_uid,
                        const char *why, long now, int *changed, iso_err *err)
{
    sqlite3_stmt *st = NULL;
    /* the backoff of the attempt the delivery was: base * 2^(attempts-1) */
    if (sqlite3_prepare_v2(db,
                           "UPDATE outbox SET last_error = ?1, "
                           "state = CASE WHEN attempts >= ?2 THEN 'dead' ELSE 'queued' END, "
                           "next_at = ?3 + min(?4, ?5 << min(max(attempts - 1, 0), 30)) "
                           "WHERE commit_request = ?6 AND state = 'awaiting' "
                           "AND (?7 IS NULL OR sop_uid = ?7)",
                           -1, &st, NULL) != SQLITE_OK)
        return sql_fail(db, err, "prepare requeue");
    sqlite3_bind_text(st, 1, why, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, cfg->ob_max_attempts);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, cfg->ob_retry_max_seconds);
    sqlite3_bind_int64(st, 5, cfg->ob_retry_base_seconds);
    sqlite3_bind_int64(st, 6, id);
    if (sop_uid != NULL)
        sqlite3_bind_text(st, 7, sop_uid, -1, SQLITE_STATIC);
    iso_code rc = sqlite3_step(st) == SQLITE_DONE ? ISO_OK : sql_fail(db, err, "requeue");
    if (changed != NULL)
        *changed = sqlite3_changes(db);
    sqlite3_finalize(st);
    return rc;
}

static iso_code mark_committed(sqlite3 *db, sqlite3_int64 id, const char *sop_uid, int *changed,
                               iso_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "UPDATE outbox SET state = 'committed', last_error = '', "
                           "committed_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') "
                           "WHERE commit_request = ? AND state = 'awaiting' AND sop_uid = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return sql_fail(db, err, "prepare commit");
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, sop_uid, -1, SQLITE_STATIC);
    iso_code rc = sqlite3_step(st) == SQLITE_DONE ? ISO_OK : sql_fail(db, err, "commit");
    *changed = sqlite3_changes(db);
    sqlite3_finalize(st);
    return rc;
}

uint16_t iso_commit_report_received(iso_outbox *o, const iso_config *cfg, const char *dest,
                                    const char *transaction_uid, const iso_commit_item *items,
                                    size_t n, long now, char *comment, size_t comment_size)
{
    sqlite3 *db = iso_outbox_db_lock(o);
    iso_err err = {0};
    sqlite3_stmt *st = NULL;
    sqlite3_int64 id = 0;
    char state[16] = "";
    iso_code rc = ISO_OK;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, state FROM commit_requests WHERE transaction_uid = ? "
                           "AND dest = ?",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sql_fail(db, &err, "prepare");
    } else {
        sqlite3_bind_text(st, 1, transaction_uid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, dest, -1, SQLITE_STATIC);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            id = sqlite3_column_int64(st, 0);
            snprintf(state, sizeof state, "%.15s", (const char *)sqlite3_column_text(st, 1));
        } else if (r != SQLITE_DONE) {
            rc = sql_fail(db, &err, "select");
        }
    }
    sqlite3_finalize(st);
    if (rc == ISO_OK && id == 0) {
        iso_outbox_db_unlock(o);
        snprintf(comment, comment_size, "no storage commitment transaction %.64s was asked",
                 transaction_uid);
        ISO_WARN("storage commitment: report from %s on transaction %s, which the node never "
                 "asked of it: refused (0x0110)", dest, transaction_uid);
        return 0x0110;
    }
    size_t committed = 0, failed = 0;
    if (rc == ISO_OK && sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        rc = sql_fail(db, &err, "begin");
    for (size_t i = 0; rc == ISO_OK && i < n; i++) {
        int changed = 0;
        if (items[i].failure == 0) {
            rc = mark_committed(db, id, items[i].sop_uid, &changed, &err);
            committed += (size_t)changed;
        } else {
            char why[128];
            snprintf(why, sizeof why, "%s did not commit it: 0x%04x (%s)", dest, items[i].failure,
                     failure_name(items[i].failure));
            rc = requeue(db, cfg, id, items[i].sop_uid, why, now, &changed, &err);
            failed += (size_t)changed;
        }
    }
    if (rc == ISO_OK) {
        if (sqlite3_prepare_v2(db,
                               "UPDATE commit_requests SET state = 'reported', reported_at = "
                               "strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id = ? AND state IN "
                               "('asking', 'open')",
                               -1, &st, NULL) != SQLITE_OK) {
            rc = sql_fail(db, &err, "prepare state");
        } else {
            sqlite3_bind_int64(st, 1, id);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = sql_fail(db, &err, "state");
        }
        sqlite3_finalize(st);
    }
    if (rc == ISO_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = sql_fail(db, &err, "commit");
    if (rc != ISO_OK)
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    iso_outbox_db_unlock(o);
    if (rc != ISO_OK) {
        snprintf(comment, comment_size, "the report could not be recorded");
        ISO_ERROR("storage commitment: report from %s on %s not recorded: %s", dest,
                  transaction_uid, err.msg);
        return 0x0110;
    }
    iso_metrics_delivery(iso_outbox_metrics(o), ISO_DELIVERY_COMMITTED, committed);
    iso_metrics_delivery(iso_outbox_metrics(o), ISO_DELIVERY_NOT_COMMITTED, failed);
    ISO_INFO("storage commitment: %s reports transaction %s%s: %zu object(s) committed, %zu "
             "failed (sent again)", dest, transaction_uid,
             strcmp(state, "expired") == 0 ? " (after it expired)" : "", committed, failed);
    return 0;
}

iso_code iso_commit_requests_expire(iso_outbox *o, const iso_config *cfg, long now, int *expired,
                                    iso_err *err)
{
    if (expired)
        *expired = 0;
    sqlite3 *db = iso_outbox_db_lock(o);
    sqlite3_stmt *st = NULL;
    iso_code rc = ISO_OK;
    enum { ROUND = 64 };
    sqlite3_int64 ids[ROUND];
    char dests[ROUND][64], errors[ROUND][160];
    int n = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, dest, last_error FROM commit_requests WHERE state IN "
                           "('asking', 'open') AND asked_at <= ? ORDER BY id LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sql_fail(db, err, "prepare");
    } else {
        sqlite3_bind_int64(st, 1, now - cfg->ob_commitment_timeout_seconds);
        sqlite3_bind_int(st, 2, ROUND);
        while (n < ROUND && sqlite3_step(st) == SQLITE_ROW) {
            ids[n] = sqlite3_column_int64(st, 0);
            snprintf(dests[n], sizeof dests[n], "%.63s", (const char *)sqlite3_column_text(st, 1));
            snprintf(errors[n], sizeof errors[n], "%.159s",
                     (const char *)sqlite3_column_text(st, 2));
            n++;
        }
    }
    sqlite3_finalize(st);
    for (int i = 0; rc == ISO_OK && i < n; i++) {
        char why[256];
        if (errors[i][0] != '\0')
            snprintf(why, sizeof why, "storage commitment not asked: %.159s", errors[i]);
        else
            snprintf(why, sizeof why, "no storage commitment report from %.63s within %ld s",
                     dests[i], cfg->ob_commitment_timeout_seconds);
        int changed = 0;
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
            rc = sql_fail(db, err, "begin");
            break;
        }
        rc = requeue(db, cfg, ids[i], NULL, why, now, &changed, err);
        if (rc == ISO_OK) {
            if (sqlite3_prepare_v2(db,
                                   "UPDATE commit_requests SET state = 'expired' WHERE id = ?",
                                   -1, &st, NULL) != SQLITE_OK)
                rc = sql_fail(db, err, "prepare expire");
            else {
                sqlite3_bind_int64(st, 1, ids[i]);
                if (sqlite3_step(st) != SQLITE_DONE)
                    rc = sql_fail(db, err, "expire");
            }
            sqlite3_finalize(st);
        }
        if (rc == ISO_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            rc = sql_fail(db, err, "commit");
        if (rc != ISO_OK) {
            (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            break;
        }
        iso_metrics_delivery(iso_outbox_metrics(o), ISO_DELIVERY_NOT_COMMITTED,
                             (unsigned long)changed);
        ISO_WARN("storage commitment: request %lld to %s expired, %d object(s) queued again: %s",
                 (long long)ids[i], dests[i], changed, why);
        if (expired)
            (*expired)++;
    }
    iso_outbox_db_unlock(o);
    return rc;
}

iso_code iso_commit_requests_summary(iso_outbox *o, char *out, size_t size, iso_err *err)
{
    sqlite3 *db = iso_outbox_db_lock(o);
    iso_code rc = iso_db_state_counts(db, "commit_requests", out, size, err);
    iso_outbox_db_unlock(o);
    return rc;
}
