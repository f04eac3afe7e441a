//! OIDC sign-in flows in progress (migration 0020): the nonce and PKCE verifier of each,
//! keyed by the SHA-256 of its `state`, taken once by the callback. Shared by every node.

use sqlx::Row;
use trove_core::{Result, now_millis};

use crate::sqlite::{Pool, Tx, db_err};

/// What the callback of one flow checks and does.
#[derive(Clone, PartialEq, Eq)]
pub struct SignInFlow {
    pub nonce: String,
    pub verifier: String,
    /// A console path to go to afterwards (checked by the console), or empty.
    pub next: String,
}

/// Never prints the nonce or the verifier.
impl std::fmt::Debug for SignInFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInFlow")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

pub struct SignInFlows<'a>(pub(crate) &'a Pool);

impl SignInFlows<'_> {
    /// Records a flow until `expires` (unix millis); removes expired ones on the way.
    pub async fn create(&self, state_hash: &str, flow: &SignInFlow, expires: i64) -> Result<()> {
        let now = now_millis();
        let mut tx = Tx::begin_write(self.0).await?;
        sqlx::query("DELETE FROM sign_in_flows WHERE expires <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO sign_in_flows (state_hash, nonce, verifier, next, created, expires) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(state_hash)
        .bind(&flow.nonce)
        .bind(&flow.verifier)
        .bind(&flow.next)
        .bind(now)
        .bind(expires)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await
    }

    /// Takes (reads and deletes) the unexpired flow whose state hashes to `state_hash`: a state
    /// works once.
    pub async fn take(&self, state_hash: &str) -> Result<Option<SignInFlow>> {
        let mut tx = Tx::begin_write(self.0).await?;
        let row = sqlx::query(
            "SELECT nonce, verifier, next FROM sign_in_flows WHERE state_hash = $1 AND expires > $2",
        )
        .bind(state_hash)
        .bind(now_millis())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query("DELETE FROM sign_in_flows WHERE state_hash = $1")
            .bind(state_hash)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await?;
        Ok(row.map(|r| SignInFlow {
            nonce: r.get("nonce"),
            verifier: r.get("verifier"),
            next: r.get("next"),
        }))
    }
}
