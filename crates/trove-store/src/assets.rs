//! Assets (a repository path → a blob) and the global blob table.

use sqlx::Row;
use trove_core::lifecycle::human_bytes;
use trove_core::{
    AssetMeta, AssetPath, AssetRef, AssetRole, BlobInfo, BlobStore, Digest, Error, ErrorKind,
    NewAsset, Page, RefKind, Result, now_millis,
};

use crate::sqlite::{Conn, DbRow, Pool, Tx, db_err, dialect};

pub struct Assets<'a>(pub(crate) &'a Pool);

/// What `Assets::put` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// The path pointed at other content and now points at the new content.
    Replaced,
    /// The path already pointed at this content.
    Unchanged,
}

fn asset_from_row(row: &DbRow) -> Result<AssetMeta> {
    let digest: String = row.get("digest");
    let attrs: String = row.get("attrs");
    Ok(AssetMeta {
        path: AssetPath::parse(row.get("path"))?,
        blob: BlobInfo {
            digest: Digest::parse(&digest)?,
            size: row.get::<i64, _>("size") as u64,
        },
        content_type: row.get("content_type"),
        created: row.get("created"),
        last_downloaded: row.get("last_downloaded"),
        attrs: serde_json::from_str(&attrs).unwrap_or(serde_json::Value::Null),
    })
}

/// How a kind links a row ([`Assets::link`]): its role and references, and what to check in
/// the transaction that writes it.
#[derive(Clone, Copy)]
pub struct Link<'a> {
    /// Point an existing path at other content (else `AlreadyExists`).
    pub overwrite: bool,
    pub role: AssetRole,
    /// Replaces the row's stored references.
    pub refs: &'a [AssetRef],
    /// Refuse (`NotFound`) while a `Needs` target is missing: a hosted repository. A proxy
    /// caches a document before the parts it needs.
    pub require_targets: bool,
    /// Check, in the transaction, that the blob is still in this store.
    pub blobs: Option<&'a dyn BlobStore>,
    pub quota: Quota<'a>,
}

impl Default for Link<'_> {
    fn default() -> Self {
        Link {
            overwrite: true,
            role: AssetRole::Root,
            refs: &[],
            require_targets: false,
            blobs: None,
            quota: Quota::default(),
        }
    }
}

/// Hard quotas a write must stay within.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quota<'a> {
    /// The repository's name, for the message.
    pub repo: &'a str,
    /// `quota_bytes` of the repository.
    pub repo_bytes: Option<u64>,
    /// `[storage] quota_bytes` of the blob store.
    pub store_bytes: Option<u64>,
}

/// A row [`Assets::delete_cascade`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub path: String,
    pub digest: Digest,
    pub size: u64,
}

/// What [`Assets::preview_removal`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovalPreview {
    /// The rows the removal itself takes (the paths and the documents only they kept).
    pub removed: Vec<Removed>,
    /// The rows garbage collection would take after it (parts nothing needs any more).
    pub collected: Vec<crate::gc::Candidate>,
    /// Bytes of the blobs no row would link: what the next collection frees.
    pub freed_bytes: u64,
}

