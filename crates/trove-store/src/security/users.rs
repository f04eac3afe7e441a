//! Users: accounts, their status and password hashes, and their direct roles.

use trove_core::{Error, ErrorKind, Result, now_millis};

use sqlx::Row;

use super::{
    ANONYMOUS_USER, Security, UserStatus, db_err, new_id, not_found, role_id, role_ids, user_id,
};
use crate::sqlite::{Conn, DbRow, Tx};

/// A user as stored, password hash included.
#[derive(Clone, PartialEq)]
pub struct UserRow {
    pub id: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub status: String,
    pub must_change_password: bool,
    pub managed_by: String,
    pub created: i64,
}

/// Never prints the password hash.
impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("name", &self.name)
            .field("status", &self.status)
            .field("managed_by", &self.managed_by)
            .finish_non_exhaustive()
    }
}

/// Maps a row of `select_users!`.
pub(super) fn user_from_row(row: &DbRow) -> UserRow {
    UserRow {
        id: row.get("id"),
        name: row.get("name"),
        password_hash: row.get("password_hash"),
        status: row.get("status"),
        must_change_password: row.get::<i64, _>("must_change_password") != 0,
        managed_by: row.get("managed_by"),
        created: row.get("created"),
    }
}

impl Security<'_> {
    /// Creates an active user; `AlreadyExists` if the name is taken. `password_hash` is an
    /// argon2id PHC string, or `None` for an account that cannot log in with a password.
    pub async fn create_user(
        &self,
        name: &str,
        password_hash: Option<&str>,
        managed_by: &str,
    ) -> Result<UserRow> {
        let r = sqlx::query(
            "INSERT INTO users (id, name, password_hash, status, must_change_password, managed_by, created) \
             VALUES ($1, $2, $3, 'active', 0, $4, $5) ON CONFLICT (name) DO NOTHING",
        )
        .bind(new_id())
        .bind(name)
        .bind(password_hash)
        .bind(managed_by)
        .bind(now_millis())
        .execute(self.pool)
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
        let r = sqlx::query(
            "INSERT INTO users (id, name, password_hash, status, must_change_password, managed_by, created) \
             VALUES ($1, $2, NULL, 'active', 0, $3, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(new_id())
        .bind(name)
        .bind(managed_by)
        .bind(now_millis())
        .execute(self.pool)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    /// The user with this name, password hash included (its `Debug` redacts it).
    pub async fn user(&self, name: &str) -> Result<Option<UserRow>> {
        let row = sqlx::query(select_users!("WHERE name = $1"))
            .bind(name)
            .fetch_optional(self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.as_ref().map(user_from_row))
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRow>> {
        let row = sqlx::query(select_users!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.as_ref().map(user_from_row))
    }

    /// Every user, ordered by name.
    pub async fn list_users(&self) -> Result<Vec<UserRow>> {
        let rows = sqlx::query(select_users!("ORDER BY name"))
            .fetch_all(self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(user_from_row).collect())
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
            .fetch_one(self.pool)
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
        .bind(i64::from(must_change_password))
        .execute(self.pool)
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
            .execute(self.pool)
            .await
            .map_err(db_err)?;
        if r.rows_affected() == 0 {
            return Err(not_found("user", name));
        }
        Ok(())
    }

    /// Replaces the user's direct roles. Unknown roles are refused and nothing changes.
    pub async fn set_user_roles(&self, name: &str, roles: &[String]) -> Result<()> {
        let mut tx = Tx::begin_write(self.pool).await?;
        let user_id = user_id(&mut tx, name)
            .await?
            .ok_or_else(|| not_found("user", name))?;
        let role_ids = role_ids(&mut tx, roles, &format!("user {name}")).await?;
        replace_user_roles(&mut tx, &user_id, &role_ids).await?;
        tx.commit().await
    }

    /// Adds one role to the user's direct roles; `false` if the user already had it.
    pub async fn grant_role(&self, user: &str, role: &str) -> Result<bool> {
        let mut tx = Tx::begin_write(self.pool).await?;
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
        tx.commit().await?;
        Ok(r.rows_affected() > 0)
    }

    /// The user's direct role names, sorted. `NotFound` for an unknown user.
    pub async fn user_roles(&self, name: &str) -> Result<Vec<String>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        let user_id = user_id(&mut conn, name)
            .await?
            .ok_or_else(|| not_found("user", name))?;
        user_role_names(&mut conn, &user_id).await
    }

    /// Deletes a user with its roles and sessions; `false` if there was none.
    pub async fn delete_user(&self, name: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM users WHERE name = $1")
            .bind(name)
            .execute(self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }
}

pub(super) async fn user_role_names(conn: &mut Conn, user_id: &str) -> Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
         WHERE ur.user_id = $1 ORDER BY r.name",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)
}

pub(super) async fn replace_user_roles(
    conn: &mut Conn,
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
