//! The SQLite backend: the metadata contract (`testing::metadata`), then what only this backend
//! shows: its pragmas, and recovery from a full disk on a real small filesystem.

use futures_util::future::join_all;
use serde_json::json;
use trove_core::{Algorithm, AssetPath, BlobInfo, Error, ErrorKind, NewAsset};

use crate::testing::{SmallFs, metadata};
use crate::{MetadataStore, RoleDef, RuleRow, digest_of};

/// A store on a new database file (the directory goes when the store's test ends).
async fn store() -> (tempfile::TempDir, MetadataStore) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    (dir, MetadataStore::open(&url).await.unwrap())
}

/// One test per suite, each on its own database, and one running them all on one database
/// (what a second backend runs), so a failure names its suite.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let (_dir, s) = store().await;
            metadata::$name(&s).await;
        }
    )*};
}

conformance!(
    metadata_store_conformance,
    store_conformance,
    repos_conformance,
    options_conformance,
    links_conformance,
    assets_conformance,
    uploads_conformance,
    rules_conformance,
    sessions_conformance,
    users_conformance,
    roles_conformance,
    privileges_conformance,
    settings_conformance,
    signing_keys_conformance,
    security_snapshot_conformance,
    security_reconcile_conformance,
    api_tokens_conformance,
    audit_conformance,
);

#[tokio::test]
async fn two_nodes_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let a = MetadataStore::open(&url).await.unwrap();
    let b = MetadataStore::open(&url).await.unwrap();
    metadata::two_nodes_conformance(&a, &b).await;
}

#[tokio::test]
async fn opens_with_durable_pragmas() {
    let (_d, s) = store().await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!((mode.as_str(), sync, fk), ("wal", 2, 1));
}

/// `open_unsynced` then `make_durable`: every connection the pool had (three here, held at
/// once so the pool opens them) and every one it opens later syncs its commits.
#[tokio::test]
async fn make_durable_reaches_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let s = MetadataStore::open_unsynced(&url).await.unwrap();
    let mut before = Vec::new();
    for _ in 0..3 {
        before.push(s.pool.acquire().await.unwrap());
    }
    for c in &mut before {
        assert_eq!(synchronous(c).await, 1, "NORMAL while unsynced");
    }
    drop(before);
    s.make_durable().await.unwrap();
    let mut after = Vec::new();
    for _ in 0..5 {
        after.push(s.pool.acquire().await.unwrap());
    }
    assert_eq!(s.pool.size(), 5);
    for c in &mut after {
        assert_eq!(synchronous(c).await, 2, "FULL after make_durable");
    }
}

async fn synchronous(c: &mut sqlx::pool::PoolConnection<sqlx::Sqlite>) -> i64 {
    sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut **c)
        .await
        .unwrap()
}

use crate::testing::metadata::hosted;

fn rule(name: &str, description: String) -> RuleRow {
    RuleRow {
        name: name.into(),
        description,
        mode: "allow".into(),
        matchers: vec!["^/v2/.*".into()],
        managed_by: "ui".into(),
    }
}

/// One of each kind of write the store makes (single statements and transactions, deferred
/// and immediate), `i` keeping the names apart and `pad` bytes of payload making the database
/// grow. Each write is independent of the others, so every error is the write's own.
async fn write_everything(s: &MetadataStore, repo_id: &str, i: usize, pad: usize) -> Vec<Error> {
    let pad = "x".repeat(pad);
    let data = format!("blob {i}");
    let asset = NewAsset {
        blob: BlobInfo {
            digest: digest_of(Algorithm::Sha256, data.as_bytes()),
            size: data.len() as u64,
        },
        content_type: None,
        attrs: json!({ "pad": pad }),
    };
    let path = AssetPath::parse(&format!("/v2/img/manifests/{i}")).unwrap();
    let mut steady = hosted("steady");
    steady.routing_rule = i.is_multiple_of(2).then(|| "steady".to_owned());
    let role = RoleDef {
        name: format!("role-{i}"),
        description: pad.clone(),
        privileges: vec![],
        roles: vec![],
    };
    let sec = s.security();
    let results = vec![
        s.assets().put(repo_id, &path, &asset, true).await.map(drop),
        s.repos().create(&hosted(&format!("r{i}")), "ui").await,
        s.repos().update(&steady, "ui").await,
        sec.create_user(&format!("user-{i}"), None, "ui")
            .await
            .map(drop),
        sec.upsert_role(&role, "ui").await.map(drop),
        sec.set_user_roles("steady", &[format!("role-{}", i % 3)])
            .await
            .or_else(|e| {
                // Refused because that role was not written while full: not this test's matter.
                if e.kind == ErrorKind::Invalid {
                    Ok(())
                } else {
                    Err(e)
                }
            }),
        s.rules()
            .create(&rule(&format!("rule-{i}"), pad.clone()))
            .await,
        s.rules().update(&rule("steady", pad.clone())).await,
        s.uploads()
            .create(&format!("upload-{i}"), repo_id, "img")
            .await,
        s.sessions()
            .create(&format!("session-{i}"), "steady", &pad, i64::MAX)
            .await,
        {
            s.note_download(repo_id, "/v2/img/manifests/steady");
            s.flush_downloads().await.map(drop)
        },
        s.bump_generation().await.map(drop),
        s.probe_write().await,
    ];
    results.into_iter().filter_map(|r| r.err()).collect()
}

