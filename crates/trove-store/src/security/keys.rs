//! Token signing keys: one per purpose, shared by every node.

use trove_core::{Error, Result, now_millis};

use super::Security;
use crate::sqlite::db_err;

impl Security<'_> {
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
}
