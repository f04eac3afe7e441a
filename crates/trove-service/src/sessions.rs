//! The console's sign-in sessions: rows named by the SHA-256 of a cookie token (the console
//! makes tokens and hashes; only hashes reach the database), so every node knows every
//! session.

use trove_auth::Principal;

use crate::{Service, ServiceResult};

/// A live console session.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    pub user: String,
    /// Holds the admin privilege (the console shows its administration pages then).
    pub admin: bool,
    /// The token every form of this session carries.
    pub csrf: String,
    pub must_change_password: bool,
}

impl Service {
    /// The live session whose token hashes to `token_hash`. A session of a disabled user ends
    /// here; an expired or unknown one is `None`.
    pub async fn session(&self, token_hash: &str) -> ServiceResult<Option<Session>> {
        let sessions = self.meta.sessions();
        let Some(row) = sessions.get(token_hash).await? else {
            return Ok(None);
        };
        if row.status != "active" {
            sessions.delete(token_hash).await?;
            return Ok(None);
        }
        let Some(user) = self.meta.security().user(&row.user).await? else {
            return Ok(None);
        };
        let principal = Principal::User {
            id: user.id,
            name: user.name.clone(),
        };
        Ok(Some(Session {
            admin: self.auth.authorizer.is_admin(&principal),
            principal,
            user: user.name,
            csrf: row.csrf,
            must_change_password: row.must_change_password,
        }))
    }

    /// Records a session of `user` until `expires` (unix millis).
    pub async fn start_session(
        &self,
        token_hash: &str,
        user: &str,
        csrf: &str,
        expires: i64,
    ) -> ServiceResult<()> {
        Ok(self
            .meta
            .sessions()
            .create(token_hash, user, csrf, expires)
            .await?)
    }

    /// Signs one session out.
    pub async fn end_session(&self, token_hash: &str) -> ServiceResult<()> {
        Ok(self.meta.sessions().delete(token_hash).await?)
    }

    /// Signs every session of `user` out (after a password change).
    pub async fn end_sessions_of(&self, user: &str) -> ServiceResult<()> {
        Ok(self.meta.sessions().delete_user(user).await?)
    }
}
