/* index.c — SQLite index: open, migrate, write rows, answer queries
 * (see index.h).  Statements used per instance are prepared once per handle. */
#include "store/index.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/schema.h"
#include "util/dbx.h"

enum {
    ST_FIND_INSTANCE,
    ST_HAS_PATH,
    ST_HAS_PATH_PREFIX,
    ST_PATIENT_ID,
    ST_STUDY_ID,
    ST_SERIES_ID,
    ST_UPSERT_PATIENT,
    ST_UPSERT_STUDY,
    ST_UPSERT_SERIES,
    ST_INSERT_INSTANCE,
    ST_UPDATE_INSTANCE,
    ST_NOTE_SENDER,
    ST_FORGET_SENDERS,
    ST_COUNT
};

static const char *const statement_sql[ST_COUNT] = {
    [ST_FIND_INSTANCE] = "SELECT id, path, sha256, size, version FROM instances WHERE sop_uid = ?1",
    [ST_HAS_PATH] = "SELECT 1 FROM instances WHERE path = ?1",
    [ST_HAS_PATH_PREFIX] = "SELECT 1 FROM instances WHERE path >= ?1 AND path < ?2 LIMIT 1",
    [ST_PATIENT_ID] = "SELECT id FROM patients WHERE patient_id = ?1 AND issuer = ?2",
    [ST_STUDY_ID] = "SELECT id FROM studies WHERE study_uid = ?1",
    [ST_SERIES_ID] = "SELECT id FROM series WHERE series_uid = ?1",
    /* The upserts rewrite a row only when something in it changed (the
     * WHERE): most instances repeat their series, study and patient, and an
     * unchanged row then costs no page in the WAL commit.  Without a change
     * they return no row and the *_ID lookup gives the id. */
    [ST_UPSERT_PATIENT] =
        "INSERT INTO patients (patient_id, issuer, patient_name, birth_date, sex) "
        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (patient_id, issuer) DO UPDATE SET "
        "patient_name = excluded.patient_name, birth_date = excluded.birth_date, "
        "sex = excluded.sex WHERE patient_name IS NOT excluded.patient_name OR "
        "birth_date IS NOT excluded.birth_date OR sex IS NOT excluded.sex RETURNING id",
    [ST_UPSERT_STUDY] =
        "INSERT INTO studies (patient, study_uid, study_date, study_time, accession, study_id, "
        "description, referring_physician) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
        "ON CONFLICT (study_uid) DO UPDATE SET patient = excluded.patient, "
        "study_date = excluded.study_date, study_time = excluded.study_time, "
        "accession = excluded.accession, study_id = excluded.study_id, "
        "description = excluded.description, referring_physician = excluded.referring_physician "
        "WHERE patient IS NOT excluded.patient OR study_date IS NOT excluded.study_date OR "
        "study_time IS NOT excluded.study_time OR accession IS NOT excluded.accession OR "
        "study_id IS NOT excluded.study_id OR description IS NOT excluded.description OR "
        "referring_physician IS NOT excluded.referring_physician RETURNING id",
    [ST_UPSERT_SERIES] =
        "INSERT INTO series (study, series_uid, modality, series_number, description, body_part) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (series_uid) DO UPDATE SET "
        "study = excluded.study, modality = excluded.modality, "
        "series_number = excluded.series_number, description = excluded.description, "
        "body_part = excluded.body_part WHERE study IS NOT excluded.study OR "
        "modality IS NOT excluded.modality OR series_number IS NOT excluded.series_number OR "
        "description IS NOT excluded.description OR body_part IS NOT excluded.body_part "
        "RETURNING id",
    [ST_INSERT_INSTANCE] =
        "INSERT INTO instances (series, sop_uid, sop_class_uid, instance_number, transfer_syntax, "
        "frames, path, size, sha256, calling_ae, received_at, version) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [ST_UPDATE_INSTANCE] =
        "UPDATE instances SET series = ?1, sop_uid = ?2, sop_class_uid = ?3, "
        "instance_number = ?4, transfer_syntax = ?5, frames = ?6, path = ?7, size = ?8, "
        "sha256 = ?9, calling_ae = ?10, received_at = ?11, version = ?12 WHERE id = ?13",
    [ST_NOTE_SENDER] =
        "INSERT INTO instance_senders (instance, calling_ae, received_at) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (instance, calling_ae) DO UPDATE SET received_at = excluded.received_at",
    [ST_FORGET_SENDERS] = "DELETE FROM instance_senders WHERE instance = ?1 AND calling_ae <> ?2",
};

struct iso_index {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    bool readonly;
};

/* SQLITE_FULL is a full disk: callers answer it like ENOSPC (0xA700). */
static iso_code code_for(sqlite3 *db)
{
    return sqlite3_errcode(db) == SQLITE_FULL ? ISO_ENOSPC : ISO_EDB;
}

static iso_code db_fail(iso_index *idx, iso_err *err, const char *what)
{
    return iso_fail(err, code_for(idx->db), "index: %s: %s", what, sqlite3_errmsg(idx->db));
}

