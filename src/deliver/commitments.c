/* commitments.c — recording, checking and reporting storage commitment
 * transactions (see commitments.h). */
#include "deliver/commitments.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/outbox_db.h"
#include "net/peer.h"
#include "util/dbx.h"
#include "store/index.h"
#include "store/layout.h"
#include "util/fsx.h"
#include "util/log.h"

enum { FAILURE_NO_SUCH_INSTANCE = 0x0112, FAILURE_PROCESSING = 0x0110 };

static iso_code sql_fail(sqlite3 *db, iso_err *err, const char *what)
{
    return iso_fail(err, ISO_EDB, "commitments: %s: %s", what, sqlite3_errmsg(db));
}

iso_code iso_commit_record(iso_outbox *o, const char *requester, const char *transaction_uid,
                           const iso_commit_item *items, const char *const *stored_uids, size_t n,
                           long hold_until, iso_err *err)
{
    sqlite3 *db = iso_outbox_db_lock(o);
    iso_code rc = ISO_OK;
    sqlite3_stmt *st = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = sql_fail(db, err, "begin");
        goto out;
    }
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO commitments (requester, transaction_uid, next_at) "
                           "VALUES (?, ?, ?) ON CONFLICT (requester, transaction_uid) DO NOTHING",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sql_fail(db, err, "prepare");
    } else {
        sqlite3_bind_text(st, 1, requester, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, transaction_uid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, hold_until);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sql_fail(db, err, "insert");
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == ISO_OK && sqlite3_changes(db) == 1) { /* a new transaction: its instances */
        sqlite3_int64 id = sqlite3_last_insert_rowid(db);
        if (sqlite3_prepare_v2(db,
                               "INSERT INTO commitment_items (commitment, seq, sop_class_uid, "
                               "sop_uid, stored_uid) VALUES (?, ?, ?, ?, ?)",
                               -1, &st, NULL) != SQLITE_OK)
            rc = sql_fail(db, err, "prepare items");
        for (size_t i = 0; rc == ISO_OK && i < n; i++) {
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
            sqlite3_bind_text(st, 3, items[i].sop_class, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, items[i].sop_uid, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 5, stored_uids[i], -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = sql_fail(db, err, "insert item");
        }
        sqlite3_finalize(st);
    }
    if (rc == ISO_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = sql_fail(db, err, "commit");
    if (rc != ISO_OK)
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
    iso_outbox_db_unlock(o);
    return rc;
}

iso_code iso_commit_summary(iso_outbox *o, char *out, size_t size, iso_err *err)
{
    sqlite3 *db = iso_outbox_db_lock(o);
    iso_code rc = iso_db_state_counts(db, "commitments", out, size, err);
    iso_outbox_db_unlock(o);
    return rc;
}

/* One due transaction, as loaded. */
typedef struct txn {
    sqlite3_int64 id;
    char requester[64];
    char uid[65];
    int attempts;
    size_t n;
    iso_commit_item *items;
    char (*strings)[2][65]; /* class, requested UID */
    char (*stored)[65];
} txn;

static void txn_free(txn *t)
{
    free(t->items);
    free(t->strings);
    free(t->stored);
}

static iso_code load_items(sqlite3 *db, txn *t, iso_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT sop_class_uid, sop_uid, stored_uid FROM commitment_items "
                           "WHERE commitment = ? ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK)
        return sql_fail(db, err, "prepare items");
    sqlite3_bind_int64(st, 1, t->id);
    size_t cap = 0;
    iso_code rc = ISO_OK;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (t->n == cap) {
            cap = cap ? cap * 2 : 64;
            iso_commit_item *it = realloc(t->items, cap * sizeof *it);
            if (it != NULL)
                t->items = it;
            char(*s)[2][65] = realloc(t->strings, cap * sizeof *s);
            if (s != NULL)
                t->strings = s;
            char(*u)[65] = realloc(t->stored, cap * sizeof *u);
            if (u != NULL)
                t->stored = u;
            if (it == NULL || s == NULL || u == NULL) {
                rc = iso_fail(err, ISO_ENOMEM, "out of memory");
                break;
            }
        }
        snprintf(t->strings[t->n][0], 65, "%.64s", (const char *)sqlite3_column_text(st, 0));
        snprintf(t->strings[t->n][1], 65, "%.64s", (const char *)sqlite3_column_text(st, 1));
        snprintf(t->stored[t->n], 65, "%.64s", (const char *)sqlite3_column_text(st, 2));
        t->n++;
    }
    if (rc == ISO_OK && r != SQLITE_DONE)
        rc = sql_fail(db, err, "items");
    sqlite3_finalize(st);
    for (size_t i = 0; rc == ISO_OK && i < t->n; i++) /* pointers once the arrays stand */
        t->items[i] = (iso_commit_item){t->strings[i][0], t->strings[i][1], 0};
    return rc;
}

