//! The SQLite backend: the one module that knows which database the metadata lives in.
//!
//! It owns what is SQLite's own: the connection options and pragmas (WAL, `synchronous`,
//! foreign keys, busy timeout), the embedded migrations of `migrations/sqlite`, how a write
//! transaction begins (`BEGIN IMMEDIATE`), what the error codes mean, and the few statements
//! only SQLite speaks ([`dialect`]). The sub-API modules write portable SQL (`$N` placeholders,
//! `ON CONFLICT`, `RETURNING`, INTEGER 0/1 flags bound as `i64`, unix-millis times) and name the
//! backend only through the aliases below, so a second backend changes this module, not them
//! (docs/decisions/0011-metadata-backend-seam.md).

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use trove_core::{Error, ErrorKind, Result};

use crate::files;

/// The connection pool of the backend.
pub(crate) type Pool = sqlx::SqlitePool;
/// One connection of the backend, what a transaction's statements run on.
pub(crate) type Conn = sqlx::SqliteConnection;
/// A result row of the backend.
pub(crate) type DbRow = sqlx::sqlite::SqliteRow;

/// Opens (creating if needed) the database at `url` (`sqlite://path`) and applies the embedded
/// migrations. Every connection gets WAL, foreign keys, a 10 s busy timeout and
/// `synchronous=FULL`, or `NORMAL` when not `durable` (see `MetadataStore::open_unsynced`).
/// Returns the pool and the database file (`None` in memory).
///
/// The database file is created 0600 before SQLite opens it, so its `-wal` and `-shm`, which
/// SQLite creates with the database's mode, are private too; an existing file looser than
/// that is tightened (see [`crate::files`]).
pub(crate) async fn open(url: &str, durable: bool) -> Result<(Pool, Option<PathBuf>)> {
    let synchronous = if durable {
        SqliteSynchronous::Full
    } else {
        SqliteSynchronous::Normal
    };
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(db_err)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    // sqlx names an in-memory database `file:sqlx-in-memory-<n>`.
    let file = opts.get_filename();
    let in_memory = file
        .to_str()
        .is_some_and(|f| f.starts_with("file:") || f == ":memory:");
    let db_file = (!in_memory).then(|| file.to_path_buf());
    if let Some(db) = &db_file {
        create_private(db)?;
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(opts)
        .await
        .map_err(db_err)?;
    sqlx::migrate!("../../migrations/sqlite")
        .run(&pool)
        .await
        .map_err(|e| Error::internal(format!("applying migrations: {e}")).with_source(e))?;
    if let Some(db) = &db_file {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = db.clone().into_os_string();
            path.push(suffix);
            let path = PathBuf::from(path);
            files::make_private(&path)
                .map_err(|e| Error::io(&format!("making {} private", path.display()), e))?;
        }
    }
    Ok((pool, db_file))
}

/// Creates an empty database file with mode 0600 unless one exists.
fn create_private(db: &Path) -> Result<()> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(files::PRIVATE_FILE)
        .open(db)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(
            &format!("creating the metadata database {}", db.display()),
            e,
        )),
    }
}

/// Every connection of `pool`, open or to come, syncs its commits (`synchronous=FULL`), and the
/// next commit also syncs what came before it. Run while nothing else uses the pool.
pub(crate) async fn make_durable(pool: &Pool) -> Result<()> {
    let opts = (*pool.connect_options()).clone();
    pool.set_connect_options(opts.synchronous(SqliteSynchronous::Full));
    // A released connection goes back to the pool on a spawned task: wait until each one
    // is idle, so that holding as many as the pool has reaches each of them once.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while pool.num_idle() < pool.size() as usize {
        if std::time::Instant::now() > deadline {
            return Err(Error::internal(
                "the metadata database stayed in use while it was being made durable",
            ));
        }
        tokio::task::yield_now().await;
    }
    let mut held = Vec::new();
    for _ in 0..pool.size() {
        let mut conn = pool.acquire().await.map_err(db_err)?;
        sqlx::query("PRAGMA synchronous = FULL")
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        held.push(conn);
    }
    Ok(())
}

