//! The metadata store: opening the database, its sub-APIs, the change counter and download
//! times.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use trove_core::{Result, now_millis};

use crate::assets::Assets;
use crate::repos::Repos;
use crate::rules::Rules;
use crate::security::keys::KeyFile;
use crate::security::{SIGNING_KEY_FILE, Security};
use crate::sessions::Sessions;
use crate::sqlite::{self, Pool, Tx, db_err};
use crate::uploads::Uploads;

/// The metadata database. A concrete `Clone` struct around the pool: a trait with one
/// implementation would be ceremony. PostgreSQL will arrive behind this same API.
#[derive(Clone)]
pub struct MetadataStore {
    pub(crate) pool: Pool,
    /// Downloads noted since the last flush: `(repo id, path)` → unix millis. Kept in memory so
    /// a GET never writes to the database; `flush_downloads` writes them in one transaction.
    downloads: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<(String, String), i64>>>,
    /// The key file signing keys are derived with (see `Security::signing_key`).
    keys: Arc<KeyFile>,
    /// API token uses noted since the last flush (`api_tokens().flush_uses`).
    token_uses: crate::api_tokens::PendingUses,
}

impl MetadataStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path`), applies the embedded
    /// migrations, and sets WAL, foreign keys, a busy timeout and `synchronous=FULL` on every
    /// connection.
    pub async fn open(url: &str) -> Result<Self> {
        MetadataStore::open_with(url, true).await
    }

    /// [`Self::open`] for a node's start: commits are not synced (`synchronous=NORMAL`; WAL
    /// keeps the database consistent, a power cut may only drop the latest commits) until
    /// [`Self::make_durable`]. What a start writes (migrations, built-in and declared rows) is
    /// written again by the next start if it is lost, and on an empty database those syncs
    /// were about 30 `fsync`s, a fifth of a first start.
    pub async fn open_unsynced(url: &str) -> Result<Self> {
        MetadataStore::open_with(url, false).await
    }

    async fn open_with(url: &str, durable: bool) -> Result<Self> {
        let (pool, db_file) = sqlite::open(url, durable).await?;
        let keys = match db_file.as_deref().and_then(Path::parent) {
            Some(dir) => KeyFile::at(dir.join(SIGNING_KEY_FILE)),
            None => KeyFile::in_memory(),
        };
        Ok(MetadataStore {
            pool,
            downloads: Default::default(),
            keys: Arc::new(keys),
            token_uses: Default::default(),
        })
    }

    /// Derives signing keys with the key file at `path` (created 0600 if missing) instead of
    /// `signing.key` beside the database file: the server keeps it in its data directory,
    /// and a database without a directory (PostgreSQL, later) needs one. Every node of one
    /// database must be given the same file.
    pub fn with_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.keys = Arc::new(KeyFile::at(path.into()));
        self
    }

    /// Where the signing key file is (`None` for an in-memory database).
    pub fn key_file(&self) -> Option<&Path> {
        self.keys.path()
    }

    /// Ends [`Self::open_unsynced`]: every connection, open or to come, syncs its commits
    /// (`synchronous=FULL`), and the next commit also syncs what came before it. Call it before
    /// anything is acknowledged to a client, while nothing else uses the store.
    pub async fn make_durable(&self) -> Result<()> {
        sqlite::make_durable(&self.pool).await
    }

    /// Repositories: declared, created in the console, reconciled.
    pub fn repos(&self) -> Repos<'_> {
        Repos(&self.pool)
    }
    /// Assets (path → blob) and blob totals.
    pub fn assets(&self) -> Assets<'_> {
        Assets(&self.pool)
    }
    /// Upload sessions.
    pub fn uploads(&self) -> Uploads<'_> {
        Uploads(&self.pool)
    }
    /// Upstream URLs a proxy learnt from fetched metadata.
    pub fn links(&self) -> crate::links::Links<'_> {
        crate::links::Links(&self.pool)
    }
    /// Routing rules.
    pub fn rules(&self) -> Rules<'_> {
        Rules(&self.pool)
    }
    /// Console sessions.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions(&self.pool)
    }
    /// OIDC sign-in flows in progress (the console's single sign-on).
    pub fn sign_in_flows(&self) -> crate::sign_in_flows::SignInFlows<'_> {
        crate::sign_in_flows::SignInFlows(&self.pool)
    }
    /// Users, roles, privileges, settings and signing keys.
    pub fn security(&self) -> Security<'_> {
        Security {
            pool: &self.pool,
            keys: &self.keys,
        }
    }

    /// API tokens: stored hashed, found by their selector, last use noted in memory.
    pub fn api_tokens(&self) -> crate::api_tokens::ApiTokens<'_> {
        crate::api_tokens::ApiTokens {
            pool: &self.pool,
            pending: &self.token_uses,
        }
    }
    /// The audit log: append, read, prune.
    pub fn audit(&self) -> crate::audit::Audit<'_> {
        crate::audit::Audit(&self.pool)
    }

    /// Notes that an asset was served (its `last_downloaded`): a map insert, no I/O.
    pub fn note_download(&self, repo_id: &str, path: &str) {
        let mut d = self.downloads.lock().expect("downloads lock");
        d.insert((repo_id.to_owned(), path.to_owned()), now_millis());
    }

    /// Writes the noted downloads in one transaction; returns how many rows it touched. Run
    /// every few seconds by the server and at shutdown (a crash loses at most that window of
    /// `last_downloaded` updates, never content).
    pub async fn flush_downloads(&self) -> Result<usize> {
        let batch = std::mem::take(&mut *self.downloads.lock().expect("downloads lock"));
        if batch.is_empty() {
            return Ok(0);
        }
        let mut tx = Tx::begin_write(&self.pool).await?;
        for ((repo, path), when) in &batch {
            sqlx::query(
                "UPDATE assets SET last_downloaded = $3 WHERE repo_id = $1 AND path = $2 \
                 AND (last_downloaded IS NULL OR last_downloaded < $3)",
            )
            .bind(repo)
            .bind(path)
            .bind(when)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await?;
        Ok(batch.len())
    }

    /// The change counter of what runs (see `bump_generation`).
    pub async fn generation(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT value FROM generation WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    /// Records that repositories, rules or connectors changed; returns the new value. Nodes
    /// that see it move rebuild their running state.
    pub async fn bump_generation(&self) -> Result<i64> {
        sqlx::query_scalar("UPDATE generation SET value = value + 1 WHERE id = 1 RETURNING value")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    /// A write that changes nothing, in a transaction that takes the write lock: fails when
    /// the database cannot be written (read-only file, full disk, locked out).
    pub async fn probe_write(&self) -> Result<()> {
        let mut tx = Tx::begin_write(&self.pool).await?;
        sqlx::query("UPDATE repositories SET updated = updated WHERE 1 = 0")
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
