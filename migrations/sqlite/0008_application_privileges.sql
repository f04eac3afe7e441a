-- no-transaction
-- Application privileges (issue 14): a privilege may grant one application permission instead
-- of repository actions, kind 'application' with the permission in `actions` (`metrics`: read
-- /metrics without being an administrator, as Nexus' nx-metrics-all). SQLite cannot change a
-- CHECK constraint in place, so the table is rebuilt, with foreign keys off so that dropping
-- the old table does not cascade into role_privileges (whose rows keep pointing at the same
-- ids in the new table).
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE privileges_new (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL CHECK (kind IN ('repository-view', 'admin', 'application')),
    format      TEXT    NOT NULL DEFAULT '*',
    repo        TEXT    NOT NULL DEFAULT '*',
    actions     TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    managed_by  TEXT    NOT NULL,
    created     INTEGER NOT NULL
) STRICT;
INSERT INTO privileges_new (id, name, kind, format, repo, actions, description, managed_by, created)
    SELECT id, name, kind, format, repo, actions, description, managed_by, created FROM privileges;
DROP TABLE privileges;
ALTER TABLE privileges_new RENAME TO privileges;
COMMIT;
PRAGMA foreign_keys = ON;