/// A transaction on one pooled connection, begun and ended with plain `BEGIN`, `COMMIT` and
/// `ROLLBACK` statements, so the connection goes back to the pool outside any transaction
/// whatever happened:
/// - [`Tx::commit`] that fails rolls back before it returns the error;
/// - a `Tx` dropped before its commit (an early `?`, or the caller's future cancelled) rolls
///   back on a spawned task that owns the connection until the rollback is done;
/// - a connection whose rollback fails is closed instead of being reused.
///
/// Why not `sqlx::Transaction`: it counts its depth in the driver, and when SQLite has already
/// undone a transaction itself (a full disk fails a statement or the `COMMIT`), its `ROLLBACK`
/// fails, the count stays at 1 and every later `begin` on that pooled connection failed with
/// "attempted to call begin_with at non-zero transaction depth" until a restart (issue 14).
/// Derefs to the connection: statements run on `&mut *tx`.
pub(crate) struct Tx {
    conn: Option<sqlx::pool::PoolConnection<sqlx::Sqlite>>,
}

impl Tx {
    /// A transaction for reads that must agree with each other.
    pub(crate) async fn begin(pool: &Pool) -> Result<Tx> {
        Tx::start(pool, "BEGIN").await
    }

    /// A transaction that writes: it takes the write lock when it begins (`BEGIN IMMEDIATE`),
    /// so a read-then-write never fails on a snapshot another writer moved meanwhile.
    pub(crate) async fn begin_write(pool: &Pool) -> Result<Tx> {
        Tx::start(pool, "BEGIN IMMEDIATE").await
    }

    async fn start(pool: &Pool, begin: &'static str) -> Result<Tx> {
        let conn = pool.acquire().await.map_err(db_err)?;
        // Held from here: if this future is dropped while the BEGIN runs, the drop rolls back.
        let mut tx = Tx { conn: Some(conn) };
        if let Err(e) = sqlx::query(begin).execute(&mut *tx).await {
            // Nothing to roll back, and a connection that failed to begin is not trusted.
            if let Some(mut conn) = tx.conn.take() {
                conn.close_on_drop();
            }
            return Err(db_err(e));
        }
        Ok(tx)
    }

    /// Rolls back: what the transaction did is undone (a preview that simulated a change).
    pub(crate) async fn rollback(mut self) {
        if let Some(conn) = self.conn.take() {
            rollback(conn).await;
        }
    }

    /// Commits; on failure rolls back (or discards the connection) and returns the error.
    pub(crate) async fn commit(mut self) -> Result<()> {
        let mut conn = self.conn.take().expect("a transaction commits once");
        match sqlx::query("COMMIT").execute(&mut *conn).await {
            Ok(_) => Ok(()),
            Err(e) => {
                rollback(conn).await;
                Err(db_err(e))
            }
        }
    }
}

/// Rolls back the transaction on `conn`; a connection that cannot roll back (SQLite undid the
/// transaction already, or the database fails) is closed rather than returned to the pool.
async fn rollback(mut conn: sqlx::pool::PoolConnection<sqlx::Sqlite>) {
    if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
        tracing::debug!(error = %e, "rollback failed; closing the connection");
        conn.close_on_drop();
    }
}

impl std::ops::Deref for Tx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
            .as_deref()
            .expect("transaction in use after its end")
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn
            .as_deref_mut()
            .expect("transaction in use after its end")
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(rollback(conn));
            }
            // No runtime to roll back on: closing the connection rolls back.
            Err(_) => conn.close_on_drop(),
        }
    }
}

/// A database error as a Trove error, the cause kept for the log. What the operator can fix
/// and that passes (a full disk, a read-only file, a lock held too long) is `Unavailable`,
/// saying which; anything else is `Internal`.
pub(crate) fn db_err(e: sqlx::Error) -> Error {
    // The primary result code is the low byte of SQLite's extended code
    // (https://www.sqlite.org/rescode.html).
    let primary = e
        .as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i32>().ok())
        .map(|c| c & 0xff);
    let why = match primary {
        Some(13) => "the disk holding it is full; writes succeed again once space is freed",
        Some(8) => "it is read-only",
        Some(10) => "an I/O error",
        Some(5 | 6) => "it stayed locked by another writer",
        _ => return Error::internal(format!("metadata database: {e}")).with_source(e),
    };
    Error::new(
        ErrorKind::Unavailable,
        format!("metadata database unavailable: {why} ({e})"),
    )
    .with_source(e)
}

