-- isonode index, migration 002: who sent each instance.  instances.calling_ae
-- names only the sender of the stored copy; a series sent again by another
-- peer (its duplicates kept) counts for that peer too.  A series' results go
-- back only to a calling AE that sent every instance of it (src/jobs/work.c),
-- so a peer that re-sends a whole series is entitled to its results and a
-- peer that added one instance to another's series is not.
CREATE TABLE instance_senders (
    instance     INTEGER NOT NULL REFERENCES instances(id),
    calling_ae   TEXT NOT NULL,
    received_at  TEXT NOT NULL,   -- UTC, ISO 8601: when it last came from this AE
    PRIMARY KEY (instance, calling_ae)
) WITHOUT ROWID;

INSERT INTO instance_senders (instance, calling_ae, received_at)
    SELECT id, calling_ae, received_at FROM instances;