/* Is the instance in the store, whole?  0, or the Failure Reason. */
static uint16_t check_instance(iso_index *idx, const char *data_dir, const char *stored_uid,
                               const char *requested_uid)
{
    iso_instance_row row;
    iso_err e = {0};
    iso_code rc = iso_index_find_instance(idx, stored_uid, &row, &e);
    if (rc == ISO_ENOTFOUND && strcmp(stored_uid, requested_uid) != 0) {
        iso_err_clear(&e); /* the node's own objects keep their UIDs */
        rc = iso_index_find_instance(idx, requested_uid, &row, &e);
    }
    if (rc == ISO_ENOTFOUND)
        return FAILURE_NO_SUCH_INSTANCE;
    if (rc != ISO_OK)
        return FAILURE_PROCESSING;
    iso_path abs;
    char sha[65];
    uint64_t size = 0;
    if (iso_layout_abs(data_dir, row.path, &abs, &e) != ISO_OK ||
        fsx_sha256_file(abs.s, sha, &size, &e) != ISO_OK || strcmp(sha, row.sha256) != 0) {
        ISO_ERROR("storage commitment: %s is indexed but its file is %s", stored_uid,
                  e.code ? e.msg : "not the bytes stored");
        return FAILURE_PROCESSING;
    }
    return 0;
}

static void mark(sqlite3 *db, const iso_config *cfg, const txn *t, bool ok, const char *why,
                 long now, size_t committed, size_t failed)
{
    sqlite3_stmt *st = NULL;
    long attempts = t->attempts + 1;
    if (sqlite3_prepare_v2(db,
                           "UPDATE commitments SET attempts = ?1, last_error = ?2, "
                           "next_at = ?3, committed = ?4, failed = ?5, "
                           "state = CASE WHEN ?6 THEN 'sent' WHEN ?1 >= ?7 THEN 'dead' "
                           "ELSE 'queued' END, "
                           "sent_at = CASE WHEN ?6 THEN strftime('%Y-%m-%dT%H:%M:%SZ','now') "
                           "ELSE sent_at END WHERE id = ?8",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, attempts);
        sqlite3_bind_text(st, 2, ok ? "" : why, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, now + iso_outbox_backoff(cfg, attempts));
        sqlite3_bind_int64(st, 4, (sqlite3_int64)committed);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)failed);
        sqlite3_bind_int(st, 6, ok ? 1 : 0);
        sqlite3_bind_int64(st, 7, cfg->ob_max_attempts);
        sqlite3_bind_int64(st, 8, t->id);
    }
    if (st == NULL || sqlite3_step(st) != SQLITE_DONE)
        ISO_ERROR("storage commitment: cannot record the outcome of %s: %s", t->uid,
                  sqlite3_errmsg(db));
    sqlite3_finalize(st);
}

/* Checks every instance of a transaction: the number that failed. */
static size_t check_items(txn *t, iso_index *idx, const char *data_dir)
{
    size_t failed = 0;
    for (size_t i = 0; i < t->n; i++) {
        t->items[i].failure = check_instance(idx, data_dir, t->stored[i], t->items[i].sop_uid);
        failed += t->items[i].failure != 0;
    }
    return failed;
}

static iso_code open_index(const iso_config *cfg, iso_index **idx, iso_err *err)
{
    iso_path path;
    if (iso_layout_path(cfg->data_dir, ISO_DATA_INDEX, &path, err) != ISO_OK ||
        iso_index_open(path.s, true, idx, err) != ISO_OK)
        return err->code;
    return ISO_OK;
}

/* Checks and reports one transaction (no lock held while it is sent). */
static bool report_one(iso_outbox *o, const iso_config *cfg, iso_tls *tls, iso_index *idx,
                       txn *t, long now)
{
    size_t failed = check_items(t, idx, cfg->data_dir);
    const iso_peer *peer = iso_config_peer_by_name(cfg, t->requester);
    iso_scu_params p;
    iso_err e = {0};
    iso_code rc = peer == NULL ? iso_fail(&e, ISO_ECONFIG, "no [peer %s] any more", t->requester)
                               : iso_peer_scu_params(cfg, peer, tls, &p, &e);
    if (rc == ISO_OK)
        rc = iso_dcm_scu_commit_report(&p, t->uid, t->items, t->n, &e);
    sqlite3 *db = iso_outbox_db_lock(o);
    mark(db, cfg, t, rc == ISO_OK, e.msg, now, t->n - failed, failed);
    iso_outbox_db_unlock(o);
    if (rc == ISO_OK)
        ISO_INFO("storage commitment %s reported to %s: %zu committed, %zu failed", t->uid,
                 t->requester, t->n - failed, failed);
    else
        ISO_WARN("storage commitment %s not reported to %s (attempt %d): %s", t->uid,
                 t->requester, t->attempts + 1, e.msg);
    return rc == ISO_OK;
}

