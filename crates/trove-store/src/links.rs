//! Upstream URLs a proxy learnt from fetched metadata (`upstream_links`): where to fetch a path
//! whose upstream location the path does not tell (an npm tarball on a CDN).

use trove_core::{Digest, Result};

use crate::sqlite::{Pool, Tx, db_err};

pub struct Links<'a>(pub(crate) &'a Pool);

impl Links<'_> {
    /// Replaces the links that the document at `source` named with `links` (path, URL, the
    /// digest the document announced), in one transaction. A path named by two documents keeps
    /// the last one written.
    pub async fn replace(&self, repo_id: &str, source: &str, links: &[StoredLink]) -> Result<()> {
        let mut tx = Tx::begin_write(self.0).await?;
        sqlx::query("DELETE FROM upstream_links WHERE repo_id = $1 AND source = $2")
            .bind(repo_id)
            .bind(source)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for l in links {
            sqlx::query(
                "INSERT INTO upstream_links (repo_id, path, source, url, digest) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (repo_id, path) DO UPDATE SET source = excluded.source, url = excluded.url, \
                 digest = excluded.digest",
            )
            .bind(repo_id)
            .bind(&l.path)
            .bind(source)
            .bind(&l.url)
            .bind(l.digest.as_ref().map(|d| d.to_string()))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await
    }

    /// The link recorded for `path`.
    pub async fn get(&self, repo_id: &str, path: &str) -> Result<Option<StoredLink>> {
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT url, digest FROM upstream_links WHERE repo_id = $1 AND path = $2",
        )
        .bind(repo_id)
        .bind(path)
        .fetch_optional(self.0)
        .await
        .map_err(db_err)?;
        row.map(|(url, digest)| {
            Ok(StoredLink {
                path: path.to_owned(),
                url,
                digest: digest.map(|d| Digest::parse(&d)).transpose()?,
            })
        })
        .transpose()
    }
}

/// A link as stored: the storage path it is for, the upstream URL, the announced digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLink {
    pub path: String,
    pub url: String,
    pub digest: Option<Digest>,
}
