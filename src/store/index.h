/* index.h — the SQLite index of stored objects.
 *
 * One database file, data_dir/index.sqlite, in WAL mode with
 * synchronous=FULL: a COMMIT returns only once the WAL is fsync'd.  The
 * schema comes from the db/ migration files as numbered migrations tracked by
 * PRAGMA user_version.  Every statement is prepared; no SQL is built from
 * peer or operator text (list filters name columns from a fixed table).
 *
 * A handle is used by one thread at a time: the daemon's store committer
 * owns one; each CLI command opens its own (WAL lets it read while the
 * daemon writes).
 */
#ifndef ISO_INDEX_H
#define ISO_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "dicom/dicom.h"
#include "store/layout.h"
#include "util/err.h"

typedef struct iso_index iso_index;

/* Opens (creating and migrating unless readonly) the index at path. */
iso_code iso_index_open(const char *path, bool readonly, iso_index **out, iso_err *err);
void iso_index_close(iso_index *idx);

iso_code iso_index_begin(iso_index *idx, iso_err *err);
iso_code iso_index_commit(iso_index *idx, iso_err *err);
void iso_index_rollback(iso_index *idx);
iso_code iso_index_savepoint(iso_index *idx, iso_err *err);
iso_code iso_index_release(iso_index *idx, iso_err *err);
void iso_index_rollback_savepoint(iso_index *idx);

typedef struct iso_instance_row {
    int64_t id;
    char path[ISO_LAYOUT_REL_MAX]; /* relative to data_dir */
    char sha256[65];
    int64_t size;
    int version;
    char sop_uid[65];
} iso_instance_row;

/* Finds an instance by SOP Instance UID; ISO_ENOTFOUND if absent. */
iso_code iso_index_find_instance(iso_index *idx, const char *sop_uid, iso_instance_row *row,
                                 iso_err *err);
/* True (ISO_OK) if some instance row has this relative path. */
iso_code iso_index_has_path(iso_index *idx, const char *path, bool *has, iso_err *err);
/* True (ISO_OK) if some instance row's path starts with prefix (a range
 * over the path index). */
iso_code iso_index_has_path_prefix(iso_index *idx, const char *prefix, bool *has, iso_err *err);

typedef struct iso_instance_file {
    const char *path; /* relative to data_dir */
    const char *sha256;
    int64_t size;
    const char *calling_ae;
    const char *received_at;
    int version;
} iso_instance_file;

/* Inserts or (if replace_id > 0: other content under the same SOP Instance
 * UID) updates the instance, creating or updating its patient, study and
 * series rows, and notes f->calling_ae as its sender (replacing: as its
 * only one, the senders of the old content no longer count). */
iso_code iso_index_put_instance(iso_index *idx, const iso_attrs *a, const iso_instance_file *f,
                                int64_t replace_id, iso_err *err);
/* Notes that calling_ae sent the stored instance row `instance` again (a
 * duplicate whose stored copy was kept) at received_at. */
iso_code iso_index_note_sender(iso_index *idx, int64_t instance, const char *calling_ae,
                               const char *received_at, iso_err *err);

/* Key/value facts about the store (created_at, last_start, ...). */
iso_code iso_index_meta_set(iso_index *idx, const char *key, const char *value, iso_err *err);
iso_code iso_index_meta_get(iso_index *idx, const char *key, char *value, size_t size,
                            iso_err *err);

/* ---- queries for the CLI ---- */

typedef enum { ISO_LEVEL_PATIENT, ISO_LEVEL_STUDY, ISO_LEVEL_SERIES, ISO_LEVEL_INSTANCE } iso_level;

typedef struct iso_row {
    int n;
    const char *const *names; /* DICOM keywords, or plain names for store facts */
    const char *const *values;
    const bool *is_number;
} iso_row;

typedef int (*iso_row_fn)(void *user, const iso_row *row); /* non-zero stops */

/* How a filter matches (PS3.4 C.2.2.2): a GLOB pattern ('*' and '?'
 * wildcards; '[' matches itself), an exact value, an inclusive range of
 * DA/TM/DT text (lo or hi may be ""), or a list of values separated by
 * backslashes (UIDs). */
typedef enum {
    ISO_MATCH_GLOB = 0,
    ISO_MATCH_EXACT,
    ISO_MATCH_RANGE,
    ISO_MATCH_LIST,
    ISO_MATCH_MEMBER, /* the value is one of the column's comma-separated values */
} iso_match;

typedef struct iso_filter {
    const char *keyword; /* a column of the level, e.g. "Modality" */
    const char *pattern; /* GLOB, EXACT: the value; RANGE: lo; LIST: "a\\b\\c" */
    iso_match match;     /* 0 (GLOB) in a zero-initialised filter */
    const char *hi;      /* RANGE: the upper end */
} iso_filter;

/* A streamed query: rows one at a time (for C-FIND, whose first response
 * must not wait for the last match). */
typedef struct iso_query iso_query;
iso_code iso_index_query_open(iso_index *idx, iso_level level, const iso_filter *filters,
                              int n_filters, iso_query **out, iso_err *err);
/* 1 and *row filled (valid until the next call), 0 at the end, or -1 with
 * err filled. */
int iso_index_query_next(iso_query *q, iso_row *row, iso_err *err);
void iso_index_query_close(iso_query *q);

