//! The audit log (migration 0016): entries are appended, read back with filters, and removed
//! only by retention ([`Audit::prune`]). There is no update here, and the table's trigger
//! refuses one. What an entry says (who, what, redaction) is decided by the service layer and
//! the server; this module stores what it is given.

use serde::Serialize;
use sqlx::Row;
use trove_core::{Error, Result, now_millis};

use crate::sqlite::{DbRow, Pool, Tx, db_err};

/// One entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Insertion order: the cursor for paging (`after`).
    pub seq: i64,
    /// Unix millis.
    pub at: i64,
    /// The user name, `anonymous`, or `system`.
    pub actor: String,
    /// How the actor authenticated (`basic`, `docker-token`, `user-token`, `session`, `config`,
    /// `cli`).
    pub realm: Option<String>,
    /// The name of the API token used, if one was.
    pub token: Option<String>,
    /// The client address, as seen through trusted proxies.
    pub ip: Option<String>,
    /// `console`, `rest`, `registry`, `config` or `cli`.
    pub front_end: String,
    /// `create`, `update`, `delete`, `revoke`, `sign-in`, `sign-in-failed`, ...
    pub action: String,
    /// `user`, `role`, `privilege`, `realms`, `anonymous`, `repository`, `routing-rule`,
    /// `token`, `content`, `session`.
    pub entity_type: String,
    pub entity_name: String,
    /// The entity before the change (secrets redacted), `None` when it was created.
    pub before: Option<serde_json::Value>,
    /// The entity after the change (secrets redacted), `None` when it was deleted.
    pub after: Option<serde_json::Value>,
    pub detail: Option<String>,
}

/// What to append; `at` is set by the store.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewAuditEntry {
    pub actor: String,
    pub realm: Option<String>,
    pub token: Option<String>,
    pub ip: Option<String>,
    pub front_end: String,
    pub action: String,
    pub entity_type: String,
    pub entity_name: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub detail: Option<String>,
}

/// Filters of a read; every one that is `Some` must match. Entries come oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub entity_type: Option<String>,
    pub entity_name: Option<String>,
    /// Unix millis, inclusive.
    pub since: Option<i64>,
    /// Unix millis, exclusive.
    pub until: Option<i64>,
    /// The cursor of the next page: only entries after this `seq` in the read's order (a
    /// greater one oldest first, a smaller one newest first).
    pub after: Option<i64>,
    /// At most this many (the store caps it at [`MAX_PAGE`]).
    pub limit: u32,
    /// Newest first instead (what the console shows).
    pub newest_first: bool,
}

/// The most entries one read returns.
pub const MAX_PAGE: u32 = 1000;

pub struct Audit<'a>(pub(crate) &'a Pool);

fn json_text(v: &Option<serde_json::Value>) -> Option<String> {
    v.as_ref().map(serde_json::Value::to_string)
}

fn json_value(row: &DbRow, column: &str) -> Result<Option<serde_json::Value>> {
    let text: Option<String> = row.get(column);
    text.map(|t| {
        serde_json::from_str(&t)
            .map_err(|e| Error::internal(format!("audit_log.{column} is not JSON: {e}")))
    })
    .transpose()
}

fn from_row(row: &DbRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        seq: row.get("seq"),
        at: row.get("at"),
        actor: row.get("actor"),
        realm: row.get("realm"),
        token: row.get("token"),
        ip: row.get("ip"),
        front_end: row.get("front_end"),
        action: row.get("action"),
        entity_type: row.get("entity_type"),
        entity_name: row.get("entity_name"),
        before: json_value(row, "before")?,
        after: json_value(row, "after")?,
        detail: row.get("detail"),
    })
}

/// `WHERE` of every read: each filter is skipped when its parameter is NULL.
macro_rules! select_audit {
    ($order:literal) => {
        concat!(
            "SELECT seq, at, actor, realm, token, ip, front_end, action, entity_type, \
             entity_name, before, after, detail FROM audit_log \
             WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR entity_type = $2) \
             AND ($3 IS NULL OR entity_name = $3) AND ($4 IS NULL OR at >= $4) \
             AND ($5 IS NULL OR at < $5) ",
            $order
        )
    };
}

impl Audit<'_> {
    /// Appends entries in one transaction, in order; returns the `seq` of the last one.
    pub async fn append(&self, entries: &[NewAuditEntry]) -> Result<Option<i64>> {
        if entries.is_empty() {
            return Ok(None);
        }
        let mut tx = Tx::begin_write(self.0).await?;
        let mut last = None;
        let at = now_millis();
        for e in entries {
            let seq: i64 = sqlx::query_scalar(
                "INSERT INTO audit_log (at, actor, realm, token, ip, front_end, action, \
                 entity_type, entity_name, before, after, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING seq",
            )
            .bind(at)
            .bind(&e.actor)
            .bind(&e.realm)
            .bind(&e.token)
            .bind(&e.ip)
            .bind(&e.front_end)
            .bind(&e.action)
            .bind(&e.entity_type)
            .bind(&e.entity_name)
            .bind(json_text(&e.before))
            .bind(json_text(&e.after))
            .bind(&e.detail)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            last = Some(seq);
        }
        tx.commit().await?;
        Ok(last)
    }

    /// The entries matching `q`, oldest first (newest first with `q.newest_first`).
    pub async fn query(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let limit = i64::from(q.limit.clamp(1, MAX_PAGE));
        let sql = if q.newest_first {
            select_audit!("AND ($6 IS NULL OR seq < $6) ORDER BY seq DESC LIMIT $7")
        } else {
            select_audit!("AND ($6 IS NULL OR seq > $6) ORDER BY seq LIMIT $7")
        };
        let rows = sqlx::query(sql)
            .bind(&q.actor)
            .bind(&q.entity_type)
            .bind(&q.entity_name)
            .bind(q.since)
            .bind(q.until)
            .bind(q.after)
            .bind(limit)
            .fetch_all(self.0)
            .await
            .map_err(db_err)?;
        rows.iter().map(from_row).collect()
    }

    /// Removes entries older than `before` (unix millis): retention. Returns how many.
    pub async fn prune(&self, before: i64) -> Result<u64> {
        let r = sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(before)
            .execute(self.0)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    /// Tries to rewrite every entry behind the API's back; `true` when the database refused
    /// (the contract suite's check that the log is append-only).
    #[cfg(any(test, feature = "testing"))]
    pub async fn rewrite_refused_for_tests(&self) -> bool {
        sqlx::query("UPDATE audit_log SET actor = 'someone else'")
            .execute(self.0)
            .await
            .is_err()
    }
}