/// [`Assets::delete_cascade`] inside a write transaction.
async fn cascade(tx: &mut Conn, repo_id: &str, path: &str) -> Result<Vec<Removed>> {
    let mut removed = Vec::new();
    let mut queue = vec![path.to_owned()];
    while let Some(next) = queue.pop() {
        let first = removed.is_empty() && next == path;
        let row: Option<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT digest, size, role FROM assets WHERE repo_id = $1 AND path = $2",
        )
        .bind(repo_id)
        .bind(&next)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some((digest, size, role)) = row else {
            if first {
                break;
            }
            continue;
        };
        if !first {
            // Only documents nothing else needs.
            if role != Some(AssetRole::Document.code()) {
                continue;
            }
            let needed: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM asset_refs WHERE repo_id = $1 AND target = $2 AND kind = 0 \
                 AND path <> $2 LIMIT 1",
            )
            .bind(repo_id)
            .bind(&next)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            if needed.is_some() {
                continue;
            }
        }
        // What it needed, and what is attached to it, become candidates once it is gone.
        let needs: Vec<String> = sqlx::query_scalar(
            "SELECT target FROM asset_refs WHERE repo_id = $1 AND path = $2 AND kind = 0",
        )
        .bind(repo_id)
        .bind(&next)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let attached: Vec<String> = sqlx::query_scalar(
            "SELECT path FROM asset_refs WHERE repo_id = $1 AND target = $2 AND kind = 1",
        )
        .bind(repo_id)
        .bind(&next)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query("DELETE FROM assets WHERE repo_id = $1 AND path = $2")
            .bind(repo_id)
            .bind(&next)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        removed.push(Removed {
            path: next,
            digest: Digest::parse(&digest)?,
            size: size.max(0) as u64,
        });
        queue.extend(needs);
        queue.extend(attached);
    }
    Ok(removed)
}

