-- isonode delivery queue, migration 003: storage commitment the node asks
-- for (Storage Commitment Push Model, PS3.4 J, the node as SCU).  After a
-- delivery to a [peer] with storage_commitment = yes, its objects are
-- 'awaiting' (sent, their commitment not yet reported) and belong to one
-- commit_requests row, written before the N-ACTION goes.  The peer's
-- N-EVENT-REPORT moves them to 'committed', or back to 'queued' (sent
-- again, and asked again) for those it could not commit; a request without
-- a report within [outbox] commitment_timeout_seconds expires the same
-- way.  Nothing awaiting is removed: its results folder stays, `outbox
-- purge` keeps it, and retention must too.
CREATE TABLE commit_requests (
    id              INTEGER PRIMARY KEY,
    dest            TEXT NOT NULL,                 -- [peer NAME] asked to commit
    transaction_uid TEXT NOT NULL UNIQUE,
    state           TEXT NOT NULL DEFAULT 'asking'
                    CHECK (state IN ('asking', 'open', 'reported', 'expired')),
    asked_at        INTEGER NOT NULL,              -- Unix seconds, when written
    last_error      TEXT NOT NULL DEFAULT '',
    reported_at     TEXT
);
CREATE INDEX commit_requests_open ON commit_requests(state, asked_at);

-- The outbox gains the states 'awaiting' and 'committed' and the request
-- its items wait on; SQLite cannot change a CHECK, so the table is rebuilt.
CREATE TABLE outbox_v3 (
    id             INTEGER PRIMARY KEY,
    dest           TEXT NOT NULL,
    path           TEXT NOT NULL,
    sop_uid        TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    state          TEXT NOT NULL DEFAULT 'queued'
                   CHECK (state IN ('queued', 'sent', 'awaiting', 'committed', 'dead')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_at        INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT NOT NULL DEFAULT '',
    created        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    sent_at        TEXT,
    commit_request INTEGER REFERENCES commit_requests(id),  -- while awaiting, and after
    committed_at   TEXT,
    UNIQUE (dest, sop_uid, sha256)
);
INSERT INTO outbox_v3 (id, dest, path, sop_uid, sha256, state, attempts, next_at, last_error,
                       created, sent_at)
    SELECT id, dest, path, sop_uid, sha256, state, attempts, next_at, last_error, created, sent_at
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v3 RENAME TO outbox;
CREATE INDEX outbox_due ON outbox(state, next_at);
CREATE INDEX outbox_commit_request ON outbox(commit_request);
CREATE INDEX outbox_sop ON outbox(sop_uid);  -- retention: is a stored object still to be sent?
