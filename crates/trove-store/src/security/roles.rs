//! Roles: their privileges and child roles, and the check that the role graph has no cycle.

use std::collections::{BTreeSet, HashMap};

use sqlx::Row;
use trove_core::{Error, Result, now_millis};

use super::privileges::{privilege_from_row, privilege_id};
use super::{PrivilegeDef, RoleDef, RoleRecord, Security, db_err, new_id, role_id, role_ids};
use crate::sqlite::{Conn, Tx};

impl Security<'_> {
    /// Creates or replaces a role (description, privileges, child roles) and marks it as
    /// `managed_by`. Unknown child roles and cycles are refused and nothing changes. `true` if
    /// the role was created.
    pub async fn upsert_role(&self, role: &RoleDef, managed_by: &str) -> Result<bool> {
        let mut tx = Tx::begin_write(self.pool).await?;
        let (id, created) = insert_role_if_absent(&mut tx, role, managed_by).await?;
        write_role_content(&mut tx, &id, role, managed_by).await?;
        check_role_cycles(&mut tx).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Creates the role with this content unless a role of that name exists (whatever its
    /// content: built-ins are created once, then belong to the operator). `true` if created.
    pub async fn ensure_role(&self, role: &RoleDef, managed_by: &str) -> Result<bool> {
        let mut tx = Tx::begin_write(self.pool).await?;
        let (id, created) = insert_role_if_absent(&mut tx, role, managed_by).await?;
        if created {
            write_role_content(&mut tx, &id, role, managed_by).await?;
            check_role_cycles(&mut tx).await?;
        }
        tx.commit().await?;
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
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        load_roles(&mut conn).await
    }

    /// Deletes a role (users and parent roles lose it); `false` if there was none.
    pub async fn delete_role(&self, name: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM roles WHERE name = $1")
            .bind(name)
            .execute(self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }
}

/// Inserts the role row (without content) if absent; returns its id and whether it was new.
pub(super) async fn insert_role_if_absent(
    conn: &mut Conn,
    role: &RoleDef,
    managed_by: &str,
) -> Result<(String, bool)> {
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

/// Replaces the description, privileges and child roles of role `id`.
pub(super) async fn write_role_content(
    conn: &mut Conn,
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

pub(super) async fn load_roles(conn: &mut Conn) -> Result<Vec<RoleRecord>> {
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

/// Refuses the role graph if a role now contains itself through other roles: the last guard,
/// inside the transaction that would close the cycle (`trove-auth` finds and names cycles
/// before it writes, but two writers could each add half of one).
pub(super) async fn check_role_cycles(conn: &mut Conn) -> Result<()> {
    let looped: Option<String> = sqlx::query_scalar(
        "WITH RECURSIVE reach(start, node) AS ( \
           SELECT role_id, child_id FROM role_roles \
           UNION \
           SELECT reach.start, rr.child_id FROM reach \
             JOIN role_roles rr ON rr.role_id = reach.node \
         ) \
         SELECT r.name FROM reach JOIN roles r ON r.id = reach.start \
         WHERE reach.start = reach.node ORDER BY r.name LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    match looped {
        None => Ok(()),
        Some(role) => Err(Error::invalid(format!(
            "role cycle: role {role} would contain itself through other roles"
        ))),
    }
}
