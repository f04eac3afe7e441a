-- API tokens (issue 16): long-lived credentials a user makes for CI robots and clients (docker,
-- pip/twine, npm, cargo, Prometheus). The token is `trove_<id>_<secret>`; `id` is the public
-- selector the row is found by, and only the SHA-256 of the whole token is kept, so a copy of
-- the database authenticates nobody. A token is revoked by deleting its row (the audit log keeps
-- the record). Same portable conventions as 0001; STRICT is the only SQLite-specific part.
CREATE TABLE api_tokens (
    id           TEXT    PRIMARY KEY,                 -- the selector, 12 alphanumerics
    user_id      TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL,                    -- hex SHA-256 of the whole token
    repositories TEXT,                                -- JSON array of repository names; NULL = every one
    actions      TEXT,                                -- 'browse,read' (as privileges); NULL = every action
    created      INTEGER NOT NULL,
    created_by   TEXT    NOT NULL,                    -- the user name that made it (an admin, or the owner)
    expires      INTEGER,                             -- unix millis; NULL = never
    last_used    INTEGER,                             -- unix millis, written in batches
    UNIQUE (user_id, name)
) STRICT;
