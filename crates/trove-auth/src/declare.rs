//! The security section of the config file, validated and turned into what the store applies.

use serde::Deserialize;
use trove_core::{Error, Result};
use trove_store::{DeclaredSecurity, DeclaredUser, MetadataStore, RoleDef};

use crate::builtins::ADMIN_ROLE;
use crate::model::{ActionSet, Pattern, Privilege, Realms};
use crate::password;
use crate::rules::{check_role_graph, validate_name};

/// `privileges = [{ format = "docker", repo = "*", actions = ["browse", "read"] }]`, or
/// `{ admin = true }` for `nx-all`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivilegeDecl {
    /// A format id, or `*` / absent for every format.
    #[serde(default)]
    pub format: Option<String>,
    /// A repository name, or `*` / absent for every repository.
    #[serde(default)]
    pub repo: Option<String>,
    /// `browse`, `read`, `add`, `edit`, `delete`, or `*`.
    #[serde(default)]
    pub actions: Vec<String>,
    /// The admin privilege instead (`format`, `repo` and `actions` must then be absent).
    #[serde(default)]
    pub admin: bool,
    /// An application permission instead (`"metrics"`: read `/metrics`).
    #[serde(default)]
    pub application: Option<String>,
}

impl PrivilegeDecl {
    pub fn to_privilege(&self) -> Result<Privilege> {
        if let Some(app) = &self.application {
            if self.admin
                || self.format.is_some()
                || self.repo.is_some()
                || !self.actions.is_empty()
            {
                return Err(Error::invalid(
                    "an application privilege takes no admin, format, repo or actions",
                ));
            }
            return Privilege::application(app);
        }
        if self.admin {
            if self.format.is_some() || self.repo.is_some() || !self.actions.is_empty() {
                return Err(Error::invalid(
                    "an admin privilege takes no format, repo or actions",
                ));
            }
            return Ok(Privilege::admin());
        }
        Privilege::repository_view(
            self.format.as_deref(),
            Pattern::parse(self.repo.as_deref().unwrap_or("*"))?,
            ActionSet::parse(&self.actions)?,
        )
    }
}

/// `[[role]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDecl {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub privileges: Vec<PrivilegeDecl>,
    /// Roles whose privileges this role includes.
    #[serde(default)]
    pub roles: Vec<String>,
    /// External groups whose members get this role: LDAP group DNs (`cn=devs,ou=groups,..`)
    /// and values of the OIDC groups claim (compared case-insensitively).
    #[serde(default)]
    pub external_groups: Vec<String>,
}

impl RoleDecl {
    pub fn to_role_def(&self) -> Result<RoleDef> {
        let privileges = self
            .privileges
            .iter()
            .map(|p| p.to_privilege().map(|p| p.to_def()))
            .collect::<Result<Vec<_>>>()
            .map_err(|e| Error::invalid(format!("role {}: {}", self.name, e.msg)))?;
        Ok(RoleDef {
            name: self.name.clone(),
            description: self.description.clone(),
            privileges,
            roles: self.roles.clone(),
        })
    }
}

/// `[[user]]`, with the password already read from `password_env` / `password_file` by the
/// caller (never inline in the file).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserDecl {
    pub name: String,
    /// Plaintext; hashed here, never stored or logged. `None` keeps the current password.
    pub password: Option<String>,
    pub roles: Vec<String>,
}

/// Never prints the password.
impl std::fmt::Debug for UserDecl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserDecl")
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("roles", &self.roles)
            .finish()
    }
}

/// `[security]` plus the `[[role]]` and `[[user]]` tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityDecl {
    /// `None` leaves the switch as it is (off unless set elsewhere).
    pub anonymous: Option<bool>,
    /// `None` leaves the realms as they are (both on unless set elsewhere).
    pub realms: Option<Vec<String>>,
    pub roles: Vec<RoleDecl>,
    pub users: Vec<UserDecl>,
    /// `[ldap]`; `None` removes an LDAP configuration the file had set (one set in the console
    /// stays).
    pub ldap: Option<crate::ldap::LdapConfig>,
    /// `[oidc]`; `None` as for `ldap`.
    pub oidc: Option<crate::oidc::OidcConfig>,
}

/// Validates `decl` and builds the store's declaration. Passwords are hashed on a blocking
/// thread, except when the stored hash already matches (so applying the same file twice
/// changes nothing).
pub(crate) async fn resolve(meta: &MetadataStore, decl: &SecurityDecl) -> Result<DeclaredSecurity> {
    resolve_with(meta, decl, true).await
}

/// [`resolve`]; with `hash_now` false, no declared password is hashed or verified (every user
/// keeps what is stored, a new one gets none): argon2 at ~25 ms per declared user is what made
/// starts slow, so a server does that part after it listens.
pub(crate) async fn resolve_with(
    meta: &MetadataStore,
    decl: &SecurityDecl,
    hash_now: bool,
) -> Result<DeclaredSecurity> {
    if let Some(realms) = &decl.realms {
        Realms::parse(realms)?;
    }
    validate_external(decl)?;
    let mut roles = Vec::with_capacity(decl.roles.len());
    for r in &decl.roles {
        validate_name("role", &r.name)?;
        if r.name == ADMIN_ROLE {
            return Err(Error::invalid(
                "role admin is built in and cannot be redefined; declare a role with another name",
            ));
        }
        roles.push(r.to_role_def()?);
    }
    // The graph the reconcile would leave: config roles no longer declared are removed, the
    // declared ones replace what they had.
    let current: Vec<_> = meta
        .security()
        .list_roles()
        .await?
        .into_iter()
        .filter(|r| r.managed_by != "config" || decl.roles.iter().any(|d| d.name == r.name))
        .collect();
    check_role_graph(&current, &roles)?;
    let mut users = Vec::with_capacity(decl.users.len());
    for u in &decl.users {
        validate_name("user", &u.name)?;
        let password_hash = match &u.password {
            None => None,
            Some(pw) if pw.is_empty() => {
                return Err(Error::invalid(format!("user {}: empty password", u.name)));
            }
            Some(_) if !hash_now => None,
            Some(pw) => {
                let existing = meta
                    .security()
                    .user(&u.name)
                    .await?
                    .and_then(|row| row.password_hash);
                let pw = pw.clone();
                Some(
                    password::on_hasher(move || match existing {
                        Some(h) if password::verify(&pw, &h) => Ok(h),
                        _ => password::hash(&pw),
                    })
                    .await??,
                )
            }
        };
        users.push(DeclaredUser {
            name: u.name.clone(),
            password_hash,
            roles: u.roles.clone(),
        });
    }
    Ok(DeclaredSecurity {
        anonymous_enabled: decl.anonymous,
        realms: decl.realms.clone(),
        users,
        roles,
    })
}

/// `[ldap]`, `[oidc]` and `external_groups`, checked before anything is written.
pub fn validate_external(decl: &SecurityDecl) -> Result<()> {
    if let Some(l) = &decl.ldap {
        l.validate()?;
    }
    if let Some(o) = &decl.oidc {
        o.validate()?;
    }
    if let Some(realms) = &decl.realms
        && Realms::parse(realms)?.ldap
        && decl.ldap.is_none()
    {
        return Err(Error::invalid(
            "[security] realms lists ldap, but there is no [ldap] section",
        ));
    }
    for r in &decl.roles {
        for g in &r.external_groups {
            if g.trim().is_empty() || g.len() > 1024 {
                return Err(Error::invalid(format!(
                    "role {}: external_groups entries are group names or DNs of 1 to 1024 bytes",
                    r.name
                )));
            }
        }
    }
    Ok(())
}