/* Loads the queued transaction (requester, uid) into t: false if there is
 * none (already reported, or unknown). */
static iso_code load_queued(sqlite3 *db, const char *requester, const char *uid, txn *t,
                            bool *found, iso_err *err)
{
    *found = false;
    memset(t, 0, sizeof *t);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, attempts FROM commitments WHERE requester = ? AND "
                           "transaction_uid = ? AND state = 'queued'",
                           -1, &st, NULL) != SQLITE_OK)
        return sql_fail(db, err, "prepare");
    sqlite3_bind_text(st, 1, requester, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, uid, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *found = true;
        t->id = sqlite3_column_int64(st, 0);
        t->attempts = sqlite3_column_int(st, 1);
        snprintf(t->requester, sizeof t->requester, "%.63s", requester);
        snprintf(t->uid, sizeof t->uid, "%.64s", uid);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        return sql_fail(db, err, "select");
    return *found ? load_items(db, t, err) : ISO_OK;
}

/* Lets the delivery thread report the transaction now (it was held while
 * the requester's association was tried). */
static void release_hold(sqlite3 *db, sqlite3_int64 id)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "UPDATE commitments SET next_at = 0 WHERE id = ? AND state = 'queued'",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) != SQLITE_DONE)
            ISO_ERROR("storage commitment: cannot release the hold: %s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
}

iso_code iso_commit_report_here(iso_outbox *o, const iso_config *cfg, const char *requester,
                                const char *transaction_uid, iso_commit_send_fn send, void *sctx,
                                long now, bool *sent, iso_err *err)
{
    *sent = false;
    txn t;
    bool found = false;
    sqlite3 *db = iso_outbox_db_lock(o);
    iso_code rc = load_queued(db, requester, transaction_uid, &t, &found, err);
    if (rc == ISO_OK && found && send == NULL)
        release_hold(db, t.id);
    iso_outbox_db_unlock(o);
    if (rc != ISO_OK || !found || send == NULL) {
        txn_free(&t);
        return rc;
    }
    iso_index *idx = NULL;
    rc = open_index(cfg, &idx, err);
    size_t failed = rc == ISO_OK ? check_items(&t, idx, cfg->data_dir) : 0;
    iso_index_close(idx);
    *sent = rc == ISO_OK && send(sctx, t.items, t.n, t.uid) == 0;
    db = iso_outbox_db_lock(o);
    if (*sent)
        mark(db, cfg, &t, true, "", now, t.n - failed, failed);
    else
        release_hold(db, t.id);
    iso_outbox_db_unlock(o);
    if (*sent)
        ISO_INFO("storage commitment %s reported to %s on its own association: %zu committed, "
                 "%zu failed", t.uid, requester, t.n - failed, failed);
    txn_free(&t);
    return rc;
}

iso_code iso_commit_run(iso_outbox *o, const iso_config *cfg, iso_tls *tls, long now, int *sent,
                        iso_err *err)
{
    if (sent)
        *sent = 0;
    enum { ROUND = 16 };
    txn due[ROUND];
    int nd = 0;
    sqlite3 *db = iso_outbox_db_lock(o);
    sqlite3_stmt *st = NULL;
    iso_code rc = ISO_OK;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, requester, transaction_uid, attempts FROM commitments "
                           "WHERE state = 'queued' AND next_at <= ? ORDER BY id LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sql_fail(db, err, "prepare");
    } else {
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int(st, 2, ROUND);
        while (nd < ROUND && sqlite3_step(st) == SQLITE_ROW) {
            txn *t = &due[nd++];
            memset(t, 0, sizeof *t);
            t->id = sqlite3_column_int64(st, 0);
            snprintf(t->requester, sizeof t->requester, "%.63s",
                     (const char *)sqlite3_column_text(st, 1));
            snprintf(t->uid, sizeof t->uid, "%.64s", (const char *)sqlite3_column_text(st, 2));
            t->attempts = sqlite3_column_int(st, 3);
        }
    }
    sqlite3_finalize(st);
    for (int i = 0; rc == ISO_OK && i < nd; i++)
        rc = load_items(db, &due[i], err);
    iso_outbox_db_unlock(o);
    iso_index *idx = NULL;
    if (rc == ISO_OK && nd > 0)
        rc = open_index(cfg, &idx, err);
    for (int i = 0; rc == ISO_OK && i < nd; i++)
        if (report_one(o, cfg, tls, idx, &due[i], now) && sent)
            (*sent)++;
    iso_index_close(idx);
    for (int i = 0; i < nd; i++)
        txn_free(&due[i]);
    return rc;
}