/* Parses "patients|studies|series|instances". */
int iso_level_parse(const char *s, iso_level *out);
/* The column keywords of a level, NULL-terminated. */
const char *const *iso_level_columns(iso_level level);

iso_code iso_index_list(iso_index *idx, iso_level level, const iso_filter *filters, int n_filters,
                        iso_row_fn fn, void *user, iso_err *err);

typedef struct iso_counts {
    int64_t patients, studies, series, instances, bytes;
} iso_counts;
iso_code iso_index_counts(iso_index *idx, iso_counts *c, iso_err *err);
/* Objects (and their bytes) that arrived in each of the last 24 hours
 * before now (Unix seconds); [0] is the last hour.  A scan of the
 * instances' arrival times (no index: this is for the status page). */
iso_code iso_index_hourly_arrivals(iso_index *idx, long now, int64_t objects[24],
                                   int64_t bytes[24], iso_err *err);

/* Calls fn for each instance: path, sha256, size, sop_uid (for verify/send). */
typedef int (*iso_file_fn)(void *user, const char *path, const char *sha256, int64_t size,
                           const char *sop_uid);
iso_code iso_index_each_file(iso_index *idx, iso_file_fn fn, void *user, iso_err *err);
/* Absolute paths of stored files, collected from index rows: pass
 * iso_path_list_add as the iso_file_fn and the list as its user. */
typedef struct iso_path_list {
    const char *data_dir;
    char **paths;
    size_t n, cap;
    bool failed; /* out of memory, or a path too long */
} iso_path_list;
int iso_path_list_add(void *user, const char *path, const char *sha256, int64_t size,
                      const char *sop_uid);
void iso_path_list_free(iso_path_list *l);

/* Files of everything under a UID of any level. *level_found says which. */
iso_code iso_index_files_under(iso_index *idx, const char *uid, iso_file_fn fn, void *user,
                               iso_level *level_found, iso_err *err);

/* ---- retention (store.h iso_store_remove_study, retention/) ---- */

/* Each study, the longest unchanged first: its UID, its last arrival (the
 * latest received_at of its instances, ISO 8601 UTC), instances and bytes.
 * fn returns non-zero to stop. */
typedef int (*iso_study_fn)(void *user, const char *study_uid, const char *last_received,
                            int64_t instances, int64_t bytes);
iso_code iso_index_each_study_by_age(iso_index *idx, iso_study_fn fn, void *user, iso_err *err);

/* Each instance of a study: its file (relative to data_dir), series and
 * SOP Instance UIDs, and the calling AE it came from.  fn returns non-zero
 * to stop. */
typedef int (*iso_study_instance_fn)(void *user, const char *rel_path, const char *series_uid,
                                     const char *sop_uid, const char *calling_ae);
iso_code iso_index_study_instances(iso_index *idx, const char *study_uid,
                                   iso_study_instance_fn fn, void *user, iso_err *err);

/* Does the index hold a study, series or instance with this UID? */
iso_code iso_index_has_uid(iso_index *idx, const char *uid, bool *has, iso_err *err);

/* Deletes a study's rows -- its instances and their senders, its series,
 * the study, and its patient when no other study is left -- inside the
 * caller's transaction, unless an instance arrived after not_after (ISO
 * 8601 UTC): *deleted says which. */
iso_code iso_index_delete_study(iso_index *idx, const char *study_uid, const char *not_after,
                                bool *deleted, iso_err *err);

/* Per series: its UID, instance count and the calling AE of its latest
 * instance (for series completion after a restart). */
typedef int (*iso_series_fn)(void *user, const char *series_uid, int64_t instances,
                             const char *calling_ae);
iso_code iso_index_each_series(iso_index *idx, iso_series_fn fn, void *user, iso_err *err);
/* A calling AE that sent instances of a series, and how many of them. */
typedef struct iso_series_sender {
    char ae[17];
    int64_t instances;
} iso_series_sender;
/* The calling AE titles that sent the stored instances of a series (as
 * their stored content, or as a duplicate of it), ordered by title; at most
 * max, *n says how many there are in all. */
iso_code iso_index_series_senders(iso_index *idx, const char *series_uid, iso_series_sender *out,
                                  int max, int *n, iso_err *err);
/* How many of the stored instances of a series calling_ae sent. */
iso_code iso_index_series_sent_by(iso_index *idx, const char *series_uid, const char *calling_ae,
                                  int64_t *count, iso_err *err);
/* The instance count of one series (0 if it is not stored). */
iso_code iso_index_series_count(iso_index *idx, const char *series_uid, int64_t *count,
                                iso_err *err);
/* A stored file of a series, with what the index knows of it. */
typedef struct iso_stored_file {
    char *path;       /* absolute */
    char rel[ISO_LAYOUT_REL_MAX]; /* relative to data_dir */
    char sha256[65];
    char sop_uid[65];
} iso_stored_file;

/* The files of a stored series (free with iso_index_files_free);
 * ISO_ENOTFOUND if the UID is not a stored series. */
iso_code iso_index_series_files(iso_index *idx, const char *data_dir, const char *series_uid,
                                iso_stored_file **files, size_t *n, iso_err *err);
void iso_index_files_free(iso_stored_file *files, size_t n);

/* The same, absolute paths only (free with iso_index_paths_free). */
iso_code iso_index_series_paths(iso_index *idx, const char *data_dir, const char *series_uid,
                                char ***paths, size_t *n, iso_err *err);
void iso_index_paths_free(char **paths, size_t n);

#endif
