use serde_json::json;
use sqlx::Sqlite;
use trove_core::{
    Algorithm, AssetMeta, AssetPath, BlobInfo, ConnectorSpec, ErrorKind, KindConfig, NewAsset,
    Page, RepoName, WritePolicy,
};

use super::*;
use crate::assets::prefix_end;
use crate::{DeclaredRepo, PutOutcome, ReconcileReport};

async fn store() -> (tempfile::TempDir, MetadataStore) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    (dir, MetadataStore::open(&url).await.unwrap())
}

fn hosted(name: &str) -> DeclaredRepo {
    DeclaredRepo {
        name: RepoName::parse(name).unwrap(),
        format: "docker".into(),
        kind: KindConfig::Hosted {
            write_policy: WritePolicy::Allow,
        },
        force_basic_auth: false,
        routing_rule: None,
        connector: None,
    }
}

fn asset(data: &[u8]) -> NewAsset {
    NewAsset {
        blob: BlobInfo {
            digest: crate::digest_of(Algorithm::Sha256, data),
            size: data.len() as u64,
        },
        content_type: Some("application/octet-stream".into()),
        attrs: json!({"k": 1}),
    }
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

async fn synchronous(c: &mut sqlx::pool::PoolConnection<Sqlite>) -> i64 {
    sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut **c)
        .await
        .unwrap()
}

#[tokio::test]
async fn reconcile_is_idempotent_and_disables_removed() {
    let (_d, s) = store().await;
    let r = s
        .repos()
        .reconcile(&[hosted("a"), hosted("b")])
        .await
        .unwrap();
    assert_eq!(r.created, ["a", "b"]);
    let ids: Vec<String> = s
        .repos()
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        s.repos()
            .reconcile(&[hosted("a"), hosted("b")])
            .await
            .unwrap(),
        ReconcileReport::default()
    );
    let r = s.repos().reconcile(&[hosted("a")]).await.unwrap();
    assert_eq!(r.disabled, ["b"]);
    let repos = s.repos().list().await.unwrap();
    assert_eq!(
        repos
            .iter()
            .map(|r| (r.name.as_str(), r.online))
            .collect::<Vec<_>>(),
        [("a", true), ("b", false)]
    );
    assert_eq!(
        repos.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        ids,
        "ids are stable"
    );
    let r = s
        .repos()
        .reconcile(&[hosted("a"), hosted("b")])
        .await
        .unwrap();
    assert_eq!(r.updated, ["b"], "re-declaring re-enables");
    let mut once = hosted("a");
    once.kind = KindConfig::Hosted {
        write_policy: WritePolicy::AllowOnce,
    };
    assert_eq!(
        s.repos()
            .reconcile(&[once, hosted("b")])
            .await
            .unwrap()
            .updated,
        ["a"]
    );
    let mut other = hosted("a");
    other.format = "raw".into();
    assert_eq!(
        s.repos().reconcile(&[other]).await.unwrap_err().kind,
        ErrorKind::Invalid
    );
}

