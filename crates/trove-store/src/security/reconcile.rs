//! The declarative security section applied in one transaction, and the consistent snapshot
//! authorization reads.

use std::collections::{BTreeSet, HashMap};

use trove_core::{Error, Result, now_millis};

use super::privileges::validate_privilege;
use super::roles::{check_role_cycles, insert_role_if_absent, load_roles, write_role_content};
use super::settings::{bool_str, parse_realms, set_if_changed};
use super::users::{replace_user_roles, user_from_row, user_role_names};
use super::{
    ANONYMOUS_USER, DeclaredSecurity, KEY_ANONYMOUS, KEY_REALMS, PrivilegeDef, RoleDef, RoleRecord,
    Security, SecurityReport, SecuritySnapshot, UserGrants, UserRow, UserStatus, db_err, new_id,
    role_id, role_ids,
};
use crate::sqlite::Tx;

impl Security<'_> {
    /// Everything authorization needs, read in one transaction so it is consistent.
    pub async fn snapshot(&self) -> Result<SecuritySnapshot> {
        let mut tx = Tx::begin(self.pool).await?;
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
        tx.commit().await?;
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
            settings,
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
        let mut tx = Tx::begin_write(self.pool).await?;
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
            let existing: Option<UserRow> = sqlx::query(select_users!("WHERE name = $1"))
                .bind(&u.name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .as_ref()
                .map(user_from_row);
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

        tx.commit().await?;
        Ok(report)
    }
}

fn validate_declaration(d: &DeclaredSecurity) -> Result<()> {
    let mut seen = BTreeSet::new();
    for r in &d.roles {
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
