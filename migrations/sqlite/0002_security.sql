-- The security model (issue 4): privileges, roles that hold privileges and other roles, the
-- roles of each user, global security settings and token signing keys. Same portable
-- conventions as 0001: TEXT uuid-v7 ids, INTEGER unix-millis times, `managed_by` says who owns a
-- row ('builtin' | 'config' | 'ui' | 'bootstrap'), and only STRICT is sqlite-specific.

-- A privilege, named the way Nexus names it (`nx-repository-view-docker-docker-hosted-read`,
-- `nx-all`) so people migrating recognise it. The name is generated from the other columns, so a
-- privilege is shared by every role that holds the same grant.
CREATE TABLE privileges (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL CHECK (kind IN ('repository-view', 'admin')),
    format      TEXT    NOT NULL DEFAULT '*',    -- a format id, or '*'
    repo        TEXT    NOT NULL DEFAULT '*',    -- a repository name, or '*'
    actions     TEXT    NOT NULL,                -- 'browse,read' (sorted, comma-separated) or '*'
    description TEXT    NOT NULL DEFAULT '',
    managed_by  TEXT    NOT NULL,
    created     INTEGER NOT NULL
) STRICT;

CREATE TABLE roles (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    managed_by  TEXT    NOT NULL,
    created     INTEGER NOT NULL,
    updated     INTEGER NOT NULL
) STRICT;

CREATE TABLE role_privileges (
    role_id      TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    privilege_id TEXT NOT NULL REFERENCES privileges(id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, privilege_id)
) STRICT, WITHOUT ROWID;

-- Nested roles: `role_id` contains `child_id`. Cycles are refused by the store before commit.
CREATE TABLE role_roles (
    role_id  TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    child_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, child_id),
    CHECK (role_id <> child_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX role_roles_by_child ON role_roles (child_id);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX user_roles_by_role ON user_roles (role_id);

-- Global security settings: `anonymous_enabled` ('true' | 'false', absent = off) and `realms`
-- (a JSON array of realm names). Values are text; the typed accessors live in the store.
CREATE TABLE security_settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    managed_by TEXT    NOT NULL,
    updated    INTEGER NOT NULL
) STRICT;

-- Token signing keys, generated once by whichever node gets there first and shared by every
-- node (a random per-node secret breaks as soon as there are two nodes).
CREATE TABLE signing_keys (
    purpose TEXT    PRIMARY KEY,                 -- 'docker-token'
    secret  BLOB    NOT NULL,
    created INTEGER NOT NULL
) STRICT;
