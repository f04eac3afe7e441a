-- The audit log (issue 16): every change of state, and sign-ins, appended one row each. Rows
-- are only ever inserted, and deleted by retention (`[audit] retention_days`); the trigger
-- below refuses any UPDATE, so not even a bug in Trove can rewrite history. `seq` orders the
-- entries (times of several nodes may tie or differ a little). Same portable conventions as
-- 0001, except the trigger syntax (PostgreSQL: a BEFORE UPDATE trigger raising an exception).
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,                  -- insertion order
    at          INTEGER NOT NULL,                     -- unix millis
    actor       TEXT    NOT NULL,                     -- user name, 'anonymous', or 'system'
    realm       TEXT,                                 -- how they authenticated: basic, docker-token, user-token, session, config, cli
    token       TEXT,                                 -- the API token's name, when one was used
    ip          TEXT,                                 -- the client, as seen through trusted proxies
    front_end   TEXT    NOT NULL,                     -- console, rest, registry, config, cli
    action      TEXT    NOT NULL,                     -- create, update, delete, revoke, sign-in, sign-in-failed, ...
    entity_type TEXT    NOT NULL,                     -- user, role, privilege, realms, anonymous, repository, routing-rule, token, content, session
    entity_name TEXT    NOT NULL,
    before      TEXT,                                 -- JSON, secrets redacted; NULL when created
    after       TEXT,                                 -- JSON, secrets redacted; NULL when deleted
    detail      TEXT                                  -- a short message (why a sign-in failed)
) STRICT;
CREATE INDEX audit_log_by_time ON audit_log (at);
CREATE INDEX audit_log_by_actor ON audit_log (actor, at);
CREATE INDEX audit_log_by_entity ON audit_log (entity_type, entity_name, at);

CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
