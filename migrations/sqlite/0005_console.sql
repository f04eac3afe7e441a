-- The console and REST API (issue 7): what used to live only in trove.toml can now also be
-- created at run time, so the effective state is the database. Same portable conventions.

-- A repository's own ports, JSON `{"http":5000,"https":5443,"certificate":"..","key":".."}`,
-- NULL for none. Connectors are started from these rows, whoever wrote them.
ALTER TABLE repositories ADD COLUMN connector TEXT;

-- Routing rules, declared in trove.toml (managed_by = 'config') or created in the console.
CREATE TABLE routing_rules (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    mode        TEXT    NOT NULL CHECK (mode IN ('allow', 'block')),
    matchers    TEXT    NOT NULL,            -- JSON array of regex strings
    managed_by  TEXT    NOT NULL,
    created     INTEGER NOT NULL,
    updated     INTEGER NOT NULL
) STRICT;

-- Console sessions. Only the SHA-256 of the cookie's random token is stored, so a copy of the
-- database does not sign anyone in. Shared by every node; deleted on sign-out and expiry.
CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf       TEXT    NOT NULL,
    created    INTEGER NOT NULL,
    expires    INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_by_expiry ON sessions (expires);

-- A counter bumped by every change to what runs (repositories, rules, connectors). Each node
-- polls it and refreshes when it moved, so a change made on one node reaches the others.
CREATE TABLE generation (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
) STRICT;
INSERT INTO generation (id, value) VALUES (1, 0);