static iso_code exec(iso_index *idx, const char *sql, iso_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(idx->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        iso_code rc = iso_fail(err, code_for(idx->db), "index: %s: %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return rc;
    }
    return ISO_OK;
}

static iso_code migrate(iso_index *idx, iso_err *err)
{
    return iso_db_migrate(idx->db, "index", iso_schema_migrations, iso_schema_version, err);
}

iso_code iso_index_open(const char *path, bool readonly, iso_index **out, iso_err *err)
{
    *out = NULL;
    iso_index *idx = calloc(1, sizeof *idx);
    if (idx == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    idx->readonly = readonly;
    int flags = readonly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    flags |= SQLITE_OPEN_NOMUTEX; /* one thread per handle */
    if (sqlite3_open_v2(path, &idx->db, flags, NULL) != SQLITE_OK) {
        iso_code rc = iso_fail(err, ISO_EDB, "index: open %s: %s", path,
                               idx->db ? sqlite3_errmsg(idx->db) : "out of memory");
        iso_index_close(idx);
        return rc;
    }
    sqlite3_busy_timeout(idx->db, 10000);
    iso_code rc = ISO_OK;
    if (!readonly)
        rc = exec(idx, "PRAGMA journal_mode = WAL", err);
    if (rc == ISO_OK)
        rc = exec(idx, "PRAGMA synchronous = FULL", err);
    if (rc == ISO_OK)
        rc = exec(idx, "PRAGMA foreign_keys = ON", err);
    if (rc == ISO_OK && !readonly)
        rc = migrate(idx, err);
    for (int i = 0; rc == ISO_OK && i < ST_COUNT; i++) {
        bool writes = i >= ST_UPSERT_PATIENT;
        if (readonly && writes)
            continue;
        if (sqlite3_prepare_v3(idx->db, statement_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &idx->st[i], NULL) != SQLITE_OK)
            rc = db_fail(idx, err, "prepare");
    }
    if (rc != ISO_OK) {
        iso_index_close(idx);
        return rc;
    }
    *out = idx;
    return ISO_OK;
}

void iso_index_close(iso_index *idx)
{
    if (idx == NULL)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(idx->st[i]);
    sqlite3_close(idx->db);
    free(idx);
}

iso_code iso_index_begin(iso_index *idx, iso_err *err) { return exec(idx, "BEGIN IMMEDIATE", err); }
iso_code iso_index_commit(iso_index *idx, iso_err *err) { return exec(idx, "COMMIT", err); }
void iso_index_rollback(iso_index *idx)
{
    /* ROLLBACK fails only if no transaction is open, which is what we want. */
    (void)sqlite3_exec(idx->db, "ROLLBACK", NULL, NULL, NULL);
}
iso_code iso_index_savepoint(iso_index *idx, iso_err *err)
{
    return exec(idx, "SAVEPOINT item", err);
}
iso_code iso_index_release(iso_index *idx, iso_err *err)
{
    return exec(idx, "RELEASE item", err);
}
void iso_index_rollback_savepoint(iso_index *idx)
{
    (void)sqlite3_exec(idx->db, "ROLLBACK TO item; RELEASE item", NULL, NULL, NULL);
}

/* Copies a text column; false (and out cut short) if it does not fit. */
static bool copy_col(sqlite3_stmt *st, int col, char *out, size_t size)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    int n = snprintf(out, size, "%s", t ? (const char *)t : "");
    return n >= 0 && (size_t)n < size;
}

iso_code iso_index_find_instance(iso_index *idx, const char *sop_uid, iso_instance_row *row,
                                 iso_err *err)
{
    sqlite3_stmt *st = idx->st[ST_FIND_INSTANCE];
    sqlite3_reset(st);
    if (sqlite3_bind_text(st, 1, sop_uid, -1, SQLITE_STATIC) != SQLITE_OK)
        return db_fail(idx, err, "bind");
    int r = sqlite3_step(st);
    iso_code rc = ISO_OK;
    if (r == SQLITE_ROW) {
        row->id = sqlite3_column_int64(st, 0);
        if (!copy_col(st, 1, row->path, sizeof row->path) |
            !copy_col(st, 2, row->sha256, sizeof row->sha256))
            rc = iso_fail(err, ISO_EMISMATCH, "instance %s: the index row's path or digest is "
                          "longer than the layout makes", sop_uid);
        row->size = sqlite3_column_int64(st, 3);
        row->version = sqlite3_column_int(st, 4);
        snprintf(row->sop_uid, sizeof row->sop_uid, "%s", sop_uid);
    } else if (r == SQLITE_DONE) {
        rc = ISO_ENOTFOUND;
    } else {
        rc = db_fail(idx, err, "find instance");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

iso_code iso_index_has_path(iso_index *idx, const char *path, bool *has, iso_err *err)
{
    sqlite3_stmt *st = idx->st[ST_HAS_PATH];
    sqlite3_reset(st);
    if (sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC) != SQLITE_OK)
        return db_fail(idx, err, "bind");
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        return db_fail(idx, err, "look up path");
    *has = r == SQLITE_ROW;
    return ISO_OK;
}

iso_code iso_index_has_path_prefix(iso_index *idx, const char *prefix, bool *has, iso_err *err)
{
    size_t n = strlen(prefix);
    if (n == 0 || n >= 4096)
        return iso_fail(err, ISO_EINVAL, "bad path prefix");
    char upper[4096];
    memcpy(upper, prefix, n + 1);
    upper[n - 1]++; /* paths are ASCII: [prefix, upper) holds exactly those that start with it */
    sqlite3_stmt *st = idx->st[ST_HAS_PATH_PREFIX];
    sqlite3_reset(st);
    if (sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, upper, -1, SQLITE_STATIC) != SQLITE_OK)
        return db_fail(idx, err, "bind");
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        return db_fail(idx, err, "look up path prefix");
    *has = r == SQLITE_ROW;
    return ISO_OK;
}

/* Binds texts 1..n, steps, and returns the RETURNING id, or (the row
 * exists unchanged) the id the lookup statement finds by the first n_key
 * texts. */
static iso_code upsert(iso_index *idx, int which, int lookup, int n_key, int64_t parent,
                       const char *const *texts, int n, int64_t *id, iso_err *err)
{
    sqlite3_stmt *st = idx->st[which];
    sqlite3_reset(st);
    int col = 1;
    int ok = SQLITE_OK;
    if (parent > 0)
        ok |= sqlite3_bind_int64(st, col++, parent);
    for (int i = 0; i < n; i++)
        ok |= sqlite3_bind_text(st, col++, texts[i], -1, SQLITE_STATIC);
    if (ok != SQLITE_OK)
        return db_fail(idx, err, "bind");
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        /* Step to completion so the statement's write is finished. */
        while ((r = sqlite3_step(st)) == SQLITE_ROW)
            ;
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return db_fail(idx, err, "upsert");
    if (*id > 0)
        return ISO_OK;
    st = idx->st[lookup];
    sqlite3_reset(st);
    for (int i = 0; i < n_key; i++)
        ok |= sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_STATIC);
    if (ok != SQLITE_OK)
        return db_fail(idx, err, "bind");
    r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (r != SQLITE_ROW)
        return r == SQLITE_DONE ? iso_fail(err, ISO_EIO, "upserted row not found")
                                : db_fail(idx, err, "look up id");
    return ISO_OK;
}

