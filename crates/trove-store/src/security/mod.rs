//! The security tables: users (the 0001 table), privileges, roles with their privileges and
//! child roles, the roles of each user, global settings and token signing keys.
//!
//! Everything here is plain data in strings and small enums: what a privilege *means*, what a
//! name may be and how roles may nest are `trove-auth`'s business (checked, with messages that
//! explain, before it writes). The store keeps the structural rules its tables need: unique
//! names, references that exist, a role graph without cycles (refused inside the transaction
//! that would close one), one signing key per purpose however many nodes race for it.

use std::collections::BTreeSet;

use trove_core::{Error, Result};

use crate::sqlite::{Conn, Pool, db_err};

pub use external::{KEY_LDAP, KEY_OIDC};
pub use keys::SIGNING_KEY_FILE;
pub use users::UserRow;

/// The user whose roles anonymous requests get. It exists (active, no password) once
/// `trove-auth` has initialised the security model.
pub const ANONYMOUS_USER: &str = "anonymous";

pub const KEY_ANONYMOUS: &str = "anonymous_enabled";
pub const KEY_REALMS: &str = "realms";

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether a user may log in at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }
    /// Anything but `active` counts as disabled: deny by default.
    pub fn parse(s: &str) -> UserStatus {
        if s == "active" {
            UserStatus::Active
        } else {
            UserStatus::Disabled
        }
    }
}

/// The two kinds of privilege.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrivilegeKind {
    /// Actions on the content of repositories matching a format and a repository pattern.
    RepositoryView,
    /// Everything, everywhere (`nx-all`).
    Admin,
    /// One application permission, named in `actions` (`metrics`).
    Application,
}

impl PrivilegeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrivilegeKind::RepositoryView => "repository-view",
            PrivilegeKind::Admin => "admin",
            PrivilegeKind::Application => "application",
        }
    }
    pub fn parse(s: &str) -> Result<PrivilegeKind> {
        match s {
            "repository-view" => Ok(PrivilegeKind::RepositoryView),
            "admin" => Ok(PrivilegeKind::Admin),
            "application" => Ok(PrivilegeKind::Application),
            _ => Err(Error::invalid(format!("unknown privilege kind {s:?}"))),
        }
    }
}

/// A privilege as stored. `format` and `repo` are a name or `*`; `actions` is a sorted
/// comma-separated list or `*`. The name is generated from the rest by `trove-auth`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrivilegeDef {
    pub name: String,
    pub kind: PrivilegeKind,
    pub format: String,
    pub repo: String,
    pub actions: String,
    pub description: String,
}

/// A privilege with its owner and the roles holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivilegeRecord {
    pub def: PrivilegeDef,
    pub managed_by: String,
    pub roles: Vec<String>,
}

/// A role as written: its privileges and the names of the roles it contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDef {
    pub name: String,
    pub description: String,
    pub privileges: Vec<PrivilegeDef>,
    /// Names of child roles, whose privileges this role includes.
    pub roles: Vec<String>,
}

/// A role as stored, privileges and child role names sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRecord {
    pub id: String,
    pub name: String,
    pub description: String,
    pub managed_by: String,
    pub privileges: Vec<PrivilegeDef>,
    pub roles: Vec<String>,
    pub created: i64,
    pub updated: i64,
}

/// A user's identity and direct roles, without the password hash: what authorization needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGrants {
    pub id: String,
    pub name: String,
    pub status: UserStatus,
    /// Direct role names, sorted.
    pub roles: Vec<String>,
}

/// Everything authorization reads, loaded in one go (a handful of queries, no hashes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecuritySnapshot {
    pub anonymous_enabled: bool,
    /// `None` when never set: the caller applies its default.
    pub realms: Option<Vec<String>>,
    pub roles: Vec<RoleRecord>,
    pub users: Vec<UserGrants>,
    /// Every security setting as stored (the LDAP and OIDC realms read theirs, `KEY_LDAP`,
    /// `KEY_OIDC`, from here).
    pub settings: std::collections::HashMap<String, String>,
}

/// A user as the config file declares it.
#[derive(Clone, PartialEq, Eq)]
pub struct DeclaredUser {
    pub name: String,
    /// An argon2id PHC string. `None` leaves an existing user's password alone (a new user
    /// gets none, so it cannot log in with a password).
    pub password_hash: Option<String>,
    pub roles: Vec<String>,
}

/// Never prints the password hash.
impl std::fmt::Debug for DeclaredUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeclaredUser")
            .field("name", &self.name)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<redacted>"),
            )
            .field("roles", &self.roles)
            .finish()
    }
}

/// The security section of the config file, applied by [`Security::reconcile`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclaredSecurity {
    /// `None` leaves the setting as it is.
    pub anonymous_enabled: Option<bool>,
    /// `None` leaves the setting as it is.
    pub realms: Option<Vec<String>>,
    pub users: Vec<DeclaredUser>,
    pub roles: Vec<RoleDef>,
}

/// What a security reconcile changed, by name. Empty when nothing changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SecurityReport {
    pub users_created: Vec<String>,
    pub users_updated: Vec<String>,
    pub users_disabled: Vec<String>,
    pub roles_created: Vec<String>,
    pub roles_updated: Vec<String>,
    pub roles_removed: Vec<String>,
    pub settings_changed: Vec<String>,
}

impl SecurityReport {
    pub fn is_empty(&self) -> bool {
        *self == SecurityReport::default()
    }
}

fn not_found(what: &str, name: &str) -> Error {
    Error::not_found(format!("no {what} named {name}"))
}

/// `SELECT <every user column> FROM users <tail>`, as one static string.
macro_rules! select_users {
    ($tail:literal) => {
        concat!(
            "SELECT id, name, password_hash, status, must_change_password, managed_by, created \
             FROM users ",
            $tail
        )
    };
}

mod external;
pub(crate) mod keys;
mod privileges;
mod reconcile;
mod roles;
mod settings;
mod users;

/// The security sub-API of [`crate::MetadataStore`].
pub struct Security<'a> {
    pub(crate) pool: &'a Pool,
    pub(crate) keys: &'a keys::KeyFile,
}

async fn user_id(conn: &mut Conn, name: &str) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)
}

async fn role_id(conn: &mut Conn, name: &str) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT id FROM roles WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)
}

/// Resolves role names to ids; an unknown name is refused, naming who referenced it.
async fn role_ids(conn: &mut Conn, names: &[String], owner: &str) -> Result<Vec<String>> {
    let mut ids = Vec::with_capacity(names.len());
    for name in names.iter().collect::<BTreeSet<_>>() {
        match role_id(conn, name).await? {
            Some(id) => ids.push(id),
            None => {
                return Err(Error::invalid(format!(
                    "{owner} refers to role {name}, which does not exist"
                )));
            }
        }
    }
    Ok(ids)
}
