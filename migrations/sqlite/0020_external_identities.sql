-- Directory and single sign-on identities (issue 16: the LDAP realm and OIDC sign-in for the
-- console). Same portable conventions as 0001/0002.
--
-- Users who sign in through LDAP or OIDC get a row in `users` on their first sign-in
-- (`managed_by` = 'ldap' or 'oidc', no password), so their id is stable and sessions, tokens and
-- roles refer to it as to any user. Their direct roles are recomputed from their groups at each
-- sign-in, through this table: a role lists the external groups (an LDAP group DN, or a value
-- of the OIDC groups claim) whose members get it. Stored normalised (see trove-auth's
-- `external::normalise_group`), so comparisons are plain equality.
CREATE TABLE role_external_groups (
    role_id    TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    group_name TEXT NOT NULL,
    PRIMARY KEY (role_id, group_name)
) STRICT, WITHOUT ROWID;
CREATE INDEX role_external_groups_by_group ON role_external_groups (group_name);

-- OIDC authorization-code flows in progress: what the callback must check (the nonce, the PKCE
-- verifier) and where to go after it, keyed by the SHA-256 of the `state` parameter (which the
-- browser also holds in a cookie). One use each; rows older than `expires` are ignored and
-- removed when the next flow starts. Shared by every node, so the callback may land on any.
CREATE TABLE sign_in_flows (
    state_hash TEXT    PRIMARY KEY,
    nonce      TEXT    NOT NULL,
    verifier   TEXT    NOT NULL,
    next       TEXT    NOT NULL DEFAULT '',
    created    INTEGER NOT NULL,
    expires    INTEGER NOT NULL
) STRICT;