/// Issue 14: with the data directory on a full filesystem, writes fail with a clear error; once
/// space is freed, every write succeeds again on the same store, without reopening. Before the
/// fix most of them failed for good with "attempted to call begin_with at non-zero transaction
/// depth": a failed transaction left its pooled connection mid-transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_recover_after_the_disk_was_full() {
    let fs = SmallFs::mount(16 << 20).expect("the disk-full test needs a small real filesystem");
    let url = format!("sqlite://{}", fs.path().join("trove.db").display());
    let s = MetadataStore::open(&url).await.unwrap();
    s.repos().create(&hosted("steady"), "ui").await.unwrap();
    s.rules()
        .create(&rule("steady", String::new()))
        .await
        .unwrap();
    s.security()
        .create_user("steady", None, "ui")
        .await
        .unwrap();
    let repo_id = s.repos().list().await.unwrap()[0].id.clone();
    let path = AssetPath::parse("/v2/img/manifests/steady").unwrap();
    let steady = NewAsset {
        blob: BlobInfo {
            digest: digest_of(Algorithm::Sha256, b"steady"),
            size: 6,
        },
        content_type: None,
        attrs: json!({}),
    };
    s.assets()
        .put(&repo_id, &path, &steady, true)
        .await
        .unwrap();

    let filled = fs.fill().unwrap();
    assert!(filled > 0, "the filler took the free space");
    // Eight writers at a time, so that every pooled connection sees failed transactions.
    let mut failed = Vec::new();
    for round in 0..3 {
        let batch = (0..8).map(|t| write_everything(&s, &repo_id, round * 8 + t, 128 << 10));
        failed.extend(join_all(batch).await.into_iter().flatten());
    }
    assert!(
        !failed.is_empty(),
        "writes must fail while the disk is full"
    );
    for e in &failed {
        assert_eq!(e.kind, ErrorKind::Unavailable, "{e:?}");
        assert!(
            e.msg.contains("the disk holding it is full"),
            "a clear error: {}",
            e.msg
        );
    }

    fs.free().unwrap();
    for round in 3..6 {
        let batch = (0..8).map(|t| write_everything(&s, &repo_id, round * 8 + t, 1024));
        let failed: Vec<Error> = join_all(batch).await.into_iter().flatten().collect();
        assert!(failed.is_empty(), "after freeing space: {failed:#?}");
    }
    // What was written after the disk was freed is there, and every connection can write.
    let got = s
        .assets()
        .get(&repo_id, "/v2/img/manifests/40")
        .await
        .unwrap();
    assert_eq!(got.unwrap().attrs["pad"].as_str().unwrap().len(), 1024);
    assert!(s.security().role("role-47").await.unwrap().is_some());
    let probes = join_all((0..16).map(|_| s.probe_write())).await;
    assert!(probes.iter().all(Result::is_ok), "{probes:?}");
    s.close().await;
}

/// Issue 14: the database (password and session hashes) and its `-wal` and `-shm` are the
/// user's alone, on a fresh start whatever the umask, and a database an earlier version left
/// readable is tightened when opened.
#[tokio::test]
async fn database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| {
        format!(
            "{:o}",
            std::fs::metadata(p).unwrap().permissions().mode() & 0o777
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("trove.db");
    let url = format!("sqlite://{}", db.display());
    let s = MetadataStore::open(&url).await.unwrap();
    s.repos().create(&hosted("private"), "ui").await.unwrap();
    let files = ["trove.db", "trove.db-wal", "trove.db-shm"].map(|f| dir.path().join(f));
    for f in &files {
        assert_eq!(mode(f), "600", "{}", f.display());
    }
    s.close().await;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = MetadataStore::open(&url).await.unwrap();
    s.probe_write().await.unwrap();
    for f in &files {
        assert_eq!(mode(f), "600", "tightened: {}", f.display());
    }
}

/// A transaction dropped before its commit (an early `?`, a cancelled request) is rolled back
/// and its connection goes back to the pool usable: the write lock is free, nothing it wrote
/// stays.
#[tokio::test]
async fn a_dropped_transaction_is_rolled_back() {
    let (_d, s) = store().await;
    let mut tx = super::Tx::begin_write(&s.pool).await.unwrap();
    sqlx::query("UPDATE generation SET value = 99 WHERE id = 1")
        .execute(&mut *tx)
        .await
        .unwrap();
    drop(tx);
    // Every connection can take the write lock (one of them is the dropped one's).
    let probes = join_all((0..8).map(|_| s.probe_write())).await;
    assert!(probes.iter().all(Result::is_ok), "{probes:?}");
    assert_eq!(s.generation().await.unwrap(), 0, "rolled back");
    assert_eq!(s.bump_generation().await.unwrap(), 1);
}

/// When SQLite has ended a transaction itself (as a full disk does), the commit fails, the
/// rollback finds nothing to roll back, and the connection is closed rather than reused.
#[tokio::test]
async fn a_connection_whose_transaction_sqlite_ended_is_not_reused() {
    let (_d, s) = store().await;
    let mut tx = super::Tx::begin_write(&s.pool).await.unwrap();
    let open = s.pool.size();
    sqlx::query("ROLLBACK").execute(&mut *tx).await.unwrap();
    let e = tx.commit().await.unwrap_err();
    assert!(e.msg.contains("no transaction is active"), "{}", e.msg);
    let closed = async {
        while s.pool.size() >= open {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), closed)
        .await
        .expect("the connection is closed");
    let probes = join_all((0..8).map(|_| s.probe_write())).await;
    assert!(probes.iter().all(Result::is_ok), "{probes:?}");
}