/// Statements whose SQL is SQLite's own, each with what another backend would say instead.
pub(crate) mod dialect {
    /// The paths of one repository in `[$2, $3)`, in order, joined by newlines into one row (a
    /// path cannot contain one): the driver's per-row cost dominated listings of thousands of
    /// tags. The subquery walks the primary key in order; `group_concat(.. ORDER BY path)`
    /// would sort again through a temporary b-tree (a third of the time, measured).
    /// PostgreSQL: `string_agg(path, E'\n' ORDER BY path)`.
    /// Garbage collection's dry run (`Gc::plan`): the rows of repository `$1` that no kept
    /// row reaches, where kept are the roots (`$2`: parts linked since then are young;
    /// `$3`: documents pushed or pulled since then are outside the untagged rule), the targets
    /// a kept row needs, and the documents attached to a kept row. A recursive CTE with two
    /// recursive terms (SQLite 3.34+); PostgreSQL allows one, so there the two joins become
    /// one over `asset_refs` with the direction chosen by `kind`.
    pub(crate) const GC_PLAN: &str = "WITH RECURSIVE kept(path) AS ( \
           SELECT path FROM assets WHERE repo_id = $1 AND (role IS NULL OR role = 0 \
             OR (role = 1 AND linked >= $2) \
             OR (role = 2 AND NOT (linked < $3 AND COALESCE(last_downloaded, 0) < $3))) \
           UNION \
           SELECT r.target FROM asset_refs r JOIN kept k ON r.path = k.path \
             WHERE r.repo_id = $1 AND r.kind = 0 \
           UNION \
           SELECT r.path FROM asset_refs r JOIN kept k ON r.target = k.path \
             WHERE r.repo_id = $1 AND r.kind = 1) \
         SELECT a.path, a.digest, a.size, a.role FROM assets a \
         WHERE a.repo_id = $1 AND a.role IN (1, 2) AND a.path NOT IN (SELECT path FROM kept) \
         ORDER BY a.path";

    /// Which digests of the JSON array `$1` some asset links. PostgreSQL:
    /// `unnest($1::text[])`.
    pub(crate) const LINKED_AMONG: &str = "SELECT DISTINCT a.digest FROM json_each($1) j \
         JOIN assets a ON a.digest = j.value";

    /// Names of the repositories whose lifecycle lists cleanup policy `$1`. PostgreSQL:
    /// `lifecycle::jsonb -> 'cleanup_policies' ? $1`.
    pub(crate) const REPOS_USING_POLICY: &str = "SELECT name FROM repositories r WHERE EXISTS \
         (SELECT 1 FROM json_each(r.lifecycle, '$.cleanup_policies') j WHERE j.value = $1) \
         ORDER BY name";

    /// Rows of a repository least recently used first: the later of the last download and the
    /// last link, keyset-paginated on `(used, path)`. Two-argument `MAX` is SQLite's scalar
    /// maximum; PostgreSQL: `GREATEST(..)`.
    pub(crate) const LEAST_RECENTLY_USED: &str = "SELECT * FROM (SELECT path, digest, size, \
         content_type, created, last_downloaded, attrs, \
         MAX(COALESCE(last_downloaded, 0), COALESCE(linked, created)) AS used FROM assets \
         WHERE repo_id = $1) WHERE used > $2 OR (used = $2 AND path > $3) \
         ORDER BY used, path LIMIT $4";

    pub(crate) const JOINED_PATHS: &str = "SELECT group_concat(path, char(10)) FROM (SELECT path \
         FROM assets WHERE repo_id = $1 AND path >= $2 AND path < $3 ORDER BY path)";
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;