/// Refuses a write of `size` bytes of `digest` that would take the repository or the blob
/// store past its hard quota. A blob the repository (or the store) holds already adds nothing.
async fn check_quota(
    tx: &mut Conn,
    repo_id: &str,
    digest: &str,
    size: u64,
    quota: &Quota<'_>,
) -> Result<()> {
    if let Some(limit) = quota.repo_bytes {
        let linked: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM assets WHERE digest = $1 AND repo_id = $2 LIMIT 1")
                .bind(digest)
                .bind(repo_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        if linked.is_none() {
            let used: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(bytes), 0) FROM repo_usage WHERE repo_id = $1",
            )
            .bind(repo_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            let used = used.max(0) as u64;
            if used.saturating_add(size) > limit {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    format!(
                        "repository {} is at its quota: it uses {} of quota_bytes {}, and this \
                         write adds {}; delete content or raise the quota",
                        quota.repo,
                        human_bytes(used),
                        human_bytes(limit),
                        human_bytes(size)
                    ),
                ));
            }
        }
    }
    if let Some(limit) = quota.store_bytes {
        let stored: Option<i64> = sqlx::query_scalar("SELECT 1 FROM blobs WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if stored.is_none() {
            let used: i64 = sqlx::query_scalar("SELECT bytes FROM store_usage WHERE id = 1")
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
            let used = used.max(0) as u64;
            if used.saturating_add(size) > limit {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    format!(
                        "the blob store is at its quota: it holds {} of [storage] quota_bytes {}, \
                         and this write adds {}; delete content or raise the quota",
                        human_bytes(used),
                        human_bytes(limit),
                        human_bytes(size)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Replaces the stored references of `path`.
pub(crate) async fn write_refs(
    tx: &mut Conn,
    repo_id: &str,
    path: &str,
    refs: &[AssetRef],
) -> Result<()> {
    sqlx::query("DELETE FROM asset_refs WHERE repo_id = $1 AND path = $2")
        .bind(repo_id)
        .bind(path)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    // One row per target; a target both needed and attached is needed (the stronger).
    let mut by_target = std::collections::BTreeMap::new();
    for r in refs {
        let kind = by_target.entry(r.target.as_str()).or_insert(r.kind);
        *kind = (*kind).min(r.kind);
    }
    for (target, kind) in by_target {
        sqlx::query("INSERT INTO asset_refs (repo_id, path, target, kind) VALUES ($1, $2, $3, $4)")
            .bind(repo_id)
            .bind(path)
            .bind(target)
            .bind(kind.code())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// The smallest string greater than every string that starts with `prefix`.
fn prefix_end(prefix: &str) -> String {
    let mut end: Vec<char> = prefix.chars().collect();
    while let Some(last) = end.pop() {
        if let Some(next) = char::from_u32(last as u32 + 1) {
            end.push(next);
            return end.into_iter().collect();
        }
    }
    "\u{10FFFF}".to_owned()
}

/// What a repository's content takes: distinct blobs (a manifest stored under its tag and its
/// digest counts once) and their bytes. A blob several repositories link counts in full in
/// each (docs/storage.md: quotas), kept by triggers (`repo_usage`, migration 0009).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RepoUsage {
    pub repo: String,
    pub assets: i64,
    pub blobs: i64,
    pub bytes: i64,
}

impl Assets<'_> {
    /// Usage of every repository, by name (repositories without content included).
    pub async fn usage(&self) -> Result<Vec<RepoUsage>> {
        let rows = sqlx::query(
            "SELECT r.name AS name, \
               (SELECT COUNT(*) FROM assets a WHERE a.repo_id = r.id) AS assets, \
               COALESCE(u.blobs, 0) AS blobs, COALESCE(u.bytes, 0) AS bytes \
             FROM repositories r LEFT JOIN repo_usage u ON u.repo_id = r.id ORDER BY r.name",
        )
        .fetch_all(self.0)
        .await
        .map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|r| RepoUsage {
                repo: r.get("name"),
                assets: r.get("assets"),
                blobs: r.get("blobs"),
                bytes: r.get("bytes"),
            })
            .collect())
    }

    /// Every blob the blob store holds: how many and their bytes.
    pub async fn blob_totals(&self) -> Result<(i64, i64)> {
        // Kept by triggers on the blobs table (migration 0009): one row, not a scan.
        let row = sqlx::query("SELECT blobs AS n, bytes FROM store_usage WHERE id = 1")
            .fetch_one(self.0)
            .await
            .map_err(db_err)?;
        Ok((row.get("n"), row.get("bytes")))
    }

    /// The hot-path lookup: one primary-key read.
    pub async fn get(&self, repo_id: &str, path: &str) -> Result<Option<AssetMeta>> {
        let row = sqlx::query(
            "SELECT path, digest, size, content_type, created, last_downloaded, attrs \
             FROM assets WHERE repo_id = $1 AND path = $2",
        )
        .bind(repo_id)
        .bind(path)
        .fetch_optional(self.0)
        .await
        .map_err(db_err)?;
        row.as_ref().map(asset_from_row).transpose()
    }

    /// Records that `path` serves the (already committed) blob in `asset`. With
    /// `overwrite = false`, pointing an existing path at other content is refused with
    /// `AlreadyExists`. The blob row and the link are written in one transaction. A root with
    /// no references and no checks: what kinds write goes through [`Self::link`].
    pub async fn put(
        &self,
        repo_id: &str,
        path: &AssetPath,
        asset: &NewAsset,
        overwrite: bool,
    ) -> Result<(AssetMeta, PutOutcome)> {
        self.link(
            repo_id,
            path,
            asset,
            &Link {
                overwrite,
                ..Link::default()
            },
        )
        .await
    }

    /// Records that `path` serves the (already committed) blob in `asset`, with its role and
    /// references, in one write transaction that also checks, against what is committed at
    /// that moment:
    /// - `link.blobs`: that the blob is still in the blob store. Garbage collection deletes a
    ///   blob only in a write transaction that finds no row linking it, so either it ran first
    ///   (the blob is gone and this write fails, `Unavailable`: send it again) or this one did
    ///   (its row keeps the blob). A row never points at a missing blob;
    /// - `link.require_targets`: that every `Needs` target exists in the repository
    ///   (`NotFound` naming it), which collection of an unreferenced part can race the same way;
    /// - the quotas in `link.quota`, counting the blob only if the repository (or the store)
    ///   does not hold it yet (`Forbidden`, naming the quota and its usage).
    pub async fn link(
        &self,
        repo_id: &str,
        path: &AssetPath,
        asset: &NewAsset,
        link: &Link<'_>,
    ) -> Result<(AssetMeta, PutOutcome)> {
        let now = now_millis();
        let digest = asset.blob.digest.to_string();
        let size = asset.blob.size as i64;
        let attrs = asset.attrs.to_string();
        let mut tx = Tx::begin_write(self.0).await?;
        if let Some(blobs) = link.blobs
            && blobs.stat(&asset.blob.digest).await?.is_none()
        {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "blob {digest} was removed by garbage collection while it was being linked \
                     at {path}; send it again"
                ),
            ));
        }
        let old: Option<(String, i64)> =
            sqlx::query_as("SELECT digest, created FROM assets WHERE repo_id = $1 AND path = $2")
                .bind(repo_id)
                .bind(path.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let outcome = match &old {
            None => PutOutcome::Created,
            Some((d, _)) if *d == digest => PutOutcome::Unchanged,
            Some(_) if !link.overwrite => {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!(
                        "{path} already exists and this repository does not allow redeploying it"
                    ),
                ));
            }
            Some(_) => PutOutcome::Replaced,
        };
        if outcome != PutOutcome::Unchanged {
            check_quota(&mut tx, repo_id, &digest, asset.blob.size, &link.quota).await?;
        }
        if link.require_targets {
            for r in link.refs.iter().filter(|r| r.kind == RefKind::Needs) {
                let found: Option<i64> =
                    sqlx::query_scalar("SELECT 1 FROM assets WHERE repo_id = $1 AND path = $2")
                        .bind(repo_id)
                        .bind(r.target.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_err)?;
                if found.is_none() {
                    return Err(Error::not_found(format!(
                        "{path} needs {}, which is not in this repository",
                        r.target
                    )));
                }
            }
        }
        sqlx::query(
            "INSERT INTO blobs (digest, size, created) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(&digest)
        .bind(size)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let created = old.map_or(now, |(_, c)| c);
        sqlx::query(
            "INSERT INTO assets (repo_id, path, digest, size, content_type, created, attrs, role, linked) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (repo_id, path) DO UPDATE SET digest = excluded.digest, size = excluded.size, \
             content_type = excluded.content_type, attrs = excluded.attrs, role = excluded.role, \
             linked = excluded.linked",
        )
        .bind(repo_id)
        .bind(path.as_str())
        .bind(&digest)
        .bind(size)
        .bind(&asset.content_type)
        .bind(created)
        .bind(&attrs)
        .bind(link.role.code())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        write_refs(&mut tx, repo_id, path.as_str(), link.refs).await?;
        tx.commit().await?;
        let meta = AssetMeta {
            path: path.clone(),
            blob: asset.blob.clone(),
            content_type: asset.content_type.clone(),
            created,
            last_downloaded: None,
            attrs: asset.attrs.clone(),
        };
        Ok((meta, outcome))
    }

    /// The references stored for `path`, ordered.
    pub async fn references(&self, repo_id: &str, path: &str) -> Result<Vec<AssetRef>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT target, kind FROM asset_refs WHERE repo_id = $1 AND path = $2 ORDER BY target",
        )
        .bind(repo_id)
        .bind(path)
        .fetch_all(self.0)
        .await
        .map_err(db_err)?;
        let mut refs = rows
            .into_iter()
            .map(|(target, kind)| {
                Ok(AssetRef {
                    kind: RefKind::from_code(kind)
                        .ok_or_else(|| Error::internal(format!("stored ref kind {kind}")))?,
                    target: AssetPath::parse(&target)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        refs.sort();
        Ok(refs)
    }

    /// The role recorded for `path` (`None`: no such row; `Some(None)`: written before roles).
    pub async fn role(&self, repo_id: &str, path: &str) -> Result<Option<Option<AssetRole>>> {
        let row: Option<Option<i64>> =
            sqlx::query_scalar("SELECT role FROM assets WHERE repo_id = $1 AND path = $2")
                .bind(repo_id)
                .bind(path)
                .fetch_optional(self.0)
                .await
                .map_err(db_err)?;
        Ok(row.map(|r| r.and_then(AssetRole::from_code)))
    }

    /// The bytes and count of the distinct blobs repository `repo_id` links (its quota usage).
    pub async fn repo_usage(&self, repo_id: &str) -> Result<(u64, u64)> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT bytes, blobs FROM repo_usage WHERE repo_id = $1")
                .bind(repo_id)
                .fetch_optional(self.0)
                .await
                .map_err(db_err)?;
        Ok(row.map_or((0, 0), |(b, n)| (b.max(0) as u64, n.max(0) as u64)))
    }

    /// Removes `path` and the documents that only it kept, in one write transaction: a
    /// document (`AssetRole::Document`) it needed, which nothing else needs any more, goes too,
    /// with the documents that one needed in turn, and the referrers attached to each. What a
    /// cleanup policy deletes when it removes a version (docker: the tag, the manifest it
    /// named, a multi-arch index's manifests, their signatures). Parts (layers) stay for
    /// garbage collection. Returns every row removed, `path` first; empty if it did not exist.
    pub async fn delete_cascade(&self, repo_id: &str, path: &str) -> Result<Vec<Removed>> {
        let mut tx = Tx::begin_write(self.0).await?;
        let removed = cascade(&mut tx, repo_id, path).await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// What removing `paths` with [`Self::delete_cascade`] and then collecting garbage under
    /// `rules` would remove from repository `repo_id`, and the bytes of the blobs nothing would
    /// link any more: done in a write transaction that is rolled back, so the answer is the
    /// one the real run gets (a cleanup policy's preview). Writers wait while it runs.
    pub async fn preview_removal(
        &self,
        repo_id: &str,
        paths: &[String],
        rules: &crate::gc::Retention,
    ) -> Result<RemovalPreview> {
        let mut tx = Tx::begin_write(self.0).await?;
        let result = async {
            let mut removed = Vec::new();
            for p in paths {
                removed.extend(cascade(&mut tx, repo_id, p).await?);
            }
            let collected = crate::gc::plan_on(&mut tx, repo_id, rules).await?;
            for c in &collected {
                sqlx::query("DELETE FROM assets WHERE repo_id = $1 AND path = $2")
                    .bind(repo_id)
                    .bind(&c.path)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            let mut seen = std::collections::HashSet::new();
            let mut freed = 0u64;
            let digests = removed
                .iter()
                .map(|r| (r.digest.clone(), r.size))
                .chain(collected.iter().map(|c| (c.digest.clone(), c.size)));
            for (d, size) in digests {
                if !seen.insert(d.to_string()) {
                    continue;
                }
                let linked: Option<i64> =
                    sqlx::query_scalar("SELECT 1 FROM assets WHERE digest = $1 LIMIT 1")
                        .bind(d.to_string())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_err)?;
                if linked.is_none() {
                    freed += size;
                }
            }
            Ok(RemovalPreview {
                removed,
                collected,
                freed_bytes: freed,
            })
        }
        .await;
        tx.rollback().await;
        result
    }

    /// Rows of `repo_id` that are roots (`roots`: role root, or written before roles; what
    /// cleanup policies walk) or else parts and documents, ordered by path after `after`, at
    /// most `limit`, each with when it was last written (pushed).
    pub async fn by_role(
        &self,
        repo_id: &str,
        roots: bool,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(AssetMeta, i64)>> {
        let rows = sqlx::query(
            "SELECT path, digest, size, content_type, created, last_downloaded, attrs, \
             COALESCE(linked, created) AS pushed FROM assets \
             WHERE repo_id = $1 AND path > $2 AND (($3 = 1 AND (role IS NULL OR role = 0)) \
             OR ($3 = 0 AND role IN (1, 2))) ORDER BY path LIMIT $4",
        )
        .bind(repo_id)
        .bind(after)
        .bind(i64::from(roots))
        .bind(i64::from(limit))
        .fetch_all(self.0)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| Ok((asset_from_row(r)?, r.get::<i64, _>("pushed"))))
            .collect()
    }

    /// Rows of `repo_id` least recently used first (the later of their last download and
    /// their last link), after the keyset `after` (`(time, path)`), at most `limit`: what a
    /// proxy over its `max_cache_bytes` evicts from.
    pub async fn least_recently_used(
        &self,
        repo_id: &str,
        after: Option<(i64, &str)>,
        limit: u32,
    ) -> Result<Vec<(i64, AssetMeta)>> {
        let (t, p) = after.unwrap_or((i64::MIN, ""));
        let rows = sqlx::query(dialect::LEAST_RECENTLY_USED)
            .bind(repo_id)
            .bind(t)
            .bind(p)
            .bind(i64::from(limit))
            .fetch_all(self.0)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| Ok((r.get::<i64, _>("used"), asset_from_row(r)?)))
            .collect()
    }

    /// Deletes every asset of repository `repo_id`, in batches (each its own transaction, so
    /// writers wait a moment, not the whole purge); returns how many rows went.
    pub async fn purge(&self, repo_id: &str) -> Result<u64> {
        let mut total = 0;
        loop {
            let r = sqlx::query(
                "DELETE FROM assets WHERE repo_id = $1 AND path IN \
                 (SELECT path FROM assets WHERE repo_id = $1 LIMIT 2000)",
            )
            .bind(repo_id)
            .execute(self.0)
            .await
            .map_err(db_err)?;
            total += r.rows_affected();
            if r.rows_affected() == 0 {
                return Ok(total);
            }
        }
    }

    /// Removes the link; the blob stays for garbage collection. `false` if there was none.
    pub async fn delete(&self, repo_id: &str, path: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM assets WHERE repo_id = $1 AND path = $2")
            .bind(repo_id)
            .bind(path)
            .execute(self.0)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    /// Only the paths under `prefix`, ordered: one narrow index range scan, nothing parsed, and
    /// one result row (the paths joined by newlines, which a path cannot contain), because
    /// the driver's per-row cost dominated listings of thousands of tags.
    pub async fn list_paths(&self, repo_id: &str, prefix: &str) -> Result<Vec<String>> {
        self.list_paths_from(repo_id, prefix, prefix).await
    }

    /// [`Self::list_paths`] starting at `from` (≥ `prefix`) instead of at the prefix itself.
    pub async fn list_paths_from(
        &self,
        repo_id: &str,
        prefix: &str,
        from: &str,
    ) -> Result<Vec<String>> {
        let from = if from > prefix { from } else { prefix };
        let joined: Option<String> = sqlx::query_scalar(dialect::JOINED_PATHS)
            .bind(repo_id)
            .bind(from)
            .bind(prefix_end(prefix))
            .fetch_one(self.0)
            .await
            .map_err(db_err)?;
        Ok(joined
            .map(|j| j.split('\n').map(str::to_owned).collect())
            .unwrap_or_default())
    }

    /// The repository's content version: it moves with every change to its asset rows
    /// (kept by triggers, see migration 0006), 0 before the first.
    pub async fn content_version(&self, repo_id: &str) -> Result<i64> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT value FROM content_versions WHERE repo_id = $1")
                .bind(repo_id)
                .fetch_optional(self.0)
                .await
                .map_err(db_err)?;
        Ok(v.unwrap_or(0))
    }

    /// Assets whose path starts with `prefix`, ordered by path, keyset-paginated.
    pub async fn list(&self, repo_id: &str, prefix: &str, page: &Page) -> Result<Vec<AssetMeta>> {
        let lower = page
            .after
            .as_deref()
            .filter(|a| *a >= prefix)
            .unwrap_or(prefix);
        let rows = sqlx::query(
            "SELECT path, digest, size, content_type, created, last_downloaded, attrs FROM assets \
             WHERE repo_id = $1 AND path >= $2 AND path < $3 AND path <> $4 ORDER BY path LIMIT $5",
        )
        .bind(repo_id)
        .bind(lower)
        .bind(prefix_end(prefix))
        .bind(page.after.as_deref().unwrap_or(""))
        .bind(page.limit.map_or(i64::MAX, i64::from))
        .fetch_all(self.0)
        .await
        .map_err(db_err)?;
        rows.iter().map(asset_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefix_end_bounds() {
        assert_eq!(super::prefix_end("/v2/x/"), "/v2/x0");
        assert_eq!(super::prefix_end("a"), "b");
    }
}
