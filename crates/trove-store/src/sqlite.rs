//! The SQLite backend: the one module that knows which database the metadata lives in.
//!
//! It owns what is SQLite's own: the connection options and pragmas (WAL, `synchronous`,
//! foreign keys, busy timeout), the embedded migrations of `migrations/sqlite`, how a write
//! transaction begins (`BEGIN IMMEDIATE`), what the error codes mean, and the few statements
//! only SQLite speaks ([`dialect`]). The sub-API modules write portable SQL (`$N` placeholders,
//! `ON CONFLICT`, `RETURNING`, INTEGER 0/1 flags bound as `i64`, unix-millis times) and name the
//! backend only through the aliases below, so a second backend changes this module, not them
//! (docs/decisions/0011-metadata-backend-seam.md).

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use trove_core::{Error, Result};

/// The connection pool of the backend.
pub(crate) type Pool = sqlx::SqlitePool;
/// One connection of the backend, what a transaction's statements run on.
pub(crate) type Conn = sqlx::SqliteConnection;
/// A result row of the backend.
pub(crate) type DbRow = sqlx::sqlite::SqliteRow;
/// A transaction of the backend.
pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Sqlite>;

/// Opens (creating if needed) the database at `url` (`sqlite://path`) and applies the embedded
/// migrations. Every connection gets WAL, foreign keys, a 10 s busy timeout and
/// `synchronous=FULL`, or `NORMAL` when not `durable` (see `MetadataStore::open_unsynced`).
pub(crate) async fn open(url: &str, durable: bool) -> Result<Pool> {
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
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(opts)
        .await
        .map_err(db_err)?;
    sqlx::migrate!("../../migrations/sqlite")
        .run(&pool)
        .await
        .map_err(|e| Error::internal(format!("applying migrations: {e}")).with_source(e))?;
    Ok(pool)
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

/// A transaction for reads that must agree with each other.
pub(crate) async fn begin(pool: &Pool) -> Result<Tx> {
    pool.begin().await.map_err(db_err)
}

/// A transaction that writes: it takes the write lock when it begins (`BEGIN IMMEDIATE`), so a
/// read-then-write never fails on a snapshot another writer moved meanwhile.
pub(crate) async fn begin_write(pool: &Pool) -> Result<Tx> {
    pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)
}

/// A database error as a Trove error, the cause kept for the log.
pub(crate) fn db_err(e: sqlx::Error) -> Error {
    Error::internal(format!("metadata database: {e}")).with_source(e)
}

/// Statements whose SQL is SQLite's own, each with what another backend would say instead.
pub(crate) mod dialect {
    /// The paths of one repository in `[$2, $3)`, in order, joined by newlines into one row (a
    /// path cannot contain one): the driver's per-row cost dominated listings of thousands of
    /// tags. The subquery walks the primary key in order; `group_concat(.. ORDER BY path)`
    /// would sort again through a temporary b-tree (a third of the time, measured).
    /// PostgreSQL: `string_agg(path, E'\n' ORDER BY path)`.
    pub(crate) const JOINED_PATHS: &str = "SELECT group_concat(path, char(10)) FROM (SELECT path \
         FROM assets WHERE repo_id = $1 AND path >= $2 AND path < $3 ORDER BY path)";
}
