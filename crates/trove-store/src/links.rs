//! Upstream URLs a proxy learnt from fetched metadata (`upstream_links`): where to fetch a path
//! whose upstream location the path does not tell (an npm tarball on a CDN).

use trove_core::Result;

use crate::sqlite::{Pool, Tx, db_err};

pub struct Links<'a>(pub(crate) &'a Pool);

impl Links<'_> {
    /// Replaces the links that the document at `source` named with `links` (path, URL), in one
    /// transaction. A path named by two documents keeps the last one written.
    pub async fn replace(
        &self,
        repo_id: &str,
        source: &str,
        links: &[(String, String)],
    ) -> Result<()> {
        let mut tx = Tx::begin_write(self.0).await?;
        sqlx::query("DELETE FROM upstream_links WHERE repo_id = $1 AND source = $2")
            .bind(repo_id)
            .bind(source)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for (path, url) in links {
            sqlx::query(
                "INSERT INTO upstream_links (repo_id, path, source, url) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (repo_id, path) DO UPDATE SET source = excluded.source, url = excluded.url",
            )
            .bind(repo_id)
            .bind(path)
            .bind(source)
            .bind(url)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await
    }

    /// The upstream URL recorded for `path`.
    pub async fn get(&self, repo_id: &str, path: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT url FROM upstream_links WHERE repo_id = $1 AND path = $2")
            .bind(repo_id)
            .bind(path)
            .fetch_optional(self.0)
            .await
            .map_err(db_err)
    }
}
