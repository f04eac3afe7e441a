//! The key file half of signing keys (the contract both halves keep is
//! `testing::metadata::signing_keys_conformance`).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use trove_core::ErrorKind;

use super::SIGNING_KEY_FILE;
use crate::MetadataStore;

const PURPOSE: &str = "docker-token";

async fn open(db: &Path) -> MetadataStore {
    MetadataStore::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap()
}

async fn stored(s: &MetadataStore) -> Vec<u8> {
    sqlx::query_scalar("SELECT secret FROM signing_keys WHERE purpose = $1")
        .bind(PURPOSE)
        .fetch_one(&s.pool)
        .await
        .unwrap()
}

fn mode(p: &Path) -> String {
    format!(
        "{:o}",
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    )
}

/// Issue 14: a local user copied the database, read the key and signed an admin token. Now the
/// database holds no key, and a copy of it without the key file yields none.
#[tokio::test]
async fn a_copy_of_the_database_alone_gives_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("trove.db");
    let s = open(&db).await;
    let key = s.security().signing_key(PURPOSE, &[7; 64]).await.unwrap();
    let row = stored(&s).await;
    assert!(
        !row.windows(16).any(|w| key.windows(16).any(|k| k == w)),
        "no part of the key is in the database"
    );
    assert!(!row.windows(32).any(|w| w == [7; 32]), "nor the candidate");
    s.close().await;

    let thief = tempfile::tempdir().unwrap();
    for f in ["trove.db", "trove.db-wal", "trove.db-shm"] {
        if dir.path().join(f).exists() {
            std::fs::copy(dir.path().join(f), thief.path().join(f)).unwrap();
        }
    }
    let copy = open(&thief.path().join("trove.db")).await;
    let e = copy
        .security()
        .signing_key(PURPOSE, &[7; 64])
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.msg.contains("another key file"), "{}", e.msg);
    assert!(e.msg.contains("signing.key"), "names the file: {}", e.msg);

    // With the key file as well, the same key (what a second node is given).
    std::fs::copy(
        dir.path().join(SIGNING_KEY_FILE),
        thief.path().join(SIGNING_KEY_FILE),
    )
    .unwrap();
    let node = open(&thief.path().join("trove.db")).await;
    assert_eq!(
        node.security()
            .signing_key(PURPOSE, &[8; 64])
            .await
            .unwrap(),
        key
    );
}

#[tokio::test]
async fn the_key_file_is_made_once_private_and_where_it_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir.path().join("trove.db")).await;
    let beside = dir.path().join(SIGNING_KEY_FILE);
    assert_eq!(s.key_file(), Some(beside.as_path()));
    assert!(!beside.exists(), "made when a key is first needed");
    let key = s.security().signing_key(PURPOSE, &[1; 32]).await.unwrap();
    assert_eq!(mode(&beside), "600");
    let text = std::fs::read_to_string(&beside).unwrap();
    assert_eq!(text.trim().len(), 64);
    assert!(text.trim().bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(
        !std::fs::read_dir(dir.path())
            .unwrap()
            .any(|e| { e.unwrap().file_name().to_string_lossy().ends_with(".tmp") })
    );

    // Another handle, told to use another file: refused, naming it.
    let elsewhere = dir.path().join("keys/other.key");
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    let other = open(&dir.path().join("trove.db"))
        .await
        .with_key_file(&elsewhere);
    assert_eq!(other.key_file(), Some(elsewhere.as_path()));
    let e = other
        .security()
        .signing_key(PURPOSE, &[1; 32])
        .await
        .unwrap_err();
    assert!(e.msg.contains("other.key"), "{}", e.msg);
    assert!(elsewhere.exists(), "made there, not beside the database");

    // A looser file is tightened; a damaged one refused with a clear message.
    std::fs::set_permissions(&beside, std::fs::Permissions::from_mode(0o644)).unwrap();
    let again = open(&dir.path().join("trove.db")).await;
    assert_eq!(
        again
            .security()
            .signing_key(PURPOSE, &[2; 32])
            .await
            .unwrap(),
        key
    );
    assert_eq!(mode(&beside), "600");
    std::fs::write(&beside, "not hex\n").unwrap();
    let broken = open(&dir.path().join("trove.db")).await;
    let e = broken
        .security()
        .signing_key(PURPOSE, &[2; 32])
        .await
        .unwrap_err();
    assert!(e.msg.contains("must hold 64 hex digits"), "{}", e.msg);
}

/// A key an earlier version stored in plain text is replaced, once, by whichever node comes
/// first; tokens signed with the old one stop working.
#[tokio::test]
async fn a_plain_key_from_an_earlier_version_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir.path().join("trove.db")).await;
    sqlx::query("INSERT INTO signing_keys (purpose, secret, created) VALUES ($1, $2, 0)")
        .bind(PURPOSE)
        .bind([9u8; 64].as_slice())
        .execute(&s.pool)
        .await
        .unwrap();
    let key = s.security().signing_key(PURPOSE, &[3; 64]).await.unwrap();
    assert_ne!(key, [9; 64], "the plain key is not used");
    assert!(stored(&s).await.starts_with(super::SEALED));
    let node = open(&dir.path().join("trove.db")).await;
    assert_eq!(
        node.security()
            .signing_key(PURPOSE, &[4; 64])
            .await
            .unwrap(),
        key,
        "replaced once"
    );
}

/// Nodes sharing a directory race to make the key file; one wins and all use its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_racing_for_the_key_file_end_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("trove.db");
    let mut nodes = Vec::new();
    for _ in 0..4 {
        nodes.push(open(&db).await);
    }
    let keys = futures_util::future::join_all(
        nodes
            .iter()
            .enumerate()
            .map(|(i, n)| async move { n.security().signing_key(PURPOSE, &[i as u8; 64]).await }),
    )
    .await;
    let first = keys[0].as_ref().unwrap();
    for k in &keys {
        assert_eq!(k.as_ref().unwrap(), first);
    }
}