#[tokio::test]
async fn assets_put_get_list_delete() {
    let (_d, s) = store().await;
    s.repos().reconcile(&[hosted("a")]).await.unwrap();
    let repo = s.repos().list().await.unwrap().remove(0).id;
    let p = |x: &str| AssetPath::parse(x).unwrap();
    let (meta, o) = s
        .assets()
        .put(&repo, &p("/v2/x/manifests/1"), &asset(b"one"), true)
        .await
        .unwrap();
    assert_eq!(o, PutOutcome::Created);
    assert_eq!(
        s.assets().get(&repo, "/v2/x/manifests/1").await.unwrap(),
        Some(meta.clone())
    );
    let (_, o) = s
        .assets()
        .put(&repo, &p("/v2/x/manifests/1"), &asset(b"one"), false)
        .await
        .unwrap();
    assert_eq!(o, PutOutcome::Unchanged);
    let err = s
        .assets()
        .put(&repo, &p("/v2/x/manifests/1"), &asset(b"two"), false)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::AlreadyExists);
    let (m2, o) = s
        .assets()
        .put(&repo, &p("/v2/x/manifests/1"), &asset(b"two"), true)
        .await
        .unwrap();
    assert_eq!(o, PutOutcome::Replaced);
    assert_eq!(m2.created, meta.created, "created survives a replace");

    for t in ["2", "3", "4"] {
        s.assets()
            .put(
                &repo,
                &p(&format!("/v2/x/manifests/{t}")),
                &asset(t.as_bytes()),
                true,
            )
            .await
            .unwrap();
    }
    s.assets()
        .put(&repo, &p("/v2/xy/manifests/9"), &asset(b"9"), true)
        .await
        .unwrap();
    let names = |v: Vec<AssetMeta>| {
        v.into_iter()
            .map(|m| m.path.to_string())
            .collect::<Vec<_>>()
    };
    let all = s
        .assets()
        .list(&repo, "/v2/x/manifests/", &Page::default())
        .await
        .unwrap();
    assert_eq!(
        names(all),
        [
            "/v2/x/manifests/1",
            "/v2/x/manifests/2",
            "/v2/x/manifests/3",
            "/v2/x/manifests/4"
        ]
    );
    let page = Page {
        after: Some("/v2/x/manifests/2".into()),
        limit: Some(1),
    };
    assert_eq!(
        names(
            s.assets()
                .list(&repo, "/v2/x/manifests/", &page)
                .await
                .unwrap()
        ),
        ["/v2/x/manifests/3"]
    );

    // The paths-only listing agrees with the full one, and stays inside the prefix.
    let paths = s
        .assets()
        .list_paths(&repo, "/v2/x/manifests/")
        .await
        .unwrap();
    let full = s
        .assets()
        .list(&repo, "/v2/x/manifests/", &Page::default())
        .await
        .unwrap();
    assert_eq!(paths, names(full));
    assert!(!paths.iter().any(|p| p.starts_with("/v2/xy/")));
    assert!(s.assets().delete(&repo, "/v2/x/manifests/1").await.unwrap());
    assert!(!s.assets().delete(&repo, "/v2/x/manifests/1").await.unwrap());
    assert_eq!(
        s.assets().get(&repo, "/v2/x/manifests/1").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn uploads_and_users() {
    let (_d, s) = store().await;
    s.repos().reconcile(&[hosted("a")]).await.unwrap();
    let repo = s.repos().list().await.unwrap().remove(0).id;
    s.uploads().create("u1", &repo, "img").await.unwrap();
    let row = s.uploads().get("u1").await.unwrap().unwrap();
    assert_eq!(
        (row.repo_id.as_str(), row.scope.as_str()),
        (repo.as_str(), "img")
    );
    s.uploads().touch("u1").await.unwrap();
    assert!(s.uploads().delete("u1").await.unwrap());
    assert_eq!(s.uploads().get("u1").await.unwrap(), None);

    let sec = s.security();
    assert_eq!(sec.count_users(true).await.unwrap(), 0);
    sec.create_user("admin", Some("$argon2id$x"), "bootstrap")
        .await
        .unwrap();
    let err = sec
        .create_user("admin", Some("$argon2id$y"), "bootstrap")
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::AlreadyExists);
    sec.set_password("admin", "$argon2id$z", true)
        .await
        .unwrap();
    let u = sec.user("admin").await.unwrap().unwrap();
    assert!(u.must_change_password);
    assert!(
        !format!("{u:?}").contains("argon2"),
        "Debug must not print the hash"
    );
}

#[test]
fn prefix_end_bounds() {
    assert_eq!(prefix_end("/v2/x/"), "/v2/x0");
    assert_eq!(prefix_end("a"), "b");
}

// ---- rows written by the console / REST API (issue 7) -----------------------------------

fn rule(name: &str, mode: &str, managed_by: &str) -> crate::RuleRow {
    crate::RuleRow {
        name: name.into(),
        description: String::new(),
        mode: mode.into(),
        matchers: vec!["^/v2/library/.*".into()],
        managed_by: managed_by.into(),
    }
}

