//! Assets (a repository path → a blob) and the global blob table.

use sqlx::Row;
use trove_core::{
    AssetMeta, AssetPath, BlobInfo, Digest, Error, ErrorKind, NewAsset, Page, Result, now_millis,
};

use crate::sqlite::{DbRow, Pool, Tx, db_err, dialect};

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
/// digest counts once) and their bytes.
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
               COUNT(d.digest) AS blobs, CAST(COALESCE(SUM(d.size), 0) AS BIGINT) AS bytes \
             FROM repositories r LEFT JOIN (SELECT DISTINCT repo_id, digest, size FROM assets) d \
               ON d.repo_id = r.id GROUP BY r.id ORDER BY r.name",
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
        // SUM of BIGINT is NUMERIC in PostgreSQL: the cast keeps the column an i64 everywhere.
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes FROM blobs",
        )
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
    /// `AlreadyExists`. The blob row and the link are written in one transaction.
    pub async fn put(
        &self,
        repo_id: &str,
        path: &AssetPath,
        asset: &NewAsset,
        overwrite: bool,
    ) -> Result<(AssetMeta, PutOutcome)> {
        let now = now_millis();
        let digest = asset.blob.digest.to_string();
        let size = asset.blob.size as i64;
        let attrs = asset.attrs.to_string();
        let mut tx = Tx::begin_write(self.0).await?;
        sqlx::query(
            "INSERT INTO blobs (digest, size, created) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(&digest)
        .bind(size)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
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
            Some(_) if !overwrite => {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!(
                        "{path} already exists and this repository does not allow redeploying it"
                    ),
                ));
            }
            Some(_) => PutOutcome::Replaced,
        };
        let created = old.map_or(now, |(_, c)| c);
        sqlx::query(
            "INSERT INTO assets (repo_id, path, digest, size, content_type, created, attrs) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (repo_id, path) DO UPDATE SET digest = excluded.digest, size = excluded.size, \
             content_type = excluded.content_type, attrs = excluded.attrs",
        )
        .bind(repo_id)
        .bind(path.as_str())
        .bind(&digest)
        .bind(size)
        .bind(&asset.content_type)
        .bind(created)
        .bind(&attrs)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
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