/* Runs ST_FORGET_SENDERS or ST_NOTE_SENDER for one instance row. */
static iso_code sender_row(iso_index *idx, int which, int64_t instance, const char *calling_ae,
                           const char *received_at, iso_err *err)
{
    sqlite3_stmt *st = idx->st[which];
    sqlite3_reset(st);
    int ok = sqlite3_bind_int64(st, 1, instance);
    ok |= sqlite3_bind_text(st, 2, calling_ae, -1, SQLITE_STATIC);
    if (which == ST_NOTE_SENDER)
        ok |= sqlite3_bind_text(st, 3, received_at, -1, SQLITE_STATIC);
    if (ok != SQLITE_OK)
        return db_fail(idx, err, "bind");
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_DONE ? ISO_OK : db_fail(idx, err, "note sender");
}

iso_code iso_index_put_instance(iso_index *idx, const iso_attrs *a, const iso_instance_file *f,
                                int64_t replace_id, iso_err *err)
{
    int64_t patient = 0, study = 0, series = 0;
    const char *pat[] = {a->patient_id, a->issuer, a->patient_name, a->birth_date, a->sex};
    const char *stu[] = {a->study_uid,  a->study_date,        a->study_time,
                         a->accession,  a->study_id,          a->study_description,
                         a->referring_physician};
    const char *ser[] = {a->series_uid, a->modality, a->series_number, a->series_description,
                         a->body_part};
    iso_code rc = upsert(idx, ST_UPSERT_PATIENT, ST_PATIENT_ID, 2, 0, pat, 5, &patient, err);
    if (rc == ISO_OK)
        rc = upsert(idx, ST_UPSERT_STUDY, ST_STUDY_ID, 1, patient, stu, 7, &study, err);
    if (rc == ISO_OK)
        rc = upsert(idx, ST_UPSERT_SERIES, ST_SERIES_ID, 1, study, ser, 5, &series, err);
    if (rc != ISO_OK)
        return rc;
    sqlite3_stmt *st = idx->st[replace_id > 0 ? ST_UPDATE_INSTANCE : ST_INSERT_INSTANCE];
    sqlite3_reset(st);
    int ok = sqlite3_bind_int64(st, 1, series);
    ok |= sqlite3_bind_text(st, 2, a->sop_instance_uid, -1, SQLITE_STATIC);
    ok |= sqlite3_bind_text(st, 3, a->sop_class_uid, -1, SQLITE_STATIC);
    ok |= sqlite3_bind_text(st, 4, a->instance_number, -1, SQLITE_STATIC);
    ok |= sqlite3_bind_text(st, 5, a->transfer_syntax, -1, SQLITE_STATIC);
    ok |= sqlite3_bind_int64(st, 6, a->number_of_frames);
    ok |= sqlite3_bind_text(st, 7, f->path, -1, SQLITE_STATIC);
    ok |= sqlite3_bind_int64(st, 8, f->size);
    ok |= sqlite3_bind_text(st, 9, f->sha256, -1, SQLITE_STATIC);
    ok |= sqlite3_bind_text(st, 10, f->calling_ae, -1, SQLITE_STATIC);
    ok |= sqlite3_bind_text(st, 11, f->received_at, -1, SQLITE_STATIC);
    ok |= sqlite3_bind_int(st, 12, f->version);
    if (replace_id > 0)
        ok |= sqlite3_bind_int64(st, 13, replace_id);
    if (ok != SQLITE_OK)
        return db_fail(idx, err, "bind");
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return db_fail(idx, err, replace_id > 0 ? "update instance" : "insert instance");
    /* its sender; replaced content no longer counts for who sent the old */
    int64_t id = replace_id > 0 ? replace_id : sqlite3_last_insert_rowid(idx->db);
    if (replace_id > 0)
        rc = sender_row(idx, ST_FORGET_SENDERS, id, f->calling_ae, NULL, err);
    if (rc == ISO_OK)
        rc = sender_row(idx, ST_NOTE_SENDER, id, f->calling_ae, f->received_at, err);
    return rc;
}

iso_code iso_index_note_sender(iso_index *idx, int64_t instance, const char *calling_ae,
                               const char *received_at, iso_err *err)
{
    return sender_row(idx, ST_NOTE_SENDER, instance, calling_ae, received_at, err);
}

