//! Users from outside Trove (an LDAP directory, an OIDC provider) as Trove principals.
//!
//! On each sign-in (a miss of the credentials cache for LDAP, each console sign-in for OIDC):
//! - the user gets a row in `users` the first time (`managed_by` = the realm, no password), so
//!   their id is stable, on every node, and sessions, tokens and audit entries refer to it;
//! - a row of that name owned by anything else (a local user, the other realm) is never
//!   taken over: the directory cannot sign in as a local `admin`;
//! - their direct roles are set to exactly the roles whose `external_groups` hold one of
//!   their groups (compared after [`normalise_group`]); roles given by hand to such a user are
//!   replaced at the next sign-in;
//! - no mapped role: the sign-in is refused (and their roles emptied, so tokens already
//!   issued stop granting anything);
//! - a user disabled in Trove stays disabled whatever the directory says.

use crate::authn::AuthError;
use crate::model::Principal;
use crate::policy::PolicyCache;
use crate::rules::validate_name;
use trove_store::{MetadataStore, UserStatus};

/// The realms whose users are managed this way, as written in `users.managed_by`.
pub const LDAP_REALM: &str = "ldap";
pub const OIDC_REALM: &str = "oidc";

/// The form groups are stored and compared in: trimmed, lower case, and for a DN (anything
/// with `=`) without the spaces around `,` and `=` (`CN=Devs, OU=Groups` and
/// `cn=devs,ou=groups` are one group). Values with escaped characters are compared as
/// written.
pub fn normalise_group(group: &str) -> String {
    let g = group.trim().to_lowercase();
    if !g.contains('=') {
        return g;
    }
    let mut out = String::with_capacity(g.len());
    let mut pending_space = false;
    let mut last = ' ';
    for c in g.chars() {
        if c == ' ' {
            pending_space = true;
            continue;
        }
        if pending_space && !matches!(c, ',' | '=') && !matches!(last, ',' | '=' | ' ') {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
        last = c;
    }
    out
}

/// Signs in an external user (see the module docs). `realm` is [`LDAP_REALM`] or
/// [`OIDC_REALM`].
pub(crate) async fn sign_in(
    meta: &MetadataStore,
    policy: &PolicyCache,
    realm: &'static str,
    name: &str,
    groups: &[String],
) -> Result<Principal, AuthError> {
    if validate_name("user", name).is_err() {
        tracing::warn!(user = %name, realm, "external user name cannot name a Trove user; refused");
        return Err(AuthError::InvalidCredentials);
    }
    let sec = meta.security();
    let row = sec
        .ensure_external_user(name, realm)
        .await
        .map_err(AuthError::Internal)?;
    if row.managed_by != realm {
        tracing::warn!(
            user = %name, realm, owner = %row.managed_by,
            "a Trove user of this name exists and is not managed by this realm; sign-in refused"
        );
        return Err(AuthError::InvalidCredentials);
    }
    if UserStatus::parse(&row.status) != UserStatus::Active {
        return Err(AuthError::Disabled);
    }
    let groups: Vec<String> = groups.iter().map(|g| normalise_group(g)).collect();
    let roles = sec
        .roles_of_external_groups(&groups)
        .await
        .map_err(AuthError::Internal)?;
    policy.ensure_user_known(&row.id, true).await;
    let mut current = policy.current().user_roles(&row.id).unwrap_or_default();
    current.sort();
    if current != roles {
        sec.set_user_roles(name, &roles)
            .await
            .map_err(AuthError::Internal)?;
        policy.reload().await.map_err(AuthError::Internal)?;
        tracing::info!(user = %name, realm, ?roles, "roles of an external user recomputed from their groups");
    }
    if roles.is_empty() {
        tracing::info!(user = %name, realm, ?groups, "external user has no group mapped to a Trove role; refused");
        return Err(AuthError::NoMappedRole(realm));
    }
    Ok(Principal::User {
        id: row.id,
        name: row.name,
    })
}

#[cfg(test)]
mod tests {
    use super::normalise_group;

    #[test]
    fn groups_compare_normalised() {
        assert_eq!(
            normalise_group(" CN=Devs, OU=Groups ,DC=Example,DC=org"),
            "cn=devs,ou=groups,dc=example,dc=org"
        );
        assert_eq!(normalise_group("cn = Team A,dc=x"), "cn=team a,dc=x");
        assert_eq!(normalise_group("Trove-Admins"), "trove-admins");
    }
}
