-- isonode vault (DATA_DIR/vault.sqlite), migration 001: the encrypted
-- re-identification records and the key check value.  Applied by
-- src/anon/vault.c with PRAGMA user_version = 1 (IF NOT EXISTS: a vault
-- created before its schema was numbered takes it unchanged).  Values are
-- AES-256-GCM under a key derived from the installation key (vault.h).
CREATE TABLE IF NOT EXISTS vault (
    kind     TEXT NOT NULL,   -- what the record restores (a series, an instance, a patient)
    pseudo   TEXT NOT NULL,   -- the de-identified value it is looked up by
    nonce    BLOB NOT NULL,
    value    BLOB NOT NULL,   -- ciphertext and tag
    created  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (kind, pseudo)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS vault_meta (
    name   TEXT PRIMARY KEY,
    value  BLOB NOT NULL      -- e.g. the key check value
);
