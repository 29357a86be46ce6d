-- isonode vault, migration 002: vault rows of removed studies, to be
-- deleted once [retention] keep_vault_days have passed since the removal.
-- The retention run deletes a due row's vault record only if the store no
-- longer holds what it re-identifies (the study, a series or an instance
-- may have been sent again); otherwise the expiry is dropped.
CREATE TABLE vault_expiry (
    kind        TEXT NOT NULL,
    pseudo      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,   -- Unix seconds
    PRIMARY KEY (kind, pseudo)
) WITHOUT ROWID;
CREATE INDEX vault_expiry_due ON vault_expiry(expires_at);
