//! External identities (issue 16): the groups (LDAP DNs, OIDC claim values) each role maps to,
//! the rows of users who sign in through a directory or an identity provider, and the settings
//! that configure those realms (`ldap`, `oidc`: JSON owned by trove-auth).
//!
//! Group names arrive normalised by `trove-auth`; the store compares them as plain text.

use std::collections::BTreeSet;

use trove_core::{Error, ErrorKind, Result};

use super::settings::put_setting;
use super::{Security, UserRow, db_err, not_found, role_id};
use crate::sqlite::Tx;

/// The settings key of the LDAP realm's configuration (JSON).
pub const KEY_LDAP: &str = "ldap";
/// The settings key of the console's OIDC sign-in configuration (JSON).
pub const KEY_OIDC: &str = "oidc";

impl Security<'_> {
    /// The external groups role `role` maps to, sorted. `NotFound` for an unknown role.
    pub async fn role_external_groups(&self, role: &str) -> Result<Vec<String>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        let id = role_id(&mut conn, role)
            .await?
            .ok_or_else(|| not_found("role", role))?;
        sqlx::query_scalar(
            "SELECT group_name FROM role_external_groups WHERE role_id = $1 ORDER BY group_name",
        )
        .bind(&id)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)
    }

    /// Every role's external groups: `(role name, group)`, sorted.
    pub async fn all_role_external_groups(&self) -> Result<Vec<(String, String)>> {
        sqlx::query_as(
            "SELECT r.name, x.group_name FROM role_external_groups x JOIN roles r ON r.id = x.role_id \
             ORDER BY r.name, x.group_name",
        )
        .fetch_all(self.pool)
        .await
        .map_err(db_err)
    }

    /// Replaces the external groups of role `role`; `true` if they changed.
    pub async fn set_role_external_groups(&self, role: &str, groups: &[String]) -> Result<bool> {
        let wanted: BTreeSet<&str> = groups.iter().map(String::as_str).collect();
        let mut tx = Tx::begin_write(self.pool).await?;
        let id = role_id(&mut tx, role)
            .await?
            .ok_or_else(|| not_found("role", role))?;
        let current: Vec<String> =
            sqlx::query_scalar("SELECT group_name FROM role_external_groups WHERE role_id = $1")
                .bind(&id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
        if current.iter().map(String::as_str).collect::<BTreeSet<_>>() == wanted {
            return Ok(false);
        }
        sqlx::query("DELETE FROM role_external_groups WHERE role_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for g in wanted {
            sqlx::query("INSERT INTO role_external_groups (role_id, group_name) VALUES ($1, $2)")
                .bind(&id)
                .bind(g)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The names of the roles mapped to any of `groups`, sorted.
    pub async fn roles_of_external_groups(&self, groups: &[String]) -> Result<Vec<String>> {
        let mut roles = BTreeSet::new();
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        for g in groups.iter().collect::<BTreeSet<_>>() {
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT r.name FROM role_external_groups x JOIN roles r ON r.id = x.role_id \
                 WHERE x.group_name = $1",
            )
            .bind(g)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
            roles.extend(names);
        }
        Ok(roles.into_iter().collect())
    }

    /// The row of user `name`, created (active, no password, owned by `managed_by`: `ldap`,
    /// `oidc`) if there is none. Two nodes creating it at once end with one row.
    pub async fn ensure_external_user(&self, name: &str, managed_by: &str) -> Result<UserRow> {
        if let Some(row) = self.user(name).await? {
            return Ok(row);
        }
        match self.create_user(name, None, managed_by).await {
            Ok(row) => Ok(row),
            Err(e) if e.kind == ErrorKind::AlreadyExists => self
                .user(name)
                .await?
                .ok_or_else(|| Error::internal(format!("user {name} vanished"))),
            Err(e) => Err(e),
        }
    }

    /// Sets (`Some`) or removes (`None`) a setting the config file owns. Removing only removes
    /// a value the file set: one set in the console stays. `true` if anything changed.
    pub async fn apply_config_setting(&self, key: &str, value: Option<&str>) -> Result<bool> {
        let mut tx = Tx::begin_write(self.pool).await?;
        let old: Option<(String, String)> =
            sqlx::query_as("SELECT value, managed_by FROM security_settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let changed = match (value, &old) {
            (Some(v), Some((old_v, owner))) if v == old_v && owner == "config" => false,
            (Some(v), _) => {
                put_setting(&mut tx, key, v, "config").await?;
                true
            }
            (None, Some((_, owner))) if owner == "config" => {
                sqlx::query("DELETE FROM security_settings WHERE key = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                true
            }
            (None, _) => false,
        };
        tx.commit().await?;
        Ok(changed)
    }
}
