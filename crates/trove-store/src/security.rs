//! The security tables: users (the 0001 table), privileges, roles with their privileges and
//! child roles, the roles of each user, global settings and token signing keys.
//!
//! Everything here is plain data in strings and small enums: what a privilege *means* is
//! `trove-auth`'s business. The store guarantees the structural rules: unique names, references
//! that exist, no role cycles, one signing key per purpose however many nodes race for it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqliteRow};
use trove_core::{Error, ErrorKind, Result, now_millis};

use crate::UserRow;

/// The user whose roles anonymous requests get. It exists (active, no password) once
/// `trove-auth` has initialised the security model.
pub const ANONYMOUS_USER: &str = "anonymous";

pub const KEY_ANONYMOUS: &str = "anonymous_enabled";
pub const KEY_REALMS: &str = "realms";

fn db_err(e: sqlx::Error) -> Error {
    Error::internal(format!("metadata database: {e}")).with_source(e)
}

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
}

impl PrivilegeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrivilegeKind::RepositoryView => "repository-view",
            PrivilegeKind::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Result<PrivilegeKind> {
        match s {
            "repository-view" => Ok(PrivilegeKind::RepositoryView),
            "admin" => Ok(PrivilegeKind::Admin),
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

/// Users, roles and privileges names: 1 to 128 of `A-Z a-z 0-9 . _ - @`, not starting with
/// `.` or `-`. No `:` (Basic credentials split there), no spaces or control characters.
fn validate_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid {what} name {name:?}: use 1-128 of A-Z a-z 0-9 . _ - @ (not starting with . or -)"
        )))
    }
}

fn validate_privilege(p: &PrivilegeDef) -> Result<()> {
    let ok = !p.name.is_empty()
        && p.name.len() <= 256
        && !p.name.bytes().any(|b| b.is_ascii_control() || b == b' ')
        && !p.format.is_empty()
        && !p.repo.is_empty()
        && !p.actions.is_empty();
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("invalid privilege {:?}", p.name)))
    }
}

fn privilege_from_row(row: &SqliteRow) -> Result<PrivilegeDef> {
    Ok(PrivilegeDef {
        name: row.get("name"),
        kind: PrivilegeKind::parse(row.get("kind"))?,
        format: row.get("format"),
        repo: row.get("repo"),
        actions: row.get("actions"),
        description: row.get("description"),
    })
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

/// The security sub-API of [`crate::MetadataStore`].
pub struct Security<'a>(pub(crate) &'a SqlitePool);

