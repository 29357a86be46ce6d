-- isonode delivery queue (DATA_DIR/outbox.sqlite), migration 001.  Applied
-- by src/deliver/outbox.c with PRAGMA user_version = 1 (IF NOT EXISTS: an
-- outbox created before migrations were numbered takes it unchanged).
CREATE TABLE IF NOT EXISTS outbox (
    id          INTEGER PRIMARY KEY,
    dest        TEXT NOT NULL,                 -- [peer NAME]
    path        TEXT NOT NULL,                 -- absolute path of the file to send
    sop_uid     TEXT NOT NULL,
    sha256      TEXT NOT NULL,                 -- of the file: the same object is never queued twice
    state       TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'dead')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    created     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    sent_at     TEXT,
    UNIQUE (dest, sop_uid, sha256)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_at);
