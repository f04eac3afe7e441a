//! Console sessions. The cookie carries a random token; only its SHA-256 is stored, with the
//! user, a CSRF token for forms and an expiry. Shared by every node.

use sqlx::Row;
use trove_core::{Result, now_millis};

use crate::sqlite::{Pool, db_err};

/// A live session, joined with its user.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub user: String,
    pub csrf: String,
    pub expires: i64,
    pub must_change_password: bool,
    /// `active` or `disabled` (a disabled user's sessions stop working at once).
    pub status: String,
}

/// Never prints the CSRF token.
impl std::fmt::Debug for SessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRow")
            .field("user", &self.user)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

pub struct Sessions<'a>(pub(crate) &'a Pool);

impl Sessions<'_> {
    /// Stores a session for user `user` (by name) until `expires` (unix millis).
    pub async fn create(
        &self,
        token_hash: &str,
        user: &str,
        csrf: &str,
        expires: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf, created, expires) \
             SELECT $1, id, $3, $4, $5 FROM users WHERE name = $2",
        )
        .bind(token_hash)
        .bind(user)
        .bind(csrf)
        .bind(now_millis())
        .bind(expires)
        .execute(self.0)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// The unexpired session with this token hash.
    pub async fn get(&self, token_hash: &str) -> Result<Option<SessionRow>> {
        let row = sqlx::query(
            "SELECT u.name AS name, s.csrf AS csrf, s.expires AS expires, \
             u.must_change_password AS mcp, u.status AS status \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires > $2",
        )
        .bind(token_hash)
        .bind(now_millis())
        .fetch_optional(self.0)
        .await
        .map_err(db_err)?;
        Ok(row.map(|r| SessionRow {
            user: r.get("name"),
            csrf: r.get("csrf"),
            expires: r.get("expires"),
            must_change_password: r.get::<i64, _>("mcp") != 0,
            status: r.get("status"),
        }))
    }

    pub async fn delete(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.0)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Ends every session of user `user` (after a password change elsewhere, or disabling).
    pub async fn delete_user(&self, user: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = $1)")
            .bind(user)
            .execute(self.0)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Removes expired sessions; returns how many.
    pub async fn expire(&self) -> Result<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE expires <= $1")
            .bind(now_millis())
            .execute(self.0)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected())
    }
}
