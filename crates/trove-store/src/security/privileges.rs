//! Privileges: named grants (a kind, a format, a repository pattern, actions) held by roles.

use std::collections::HashMap;

use sqlx::Row;
use trove_core::{Error, Result, now_millis};

use super::{PrivilegeDef, PrivilegeKind, PrivilegeRecord, Security, new_id};
use crate::sqlite::{Conn, DbRow, Tx, db_err};

impl Security<'_> {
    /// Records a privilege (idempotent). A name already used for a different grant is refused.
    pub async fn upsert_privilege(&self, p: &PrivilegeDef, managed_by: &str) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        privilege_id(&mut conn, p, managed_by).await.map(drop)
    }

    /// Every privilege with its owner and the roles that hold it, ordered by name.
    pub async fn privilege_records(&self) -> Result<Vec<PrivilegeRecord>> {
        let mut tx = Tx::begin(self.pool).await?;
        let rows = sqlx::query(
            "SELECT name, kind, format, repo, actions, description, managed_by FROM privileges \
             ORDER BY name",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let holders: Vec<(String, String)> = sqlx::query_as(
            "SELECT p.name, r.name FROM role_privileges rp JOIN roles r ON r.id = rp.role_id \
             JOIN privileges p ON p.id = rp.privilege_id ORDER BY r.name",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await?;
        let mut roles: HashMap<String, Vec<String>> = HashMap::new();
        for (privilege, role) in holders {
            roles.entry(privilege).or_default().push(role);
        }
        rows.iter()
            .map(|row| {
                let def = privilege_from_row(row)?;
                Ok(PrivilegeRecord {
                    roles: roles.remove(&def.name).unwrap_or_default(),
                    managed_by: row.get("managed_by"),
                    def,
                })
            })
            .collect()
    }

    /// Deletes a privilege no role holds (`Invalid` naming the roles otherwise); `false` if
    /// there was none.
    pub async fn delete_privilege(&self, name: &str) -> Result<bool> {
        let mut tx = Tx::begin_write(self.pool).await?;
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
        tx.commit().await?;
        Ok(r.rows_affected() > 0)
    }

    /// Every privilege, ordered by name.
    pub async fn list_privileges(&self) -> Result<Vec<PrivilegeDef>> {
        let rows = sqlx::query(
            "SELECT name, kind, format, repo, actions, description FROM privileges ORDER BY name",
        )
        .fetch_all(self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(privilege_from_row).collect()
    }
}

pub(super) fn validate_privilege(p: &PrivilegeDef) -> Result<()> {
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

pub(super) fn privilege_from_row(row: &DbRow) -> Result<PrivilegeDef> {
    Ok(PrivilegeDef {
        name: row.get("name"),
        kind: PrivilegeKind::parse(row.get("kind"))?,
        format: row.get("format"),
        repo: row.get("repo"),
        actions: row.get("actions"),
        description: row.get("description"),
    })
}

/// The id of the privilege with this name, creating it if needed. A name already used for a
/// different grant is refused rather than silently changing what other roles grant.
pub(super) async fn privilege_id(
    conn: &mut Conn,
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
