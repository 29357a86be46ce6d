-- isonode job queue, migration 002: re-sent series and result versions.
-- A series that arrives again when its jobs already cover it gets a re-send
-- job for the calling AE that sent it (resend = 1).  content is the digest
-- of the series' stored bytes when a job ran: a re-send of unchanged content
-- only returns the results to its sender again; changed content is a new
-- version and goes through the whole route.  version is the digest of what
-- the job's results were made of (iso_derive_version); the results of one
-- version carry the creation time of the first job that made it, so a later
-- job of the same version writes byte-identical objects.
ALTER TABLE jobs ADD COLUMN resend INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN content TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN version TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS jobs_content ON jobs(series_uid, content);
CREATE INDEX IF NOT EXISTS jobs_version ON jobs(series_uid, version);
