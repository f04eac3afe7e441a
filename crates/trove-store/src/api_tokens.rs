//! API tokens (migration 0015): rows found by their public selector, holding only the SHA-256
//! of the token, the owner, an optional expiry and an optional narrowing to some repositories
//! and actions. What a token means (its format, how it is checked, what the narrowing allows)
//! is `trove-auth`'s; this module stores rows and notes their last use.
//!
//! Last use is noted in memory ([`ApiTokens::note_use`], a map insert, no I/O) and written in
//! one transaction by [`ApiTokens::flush_uses`], as downloads are: a request authenticated by
//! a token never writes to the database.

use sqlx::Row;
use trove_core::{Error, ErrorKind, Result, now_millis};

use crate::sqlite::{DbRow, Pool, Tx, db_err};

/// Token uses noted since the last flush: token id → unix millis.
pub(crate) type PendingUses =
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>;

/// A token as stored, joined with its owner.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiTokenRow {
    /// The public selector (the `<id>` of `trove_<id>_<secret>`).
    pub id: String,
    pub user_id: String,
    /// The owner's name.
    pub user: String,
    /// The owner's status now (`active` or `disabled`).
    pub user_status: String,
    pub name: String,
    /// Hex SHA-256 of the whole token.
    pub token_hash: String,
    /// `None`: every repository the owner may use.
    pub repositories: Option<Vec<String>>,
    /// `browse,read` as privileges store them; `None`: every action.
    pub actions: Option<String>,
    pub created: i64,
    pub created_by: String,
    pub expires: Option<i64>,
    pub last_used: Option<i64>,
}

/// Never prints the hash.
impl std::fmt::Debug for ApiTokenRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiTokenRow")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("name", &self.name)
            .field("repositories", &self.repositories)
            .field("actions", &self.actions)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// What a new token is made of (the caller generated the selector and hashed the secret).
#[derive(Clone, PartialEq, Eq)]
pub struct NewApiToken {
    pub id: String,
    /// The owner's name.
    pub user: String,
    pub name: String,
    pub token_hash: String,
    pub repositories: Option<Vec<String>>,
    pub actions: Option<String>,
    pub created_by: String,
    pub expires: Option<i64>,
}

impl std::fmt::Debug for NewApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiToken")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

pub struct ApiTokens<'a> {
    pub(crate) pool: &'a Pool,
    pub(crate) pending: &'a PendingUses,
}

/// The token columns joined with the owner's, then `$tail` (a `&'static str`, no `format!`).
macro_rules! select_tokens {
    ($tail:literal) => {
        concat!(
            "SELECT t.id AS id, t.user_id AS user_id, u.name AS user_name, \
             u.status AS user_status, t.name AS name, t.token_hash AS token_hash, \
             t.repositories AS repositories, t.actions AS actions, t.created AS created, \
             t.created_by AS created_by, t.expires AS expires, t.last_used AS last_used \
             FROM api_tokens t JOIN users u ON u.id = t.user_id ",
            $tail
        )
    };
}

fn from_row(row: &DbRow) -> Result<ApiTokenRow> {
    let repositories: Option<String> = row.get("repositories");
    let repositories = match repositories {
        None => None,
        Some(json) => Some(serde_json::from_str(&json).map_err(|e| {
            Error::internal(format!("api_tokens.repositories is not a JSON list: {e}"))
        })?),
    };
    Ok(ApiTokenRow {
        id: row.get("id"),
        user_id: row.get("user_id"),
        user: row.get("user_name"),
        user_status: row.get("user_status"),
        name: row.get("name"),
        token_hash: row.get("token_hash"),
        repositories,
        actions: row.get("actions"),
        created: row.get("created"),
        created_by: row.get("created_by"),
        expires: row.get("expires"),
        last_used: row.get("last_used"),
    })
}