iso_code iso_index_meta_set(iso_index *idx, const char *key, const char *value, iso_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(idx->db,
                           "INSERT INTO store_meta (key, value) VALUES (?1, ?2) "
                           "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(idx, err, "prepare meta");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r != SQLITE_DONE)
        return db_fail(idx, err, "set meta");
    return ISO_OK;
}

iso_code iso_index_meta_get(iso_index *idx, const char *key, char *value, size_t size,
                            iso_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(idx->db, "SELECT value FROM store_meta WHERE key = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return db_fail(idx, err, "prepare meta");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    iso_code rc = ISO_OK;
    if (r == SQLITE_ROW)
        copy_col(st, 0, value, size);
    else if (r == SQLITE_DONE)
        rc = ISO_ENOTFOUND;
    else
        rc = db_fail(idx, err, "get meta");
    sqlite3_finalize(st);
    return rc;
}

/* ---- queries ---- */

typedef struct level_def {
    const char *name;
    const char *sql; /* a SELECT whose column aliases are the keywords */
    const char *const *columns;
} level_def;

static const char *const patient_cols[] = {
    "PatientID", "IssuerOfPatientID", "PatientName", "PatientBirthDate", "PatientSex",
    "NumberOfPatientRelatedStudies", "NumberOfPatientRelatedSeries",
    "NumberOfPatientRelatedInstances", NULL};
static const char *const study_cols[] = {
    "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "StudyID",
    "StudyDescription", "ReferringPhysicianName", "PatientID", "PatientName",
    "ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances", NULL};
static const char *const series_cols[] = {
    "SeriesInstanceUID", "StudyInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
    "BodyPartExamined", "PatientID", "NumberOfSeriesRelatedInstances", NULL};
static const char *const instance_cols[] = {
    "SOPInstanceUID", "SOPClassUID", "InstanceNumber", "SeriesInstanceUID", "StudyInstanceUID",
    "TransferSyntaxUID", "NumberOfFrames", "Path", "Size", "SHA256", "CallingAETitle",
    "ReceivedAt", NULL};

static const level_def levels[] = {
    [ISO_LEVEL_PATIENT] = {"patients",
                           "SELECT p.patient_id AS PatientID, p.issuer AS IssuerOfPatientID, "
                           "p.patient_name AS PatientName, p.birth_date AS PatientBirthDate, "
                           "p.sex AS PatientSex, "
                           "(SELECT count(*) FROM studies s WHERE s.patient = p.id) "
                           "AS NumberOfPatientRelatedStudies, "
                           "(SELECT count(*) FROM series se JOIN studies s ON se.study = s.id "
                           "WHERE s.patient = p.id) AS NumberOfPatientRelatedSeries, "
                           "(SELECT count(*) FROM instances i JOIN series se ON i.series = se.id "
                           "JOIN studies s ON se.study = s.id WHERE s.patient = p.id) "
                           "AS NumberOfPatientRelatedInstances FROM patients p",
                           patient_cols},
    [ISO_LEVEL_STUDY] = {"studies",
                         "SELECT s.study_uid AS StudyInstanceUID, s.study_date AS StudyDate, "
                         "s.study_time AS StudyTime, s.accession AS AccessionNumber, "
                         "s.study_id AS StudyID, s.description AS StudyDescription, "
                         "s.referring_physician AS ReferringPhysicianName, "
                         "p.patient_id AS PatientID, p.patient_name AS PatientName, "
                         "(SELECT group_concat(DISTINCT se.modality) FROM series se "
                         "WHERE se.study = s.id) AS ModalitiesInStudy, "
                         "(SELECT count(*) FROM series se WHERE se.study = s.id) "
                         "AS NumberOfStudyRelatedSeries, "
                         "(SELECT count(*) FROM instances i JOIN series se ON i.series = se.id "
                         "WHERE se.study = s.id) AS NumberOfStudyRelatedInstances "
                         "FROM studies s JOIN patients p ON s.patient = p.id",
                         study_cols},
    [ISO_LEVEL_SERIES] = {"series",
                          "SELECT se.series_uid AS SeriesInstanceUID, "
                          "s.study_uid AS StudyInstanceUID, se.modality AS Modality, "
                          "se.series_number AS SeriesNumber, se.description AS SeriesDescription, "
                          "se.body_part AS BodyPartExamined, p.patient_id AS PatientID, "
                          "(SELECT count(*) FROM instances i WHERE i.series = se.id) "
                          "AS NumberOfSeriesRelatedInstances FROM series se "
                          "JOIN studies s ON se.study = s.id JOIN patients p ON s.patient = p.id",
                          series_cols},
    [ISO_LEVEL_INSTANCE] = {"instances",
                            "SELECT i.sop_uid AS SOPInstanceUID, i.sop_class_uid AS SOPClassUID, "
                            "i.instance_number AS InstanceNumber, "
                            "se.series_uid AS SeriesInstanceUID, s.study_uid AS StudyInstanceUID, "
                            "i.transfer_syntax AS TransferSyntaxUID, i.frames AS NumberOfFrames, "
                            "i.path AS Path, i.size AS Size, i.sha256 AS SHA256, "
                            "i.calling_ae AS CallingAETitle, i.received_at AS ReceivedAt "
                            "FROM instances i JOIN series se ON i.series = se.id "
                            "JOIN studies s ON se.study = s.id",
                            instance_cols},
};

int iso_level_parse(const char *s, iso_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, levels[i].name) == 0) {
            *out = (iso_level)i;
            return 0;
        }
    return -1;
}

