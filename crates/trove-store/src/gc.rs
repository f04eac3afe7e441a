//! Garbage collection's side of the metadata store: which rows and blobs nothing keeps, and
//! their removal in write transactions that check again, against what is committed at that
//! moment, that nothing keeps them (docs/storage.md, "Why collection is safe").
//!
//! Two levels, each with one rule:
//! - **rows** of a repository ([`Gc::candidates`], [`Gc::sweep`]): a part (a layer) goes when
//!   no row needs it and it was last linked before the grace window; a document (a manifest)
//!   goes only under its format's untagged rule, when no row needs it, it is attached to no
//!   existing row and it was neither pushed nor pulled within that rule's days. Roots never go.
//!   Each removal is one conditional `DELETE` that re-evaluates the rule, so a row that a
//!   write made needed again after the candidates were read stays. Removing a row removes
//!   its references, so what only it needed qualifies in the next round; rounds run until one
//!   removes nothing. Rows written before roles existed (`role IS NULL`) are kept and never
//!   qualify: the collector indexes them first ([`Gc::unindexed`], [`Gc::index`]).
//! - **blobs** ([`Gc::collect`]): a blob goes when no row of any repository links it and the
//!   blob store says it was last committed before the grace window; the `blobs` row and the
//!   file are removed inside a write transaction that checks both. Every write of a row
//!   checks, in its own write transaction, that its blob is still stored
//!   (`Assets::link` with `blobs`): the two transactions are serialised by the database's
//!   write lock, so a row never points at a removed blob.

use std::collections::HashSet;

use sqlx::Row;
use trove_core::{AssetRef, AssetRole, BlobStore, Digest, Error, ErrorKind, Result};

use crate::assets::write_refs;
use crate::sqlite::{Pool, Tx, db_err, dialect};

pub struct Gc<'a>(pub(crate) &'a Pool);

/// When rows of one repository qualify (times in unix millis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Parts last linked before this go (now minus `[storage] gc_grace`).
    pub parts_linked_before: i64,
    /// Documents neither pushed nor pulled since this go (now minus the untagged rule's days,
    /// and at least the grace); `None`: the repository has no untagged rule, documents stay.
    pub documents_unused_before: Option<i64>,
}

impl Retention {
    fn documents(&self) -> i64 {
        // i64::MIN makes the document branch of each rule false: no NULL to bind.
        self.documents_unused_before.unwrap_or(i64::MIN)
    }
}

/// A row garbage collection removes (or, in a dry run, would).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub path: String,
    pub digest: Digest,
    pub size: u64,
    pub role: AssetRole,
}

/// A blob [`Gc::collect`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    pub digest: Digest,
    /// Bytes of the file removed (0 when only a leftover row went).
    pub bytes: u64,
}

fn candidate(row: &crate::sqlite::DbRow) -> Result<Candidate> {
    let role: i64 = row.get("role");
    Ok(Candidate {
        path: row.get("path"),
        digest: Digest::parse(row.get("digest"))?,
        size: row.get::<i64, _>("size").max(0) as u64,
        role: AssetRole::from_code(role)
            .ok_or_else(|| Error::internal(format!("stored role {role}")))?,
    })
}

/// The rule a row must meet to go, for one candidate (`$1` repo, `$2` path, `$3` digest,
/// `$4` parts' cutoff, `$5` documents' cutoff): the same as [`CANDIDATES`], evaluated inside
/// the `DELETE` that removes it.
const SWEEP_ONE: &str = "DELETE FROM assets WHERE repo_id = $1 AND path = $2 AND digest = $3 \
     AND ((role = 1 AND linked < $4) \
       OR (role = 2 AND linked < $5 AND COALESCE(last_downloaded, 0) < $5 \
           AND NOT EXISTS (SELECT 1 FROM asset_refs s JOIN assets t \
                           ON t.repo_id = s.repo_id AND t.path = s.target \
                           WHERE s.repo_id = $1 AND s.path = $2 AND s.kind = 1))) \
     AND NOT EXISTS (SELECT 1 FROM asset_refs r WHERE r.repo_id = $1 AND r.target = $2 \
                     AND r.kind = 0)";

