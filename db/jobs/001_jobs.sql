-- isonode job queue (DATA_DIR/jobs.sqlite), migration 001.  Applied by
-- src/jobs/queue.c with PRAGMA user_version = 1; later changes go in
-- 002_*.sql.  States and transitions: src/jobs/queue.h, doc/DESIGN.md.
CREATE TABLE IF NOT EXISTS jobs (
    id          INTEGER PRIMARY KEY,
    series_uid  TEXT NOT NULL,                 -- as stored (de-identified when the store is)
    calling_ae  TEXT NOT NULL DEFAULT '',      -- of the series' latest instance: where results return
    instances   INTEGER NOT NULL,              -- the instance count this job covers
    state       TEXT NOT NULL DEFAULT 'queued' CHECK (state IN
                    ('queued', 'running', 'done', 'failed', 'dead', 'cancelled')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL DEFAULT 0,    -- Unix seconds: a failed job waits until then
    created     INTEGER NOT NULL,              -- Unix seconds: also the derived objects' creation time
    started     INTEGER,
    finished    INTEGER,
    seconds     REAL,
    route       TEXT NOT NULL DEFAULT '',      -- the rule that decided
    result      TEXT NOT NULL DEFAULT '',      -- what was done
    reason      TEXT NOT NULL DEFAULT ''       -- why the last attempt failed
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs(state, next_at);
CREATE INDEX IF NOT EXISTS jobs_series ON jobs(series_uid);
