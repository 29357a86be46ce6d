/* dbx.c — applying numbered migrations to a SQLite file (see dbx.h). */
#include "util/dbx.h"

#include <stdio.h>

static iso_code exec(sqlite3 *db, const char *what, const char *sql, iso_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        iso_code rc = iso_fail(err, sqlite3_errcode(db) == SQLITE_FULL ? ISO_ENOSPC : ISO_EDB,
                               "%s: %s", what, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return rc;
    }
    return ISO_OK;
}

iso_code iso_db_migrate(sqlite3 *db, const char *what, const char *const *migrations, int n,
                        iso_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return iso_fail(err, ISO_EDB, "%s: read user_version: %s", what, sqlite3_errmsg(db));
    int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    if (version < 0)
        return iso_fail(err, ISO_EDB, "%s: read user_version: %s", what, sqlite3_errmsg(db));
    if (version > n)
        return iso_fail(err, ISO_EDB,
                        "%s schema version %d is newer than this isonode (%d): refusing to touch it",
                        what, version, n);
    for (int v = version; v < n; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if (exec(db, what, "BEGIN IMMEDIATE", err) != ISO_OK)
            return err->code;
        if (exec(db, what, migrations[v], err) != ISO_OK || exec(db, what, pragma, err) != ISO_OK ||
            exec(db, what, "COMMIT", err) != ISO_OK) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return err->code;
        }
    }
    return ISO_OK;
}

iso_code iso_db_state_counts(sqlite3 *db, const char *table, char *out, size_t size,
                             iso_err *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT state, COUNT(*) FROM %s GROUP BY state ORDER BY state", table);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return iso_fail(err, ISO_EDB, "%s: %s", table, sqlite3_errmsg(db));
    size_t used = 0;
    out[0] = '\0';
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW && used + 1 < size)
        used += (size_t)snprintf(out + used, size - used, "%s%s %lld", used ? ", " : "",
                                 (const char *)sqlite3_column_text(st, 0),
                                 (long long)sqlite3_column_int64(st, 1));
    iso_code rc = r == SQLITE_DONE || r == SQLITE_ROW
                      ? ISO_OK
                      : iso_fail(err, ISO_EDB, "%s: %s", table, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (rc == ISO_OK && out[0] == '\0')
        snprintf(out, size, "none");
    return rc;
}
