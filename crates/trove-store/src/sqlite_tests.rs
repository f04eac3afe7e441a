//! What only the SQLite backend shows: recovery from a full disk on a real small filesystem.
//! The backend-neutral contract is `testing::metadata_store_conformance`.

use futures_util::future::join_all;
use serde_json::json;
use trove_core::{
    Algorithm, AssetPath, BlobInfo, Error, ErrorKind, KindConfig, NewAsset, RepoName, WritePolicy,
};

use crate::testing::SmallFs;
use crate::{DeclaredRepo, MetadataStore, RoleDef, RuleRow, digest_of};

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
