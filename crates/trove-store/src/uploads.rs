//! Upload sessions: shared by every node, so a chunked push may move between nodes.

use trove_core::{Result, now_millis};

use sqlx::Row;

use crate::sqlite::{Pool, db_err};

pub struct Uploads<'a>(pub(crate) &'a Pool);

/// An upload session as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRow {
    pub id: String,
    pub repo_id: String,
    /// What the session was opened for (docker: the image name).
    pub scope: String,
    pub created: i64,
    pub updated: i64,
}

impl Uploads<'_> {
    pub async fn create(&self, id: &str, repo_id: &str, scope: &str) -> Result<()> {
        let now = now_millis();
        sqlx::query("INSERT INTO uploads (id, repo_id, scope, created, updated) VALUES ($1, $2, $3, $4, $4)")
            .bind(id)
            .bind(repo_id)
            .bind(scope)
            .bind(now)
            .execute(self.0)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<UploadRow>> {
        let row =
            sqlx::query("SELECT id, repo_id, scope, created, updated FROM uploads WHERE id = $1")
                .bind(id)
                .fetch_optional(self.0)
                .await
                .map_err(db_err)?;
        Ok(row.map(|r| UploadRow {
            id: r.get("id"),
            repo_id: r.get("repo_id"),
            scope: r.get("scope"),
            created: r.get("created"),
            updated: r.get("updated"),
        }))
    }

    /// Marks activity, so expiry counts from the last chunk, not the first.
    pub async fn touch(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE uploads SET updated = $2 WHERE id = $1")
            .bind(id)
            .bind(now_millis())
            .execute(self.0)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Sessions with no activity since `before` (unix millis), oldest first.
    pub async fn idle_since(&self, before: i64) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT id FROM uploads WHERE updated < $1 ORDER BY updated")
            .bind(before)
            .fetch_all(self.0)
            .await
            .map_err(db_err)
    }

    /// The sessions of repository `repo_id`.
    pub async fn of_repository(&self, repo_id: &str) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT id FROM uploads WHERE repo_id = $1 ORDER BY id")
            .bind(repo_id)
            .fetch_all(self.0)
            .await
            .map_err(db_err)
    }

    /// Every session id (garbage collection tells upload files with a session from leftovers).
    pub async fn ids(&self) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT id FROM uploads")
            .fetch_all(self.0)
            .await
            .map_err(db_err)
    }

    pub async fn delete(&self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(self.0)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }
}
