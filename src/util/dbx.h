/* dbx.h — the numbered-migration step every SQLite file of the node shares
 * (index, job queue, outbox): PRAGMA user_version says which migrations a
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

/* The migrations generated from db/jobs and db/outbox (the index's are in
 * store/schema.h). */
extern const char *const iso_jobs_schema_migrations[];
extern const int iso_jobs_schema_version;
extern const char *const iso_outbox_schema_migrations[];
extern const int iso_outbox_schema_version;

#endif