#[tokio::test]
async fn console_repositories_are_editable_config_ones_are_not() {
    let (_d, s) = store().await;
    s.repos().reconcile(&[hosted("declared")]).await.unwrap();
    let mut ui = hosted("mine");
    ui.connector = Some(ConnectorSpec {
        http: Some(5000),
        ..Default::default()
    });
    s.repos().create(&ui, "ui").await.unwrap();
    let dup = s.repos().create(&ui, "ui").await.unwrap_err();
    assert_eq!(dup.kind, ErrorKind::AlreadyExists);
    let rec = s.repos().records().await.unwrap();
    let mine = rec
        .iter()
        .find(|r| r.config.name.as_str() == "mine")
        .unwrap();
    assert_eq!(mine.managed_by, "ui");
    assert_eq!(mine.connector.as_ref().unwrap().http, Some(5000));

    ui.connector = None;
    ui.force_basic_auth = true;
    s.repos().update(&ui, "ui").await.unwrap();
    let rec = s.repos().records().await.unwrap();
    let mine = rec
        .iter()
        .find(|r| r.config.name.as_str() == "mine")
        .unwrap();
    assert!(mine.connector.is_none() && mine.config.force_basic_auth);

    let e = s
        .repos()
        .update(&hosted("declared"), "ui")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Forbidden);
    assert!(e.msg.contains("defined in trove.toml"), "{}", e.msg);
    let e = s.repos().delete("declared", "ui").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Forbidden);
    // A console repository survives a reconcile that does not mention it.
    s.repos().reconcile(&[hosted("declared")]).await.unwrap();
    assert!(
        s.repos()
            .records()
            .await
            .unwrap()
            .iter()
            .any(|r| r.config.name.as_str() == "mine" && r.config.online)
    );
    s.repos().delete("mine", "ui").await.unwrap();
    assert_eq!(
        s.repos().delete("mine", "ui").await.unwrap_err().kind,
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn config_rules_reconcile_and_hand_over_when_still_used() {
    let (_d, s) = store().await;
    let rules = s.rules();
    assert!(
        rules
            .reconcile(
                &[rule("a", "allow", "config"), rule("b", "block", "config")],
                true
            )
            .await
            .unwrap()
    );
    assert!(
        !rules
            .reconcile(
                &[rule("a", "allow", "config"), rule("b", "block", "config")],
                true
            )
            .await
            .unwrap()
    );
    rules.create(&rule("c", "allow", "ui")).await.unwrap();
    assert_eq!(
        rules
            .create(&rule("c", "allow", "ui"))
            .await
            .unwrap_err()
            .kind,
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        rules
            .update(&rule("a", "block", "ui"))
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Forbidden
    );
    // b is attached to a repository; then both leave the file.
    let mut repo = hosted("guarded");
    repo.routing_rule = Some("b".into());
    s.repos().create(&repo, "ui").await.unwrap();
    assert_eq!(rules.delete("c", "ui").await.map(|()| 1).unwrap(), 1);
    rules.reconcile(&[], false).await.unwrap();
    assert_eq!(
        rules.list().await.unwrap().len(),
        2,
        "nothing removed before repositories are reconciled"
    );
    rules.reconcile(&[], true).await.unwrap();
    let left = rules.list().await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        (left[0].name.as_str(), left[0].managed_by.as_str()),
        ("b", "ui")
    );
    let e = rules.delete("b", "ui").await.unwrap_err();
    assert!(e.msg.contains("guarded"), "{}", e.msg);
}

#[tokio::test]
async fn sessions_expire_and_end_with_their_user() {
    let (_d, s) = store().await;
    s.security().create_user("alice", None, "ui").await.unwrap();
    let later = trove_core::now_millis() + 60_000;
    s.sessions()
        .create("h1", "alice", "csrf1", later)
        .await
        .unwrap();
    s.sessions()
        .create("h2", "alice", "csrf2", trove_core::now_millis() - 1)
        .await
        .unwrap();
    let got = s.sessions().get("h1").await.unwrap().unwrap();
    assert_eq!(
        (got.user.as_str(), got.csrf.as_str(), got.status.as_str()),
        ("alice", "csrf1", "active")
    );
    assert!(s.sessions().get("h2").await.unwrap().is_none(), "expired");
    assert_eq!(s.sessions().expire().await.unwrap(), 1);
    s.sessions().delete_user("alice").await.unwrap();
    assert!(s.sessions().get("h1").await.unwrap().is_none());
}

#[tokio::test]
async fn usage_counts_distinct_blobs_per_repository() {
    let (_d, s) = store().await;
    s.repos()
        .reconcile(&[hosted("a"), hosted("empty")])
        .await
        .unwrap();
    let id = s.repos().list().await.unwrap()[0].id.clone();
    let data = asset(b"manifest bytes");
    for path in ["/v2/x/manifests/1", "/v2/x/manifests/sha256:aa"] {
        s.assets()
            .put(&id, &AssetPath::parse(path).unwrap(), &data, true)
            .await
            .unwrap();
    }
    let u = s.assets().usage().await.unwrap();
    assert_eq!(u.len(), 2);
    assert_eq!(
        (u[0].repo.as_str(), u[0].assets, u[0].blobs, u[0].bytes),
        ("a", 2, 1, 14)
    );
    assert_eq!(
        (u[1].repo.as_str(), u[1].assets, u[1].bytes),
        ("empty", 0, 0)
    );
    assert_eq!(s.assets().blob_totals().await.unwrap(), (1, 14));
    s.probe_write().await.unwrap();
}
