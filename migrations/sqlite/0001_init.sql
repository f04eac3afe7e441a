-- Trove metadata, SQLite dialect. Portable conventions (docs/architecture.md): TEXT uuid-v7
-- ids, INTEGER unix-millis times, JSON kept as TEXT. STRICT appears only in this directory.

-- Repositories, declared in trove.toml (managed_by = 'config') or created in the console.
CREATE TABLE repositories (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    format      TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    online      INTEGER NOT NULL DEFAULT 1,
    config      TEXT    NOT NULL,            -- JSON of the kind's settings
    managed_by  TEXT    NOT NULL,            -- 'config' | 'ui'
    created     INTEGER NOT NULL,
    updated     INTEGER NOT NULL
) STRICT;

-- Every blob the blob store holds, once, whichever repositories link it.
CREATE TABLE blobs (
    digest   TEXT    PRIMARY KEY,
    size     INTEGER NOT NULL,
    created  INTEGER NOT NULL
) STRICT;

-- The repository link table: what a repository serves at a storage path. A GET is one lookup
-- on the primary key; size and media type are denormalised here so it needs no join.
CREATE TABLE assets (
    repo_id          TEXT    NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    path             TEXT    NOT NULL,
    digest           TEXT    NOT NULL REFERENCES blobs(digest),
    size             INTEGER NOT NULL,
    content_type     TEXT,
    created          INTEGER NOT NULL,
    last_downloaded  INTEGER,
    attrs            TEXT    NOT NULL DEFAULT '{}',
    PRIMARY KEY (repo_id, path)
) STRICT, WITHOUT ROWID;
CREATE INDEX assets_by_digest ON assets (digest);

-- Upload sessions. The bytes live in the blob store; the row says which repository (and, for
-- docker, which image name) owns the session, so it survives restarts and other nodes see it.
CREATE TABLE uploads (
    id       TEXT    PRIMARY KEY,
    repo_id  TEXT    NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    scope    TEXT    NOT NULL,
    created  INTEGER NOT NULL,
    updated  INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
    id                    TEXT    PRIMARY KEY,
    name                  TEXT    NOT NULL UNIQUE,
    password_hash         TEXT,                      -- argon2id PHC string
    status                TEXT    NOT NULL DEFAULT 'active',
    must_change_password  INTEGER NOT NULL DEFAULT 0,
    managed_by            TEXT    NOT NULL,
    created               INTEGER NOT NULL
) STRICT;
