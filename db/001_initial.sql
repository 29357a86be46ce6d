-- isonode index, migration 001: the four DICOM levels and the store's own facts.
-- Applied by src/store/index.c inside one transaction that also sets
-- PRAGMA user_version = 1.  Later changes go in 002_*.sql etc.; a file here is
-- never edited once released.
CREATE TABLE patients (
    id            INTEGER PRIMARY KEY,
    patient_id    TEXT NOT NULL,
    issuer        TEXT NOT NULL DEFAULT '',
    patient_name  TEXT NOT NULL DEFAULT '',
    birth_date    TEXT NOT NULL DEFAULT '',
    sex           TEXT NOT NULL DEFAULT '',
    UNIQUE (patient_id, issuer)
);
CREATE INDEX patients_name ON patients(patient_name);

CREATE TABLE studies (
    id                  INTEGER PRIMARY KEY,
    patient             INTEGER NOT NULL REFERENCES patients(id),
    study_uid           TEXT NOT NULL UNIQUE,
    study_date          TEXT NOT NULL DEFAULT '',
    study_time          TEXT NOT NULL DEFAULT '',
    accession           TEXT NOT NULL DEFAULT '',
    study_id            TEXT NOT NULL DEFAULT '',
    description         TEXT NOT NULL DEFAULT '',
    referring_physician TEXT NOT NULL DEFAULT ''
);
CREATE INDEX studies_patient ON studies(patient);
CREATE INDEX studies_date ON studies(study_date);
CREATE INDEX studies_accession ON studies(accession);

CREATE TABLE series (
    id             INTEGER PRIMARY KEY,
    study          INTEGER NOT NULL REFERENCES studies(id),
    series_uid     TEXT NOT NULL UNIQUE,
    modality       TEXT NOT NULL DEFAULT '',
    series_number  TEXT NOT NULL DEFAULT '',
    description    TEXT NOT NULL DEFAULT '',
    body_part      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX series_study ON series(study);
CREATE INDEX series_modality ON series(modality);

CREATE TABLE instances (
    id               INTEGER PRIMARY KEY,
    series           INTEGER NOT NULL REFERENCES series(id),
    sop_uid          TEXT NOT NULL UNIQUE,
    sop_class_uid    TEXT NOT NULL,
    instance_number  TEXT NOT NULL DEFAULT '',
    transfer_syntax  TEXT NOT NULL,
    frames           INTEGER NOT NULL DEFAULT 1,
    path             TEXT NOT NULL UNIQUE,   -- relative to data_dir, never built from a raw UID
    size             INTEGER NOT NULL,
    sha256           TEXT NOT NULL,          -- of the whole file as stored
    calling_ae       TEXT NOT NULL DEFAULT '',
    received_at      TEXT NOT NULL,          -- UTC, ISO 8601
    version          INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX instances_series ON instances(series);

CREATE TABLE store_meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
