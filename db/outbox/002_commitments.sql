-- isonode delivery queue, migration 002: storage commitment reports owed to
-- requesters (Storage Commitment Push Model, PS3.4 J).  A transaction is
-- written here before its N-ACTION is answered, so a report owed survives a
-- restart or a kill -9; the delivery thread checks the instances and sends
-- the N-EVENT-REPORT, retried with the outbox's backoff, dead after
-- [outbox] max_attempts.
CREATE TABLE commitments (
    id              INTEGER PRIMARY KEY,
    requester       TEXT NOT NULL,                 -- [peer NAME] whose AE title asked
    transaction_uid TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_at         INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    committed       INTEGER NOT NULL DEFAULT 0,    -- instances reported committed (once sent)
    failed          INTEGER NOT NULL DEFAULT 0,    -- instances reported failed
    created         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    sent_at         TEXT,
    UNIQUE (requester, transaction_uid)
);
CREATE INDEX commitments_due ON commitments(state, next_at);
CREATE TABLE commitment_items (
    commitment    INTEGER NOT NULL REFERENCES commitments(id),
    seq           INTEGER NOT NULL,
    sop_class_uid TEXT NOT NULL,
    sop_uid       TEXT NOT NULL,                   -- as the requester named it
    stored_uid    TEXT NOT NULL,                   -- the store's UID for it (its replacement when de-identifying)
    PRIMARY KEY (commitment, seq)
);