/// Rows of `$1` after path `$2` that meet the rule now, at most `$5`.
const CANDIDATES: &str = "SELECT a.path, a.digest, a.size, a.role FROM assets a \
     WHERE a.repo_id = $1 AND a.path > $2 \
     AND ((a.role = 1 AND a.linked < $3) \
       OR (a.role = 2 AND a.linked < $4 AND COALESCE(a.last_downloaded, 0) < $4 \
           AND NOT EXISTS (SELECT 1 FROM asset_refs s JOIN assets t \
                           ON t.repo_id = s.repo_id AND t.path = s.target \
                           WHERE s.repo_id = a.repo_id AND s.path = a.path AND s.kind = 1))) \
     AND NOT EXISTS (SELECT 1 FROM asset_refs r WHERE r.repo_id = a.repo_id \
                     AND r.target = a.path AND r.kind = 0) \
     ORDER BY a.path LIMIT $5";

/// [`Gc::plan`] on a connection (inside a transaction that simulates a change).
pub(crate) async fn plan_on(
    conn: &mut crate::sqlite::Conn,
    repo_id: &str,
    rules: &Retention,
) -> Result<Vec<Candidate>> {
    sqlx::query(dialect::GC_PLAN)
        .bind(repo_id)
        .bind(rules.parts_linked_before)
        .bind(rules.documents())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(candidate)
        .collect()
}