const char *const *iso_level_columns(iso_level level) { return levels[level].columns; }

static int column_index(iso_level level, const char *kw)
{
    const char *const *c = levels[level].columns;
    for (int i = 0; c[i]; i++)
        if (strcmp(c[i], kw) == 0)
            return i;
    return -1;
}

struct iso_query {
    iso_index *idx;
    sqlite3_stmt *st;
    int ncol;
    const char *names[32];
    const char *values[32];
    bool numeric[32];
};

/* The WHERE clause of a filter on column col; parameters from ?p on. */
static int filter_sql(const iso_filter *f, const char *col, int p, char *out, size_t size,
                      int *used_params)
{
    switch (f->match) {
    case ISO_MATCH_EXACT:
        *used_params = 1;
        return snprintf(out, size, "\"%s\" = ?%d", col, p);
    case ISO_MATCH_RANGE:
        *used_params = 2;
        /* an entity without the value is outside every range */
        return snprintf(out, size,
                        "\"%s\" <> '' AND (?%d = '' OR \"%s\" >= ?%d) AND "
                        "(?%d = '' OR \"%s\" <= ?%d)",
                        col, p, col, p, p + 1, col, p + 1);
    case ISO_MATCH_LIST:
        /* the list is one parameter, split by SQLite: no SQL from the peer */
        *used_params = 1;
        return snprintf(out, size,
                        "instr('\\' || ?%d || '\\', '\\' || \"%s\" || '\\') > 0", p, col);
    case ISO_MATCH_MEMBER:
        *used_params = 1;
        return snprintf(out, size, "instr(',' || \"%s\" || ',', ',' || ?%d || ',') > 0", col, p);
    case ISO_MATCH_GLOB:
    default:
        *used_params = 1;
        return snprintf(out, size, "\"%s\" GLOB ?%d", col, p);
    }
}

iso_code iso_index_query_open(iso_index *idx, iso_level level, const iso_filter *filters,
                              int n_filters, iso_query **out, iso_err *err)
{
    *out = NULL;
    char sql[8192];
    size_t n = (size_t)snprintf(sql, sizeof sql, "SELECT * FROM (%s)", levels[level].sql);
    int param = 1;
    for (int i = 0; i < n_filters; i++) {
        /* The column name comes from our table, never from the caller. */
        int c = column_index(level, filters[i].keyword);
        if (c < 0)
            return iso_fail(err, ISO_EINVAL, "%s has no attribute %s", levels[level].name,
                            filters[i].keyword);
        n += (size_t)snprintf(sql + n, sizeof sql - n, "%s ", i ? " AND" : " WHERE");
        int used = 0;
        int w = filter_sql(&filters[i], levels[level].columns[c], param, sql + n, sizeof sql - n,
                           &used);
        if (w < 0 || (size_t)w >= sizeof sql - n)
            return iso_fail(err, ISO_EINVAL, "query too long");
        n += (size_t)w;
        param += used;
    }
    if (n + 16 >= sizeof sql)
        return iso_fail(err, ISO_EINVAL, "query too long");
    snprintf(sql + n, sizeof sql - n, " ORDER BY 1");
    iso_query *q = calloc(1, sizeof *q);
    if (q == NULL)
        return iso_fail(err, ISO_ENOMEM, "out of memory");
    q->idx = idx;
    if (sqlite3_prepare_v2(idx->db, sql, -1, &q->st, NULL) != SQLITE_OK) {
        iso_code rc = db_fail(idx, err, "prepare query");
        iso_index_query_close(q);
        return rc;
    }
    param = 1;
    for (int i = 0; i < n_filters; i++) {
        sqlite3_bind_text(q->st, param++, filters[i].pattern, -1, SQLITE_STATIC);
        if (filters[i].match == ISO_MATCH_RANGE)
            sqlite3_bind_text(q->st, param++, filters[i].hi ? filters[i].hi : "", -1,
                              SQLITE_STATIC);
    }
    q->ncol = sqlite3_column_count(q->st);
    if (q->ncol > 32)
        q->ncol = 32;
    *out = q;
    return ISO_OK;
}

int iso_index_query_next(iso_query *q, iso_row *row, iso_err *err)
{
    int r = sqlite3_step(q->st);
    if (r == SQLITE_DONE)
        return 0;
    if (r != SQLITE_ROW) {
        db_fail(q->idx, err, "query");
        return -1;
    }
    for (int i = 0; i < q->ncol; i++) {
        /* Names are read per row: a bound GLOB makes SQLite re-prepare the
         * statement on its first step, freeing earlier names. */
        q->names[i] = sqlite3_column_name(q->st, i);
        const unsigned char *t = sqlite3_column_text(q->st, i);
        q->values[i] = t ? (const char *)t : "";
        q->numeric[i] = sqlite3_column_type(q->st, i) == SQLITE_INTEGER;
    }
    *row = (iso_row){q->ncol, q->names, q->values, q->numeric};
    return 1;
}

void iso_index_query_close(iso_query *q)
{
    if (q == NULL)
        return;
    sqlite3_finalize(q->st);
    free(q);
}

iso_code iso_index_list(iso_index *idx, iso_level level, const iso_filter *filters, int n_filters,
                        iso_row_fn fn, void *user, iso_err *err)
{
    iso_query *q = NULL;
    if (iso_index_query_open(idx, level, filters, n_filters, &q, err) != ISO_OK)
        return err->code;
    iso_row row;
    int r;
    while ((r = iso_index_query_next(q, &row, err)) == 1)
        if (fn(user, &row) != 0)
            break;
    iso_index_query_close(q);
    return r < 0 ? err->code : ISO_OK;
}

