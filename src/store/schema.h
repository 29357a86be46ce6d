/* schema.h — the index schema migrations, generated from the db/NNN_name.sql files.
 * iso_schema_migrations[i] brings a database from user_version i to i+1. */
#ifndef ISO_SCHEMA_H
#define ISO_SCHEMA_H
extern const char *const iso_schema_migrations[];
extern const int iso_schema_version;
#endif
