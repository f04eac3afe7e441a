//! Global security settings: the anonymous switch and the active realms.

use trove_core::{Error, Result, now_millis};

use super::{KEY_ANONYMOUS, KEY_REALMS, Security};
use crate::sqlite::{Conn, db_err};

impl Security<'_> {
    /// Who last set a security setting (`config`, `ui`, ...), if anyone did.
    pub async fn setting_owner(&self, key: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT managed_by FROM security_settings WHERE key = $1")
            .bind(key)
            .fetch_optional(self.pool)
            .await
            .map_err(db_err)
    }

    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM security_settings WHERE key = $1")
            .bind(key)
            .fetch_optional(self.pool)
            .await
            .map_err(db_err)
    }

    pub async fn set_setting(&self, key: &str, value: &str, managed_by: &str) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        put_setting(&mut conn, key, value, managed_by).await
    }

    /// Whether unauthenticated requests are served as the anonymous user. Off unless set.
    pub async fn anonymous_enabled(&self) -> Result<bool> {
        Ok(self.setting(KEY_ANONYMOUS).await?.as_deref() == Some("true"))
    }

    pub async fn set_anonymous_enabled(&self, on: bool, managed_by: &str) -> Result<()> {
        self.set_setting(KEY_ANONYMOUS, bool_str(on), managed_by)
            .await
    }

    /// The active realms, or `None` if never set.
    pub async fn realms(&self) -> Result<Option<Vec<String>>> {
        self.setting(KEY_REALMS)
            .await?
            .map(|v| parse_realms(&v))
            .transpose()
    }

    pub async fn set_realms(&self, realms: &[String], managed_by: &str) -> Result<()> {
        let value = serde_json::to_string(realms).expect("strings serialise");
        self.set_setting(KEY_REALMS, &value, managed_by).await
    }
}

pub(super) fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

pub(super) fn parse_realms(v: &str) -> Result<Vec<String>> {
    serde_json::from_str(v).map_err(|e| Error::internal(format!("stored realms {v:?}: {e}")))
}

pub(super) async fn put_setting(
    conn: &mut Conn,
    key: &str,
    value: &str,
    managed_by: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO security_settings (key, value, managed_by, updated) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, managed_by = excluded.managed_by, \
         updated = excluded.updated",
    )
    .bind(key)
    .bind(value)
    .bind(managed_by)
    .bind(now_millis())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Sets a config-managed setting; `true` if the value or owner changed.
pub(super) async fn set_if_changed(conn: &mut Conn, key: &str, value: &str) -> Result<bool> {
    let old: Option<(String, String)> =
        sqlx::query_as("SELECT value, managed_by FROM security_settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
    if old
        .as_ref()
        .is_some_and(|(v, m)| v == value && m == "config")
    {
        return Ok(false);
    }
    put_setting(conn, key, value, "config").await?;
    Ok(true)
}