impl Gc<'_> {
    /// Rows of `repo_id` written before roles existed, at most `limit`.
    pub async fn unindexed(&self, repo_id: &str, limit: u32) -> Result<Vec<(String, Digest, u64)>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT path, digest, size FROM assets WHERE repo_id = $1 AND role IS NULL \
             ORDER BY path LIMIT $2",
        )
        .bind(repo_id)
        .bind(i64::from(limit))
        .fetch_all(self.0)
        .await
        .map_err(db_err)?;
        rows.into_iter()
            .map(|(p, d, s)| Ok((p, Digest::parse(&d)?, s.max(0) as u64)))
            .collect()
    }

    /// Records the role and references of a row written before roles existed, if it still
    /// has no role and still serves `digest`; `false` otherwise (a write got there first).
    pub async fn index(
        &self,
        repo_id: &str,
        path: &str,
        digest: &Digest,
        role: AssetRole,
        refs: &[AssetRef],
    ) -> Result<bool> {
        let mut tx = Tx::begin_write(self.0).await?;
        let r = sqlx::query(
            "UPDATE assets SET role = $4 WHERE repo_id = $1 AND path = $2 AND digest = $3 \
             AND role IS NULL",
        )
        .bind(repo_id)
        .bind(path)
        .bind(digest.to_string())
        .bind(role.code())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        write_refs(&mut tx, repo_id, path, refs).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Rows of `repo_id` that meet `rules` now, ordered by path after `after`, at most
    /// `limit`: the candidates of one round.
    pub async fn candidates(
        &self,
        repo_id: &str,
        rules: &Retention,
        after: &str,
        limit: u32,
    ) -> Result<Vec<Candidate>> {
        sqlx::query(CANDIDATES)
            .bind(repo_id)
            .bind(after)
            .bind(rules.parts_linked_before)
            .bind(rules.documents())
            .bind(i64::from(limit))
            .fetch_all(self.0)
            .await
            .map_err(db_err)?
            .iter()
            .map(candidate)
            .collect()
    }

    /// Removes, in one write transaction, each of `candidates` that still meets `rules` (and
    /// still serves the same digest); returns those removed. Documents go first, so the parts
    /// they alone needed qualify in the next round.
    pub async fn sweep(
        &self,
        repo_id: &str,
        rules: &Retention,
        candidates: &[Candidate],
    ) -> Result<Vec<Candidate>> {
        let mut ordered: Vec<&Candidate> = candidates.iter().collect();
        ordered.sort_by_key(|c| c.role != AssetRole::Document);
        let mut tx = Tx::begin_write(self.0).await?;
        let mut removed = Vec::new();
        for c in ordered {
            let r = sqlx::query(SWEEP_ONE)
                .bind(repo_id)
                .bind(&c.path)
                .bind(c.digest.to_string())
                .bind(rules.parts_linked_before)
                .bind(rules.documents())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            if r.rows_affected() > 0 {
                removed.push(c.clone());
            }
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// Every row of `repo_id` that rounds of [`Self::candidates`] and [`Self::sweep`] under
    /// `rules` would remove if nothing else changed: the rows no kept row reaches (a dry run).
    /// Kept are the roots (roots, rows without a role, young parts, documents outside the
    /// untagged rule), what a kept row needs, and documents attached to a kept row.
    pub async fn plan(&self, repo_id: &str, rules: &Retention) -> Result<Vec<Candidate>> {
        let mut conn = self.0.acquire().await.map_err(db_err)?;
        plan_on(&mut conn, repo_id, rules).await
    }

    /// Rows (any repository) that link `digest`: `(repo_id, path)`.
    pub async fn links_of(&self, digest: &Digest) -> Result<Vec<(String, String)>> {
        sqlx::query_as("SELECT repo_id, path FROM assets WHERE digest = $1")
            .bind(digest.to_string())
            .fetch_all(self.0)
            .await
            .map_err(db_err)
    }

    /// `blobs` rows no asset links, in digest order after `after`, at most `limit`.
    pub async fn unlinked_blobs(&self, after: &str, limit: u32) -> Result<Vec<(Digest, u64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT digest, size FROM blobs b WHERE digest > $1 \
             AND NOT EXISTS (SELECT 1 FROM assets a WHERE a.digest = b.digest) \
             ORDER BY digest LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.0)
        .await
        .map_err(db_err)?;
        rows.into_iter()
            .map(|(d, s)| Ok((Digest::parse(&d)?, s.max(0) as u64)))
            .collect()
    }

    /// Which of `digests` some asset links.
    pub async fn linked(&self, digests: &[Digest]) -> Result<HashSet<String>> {
        if digests.is_empty() {
            return Ok(HashSet::new());
        }
        let list: Vec<String> = digests.iter().map(|d| d.to_string()).collect();
        let json = serde_json::to_string(&list).expect("strings serialise");
        let found: Vec<String> = sqlx::query_scalar(dialect::LINKED_AMONG)
            .bind(json)
            .fetch_all(self.0)
            .await
            .map_err(db_err)?;
        Ok(found.into_iter().collect())
    }

    /// Removes, in one write transaction, each of `digests` that no asset links and whose
    /// blob `blobs` says was last committed before `modified_before` (or is gone): its `blobs`
    /// row, then its file, before the commit. A write that links one of them either committed
    /// first (its row is seen here and the blob stays) or waits for this transaction and then
    /// finds the blob gone and fails, to be sent again. If this transaction fails after files
    /// were removed, their rows stay, linked by nothing, for the next collection.
    pub async fn collect(
        &self,
        blobs: &dyn BlobStore,
        digests: &[Digest],
        modified_before: i64,
    ) -> Result<Vec<Collected>> {
        let mut tx = Tx::begin_write(self.0).await?;
        let mut out = Vec::new();
        for d in digests {
            let key = d.to_string();
            let linked: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM assets WHERE digest = $1 LIMIT 1")
                    .bind(&key)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
            if linked.is_some() {
                continue;
            }
            let stored = blobs.stored(d).await?;
            if stored
                .as_ref()
                .is_some_and(|s| s.modified >= modified_before)
            {
                continue;
            }
            sqlx::query("DELETE FROM blobs WHERE digest = $1")
                .bind(&key)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let bytes = match stored {
                Some(s) => match blobs.delete(d).await {
                    Ok(()) => s.size,
                    Err(e) if e.kind == ErrorKind::NotFound => 0,
                    Err(e) => return Err(e),
                },
                None => 0,
            };
            out.push(Collected {
                digest: d.clone(),
                bytes,
            });
        }
        tx.commit().await?;
        Ok(out)
    }
}
