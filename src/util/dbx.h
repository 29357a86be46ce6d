/* dbx.h — the numbered-migration step every SQLite file of the node shares
 * (index, job queue, outbox, vault): PRAGMA user_version says which migrations a
 * file has; each missing one runs in its own transaction with the version
 * bump.  A file newer than this build is refused, never touched.  The
 * migrations come from db/ through tools/sql2c.sh. */
#ifndef ISO_DBX_H
#define ISO_DBX_H

#include <sqlite3.h>
#include <stddef.h>

#include "util/err.h"

/* what names the database in messages ("index", "jobs", "outbox"). */
iso_code iso_db_migrate(sqlite3 *db, const char *what, const char *const *migrations, int n,
                        iso_err *err);

/* "state n, state n, ..." of a table with a `state` column (for status lines). */
iso_code iso_db_state_counts(sqlite3 *db, const char *table, char *out, size_t size,
                             iso_err *err);

#endif
