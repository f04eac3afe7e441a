//! Leases: work that one node at a time may do over a shared database (garbage collection),
//! held by a holder until it expires. The holder renews its lease while it works; another
//! node takes the lease over only once it expired, so a node that died (kill -9) holds it no
//! longer than its time to live.

use trove_core::{Result, now_millis};

use crate::sqlite::{Pool, db_err};

pub struct Leases<'a>(pub(crate) &'a Pool);

/// Who holds a lease and until when (unix millis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub name: String,
    pub holder: String,
    pub expires: i64,
}

impl Leases<'_> {
    /// Takes lease `name` for `holder` for `ttl_ms`, or renews it if `holder` has it; `false`
    /// while another holder's lease has not expired. One statement, so two nodes asking at
    /// once cannot both get it.
    pub async fn acquire(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool> {
        let now = now_millis();
        let r = sqlx::query(
            "INSERT INTO leases (name, holder, expires) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires \
             WHERE leases.expires < $4 OR leases.holder = excluded.holder",
        )
        .bind(name)
        .bind(holder)
        .bind(now + ttl_ms)
        .bind(now)
        .execute(self.0)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    /// Takes lease `name` over from `from` (a holder known to be dead: a process of this host
    /// that no longer runs) for `holder`, whether or not it expired; `false` if `from` no
    /// longer holds it (it was released, renewed by someone else, or taken over first).
    pub async fn take_over(
        &self,
        name: &str,
        from: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE leases SET holder = $3, expires = $4 WHERE name = $1 AND holder = $2",
        )
        .bind(name)
        .bind(from)
        .bind(holder)
        .bind(now_millis() + ttl_ms)
        .execute(self.0)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    /// Gives lease `name` up, if `holder` has it.
    pub async fn release(&self, name: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(self.0)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// The lease `name`, if anyone holds one that has not expired.
    pub async fn get(&self, name: &str) -> Result<Option<LeaseRow>> {
        let row: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT name, holder, expires FROM leases WHERE name = $1 AND expires >= $2",
        )
        .bind(name)
        .bind(now_millis())
        .fetch_optional(self.0)
        .await
        .map_err(db_err)?;
        Ok(row.map(|(name, holder, expires)| LeaseRow {
            name,
            holder,
            expires,
        }))
    }
}