impl ApiTokens<'_> {
    /// Stores a new token for user `t.user`: `NotFound` without such a user, `AlreadyExists`
    /// when the user has a token of that name (or, never in practice, the selector is taken).
    pub async fn create(&self, t: &NewApiToken) -> Result<ApiTokenRow> {
        let repositories = match &t.repositories {
            None => None,
            Some(list) => Some(
                serde_json::to_string(list)
                    .map_err(|e| Error::internal(format!("encoding repositories: {e}")))?,
            ),
        };
        let mut tx = Tx::begin_write(self.pool).await?;
        let user_id: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
            .bind(&t.user)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(user_id) = user_id else {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("no user named {}", t.user),
            ));
        };
        let r = sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, repositories, actions, \
             created, created_by, expires) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&t.id)
        .bind(&user_id)
        .bind(&t.name)
        .bind(&t.token_hash)
        .bind(repositories)
        .bind(&t.actions)
        .bind(now_millis())
        .bind(&t.created_by)
        .bind(t.expires)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if r.rows_affected() == 0 {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("user {} already has a token named {}", t.user, t.name),
            ));
        }
        tx.commit().await?;
        self.get(&t.id)
            .await?
            .ok_or_else(|| Error::internal("a token vanished after its insert"))
    }

    /// The token with selector `id`, joined with its owner's current name and status. One
    /// primary-key read: what every use of a token costs.
    pub async fn get(&self, id: &str) -> Result<Option<ApiTokenRow>> {
        let row = sqlx::query(select_tokens!("WHERE t.id = $1"))
            .bind(id)
            .fetch_optional(self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(from_row).transpose()
    }

    /// The token of user `user` called `name`.
    pub async fn named(&self, user: &str, name: &str) -> Result<Option<ApiTokenRow>> {
        let row = sqlx::query(select_tokens!("WHERE u.name = $1 AND t.name = $2"))
            .bind(user)
            .bind(name)
            .fetch_optional(self.pool)
            .await
            .map_err(db_err)?;
        Ok(self.with_pending(row.as_ref().map(from_row).transpose()?))
    }

    /// User `user`'s tokens (every user's with `None`), by user then name. `last_used`
    /// includes uses this node noted and has not written yet.
    pub async fn list(&self, user: Option<&str>) -> Result<Vec<ApiTokenRow>> {
        let rows = match user {
            Some(u) => {
                sqlx::query(select_tokens!("WHERE u.name = $1 ORDER BY u.name, t.name"))
                    .bind(u)
                    .fetch_all(self.pool)
                    .await
            }
            None => {
                sqlx::query(select_tokens!("ORDER BY u.name, t.name"))
                    .fetch_all(self.pool)
                    .await
            }
        }
        .map_err(db_err)?;
        rows.iter()
            .map(|r| from_row(r).map(|t| self.with_pending(Some(t)).expect("some in, some out")))
            .collect()
    }

    fn with_pending(&self, t: Option<ApiTokenRow>) -> Option<ApiTokenRow> {
        let mut t = t?;
        if let Some(at) = self.pending.lock().expect("token uses lock").get(&t.id) {
            t.last_used = Some(t.last_used.map_or(*at, |db| db.max(*at)));
        }
        Some(t)
    }

    /// Revokes (deletes) user `user`'s token `name`; the removed row, `None` if there was none.
    pub async fn delete(&self, user: &str, name: &str) -> Result<Option<ApiTokenRow>> {
        let mut tx = Tx::begin_write(self.pool).await?;
        let row = sqlx::query(select_tokens!("WHERE u.name = $1 AND t.name = $2"))
            .bind(user)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(row) = row.as_ref().map(from_row).transpose()? else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM api_tokens WHERE id = $1")
            .bind(&row.id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await?;
        self.pending
            .lock()
            .expect("token uses lock")
            .remove(&row.id);
        Ok(Some(row))
    }

    /// Notes that token `id` was used now: a map insert, no I/O.
    pub fn note_use(&self, id: &str) {
        self.pending
            .lock()
            .expect("token uses lock")
            .insert(id.to_owned(), now_millis());
    }

    /// Writes the noted uses in one transaction; returns how many were noted. Run every few
    /// seconds by the server and at shutdown (a crash loses at most that window of
    /// `last_used` times, never a token).
    pub async fn flush_uses(&self) -> Result<usize> {
        let batch = std::mem::take(&mut *self.pending.lock().expect("token uses lock"));
        if batch.is_empty() {
            return Ok(0);
        }
        let mut tx = Tx::begin_write(self.pool).await?;
        for (id, when) in &batch {
            sqlx::query(
                "UPDATE api_tokens SET last_used = $2 WHERE id = $1 \
                 AND (last_used IS NULL OR last_used < $2)",
            )
            .bind(id)
            .bind(when)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await?;
        Ok(batch.len())
    }
}