iso_code iso_index_counts(iso_index *idx, iso_counts *c, iso_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(idx->db,
                           "SELECT (SELECT count(*) FROM patients), (SELECT count(*) FROM studies), "
                           "(SELECT count(*) FROM series), (SELECT count(*) FROM instances), "
                           "(SELECT coalesce(sum(size), 0) FROM instances)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(idx, err, "prepare counts");
    iso_code rc = ISO_OK;
    if (sqlite3_step(st) == SQLITE_ROW) {
        c->patients = sqlite3_column_int64(st, 0);
        c->studies = sqlite3_column_int64(st, 1);
        c->series = sqlite3_column_int64(st, 2);
        c->instances = sqlite3_column_int64(st, 3);
        c->bytes = sqlite3_column_int64(st, 4);
    } else {
        rc = db_fail(idx, err, "counts");
    }
    sqlite3_finalize(st);
    return rc;
}

iso_code iso_index_hourly_arrivals(iso_index *idx, long now, int64_t objects[24],
                                   int64_t bytes[24], iso_err *err)
{
    memset(objects, 0, 24 * sizeof *objects);
    memset(bytes, 0, 24 * sizeof *bytes);
    sqlite3_stmt *st = NULL;
    /* received_at is ISO 8601 UTC text, so the range is a text comparison */
    if (sqlite3_prepare_v2(idx->db,
                           "SELECT (?1 - CAST(strftime('%s', received_at) AS INTEGER)) / 3600 AS h, "
                           "count(*), coalesce(sum(size), 0) FROM instances WHERE received_at >= "
                           "strftime('%Y-%m-%dT%H:%M:%S', ?1 - 86400, 'unixepoch') GROUP BY h",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(idx, err, "prepare arrivals");
    sqlite3_bind_int64(st, 1, now);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        int h = sqlite3_column_int(st, 0);
        if (h < 0 || h > 23)
            continue;
        objects[h] = sqlite3_column_int64(st, 1);
        bytes[h] = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? ISO_OK : db_fail(idx, err, "arrivals");
}

static iso_code each_file(iso_index *idx, const char *sql, const char *uid, iso_file_fn fn,
                          void *user, int *count, iso_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(idx->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(idx, err, "prepare files");
    if (uid)
        sqlite3_bind_text(st, 1, uid, -1, SQLITE_STATIC);
    int r;
    *count = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        (*count)++;
        if (fn(user, (const char *)sqlite3_column_text(st, 0),
               (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2),
               (const char *)sqlite3_column_text(st, 3)) != 0)
            break;
    }
    iso_code rc = ISO_OK;
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        rc = db_fail(idx, err, "files");
    sqlite3_finalize(st);
    return rc;
}

iso_code iso_index_each_file(iso_index *idx, iso_file_fn fn, void *user, iso_err *err)
{
    int count;
    return each_file(idx, "SELECT path, sha256, size, sop_uid FROM instances ORDER BY id", NULL,
                     fn, user, &count, err);
}

iso_code iso_index_files_under(iso_index *idx, const char *uid, iso_file_fn fn, void *user,
                               iso_level *level_found, iso_err *err)
{
    static const struct {
        iso_level level;
        const char *sql;
    } q[] = {
        {ISO_LEVEL_INSTANCE,
         "SELECT path, sha256, size, sop_uid FROM instances WHERE sop_uid = ?1"},
        {ISO_LEVEL_SERIES, "SELECT i.path, i.sha256, i.size, i.sop_uid FROM instances i "
                           "JOIN series se ON i.series = se.id WHERE se.series_uid = ?1 "
                           "ORDER BY i.id"},
        {ISO_LEVEL_STUDY, "SELECT i.path, i.sha256, i.size, i.sop_uid FROM instances i "
                          "JOIN series se ON i.series = se.id JOIN studies s ON se.study = s.id "
                          "WHERE s.study_uid = ?1 ORDER BY se.id, i.id"},
    };
    for (size_t k = 0; k < sizeof q / sizeof q[0]; k++) {
        int count = 0;
        iso_code rc = each_file(idx, q[k].sql, uid, fn, user, &count, err);
        if (rc != ISO_OK)
            return rc;
        if (count > 0) {
            *level_found = q[k].level;
            return ISO_OK;
        }
    }
    return iso_fail(err, ISO_ENOTFOUND, "no study, series or instance %s in the index", uid);
}

iso_code iso_index_series_senders(iso_index *idx, const char *series_uid, iso_series_sender *out,
                                  int max, int *n, iso_err *err)
{
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(idx->db,
                           "SELECT s.calling_ae, COUNT(*) FROM instance_senders s "
                           "JOIN instances i ON s.instance = i.id "
                           "JOIN series se ON i.series = se.id WHERE se.series_uid = ?1 "
                           "GROUP BY s.calling_ae ORDER BY s.calling_ae",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(idx, err, "prepare senders");
    if (sqlite3_bind_text(st, 1, series_uid, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_finalize(st);
        return db_fail(idx, err, "bind");
    }
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n < max) {
            copy_col(st, 0, out[*n].ae, sizeof out[*n].ae);
            out[*n].instances = sqlite3_column_int64(st, 1);
        }
        (*n)++;
    }
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? ISO_OK : db_fail(idx, err, "senders");
}

iso_code iso_index_series_sent_by(iso_index *idx, const char *series_uid, const char *calling_ae,
                                  int64_t *count, iso_err *err)
{
    *count = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(idx->db,
                           "SELECT COUNT(*) FROM instance_senders s "
                           "JOIN instances i ON s.instance = i.id "
                           "JOIN series se ON i.series = se.id "
                           "WHERE se.series_uid = ?1 AND s.calling_ae = ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(idx, err, "prepare sent by");
    int ok = sqlite3_bind_text(st, 1, series_uid, -1, SQLITE_STATIC);
    ok |= sqlite3_bind_text(st, 2, calling_ae, -1, SQLITE_STATIC);
    int r = ok == SQLITE_OK ? sqlite3_step(st) : SQLITE_ERROR;
    if (r == SQLITE_ROW)
        *count = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return r == SQLITE_ROW ? ISO_OK : db_fail(idx, err, "sent by");
}

iso_code iso_index_each_series(iso_index *idx, iso_series_fn fn, void *user, iso_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(idx->db,
                           "SELECT se.series_uid, COUNT(i.id), "
                           "  (SELECT calling_ae FROM instances WHERE series = se.id "
                           "   ORDER BY id DESC LIMIT 1) "
                           "FROM series se JOIN instances i ON i.series = se.id "
                           "GROUP BY se.id ORDER BY se.id",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(idx, err, "prepare series");
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *ae = (const char *)sqlite3_column_text(st, 2);
        if (fn(user, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1),
               ae ? ae : "") != 0)
            break;
    }
    iso_code rc = ISO_OK;
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        rc = db_fail(idx, err, "series");
    sqlite3_finalize(st);
    return rc;
}

iso_code iso_index_series_count(iso_index *idx, const char *series_uid, int64_t *count,
                                iso_err *err)
{
    sqlite3_stmt *st = NULL;
    *count = 0;
    if (sqlite3_prepare_v2(idx->db,
                           "SELECT COUNT(*) FROM instances i JOIN series se ON i.series = se.id "
                           "WHERE se.series_uid = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(idx, err, "prepare count");
    sqlite3_bind_text(st, 1, series_uid, -1, SQLITE_STATIC);
    iso_code rc = ISO_OK;
    if (sqlite3_step(st) == SQLITE_ROW)
        *count = sqlite3_column_int64(st, 0);
    else
        rc = db_fail(idx, err, "count");
    sqlite3_finalize(st);
    return rc;
}

typedef struct collect {
    const char *data_dir;
    iso_stored_file *files;
    size_t n, cap;
    int failed;
} collect;

static int collect_file(void *user, const char *path, const char *sha256, int64_t size,
                        const char *sop_uid)
{
    collect *c = user;
    (void)size;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 256;
        iso_stored_file *nf = realloc(c->files, nc * sizeof *nf);
        if (nf == NULL) {
            c->failed = 1;
            return 1;
        }
        c->files = nf;
        c->cap = nc;
    }
    iso_stored_file *f = &c->files[c->n];
    size_t len = strlen(c->data_dir) + strlen(path) + 2;
    if ((f->path = malloc(len)) == NULL) {
        c->failed = 1;
        return 1;
    }
    snprintf(f->path, len, "%s/%s", c->data_dir, path);
    int n = snprintf(f->rel, sizeof f->rel, "%s", path);
    if (n < 0 || (size_t)n >= sizeof f->rel) { /* not a path the layout made */
        free(f->path);
        c->failed = 2;
        return 1;
    }
    snprintf(f->sha256, sizeof f->sha256, "%s", sha256);
    snprintf(f->sop_uid, sizeof f->sop_uid, "%s", sop_uid);
    c->n++;
    return 0;
}

int iso_path_list_add(void *user, const char *path, const char *sha256, int64_t size,
                      const char *sop_uid)
{
    (void)sha256, (void)size, (void)sop_uid;
    iso_path_list *l = user;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **p = realloc(l->paths, cap * sizeof *p);
        if (p == NULL) {
            l->failed = true;
            return 1;
        }
        l->paths = p;
        l->cap = cap;
    }
    iso_path abs;
    iso_err e = {0};
    if (iso_layout_abs(l->data_dir, path, &abs, &e) != ISO_OK ||
        (l->paths[l->n] = strdup(abs.s)) == NULL) {
        l->failed = true;
        return 1;
    }
    l->n++;
    return 0;
}

void iso_path_list_free(iso_path_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->paths[i]);
    free(l->paths);
    l->paths = NULL;
    l->n = l->cap = 0;
}

void iso_index_files_free(iso_stored_file *files, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(files[i].path);
    free(files);
}

iso_code iso_index_series_files(iso_index *idx, const char *data_dir, const char *series_uid,
                                iso_stored_file **files, size_t *n, iso_err *err)
{
    collect c = {data_dir, NULL, 0, 0, 0};
    iso_level level;
    iso_code rc = iso_index_files_under(idx, series_uid, collect_file, &c, &level, err);
    if (rc == ISO_OK && c.failed == 2)
        rc = iso_fail(err, ISO_EMISMATCH, "series %s: an index row's path is longer than the "
                      "layout makes", series_uid);
    if (rc == ISO_OK && c.failed)
        rc = iso_fail(err, ISO_ENOMEM, "out of memory listing the series");
    if (rc == ISO_OK && (c.n == 0 || level != ISO_LEVEL_SERIES))
        rc = iso_fail(err, ISO_ENOTFOUND, "%s is not a stored series", series_uid);
    if (rc != ISO_OK) {
        iso_index_files_free(c.files, c.n);
        return rc;
    }
    *files = c.files;
    *n = c.n;
    return ISO_OK;
}

void iso_index_paths_free(char **paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
}

iso_code iso_index_series_paths(iso_index *idx, const char *data_dir, const char *series_uid,
                                char ***paths, size_t *n, iso_err *err)
{
    iso_stored_file *files = NULL;
    size_t nf = 0;
    if (iso_index_series_files(idx, data_dir, series_uid, &files, &nf, err) != ISO_OK)
        return err->code;
    char **p = malloc(nf * sizeof *p);
    if (p == NULL) {
        iso_index_files_free(files, nf);
        return iso_fail(err, ISO_ENOMEM, "out of memory listing the series");
    }
    for (size_t i = 0; i < nf; i++)
        p[i] = files[i].path; /* the paths move to the caller */
    free(files);
    *paths = p;
    *n = nf;
    return ISO_OK;
}

/* ---- retention ---- */

iso_code iso_index_each_study_by_age(iso_index *idx, iso_study_fn fn, void *user, iso_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(idx->db,
                           "SELECT s.study_uid, max(i.received_at), count(i.id), sum(i.size) "
                           "FROM studies s JOIN series se ON se.study = s.id "
                           "JOIN instances i ON i.series = se.id GROUP BY s.id "
                           "ORDER BY max(i.received_at), s.id",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(idx, err, "prepare studies by age");
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        if (fn(user, (const char *)sqlite3_column_text(st, 0),
               (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2),
               sqlite3_column_int64(st, 3)) != 0)
            break;
    iso_code rc = r == SQLITE_ROW || r == SQLITE_DONE ? ISO_OK : db_fail(idx, err, "studies by age");
    sqlite3_finalize(st);
    return rc;
}

iso_code iso_index_study_instances(iso_index *idx, const char *study_uid,
                                   iso_study_instance_fn fn, void *user, iso_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(idx->db,
                           "SELECT i.path, se.series_uid, i.sop_uid, i.calling_ae FROM instances i "
                           "JOIN series se ON i.series = se.id JOIN studies s ON se.study = s.id "
                           "WHERE s.study_uid = ?1 ORDER BY i.id",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(idx, err, "prepare study instances");
    sqlite3_bind_text(st, 1, study_uid, -1, SQLITE_STATIC);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        if (fn(user, (const char *)sqlite3_column_text(st, 0),
               (const char *)sqlite3_column_text(st, 1), (const char *)sqlite3_column_text(st, 2),
               (const char *)sqlite3_column_text(st, 3)) != 0)
            break;
    iso_code rc = r == SQLITE_ROW || r == SQLITE_DONE ? ISO_OK : db_fail(idx, err, "study instances");
    sqlite3_finalize(st);
    return rc;
}

iso_code iso_index_delete_study(iso_index *idx, const char *study_uid, const char *not_after,
                                bool *deleted, iso_err *err)
{
    *deleted = false;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(idx->db,
                           "SELECT s.id, s.patient, (SELECT max(i.received_at) FROM instances i "
                           "JOIN series se ON i.series = se.id WHERE se.study = s.id) "
                           "FROM studies s WHERE s.study_uid = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(idx, err, "prepare study");
    sqlite3_bind_text(st, 1, study_uid, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    sqlite3_int64 id = 0, patient = 0;
    bool newer = false;
    if (r == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        patient = sqlite3_column_int64(st, 1);
        const char *last = (const char *)sqlite3_column_text(st, 2);
        newer = last != NULL && not_after != NULL && strcmp(last, not_after) > 0;
    }
    sqlite3_finalize(st);
    if (r == SQLITE_DONE)
        return ISO_OK; /* gone already */
    if (r != SQLITE_ROW)
        return db_fail(idx, err, "study");
    if (newer)
        return ISO_OK; /* something arrived since the decision: it stays */
    static const char *const sql[] = {
        "DELETE FROM instance_senders WHERE instance IN (SELECT i.id FROM instances i "
        "JOIN series se ON i.series = se.id WHERE se.study = ?1)",
        "DELETE FROM instances WHERE series IN (SELECT id FROM series WHERE study = ?1)",
        "DELETE FROM series WHERE study = ?1",
        "DELETE FROM studies WHERE id = ?1",
        "DELETE FROM patients WHERE id = ?2 AND NOT EXISTS (SELECT 1 FROM studies WHERE "
        "patient = ?2)",
    };
    for (size_t k = 0; k < sizeof sql / sizeof sql[0]; k++) {
        if (sqlite3_prepare_v2(idx->db, sql[k], -1, &st, NULL) != SQLITE_OK)
            return db_fail(idx, err, "prepare delete");
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_bind_parameter_count(st) >= 2)
            sqlite3_bind_int64(st, 2, patient);
        r = sqlite3_step(st);
        sqlite3_finalize(st);
        if (r != SQLITE_DONE)
            return db_fail(idx, err, "delete study");
    }
    *deleted = true;
    return ISO_OK;
}

iso_code iso_index_has_uid(iso_index *idx, const char *uid, bool *has, iso_err *err)
{
    *has = false;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(idx->db,
                           "SELECT 1 FROM studies WHERE study_uid = ?1 UNION ALL "
                           "SELECT 1 FROM series WHERE series_uid = ?1 UNION ALL "
                           "SELECT 1 FROM instances WHERE sop_uid = ?1 LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(idx, err, "prepare has uid");
    sqlite3_bind_text(st, 1, uid, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    *has = r == SQLITE_ROW;
    sqlite3_finalize(st);
    return r == SQLITE_ROW || r == SQLITE_DONE ? ISO_OK : db_fail(idx, err, "has uid");
}
