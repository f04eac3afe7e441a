use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use trove_core::{
    AssetMeta, AssetPath, BlobInfo, ConnectorSpec, Digest, Error, ErrorKind, FormatId, KindConfig,
    NewAsset, Page, RepoName, RepositoryConfig, Result, now_millis,
};

/// The metadata database. A concrete `Clone` struct around the pool: a trait with one
/// implementation would be ceremony. PostgreSQL will arrive behind this same API.
#[derive(Clone)]
pub struct MetadataStore {
    pool: SqlitePool,
    /// Downloads noted since the last flush: `(repo id, path)` → unix millis. Kept in memory so
    /// a GET never writes to the database; `flush_downloads` writes them in one transaction.
    downloads: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<(String, String), i64>>>,
}

pub(crate) fn db_err(e: sqlx::Error) -> Error {
    Error::internal(format!("metadata database: {e}")).with_source(e)
}

impl MetadataStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path`), applies the embedded
    /// migrations, and sets WAL, foreign keys, a busy timeout and `synchronous=FULL` on every
    /// connection.
    pub async fn open(url: &str) -> Result<Self> {
        MetadataStore::open_with(url, SqliteSynchronous::Full).await
    }

    /// [`Self::open`] for a node's start: commits are not synced (`synchronous=NORMAL`; WAL
    /// keeps the database consistent, a power cut may only drop the latest commits) until
    /// [`Self::make_durable`]. What a start writes (migrations, built-in and declared rows) is
    /// written again by the next start if it is lost, and on an empty database those syncs
    /// were about 30 `fsync`s, a fifth of a first start.
    pub async fn open_unsynced(url: &str) -> Result<Self> {
        MetadataStore::open_with(url, SqliteSynchronous::Normal).await
    }

    async fn open_with(url: &str, synchronous: SqliteSynchronous) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(db_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await
            .map_err(db_err)?;
        sqlx::migrate!("../../migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| Error::internal(format!("applying migrations: {e}")).with_source(e))?;
        Ok(MetadataStore {
            pool,
            downloads: Default::default(),
        })
    }

    /// Ends [`Self::open_unsynced`]: every connection, open or to come, syncs its commits
    /// (`synchronous=FULL`), and the next commit also syncs what came before it. Call it before
    /// anything is acknowledged to a client, while nothing else uses the store.
    pub async fn make_durable(&self) -> Result<()> {
        let opts = (*self.pool.connect_options()).clone();
        self.pool
            .set_connect_options(opts.synchronous(SqliteSynchronous::Full));
        // A released connection goes back to the pool on a spawned task: wait until each one
        // is idle, so that holding as many as the pool has reaches each of them once.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while self.pool.num_idle() < self.pool.size() as usize {
            if std::time::Instant::now() > deadline {
                return Err(Error::internal(
                    "the metadata database stayed in use while it was being made durable",
                ));
            }
            tokio::task::yield_now().await;
        }
        let mut held = Vec::new();
        for _ in 0..self.pool.size() {
            let mut conn = self.pool.acquire().await.map_err(db_err)?;
            sqlx::query("PRAGMA synchronous = FULL")
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
            held.push(conn);
        }
        Ok(())
    }

    pub fn repos(&self) -> Repos<'_> {
        Repos(&self.pool)
    }
    pub fn assets(&self) -> Assets<'_> {
        Assets(&self.pool)
    }
    pub fn uploads(&self) -> Uploads<'_> {
        Uploads(&self.pool)
    }
    pub fn links(&self) -> crate::links::Links<'_> {
        crate::links::Links(&self.pool)
    }
    pub fn rules(&self) -> crate::rules::Rules<'_> {
        crate::rules::Rules(&self.pool)
    }
    pub fn sessions(&self) -> crate::sessions::Sessions<'_> {
        crate::sessions::Sessions(&self.pool)
    }
    pub fn security(&self) -> crate::security::Security<'_> {
        crate::security::Security(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(db_err)?;
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
        tx.commit().await.map_err(db_err)?;
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
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        sqlx::query("UPDATE repositories SET updated = updated WHERE 0")
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Repositories

/// A repository as the config file declares it.
#[derive(Debug, Clone)]
pub struct DeclaredRepo {
    pub name: RepoName,
    pub format: FormatId,
    /// The format's own settings (a JSON object; `{}` for none).
    pub options: serde_json::Map<String, serde_json::Value>,
    pub kind: KindConfig,
    pub force_basic_auth: bool,
    pub routing_rule: Option<String>,
    pub connector: Option<ConnectorSpec>,
}

/// A repository row with what the console shows besides its configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoRecord {
    pub config: RepositoryConfig,
    pub connector: Option<ConnectorSpec>,
    /// `config` (declared in trove.toml: read-only in the console) or `ui`.
    pub managed_by: String,
    pub created: i64,
    pub updated: i64,
}

/// What a reconcile changed, by repository name.
#[derive(Debug, Default, PartialEq)]
pub struct ReconcileReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub disabled: Vec<String>,
}

pub struct Repos<'a>(&'a SqlitePool);

fn repo_from_row(row: &SqliteRow) -> Result<RepositoryConfig> {
    let name: String = row.get("name");
    let config: String = row.get("config");
    let kind: KindConfig = serde_json::from_str(&config)
        .map_err(|e| Error::internal(format!("stored config of repository {name}: {e}")))?;
    let options: String = row.get("options");
    let options = serde_json::from_str(&options)
        .map_err(|e| Error::internal(format!("stored options of repository {name}: {e}")))?;
    Ok(RepositoryConfig {
        id: row.get("id"),
        name: RepoName::parse(&name)?,
        format: FormatId::parse(&row.get::<String, _>("format"))?,
        options,
        online: row.get::<i64, _>("online") != 0,
        kind,
        force_basic_auth: row.get::<i64, _>("force_basic_auth") != 0,
        routing_rule: row.get("routing_rule"),
    })
}

impl Repos<'_> {
    /// Every repository, online or not, ordered by name.
    pub async fn list(&self) -> Result<Vec<RepositoryConfig>> {
        let rows =
            sqlx::query("SELECT id, name, format, options, online, config, force_basic_auth, routing_rule FROM repositories ORDER BY name")
                .fetch_all(self.0)
                .await
                .map_err(db_err)?;
        rows.iter().map(repo_from_row).collect()
    }

    /// Makes the database match the declared repositories in one transaction: creates new ones,
    /// updates changed ones, and disables (never deletes) config-managed ones no longer
    /// declared. Idempotent. Changing the format or kind of an existing repository is refused:
    /// its content would no longer make sense.
    pub async fn reconcile(&self, declared: &[DeclaredRepo]) -> Result<ReconcileReport> {
        let mut tx = self.0.begin().await.map_err(db_err)?;
        let mut report = ReconcileReport::default();
        let now = now_millis();
        for d in declared {
            let config = serde_json::to_string(&d.kind).expect("config serialises");
            let options = d.options_json();
            let connector = connector_json(d.connector.as_ref());
            let kind = d.kind_name();
            let existing = sqlx::query(
                "SELECT id, format, options, kind, online, config, managed_by, force_basic_auth, routing_rule, connector FROM repositories WHERE name = $1",
            )
            .bind(d.name.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            match existing {
                None => {
                    sqlx::query(
                        "INSERT INTO repositories (id, name, format, kind, online, config, managed_by, created, updated, force_basic_auth, routing_rule, connector, options) \
                         VALUES ($1, $2, $3, $4, 1, $5, 'config', $6, $6, $7, $8, $9, $10)",
                    )
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind(d.name.as_str())
                    .bind(d.format.as_str())
                    .bind(kind)
                    .bind(&config)
                    .bind(now)
                    .bind(d.force_basic_auth)
                    .bind(&d.routing_rule)
                    .bind(&connector)
                    .bind(&options)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    report.created.push(d.name.to_string());
                }
                Some(row) => {
                    let (format, old_kind): (String, String) = (row.get("format"), row.get("kind"));
                    if d.format != format.as_str() || old_kind != kind {
                        return Err(Error::invalid(format!(
                            "repository {} exists as a {format} {old_kind} repository; it cannot \
                             become a {} {kind} one (purge it or pick another name)",
                            d.name, d.format
                        )));
                    }
                    let unchanged = row.get::<i64, _>("online") == 1
                        && row.get::<String, _>("config") == config
                        && row.get::<String, _>("options") == options
                        && row.get::<String, _>("managed_by") == "config"
                        && (row.get::<i64, _>("force_basic_auth") != 0) == d.force_basic_auth
                        && row.get::<Option<String>, _>("routing_rule") == d.routing_rule
                        && row.get::<Option<String>, _>("connector") == connector;
                    if !unchanged {
                        sqlx::query(
                            "UPDATE repositories SET online = 1, config = $2, managed_by = 'config', updated = $3, \
                             force_basic_auth = $4, routing_rule = $5, connector = $6, options = $7 WHERE name = $1",
                        )
                        .bind(d.name.as_str())
                        .bind(&config)
                        .bind(now)
                        .bind(d.force_basic_auth)
                        .bind(&d.routing_rule)
                        .bind(&connector)
                        .bind(&options)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                        report.updated.push(d.name.to_string());
                    }
                }
            }
        }
        let managed: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM repositories WHERE managed_by = 'config' AND online = 1",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        for name in managed {
            if !declared.iter().any(|d| d.name.as_str() == name) {
                sqlx::query("UPDATE repositories SET online = 0, updated = $2 WHERE name = $1")
                    .bind(&name)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                report.disabled.push(name);
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(report)
    }
}

fn connector_json(c: Option<&ConnectorSpec>) -> Option<String> {
    c.filter(|c| !c.is_empty())
        .map(|c| serde_json::to_string(c).expect("connector serialises"))
}

impl Repos<'_> {
    /// Every repository with its connector and owner, ordered by name.
    pub async fn records(&self) -> Result<Vec<RepoRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, format, options, online, config, force_basic_auth, routing_rule, \
             connector, managed_by, created, updated FROM repositories ORDER BY name",
        )
        .fetch_all(self.0)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let config = repo_from_row(row)?;
                let connector = row
                    .get::<Option<String>, _>("connector")
                    .map(|c| {
                        serde_json::from_str::<ConnectorSpec>(&c).map_err(|e| {
                            Error::internal(format!("stored connector of {}: {e}", config.name))
                        })
                    })
                    .transpose()?;
                Ok(RepoRecord {
                    config,
                    connector,
                    managed_by: row.get("managed_by"),
                    created: row.get("created"),
                    updated: row.get("updated"),
                })
            })
            .collect()
    }

    /// Creates a repository owned by `managed_by` (`ui`). A taken name is `AlreadyExists`.
    pub async fn create(&self, d: &DeclaredRepo, managed_by: &str) -> Result<()> {
        let now = now_millis();
        let r = sqlx::query(
            "INSERT INTO repositories (id, name, format, kind, online, config, managed_by, created, updated, force_basic_auth, routing_rule, connector, options) \
             VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $7, $8, $9, $10, $11) ON CONFLICT (name) DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(d.name.as_str())
        .bind(d.format.as_str())
        .bind(d.kind_name())
        .bind(serde_json::to_string(&d.kind).expect("config serialises"))
        .bind(managed_by)
        .bind(now)
        .bind(d.force_basic_auth)
        .bind(&d.routing_rule)
        .bind(connector_json(d.connector.as_ref()))
        .bind(d.options_json())
        .execute(self.0)
        .await
        .map_err(db_err)?;
        if r.rows_affected() == 0 {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("a repository named {} already exists", d.name),
            ));
        }
        Ok(())
    }

    /// Replaces the settings of a repository owned by `managed_by`. Its format and kind stay;
    /// a repository declared in trove.toml is refused (`Forbidden`): edit the file instead.
    pub async fn update(&self, d: &DeclaredRepo, managed_by: &str) -> Result<()> {
        let mut tx = self.0.begin().await.map_err(db_err)?;
        let row = sqlx::query("SELECT format, kind, managed_by FROM repositories WHERE name = $1")
            .bind(d.name.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::not_found(format!("no repository named {}", d.name)))?;
        check_owner(
            d.name.as_str(),
            &row.get::<String, _>("managed_by"),
            managed_by,
        )?;
        let (format, kind): (String, String) = (row.get("format"), row.get("kind"));
        if d.format != format.as_str() || kind != d.kind_name() {
            return Err(Error::invalid(format!(
                "repository {} is a {format} {kind} repository; its format and kind cannot change",
                d.name
            )));
        }
        sqlx::query(
            "UPDATE repositories SET online = 1, config = $2, updated = $3, force_basic_auth = $4, \
             routing_rule = $5, connector = $6, options = $7 WHERE name = $1",
        )
        .bind(d.name.as_str())
        .bind(serde_json::to_string(&d.kind).expect("config serialises"))
        .bind(now_millis())
        .bind(d.force_basic_auth)
        .bind(&d.routing_rule)
        .bind(connector_json(d.connector.as_ref()))
        .bind(d.options_json())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    /// Deletes a repository owned by `managed_by` with its assets and upload sessions (blobs
    /// stay in the blob store for other repositories). Declared ones are refused.
    pub async fn delete(&self, name: &str, managed_by: &str) -> Result<()> {
        let mut tx = self.0.begin().await.map_err(db_err)?;
        let owner: String =
            sqlx::query_scalar("SELECT managed_by FROM repositories WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .ok_or_else(|| Error::not_found(format!("no repository named {name}")))?;
        check_owner(name, &owner, managed_by)?;
        sqlx::query("DELETE FROM repositories WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }
}

/// Config-owned rows are edited in trove.toml, not through the console or the API.
pub(crate) fn check_owner(name: &str, owner: &str, caller: &str) -> Result<()> {
    if owner == caller {
        return Ok(());
    }
    let why = match owner {
        "config" => "it is defined in trove.toml; edit the file and reload".to_owned(),
        "builtin" => "it is built in".to_owned(),
        other => format!("it is managed by {other}"),
    };
    Err(Error::new(
        ErrorKind::Forbidden,
        format!("{name} is read-only here: {why}"),
    ))
}

impl DeclaredRepo {
    fn options_json(&self) -> String {
        serde_json::to_string(&self.options).expect("options serialise")
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            KindConfig::Hosted { .. } => "hosted",
            KindConfig::Proxy(_) => "proxy",
            KindConfig::Group { .. } => "group",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Assets and blobs

pub struct Assets<'a>(&'a SqlitePool);

/// What `Assets::put` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// The path pointed at other content and now points at the new content.
    Replaced,
    /// The path already pointed at this content.
    Unchanged,
}

fn asset_from_row(row: &SqliteRow) -> Result<AssetMeta> {
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
               COUNT(d.digest) AS blobs, COALESCE(SUM(d.size), 0) AS bytes \
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
        let row = sqlx::query("SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM blobs")
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
        let mut tx: Transaction<'_, Sqlite> = self.0.begin().await.map_err(db_err)?;
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
        tx.commit().await.map_err(db_err)?;
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
        let joined: Option<String> = sqlx::query_scalar(
            // The subquery walks the primary key in order; `group_concat(.. ORDER BY path)`
            // would sort again through a temporary b-tree (a third of the time, measured).
            "SELECT group_concat(path, char(10)) FROM (SELECT path FROM assets \
             WHERE repo_id = $1 AND path >= $2 AND path < $3 ORDER BY path)",
        )
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

// ---------------------------------------------------------------------------------------------
// Upload sessions

pub struct Uploads<'a>(&'a SqlitePool);

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
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
        sqlx::query_as("SELECT id, repo_id, scope, created, updated FROM uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(self.0)
            .await
            .map_err(db_err)
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

    pub async fn delete(&self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(self.0)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }
}

// ---------------------------------------------------------------------------------------------
// Users

#[derive(Clone, PartialEq, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub status: String,
    pub must_change_password: bool,
    pub managed_by: String,
    pub created: i64,
}

/// Never prints the password hash.
impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("name", &self.name)
            .field("status", &self.status)
            .field("managed_by", &self.managed_by)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[path = "meta_tests.rs"]
mod tests;