impl Security<'_> {
    // -----------------------------------------------------------------------------------------
    // Users

    /// Creates an active user; `AlreadyExists` if the name is taken. `password_hash` is an
    /// argon2id PHC string, or `None` for an account that cannot log in with a password.
    pub async fn create_user(
        &self,
        name: &str,
        password_hash: Option<&str>,
        managed_by: &str,
    ) -> Result<UserRow> {
        validate_name("user", name)?;
        let r = sqlx::query(
            "INSERT INTO users (id, name, password_hash, status, must_change_password, managed_by, created) \
             VALUES ($1, $2, $3, 'active', 0, $4, $5) ON CONFLICT (name) DO NOTHING",
        )
        .bind(new_id())
        .bind(name)
        .bind(password_hash)
        .bind(managed_by)
        .bind(now_millis())
        .execute(self.0)
        .await
        .map_err(db_err)?;
        if r.rows_affected() == 0 {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("user {name} already exists"),
            ));
        }
        self.user(name)
            .await?
            .ok_or_else(|| Error::internal(format!("user {name} vanished after insert")))
    }

    /// Creates the user (active, no password) unless it exists; `true` if it was created.
    pub async fn ensure_user(&self, name: &str, managed_by: &str) -> Result<bool> {
        validate_name("user", name)?;
        let r = sqlx::query(
            "INSERT INTO users (id, name, password_hash, status, must_change_password, managed_by, created) \
             VALUES ($1, $2, NULL, 'active', 0, $3, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(new_id())
        .bind(name)
        .bind(managed_by)
        .bind(now_millis())
        .execute(self.0)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    /// The user with this name, password hash included (its `Debug` redacts it).
    pub async fn user(&self, name: &str) -> Result<Option<UserRow>> {
        sqlx::query_as(select_users!("WHERE name = $1"))
            .bind(name)
            .fetch_optional(self.0)
            .await
            .map_err(db_err)
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRow>> {
        sqlx::query_as(select_users!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.0)
            .await
            .map_err(db_err)
    }

    /// Every user, ordered by name.
    pub async fn list_users(&self) -> Result<Vec<UserRow>> {
        sqlx::query_as(select_users!("ORDER BY name"))
            .fetch_all(self.0)
            .await
            .map_err(db_err)
    }

    /// How many users exist; with `include_anonymous = false`, the built-in anonymous user is
    /// not counted (first-start bootstrap asks "is there anyone who can log in?").
    pub async fn count_users(&self, include_anonymous: bool) -> Result<i64> {
        let excluded = if include_anonymous {
            ""
        } else {
            ANONYMOUS_USER
        };
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE name <> $1")
            .bind(excluded)
            .fetch_one(self.0)
            .await
            .map_err(db_err)
    }

    /// Replaces the password hash. `NotFound` for an unknown user; the anonymous user never has
    /// a password.
    pub async fn set_password(
        &self,
        name: &str,
        password_hash: &str,
        must_change_password: bool,
    ) -> Result<()> {
        if name == ANONYMOUS_USER {
            return Err(Error::invalid("the anonymous user cannot have a password"));
        }
        let r = sqlx::query(
            "UPDATE users SET password_hash = $2, must_change_password = $3 WHERE name = $1",
        )
        .bind(name)
        .bind(password_hash)
        .bind(must_change_password)
        .execute(self.0)
        .await
        .map_err(db_err)?;
        if r.rows_affected() == 0 {
            return Err(not_found("user", name));
        }
        Ok(())
    }

    pub async fn set_user_status(&self, name: &str, status: UserStatus) -> Result<()> {
        let r = sqlx::query("UPDATE users SET status = $2 WHERE name = $1")
            .bind(name)
            .bind(status.as_str())
            .execute(self.0)
            .await
            .map_err(db_err)?;
        if r.rows_affected() == 0 {
            return Err(not_found("user", name));
        }
        Ok(())
    }

    /// Replaces the user's direct roles. Unknown roles are refused and nothing changes.
    pub async fn set_user_roles(&self, name: &str, roles: &[String]) -> Result<()> {
        let mut tx = self.0.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let user_id = user_id(&mut tx, name)
            .await?
            .ok_or_else(|| not_found("user", name))?;
        let role_ids = role_ids(&mut tx, roles, &format!("user {name}")).await?;
        replace_user_roles(&mut tx, &user_id, &role_ids).await?;
        tx.commit().await.map_err(db_err)
    }

    /// Adds one role to the user's direct roles; `false` if the user already had it.
    pub async fn grant_role(&self, user: &str, role: &str) -> Result<bool> {
        let mut tx = self.0.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let user_id = user_id(&mut tx, user)
            .await?
            .ok_or_else(|| not_found("user", user))?;
        let role_id = role_id(&mut tx, role)
            .await?
            .ok_or_else(|| not_found("role", role))?;
        let r = sqlx::query(
            "INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&user_id)
        .bind(&role_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    /// The user's direct role names, sorted. `NotFound` for an unknown user.
    pub async fn user_roles(&self, name: &str) -> Result<Vec<String>> {
        let mut conn = self.0.acquire().await.map_err(db_err)?;
        let user_id = user_id(&mut conn, name)
            .await?
            .ok_or_else(|| not_found("user", name))?;
        user_role_names(&mut conn, &user_id).await
    }

    // -----------------------------------------------------------------------------------------
    // Roles and privileges

    /// Creates or replaces a role (description, privileges, child roles) and marks it as
    /// `managed_by`. Unknown child roles and cycles are refused and nothing changes. `true` if
    /// the role was created.
    pub async fn upsert_role(&self, role: &RoleDef, managed_by: &str) -> Result<bool> {
        let mut tx = self.0.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let (id, created) = insert_role_if_absent(&mut tx, role, managed_by).await?;
        write_role_content(&mut tx, &id, role, managed_by).await?;
        check_role_cycles(&mut tx).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(created)
    }

    /// Creates the role with this content unless a role of that name exists (whatever its
    /// content: built-ins are created once, then belong to the operator). `true` if created.
    pub async fn ensure_role(&self, role: &RoleDef, managed_by: &str) -> Result<bool> {
        let mut tx = self.0.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let (id, created) = insert_role_if_absent(&mut tx, role, managed_by).await?;
        if created {
            write_role_content(&mut tx, &id, role, managed_by).await?;
            check_role_cycles(&mut tx).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(created)
    }

    pub async fn role(&self, name: &str) -> Result<Option<RoleRecord>> {
        Ok(self
            .list_roles()
            .await?
            .into_iter()
            .find(|r| r.name == name))
    }

    /// Every role with its privileges and child roles, ordered by name.
    pub async fn list_roles(&self) -> Result<Vec<RoleRecord>> {
        let mut conn = self.0.acquire().await.map_err(db_err)?;
        load_roles(&mut conn).await
    }

    /// Deletes a role (users and parent roles lose it); `false` if there was none.
    pub async fn delete_role(&self, name: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM roles WHERE name = $1")
            .bind(name)
            .execute(self.0)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    /// Records a privilege (idempotent). A name already used for a different grant is refused.
    pub async fn upsert_privilege(&self, p: &PrivilegeDef, managed_by: &str) -> Result<()> {
        let mut conn = self.0.acquire().await.map_err(db_err)?;
        privilege_id(&mut conn, p, managed_by).await.map(drop)
    }

    /// Every privilege with its owner and the roles that hold it, ordered by name.
    pub async fn privilege_records(&self) -> Result<Vec<PrivilegeRecord>> {
        let rows = sqlx::query(
            "SELECT p.name, p.kind, p.format, p.repo, p.actions, p.description, p.managed_by, \
             (SELECT group_concat(name, ',') FROM (SELECT r.name AS name FROM role_privileges rp \
               JOIN roles r ON r.id = rp.role_id WHERE rp.privilege_id = p.id ORDER BY r.name)) AS roles \
             FROM privileges p ORDER BY p.name",
        )
        .fetch_all(self.0)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(PrivilegeRecord {
                    def: privilege_from_row(row)?,
                    managed_by: row.get("managed_by"),
                    roles: row
                        .get::<Option<String>, _>("roles")
                        .map(|r| r.split(',').map(str::to_owned).collect())
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Deletes a privilege no role holds (`Invalid` naming the roles otherwise); `false` if
    /// there was none.
    pub async fn delete_privilege(&self, name: &str) -> Result<bool> {
        let mut tx = self.0.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let holders: Vec<String> = sqlx::query_scalar(
            "SELECT r.name FROM role_privileges rp JOIN roles r ON r.id = rp.role_id \
             JOIN privileges p ON p.id = rp.privilege_id WHERE p.name = $1 ORDER BY r.name",
        )
        .bind(name)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        if !holders.is_empty() {
            return Err(Error::invalid(format!(
                "privilege {name} is held by role(s) {}; remove it from them first",
                holders.join(", ")
            )));
        }
        let r = sqlx::query("DELETE FROM privileges WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    /// Deletes a user with its roles and sessions; `false` if there was none.
    pub async fn delete_user(&self, name: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM users WHERE name = $1")
            .bind(name)
            .execute(self.0)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    /// Who last set a security setting (`config`, `ui`, ...), if anyone did.
    pub async fn setting_owner(&self, key: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT managed_by FROM security_settings WHERE key = $1")
            .bind(key)
            .fetch_optional(self.0)
            .await
            .map_err(db_err)
    }

    /// Every privilege, ordered by name.
    pub async fn list_privileges(&self) -> Result<Vec<PrivilegeDef>> {
        let rows = sqlx::query(
            "SELECT name, kind, format, repo, actions, description FROM privileges ORDER BY name",
        )
        .fetch_all(self.0)
        .await
        .map_err(db_err)?;
        rows.iter().map(privilege_from_row).collect()
    }

    // -----------------------------------------------------------------------------------------
    // Settings and keys

    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM security_settings WHERE key = $1")
            .bind(key)
            .fetch_optional(self.0)
            .await
            .map_err(db_err)
    }

    pub async fn set_setting(&self, key: &str, value: &str, managed_by: &str) -> Result<()> {
        let mut conn = self.0.acquire().await.map_err(db_err)?;
        put_setting(&mut conn, key, value, managed_by).await
    }

    /// Whether unauthenticated requests are served as the anonymous user. Off unless set.
    pub async fn anonymous_enabled(&self) -> Result<bool> {
        Ok(self.setting(KEY_ANONYMOUS).await?.as_deref() == Some("true"))
    }

    pub async fn set_anonymous_enabled(&self, on: bool, managed_by: &str) -> Result<()> {
        self.set_setting(KEY_ANONYMOUS, bool_str(on), managed_by)
            .await
    }

    /// The active realms, or `None` if never set.
    pub async fn realms(&self) -> Result<Option<Vec<String>>> {
        self.setting(KEY_REALMS)
            .await?
            .map(|v| parse_realms(&v))
            .transpose()
    }

    pub async fn set_realms(&self, realms: &[String], managed_by: &str) -> Result<()> {
        let value = serde_json::to_string(realms).expect("strings serialise");
        self.set_setting(KEY_REALMS, &value, managed_by).await
    }

    /// The signing secret for `purpose`. The first caller's `candidate` becomes the key; every
    /// later caller, on any node, gets that same key back (insert-if-absent, then read).
    pub async fn signing_key(&self, purpose: &str, candidate: &[u8]) -> Result<Vec<u8>> {
        if candidate.len() < 32 {
            return Err(Error::invalid("a signing key needs at least 32 bytes"));
        }
        sqlx::query(
            "INSERT INTO signing_keys (purpose, secret, created) VALUES ($1, $2, $3) \
             ON CONFLICT (purpose) DO NOTHING",
        )
        .bind(purpose)
        .bind(candidate)
        .bind(now_millis())
        .execute(self.0)
        .await
        .map_err(db_err)?;
        sqlx::query_scalar("SELECT secret FROM signing_keys WHERE purpose = $1")
            .bind(purpose)
            .fetch_one(self.0)
            .await
            .map_err(db_err)
    }

    // -----------------------------------------------------------------------------------------
    // Bulk

    /// Everything authorization needs, read in one transaction so it is consistent.
    pub async fn snapshot(&self) -> Result<SecuritySnapshot> {
        let mut tx = self.0.begin().await.map_err(db_err)?;
        let settings: Vec<(String, String)> =
            sqlx::query_as("SELECT key, value FROM security_settings")
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
        let settings: HashMap<String, String> = settings.into_iter().collect();
        let roles = load_roles(&mut tx).await?;
        let users: Vec<(String, String, String)> =
            sqlx::query_as("SELECT id, name, status FROM users ORDER BY name")
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
        let links: Vec<(String, String)> = sqlx::query_as(
            "SELECT ur.user_id, r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
             ORDER BY r.name",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        let mut by_user: HashMap<String, Vec<String>> = HashMap::new();
        for (user_id, role) in links {
            by_user.entry(user_id).or_default().push(role);
        }
        Ok(SecuritySnapshot {
            anonymous_enabled: settings.get(KEY_ANONYMOUS).map(String::as_str) == Some("true"),
            realms: settings
                .get(KEY_REALMS)
                .map(|v| parse_realms(v))
                .transpose()?,
            roles,
            users: users
                .into_iter()
                .map(|(id, name, status)| UserGrants {
                    roles: by_user.remove(&id).unwrap_or_default(),
                    id,
                    name,
                    status: UserStatus::parse(&status),
                })
                .collect(),
        })
    }

    /// Makes the database match the declared security section, in one transaction:
    /// - settings: anonymous switch and realms, when declared;
    /// - roles: created or replaced (privileges and child roles exactly as declared), and
    ///   config-managed roles no longer declared are deleted;
    /// - users: created or updated (roles exactly as declared, re-enabled, password when one is
    ///   given); config-managed users no longer declared are disabled, except the anonymous
    ///   user, which goes back to its built-in state (no roles).
    ///
    /// Idempotent: applying the same declaration twice reports nothing the second time. Unknown
    /// role references and role cycles are refused (the error names the cycle) and nothing
    /// changes.
    pub async fn reconcile(&self, d: &DeclaredSecurity) -> Result<SecurityReport> {
        validate_declaration(d)?;
        let mut tx = self.0.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let mut report = SecurityReport::default();
        let now = now_millis();

        // Settings.
        if let Some(on) = d.anonymous_enabled
            && set_if_changed(&mut tx, KEY_ANONYMOUS, bool_str(on)).await?
        {
            report.settings_changed.push(KEY_ANONYMOUS.into());
        }
        if let Some(realms) = &d.realms {
            let value = serde_json::to_string(realms).expect("strings serialise");
            if set_if_changed(&mut tx, KEY_REALMS, &value).await? {
                report.settings_changed.push(KEY_REALMS.into());
            }
        }

        // Roles: first make sure every declared role exists, so children can be declared in
        // any order; then write the content of those that differ.
        let before = load_roles(&mut tx).await?;
        let before: HashMap<&str, &RoleRecord> =
            before.iter().map(|r| (r.name.as_str(), r)).collect();
        for role in &d.roles {
            let (_, created) = insert_role_if_absent(&mut tx, role, "config").await?;
            if created {
                report.roles_created.push(role.name.clone());
            }
        }
        // Removed roles go before content is written, so a declared role that still
        // includes one is refused instead of silently losing it.
        let declared_roles: BTreeSet<&str> = d.roles.iter().map(|r| r.name.as_str()).collect();
        for old in before.values() {
            if old.managed_by == "config" && !declared_roles.contains(old.name.as_str()) {
                sqlx::query("DELETE FROM roles WHERE id = $1")
                    .bind(&old.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                report.roles_removed.push(old.name.clone());
            }
        }
        report.roles_removed.sort();
        // Compared with the state after removal: a role still naming a removed child differs
        // (the link cascaded away), gets rewritten, and the rewrite refuses the unknown child.
        let current = load_roles(&mut tx).await?;
        let current: HashMap<&str, &RoleRecord> =
            current.iter().map(|r| (r.name.as_str(), r)).collect();
        for role in &d.roles {
            let unchanged = current
                .get(role.name.as_str())
                .is_some_and(|old| old.managed_by == "config" && role_content_equal(old, role));
            if unchanged {
                continue;
            }
            let id = role_id(&mut tx, &role.name)
                .await?
                .ok_or_else(|| Error::internal("declared role vanished"))?;
            write_role_content(&mut tx, &id, role, "config").await?;
            if before.contains_key(role.name.as_str()) {
                report.roles_updated.push(role.name.clone());
            }
        }
        check_role_cycles(&mut tx).await?;

        // Users.
        for u in &d.users {
            let role_ids = role_ids(&mut tx, &u.roles, &format!("user {}", u.name)).await?;
            let existing: Option<UserRow> = sqlx::query_as(select_users!("WHERE name = $1"))
                .bind(&u.name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
            match existing {
                None => {
                    let id = new_id();
                    sqlx::query(
                        "INSERT INTO users (id, name, password_hash, status, must_change_password, managed_by, created) \
                         VALUES ($1, $2, $3, 'active', 0, 'config', $4)",
                    )
                    .bind(&id)
                    .bind(&u.name)
                    .bind(&u.password_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    replace_user_roles(&mut tx, &id, &role_ids).await?;
                    report.users_created.push(u.name.clone());
                }
                Some(old) => {
                    let mut changed = false;
                    if old.status != UserStatus::Active.as_str() || old.managed_by != "config" {
                        sqlx::query(
                            "UPDATE users SET status = 'active', managed_by = 'config' WHERE id = $1",
                        )
                        .bind(&old.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                        changed = true;
                    }
                    if let Some(hash) = &u.password_hash
                        && old.password_hash.as_ref() != Some(hash)
                    {
                        sqlx::query(
                            "UPDATE users SET password_hash = $2, must_change_password = 0 WHERE id = $1",
                        )
                        .bind(&old.id)
                        .bind(hash)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                        changed = true;
                    }
                    let mut wanted = u.roles.clone();
                    wanted.sort();
                    wanted.dedup();
                    if user_role_names(&mut tx, &old.id).await? != wanted {
                        replace_user_roles(&mut tx, &old.id, &role_ids).await?;
                        changed = true;
                    }
                    if changed {
                        report.users_updated.push(u.name.clone());
                    }
                }
            }
        }
        let managed: Vec<(String, String, String)> =
            sqlx::query_as("SELECT id, name, status FROM users WHERE managed_by = 'config'")
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
        for (id, name, status) in managed {
            if d.users.iter().any(|u| u.name == name) {
                continue;
            }
            if name == ANONYMOUS_USER {
                // Back to the built-in state: exists, active, no roles (no access).
                replace_user_roles(&mut tx, &id, &[]).await?;
                sqlx::query(
                    "UPDATE users SET managed_by = 'builtin', status = 'active' WHERE id = $1",
                )
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                report.users_updated.push(name);
            } else if status == UserStatus::Active.as_str() {
                sqlx::query("UPDATE users SET status = 'disabled' WHERE id = $1")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                report.users_disabled.push(name);
            }
        }

        // Config-managed privileges no role holds any more.
        sqlx::query(
            "DELETE FROM privileges WHERE managed_by = 'config' \
             AND id NOT IN (SELECT privilege_id FROM role_privileges)",
        )
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;

        tx.commit().await.map_err(db_err)?;
        Ok(report)
    }
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn parse_realms(v: &str) -> Result<Vec<String>> {
    serde_json::from_str(v).map_err(|e| Error::internal(format!("stored realms {v:?}: {e}")))
}

fn validate_declaration(d: &DeclaredSecurity) -> Result<()> {
    let mut seen = BTreeSet::new();
    for r in &d.roles {
        validate_name("role", &r.name)?;
        if !seen.insert(r.name.as_str()) {
            return Err(Error::invalid(format!("role {} is declared twice", r.name)));
        }
        for p in &r.privileges {
            validate_privilege(p)?;
        }
        if r.roles.contains(&r.name) {
            return Err(Error::invalid(format!(
                "role cycle: {0} → {0} (a role cannot contain itself)",
                r.name
            )));
        }
    }
    let mut seen = BTreeSet::new();
    for u in &d.users {
        validate_name("user", &u.name)?;
        if !seen.insert(u.name.as_str()) {
            return Err(Error::invalid(format!("user {} is declared twice", u.name)));
        }
        if u.name == ANONYMOUS_USER && u.password_hash.is_some() {
            return Err(Error::invalid("the anonymous user cannot have a password"));
        }
    }
    Ok(())
}

fn role_content_equal(old: &RoleRecord, new: &RoleDef) -> bool {
    let names = |v: &[PrivilegeDef]| v.iter().map(|p| p.name.clone()).collect::<BTreeSet<_>>();
    old.description == new.description
        && names(&old.privileges) == names(&new.privileges)
        && old.roles.iter().collect::<BTreeSet<_>>() == new.roles.iter().collect::<BTreeSet<_>>()
}

async fn user_id(conn: &mut SqliteConnection, name: &str) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)
}

async fn role_id(conn: &mut SqliteConnection, name: &str) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT id FROM roles WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)
}

/// Resolves role names to ids; an unknown name is refused, naming who referenced it.
async fn role_ids(
    conn: &mut SqliteConnection,
    names: &[String],
    owner: &str,
) -> Result<Vec<String>> {
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

async fn user_role_names(conn: &mut SqliteConnection, user_id: &str) -> Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
         WHERE ur.user_id = $1 ORDER BY r.name",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)
}

async fn replace_user_roles(
    conn: &mut SqliteConnection,
    user_id: &str,
    role_ids: &[String],
) -> Result<()> {
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    for role_id in role_ids {
        sqlx::query("INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)")
            .bind(user_id)
            .bind(role_id)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// Inserts the role row (without content) if absent; returns its id and whether it was new.
async fn insert_role_if_absent(
    conn: &mut SqliteConnection,
    role: &RoleDef,
    managed_by: &str,
) -> Result<(String, bool)> {
    validate_name("role", &role.name)?;
    let now = now_millis();
    let r = sqlx::query(
        "INSERT INTO roles (id, name, description, managed_by, created, updated) \
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (name) DO NOTHING",
    )
    .bind(new_id())
    .bind(&role.name)
    .bind(&role.description)
    .bind(managed_by)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    let id = role_id(conn, &role.name)
        .await?
        .ok_or_else(|| Error::internal("role vanished after insert"))?;
    Ok((id, r.rows_affected() > 0))
}

/// The id of the privilege with this name, creating it if needed. A name already used for a
/// different grant is refused rather than silently changing what other roles grant.
async fn privilege_id(
    conn: &mut SqliteConnection,
    p: &PrivilegeDef,
    managed_by: &str,
) -> Result<String> {
    validate_privilege(p)?;
    sqlx::query(
        "INSERT INTO privileges (id, name, kind, format, repo, actions, description, managed_by, created) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (name) DO NOTHING",
    )
    .bind(new_id())
    .bind(&p.name)
    .bind(p.kind.as_str())
    .bind(&p.format)
    .bind(&p.repo)
    .bind(&p.actions)
    .bind(&p.description)
    .bind(managed_by)
    .bind(now_millis())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    let row = sqlx::query(
        "SELECT id, name, kind, format, repo, actions, description FROM privileges WHERE name = $1",
    )
    .bind(&p.name)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    let stored = privilege_from_row(&row)?;
    if (stored.kind, &stored.format, &stored.repo, &stored.actions)
        != (p.kind, &p.format, &p.repo, &p.actions)
    {
        return Err(Error::invalid(format!(
            "privilege {} already exists with a different grant ({} {} {} {})",
            p.name,
            stored.kind.as_str(),
            stored.format,
            stored.repo,
            stored.actions
        )));
    }
    Ok(row.get("id"))
}

/// Replaces the description, privileges and child roles of role `id`.
async fn write_role_content(
    conn: &mut SqliteConnection,
    id: &str,
    role: &RoleDef,
    managed_by: &str,
) -> Result<()> {
    let mut privilege_ids = BTreeSet::new();
    for p in &role.privileges {
        privilege_ids.insert(privilege_id(conn, p, managed_by).await?);
    }
    let child_ids = role_ids(conn, &role.roles, &format!("role {}", role.name)).await?;
    if child_ids.iter().any(|c| c == id) {
        return Err(Error::invalid(format!(
            "role cycle: {0} → {0} (a role cannot contain itself)",
            role.name
        )));
    }
    sqlx::query("UPDATE roles SET description = $2, managed_by = $3, updated = $4 WHERE id = $1")
        .bind(id)
        .bind(&role.description)
        .bind(managed_by)
        .bind(now_millis())
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    sqlx::query("DELETE FROM role_privileges WHERE role_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    for pid in privilege_ids {
        sqlx::query("INSERT INTO role_privileges (role_id, privilege_id) VALUES ($1, $2)")
            .bind(id)
            .bind(pid)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    sqlx::query("DELETE FROM role_roles WHERE role_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    for cid in child_ids {
        sqlx::query("INSERT INTO role_roles (role_id, child_id) VALUES ($1, $2)")
            .bind(id)
            .bind(cid)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

async fn load_roles(conn: &mut SqliteConnection) -> Result<Vec<RoleRecord>> {
    let rows = sqlx::query(
        "SELECT id, name, description, managed_by, created, updated FROM roles ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let privs = sqlx::query(
        "SELECT rp.role_id, p.name, p.kind, p.format, p.repo, p.actions, p.description \
         FROM role_privileges rp JOIN privileges p ON p.id = rp.privilege_id ORDER BY p.name",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let children: Vec<(String, String)> = sqlx::query_as(
        "SELECT rr.role_id, c.name FROM role_roles rr JOIN roles c ON c.id = rr.child_id \
         ORDER BY c.name",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut privs_by_role: HashMap<String, Vec<PrivilegeDef>> = HashMap::new();
    for row in &privs {
        privs_by_role
            .entry(row.get("role_id"))
            .or_default()
            .push(privilege_from_row(row)?);
    }
    let mut children_by_role: HashMap<String, Vec<String>> = HashMap::new();
    for (role_id, child) in children {
        children_by_role.entry(role_id).or_default().push(child);
    }
    Ok(rows
        .iter()
        .map(|row| {
            let id: String = row.get("id");
            RoleRecord {
                privileges: privs_by_role.remove(&id).unwrap_or_default(),
                roles: children_by_role.remove(&id).unwrap_or_default(),
                name: row.get("name"),
                description: row.get("description"),
                managed_by: row.get("managed_by"),
                created: row.get("created"),
                updated: row.get("updated"),
                id,
            }
        })
        .collect())
}

/// Refuses the current role graph if it has a cycle, naming it (`a → b → c → a`).
async fn check_role_cycles(conn: &mut SqliteConnection) -> Result<()> {
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT p.name, c.name FROM role_roles rr \
         JOIN roles p ON p.id = rr.role_id JOIN roles c ON c.id = rr.child_id",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (parent, child) in edges {
        graph.entry(parent).or_default().insert(child);
    }
    match find_cycle(&graph) {
        None => Ok(()),
        Some(cycle) => Err(Error::invalid(format!(
            "role cycle: {} (a role cannot contain itself, directly or through other roles)",
            cycle.join(" → ")
        ))),
    }
}

/// Depth-first search in name order; returns the first cycle found, closed (`[a, b, a]`).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnStack,
        Done,
    }
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        marks: &mut HashMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        marks.insert(node, Mark::OnStack);
        stack.push(node);
        for child in graph.get(node).into_iter().flatten() {
            match marks.get(child.as_str()) {
                Some(Mark::OnStack) => {
                    let start = stack.iter().position(|n| *n == child)?;
                    let mut cycle: Vec<String> =
                        stack[start..].iter().map(|s| s.to_string()).collect();
                    cycle.push(child.clone());
                    return Some(cycle);
                }
                Some(Mark::Done) => {}
                None => {
                    if let Some(c) = visit(child, graph, marks, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        marks.insert(node, Mark::Done);
        None
    }
    let mut marks = HashMap::new();
    for node in graph.keys() {
        if !marks.contains_key(node.as_str()) {
            let mut stack = Vec::new();
            if let Some(c) = visit(node, graph, &mut marks, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

async fn put_setting(
    conn: &mut SqliteConnection,
    key: &str,
    value: &str,
    managed_by: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO security_settings (key, value, managed_by, updated) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, managed_by = excluded.managed_by, \
         updated = excluded.updated",
    )
    .bind(key)
    .bind(value)
    .bind(managed_by)
    .bind(now_millis())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Sets a config-managed setting; `true` if the value or owner changed.
async fn set_if_changed(conn: &mut SqliteConnection, key: &str, value: &str) -> Result<bool> {
    let old: Option<(String, String)> =
        sqlx::query_as("SELECT value, managed_by FROM security_settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
    if old
        .as_ref()
        .is_some_and(|(v, m)| v == value && m == "config")
    {
        return Ok(false);
    }
    put_setting(conn, key, value, "config").await?;
    Ok(true)
}

#[cfg(test)]
#[path = "security_tests.rs"]
mod tests;
