//! The storage lifecycle's contract: usage counters, what a write checks in its transaction
//! (`Assets::link`), garbage collection's rounds and dry run (`gc()`), collected blobs,
//! cascading deletes, leases, task runs and cleanup policies.

use std::collections::BTreeSet;

use serde_json::json;
use trove_core::{
    Algorithm, AssetPath, AssetRef, AssetRole, BlobStore, ErrorKind, NewAsset, now_millis,
};

use super::{hosted, repo_id};
use crate::testing::body;
use crate::{Link, MemBlobStore, MetadataStore, PolicyRow, Quota, Retention, RunEnd, digest_of};

fn p(s: &str) -> AssetPath {
    AssetPath::parse(s).unwrap()
}

/// Commits `data` to `blobs` and returns the asset that links it.
async fn stored(blobs: &dyn BlobStore, data: &[u8]) -> NewAsset {
    let id = blobs.begin_upload().await.unwrap();
    blobs.append(&id, 0, body(&[data])).await.unwrap();
    let digest = digest_of(Algorithm::Sha256, data);
    let blob = blobs.commit(&id, &digest).await.unwrap();
    NewAsset {
        blob,
        content_type: None,
        attrs: json!({}),
    }
}

fn linked<'a>(role: AssetRole, refs: &'a [AssetRef], blobs: &'a dyn BlobStore) -> Link<'a> {
    Link {
        overwrite: true,
        role,
        refs,
        require_targets: true,
        blobs: Some(blobs),
        quota: Quota::default(),
    }
}

/// The repository's usage, recomputed from its rows: what the counters must always equal.
async fn recomputed(s: &MetadataStore, repo: &str) -> (u64, u64) {
    let rows = s
        .assets()
        .list(repo, "/", &Default::default())
        .await
        .unwrap();
    let distinct: BTreeSet<(String, u64)> = rows
        .iter()
        .map(|m| (m.blob.digest.to_string(), m.blob.size))
        .collect();
    (distinct.iter().map(|(_, s)| s).sum(), distinct.len() as u64)
}

/// Usage counters (a repository's distinct blobs, the blob store's totals) follow inserts,
/// replacements, deletes and a repository's deletion, and equal a recount.
pub async fn usage_conformance(s: &MetadataStore) {
    let repo = repo_id(s, "usage-a").await;
    let a = s.assets();
    let one = super::asset(b"one-----");
    let two = super::asset(b"usage-2");
    let (store_blobs, store_bytes) = a.blob_totals().await.unwrap();
    a.put(&repo, &p("/v2/x/manifests/1"), &one, true)
        .await
        .unwrap();
    a.put(&repo, &p("/v2/x/manifests/sha256:a"), &one, true)
        .await
        .unwrap();
    assert_eq!(
        a.repo_usage(&repo).await.unwrap(),
        (8, 1),
        "one blob at two paths counts once"
    );
    a.put(&repo, &p("/v2/x/manifests/1"), &two, true)
        .await
        .unwrap();
    assert_eq!(
        a.repo_usage(&repo).await.unwrap(),
        (15, 2),
        "replaced: both blobs linked"
    );
    assert_eq!(
        a.repo_usage(&repo).await.unwrap(),
        recomputed(s, &repo).await
    );
    a.delete(&repo, "/v2/x/manifests/sha256:a").await.unwrap();
    assert_eq!(a.repo_usage(&repo).await.unwrap(), (7, 1));
    assert_eq!(
        a.repo_usage(&repo).await.unwrap(),
        recomputed(s, &repo).await
    );
    assert_eq!(
        a.blob_totals().await.unwrap(),
        (store_blobs + 2, store_bytes + 15),
        "the store counts blob rows"
    );
    let usage = a.usage().await.unwrap();
    let row = usage.iter().find(|u| u.repo == "usage-a").unwrap();
    assert_eq!((row.bytes, row.blobs, row.assets), (7, 1, 1));
    s.repos().delete("usage-a", "ui").await.unwrap();
    assert_eq!(
        a.repo_usage(&repo).await.unwrap(),
        (0, 0),
        "gone with the repository"
    );
}

/// What `link` checks in the transaction that writes the row, and what it records.
pub async fn link_conformance(s: &MetadataStore) {
    let repo = repo_id(s, "link-a").await;
    let a = s.assets();
    let blobs = MemBlobStore::new();
    let layer = stored(&blobs, b"layer").await;
    let layer_path = p(&format!("/v2/-/blobs/{}", layer.blob.digest));
    a.link(
        &repo,
        &layer_path,
        &layer,
        &linked(AssetRole::Part, &[], &blobs),
    )
    .await
    .unwrap();
    assert_eq!(
        a.role(&repo, layer_path.as_str()).await.unwrap(),
        Some(Some(AssetRole::Part))
    );
    // A blob garbage collection removed before the row's transaction: refused, to be sent
    // again; no row, no blob row.
    let gone = stored(&blobs, b"collected").await;
    blobs.delete(&gone.blob.digest).await.unwrap();
    let gone_path = p(&format!("/v2/-/blobs/{}", gone.blob.digest));
    let e = a
        .link(
            &repo,
            &gone_path,
            &gone,
            &linked(AssetRole::Part, &[], &blobs),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable, "{}", e.msg);
    assert!(e.msg.contains("send it again"), "{}", e.msg);
    assert_eq!(a.get(&repo, gone_path.as_str()).await.unwrap(), None);
    // A document whose needed target is missing: refused, naming it.
    let manifest = stored(&blobs, b"manifest").await;
    let missing =
        p("/v2/-/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000");
    let refs = [
        AssetRef::needs(layer_path.clone()),
        AssetRef::needs(missing.clone()),
    ];
    let m_path = p(&format!("/v2/app/manifests/{}", manifest.blob.digest));
    let e = a
        .link(
            &repo,
            &m_path,
            &manifest,
            &linked(AssetRole::Document, &refs, &blobs),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.msg.contains(missing.as_str()), "{}", e.msg);
    // A proxy caches documents before their parts: no check asked, the row is written.
    let mut cached = linked(AssetRole::Document, &refs, &blobs);
    cached.require_targets = false;
    a.link(&repo, &m_path, &manifest, &cached).await.unwrap();
    let mut want = refs.to_vec();
    want.sort();
    assert_eq!(a.references(&repo, m_path.as_str()).await.unwrap(), want);
    // References are replaced by the next write, and go with the row.
    let only = [AssetRef::needs(layer_path.clone())];
    a.link(
        &repo,
        &m_path,
        &manifest,
        &linked(AssetRole::Document, &only, &blobs),
    )
    .await
    .unwrap();
    assert_eq!(
        a.references(&repo, m_path.as_str()).await.unwrap(),
        only.to_vec()
    );
    a.delete(&repo, m_path.as_str()).await.unwrap();
    assert!(
        a.references(&repo, m_path.as_str())
            .await
            .unwrap()
            .is_empty()
    );

    // Quotas: a new blob past the repository's hard quota is refused naming it and the usage;
    // a blob it links already adds nothing; the store's quota likewise.
    let big = stored(&blobs, &[7u8; 100]).await;
    let mut q = linked(AssetRole::Part, &[], &blobs);
    q.quota = Quota {
        repo: "link-a",
        repo_bytes: Some(50),
        store_bytes: None,
    };
    let big_path = p(&format!("/v2/-/blobs/{}", big.blob.digest));
    let e = a.link(&repo, &big_path, &big, &q).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Forbidden);
    assert!(
        e.msg.contains("link-a") && e.msg.contains("quota_bytes"),
        "{}",
        e.msg
    );
    let again = p("/v2/app/blobs/elsewhere");
    a.link(&repo, &again, &layer, &q)
        .await
        .expect("linked already: within quota");
    let (_, used) = a.blob_totals().await.unwrap();
    q.quota = Quota {
        repo: "link-a",
        repo_bytes: None,
        store_bytes: Some(used as u64 + 99),
    };
    let e = a.link(&repo, &big_path, &big, &q).await.unwrap_err();
    assert!(
        e.msg.contains("blob store") && e.msg.contains("[storage] quota_bytes"),
        "{}",
        e.msg
    );
    q.quota.store_bytes = Some(used as u64 + 100);
    a.link(&repo, &big_path, &big, &q)
        .await
        .expect("exactly at the quota");
}

/// Builds, in repository `name`, an image `app:1` (index → manifest → config + layers, a
/// signature attached to the manifest), an untagged old image, and an unreferenced layer.
/// Returns the repository id and the paths.
async fn graph(s: &MetadataStore, blobs: &dyn BlobStore, name: &str) -> (String, Graph) {
    let repo = repo_id(s, name).await;
    let a = s.assets();
    let mut g = Graph::default();
    let put = async |data: &[u8], path: String, role, refs: Vec<AssetRef>| {
        let asset = stored(blobs, data).await;
        let path = p(&path.replace("{d}", &asset.blob.digest.to_string()));
        a.link(&repo, &path, &asset, &linked(role, &refs, blobs))
            .await
            .unwrap();
        path
    };
    let shared = put(
        b"shared layer",
        "/v2/-/blobs/{d}".into(),
        AssetRole::Part,
        vec![],
    )
    .await;
    let config = put(b"config", "/v2/-/blobs/{d}".into(), AssetRole::Part, vec![]).await;
    let manifest = put(
        b"manifest",
        "/v2/app/manifests/{d}".into(),
        AssetRole::Document,
        vec![
            AssetRef::needs(shared.clone()),
            AssetRef::needs(config.clone()),
        ],
    )
    .await;
    let index = put(
        b"index",
        "/v2/app/manifests/{d}".into(),
        AssetRole::Document,
        vec![AssetRef::needs(manifest.clone())],
    )
    .await;
    put(
        b"index",
        "/v2/app/manifests/1".into(),
        AssetRole::Root,
        vec![AssetRef::needs(index.clone())],
    )
    .await;
    let sig_layer = put(
        b"sig layer",
        "/v2/-/blobs/{d}".into(),
        AssetRole::Part,
        vec![],
    )
    .await;
    let signature = put(
        b"signature",
        "/v2/app/manifests/{d}".into(),
        AssetRole::Document,
        vec![
            AssetRef::needs(sig_layer.clone()),
            AssetRef::attached(manifest.clone()),
        ],
    )
    .await;
    let old_layer = put(
        b"old layer",
        "/v2/-/blobs/{d}".into(),
        AssetRole::Part,
        vec![],
    )
    .await;
    let old = put(
        b"old manifest",
        "/v2/app/manifests/{d}".into(),
        AssetRole::Document,
        vec![
            AssetRef::needs(old_layer.clone()),
            AssetRef::needs(shared.clone()),
        ],
    )
    .await;
    let old_sig = put(
        b"old signature",
        "/v2/app/manifests/{d}".into(),
        AssetRole::Document,
        vec![AssetRef::attached(old.clone())],
    )
    .await;
    let stray = put(
        b"stray layer",
        "/v2/-/blobs/{d}".into(),
        AssetRole::Part,
        vec![],
    )
    .await;
    g.kept = [shared, config, manifest, index, sig_layer, signature]
        .iter()
        .map(|p| p.to_string())
        .collect();
    g.untagged = [old, old_layer, old_sig]
        .iter()
        .map(|p| p.to_string())
        .collect();
    g.stray = stray.to_string();
    (repo, g)
}

#[derive(Default)]
struct Graph {
    kept: BTreeSet<String>,
    untagged: BTreeSet<String>,
    stray: String,
}

/// Rounds of candidates and sweeps until one removes nothing: what the collector runs.
async fn collect_rows(s: &MetadataStore, repo: &str, rules: &Retention) -> BTreeSet<String> {
    let mut removed = BTreeSet::new();
    loop {
        let c = s.gc().candidates(repo, rules, "", 1000).await.unwrap();
        let swept = s.gc().sweep(repo, rules, &c).await.unwrap();
        if swept.is_empty() {
            return removed;
        }
        removed.extend(swept.into_iter().map(|c| c.path));
    }
}

async fn paths(s: &MetadataStore, repo: &str) -> BTreeSet<String> {
    s.assets()
        .list(repo, "/", &Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.path.to_string())
        .collect()
}

/// Garbage collection of rows: the dry run names exactly what the rounds then remove; roots
/// and what they reach stay; the grace window keeps young parts; the untagged rule decides
/// over unreferenced documents, and a referrer goes with its subject.
pub async fn gc_conformance(s: &MetadataStore) {
    let blobs = MemBlobStore::new();
    let (repo, g) = graph(s, &blobs, "gc-a").await;
    let all = paths(s, &repo).await;
    let later = now_millis() + 1;

    // Within the grace window nothing goes.
    let young = Retention {
        parts_linked_before: 0,
        documents_unused_before: Some(0),
    };
    assert!(s.gc().plan(&repo, &young).await.unwrap().is_empty());
    assert!(collect_rows(s, &repo, &young).await.is_empty());

    // Without an untagged rule: only the stray part goes; the untagged image stays whole.
    let no_rule = Retention {
        parts_linked_before: later,
        documents_unused_before: None,
    };
    let planned: BTreeSet<String> = s
        .gc()
        .plan(&repo, &no_rule)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.path)
        .collect();
    assert_eq!(planned, BTreeSet::from([g.stray.clone()]));
    assert_eq!(
        collect_rows(s, &repo, &no_rule).await,
        planned,
        "the dry run is exact"
    );

    // With the rule: the untagged manifest, its referrer and its own layer go, in rounds; the
    // layer it shared with the kept image stays.
    let rule = Retention {
        parts_linked_before: later,
        documents_unused_before: Some(later),
    };
    let planned: BTreeSet<String> = s
        .gc()
        .plan(&repo, &rule)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.path)
        .collect();
    assert_eq!(planned, g.untagged);
    assert_eq!(collect_rows(s, &repo, &rule).await, g.untagged);
    let left = paths(s, &repo).await;
    let mut want: BTreeSet<String> = all.clone();
    want.retain(|p| !g.untagged.contains(p) && *p != g.stray);
    assert_eq!(left, want);
    for k in &g.kept {
        assert!(left.contains(k), "{k} is kept");
    }

    // A candidate made needed again after the candidates were read is not swept.
    let layer = stored(&blobs, b"needed later").await;
    let layer_path = p(&format!("/v2/-/blobs/{}", layer.blob.digest));
    s.assets()
        .link(
            &repo,
            &layer_path,
            &layer,
            &linked(AssetRole::Part, &[], &blobs),
        )
        .await
        .unwrap();
    let rule = Retention {
        parts_linked_before: now_millis() + 1,
        ..rule
    };
    let c = s.gc().candidates(&repo, &rule, "", 1000).await.unwrap();
    assert!(c.iter().any(|c| c.path == layer_path.as_str()));
    let m = stored(&blobs, b"pushed meanwhile").await;
    let m_path = p(&format!("/v2/new/manifests/{}", m.blob.digest));
    s.assets()
        .link(
            &repo,
            &m_path,
            &m,
            &linked(
                AssetRole::Root,
                &[AssetRef::needs(layer_path.clone())],
                &blobs,
            ),
        )
        .await
        .unwrap();
    let swept = s.gc().sweep(&repo, &rule, &c).await.unwrap();
    assert!(
        swept.iter().all(|c| c.path != layer_path.as_str()),
        "the sweep checks again"
    );
    assert!(
        s.assets()
            .get(&repo, layer_path.as_str())
            .await
            .unwrap()
            .is_some()
    );

    assert!(
        s.gc().unindexed(&repo, 10).await.unwrap().is_empty(),
        "every row written here has a role"
    );
}

/// Collection of blobs: linked and young blobs stay, unlinked old ones go with their rows,
/// leftover rows go, and the dry run's view (`unlinked_blobs`, `linked`) agrees.
pub async fn collect_conformance(s: &MetadataStore) {
    let repo = repo_id(s, "collect-a").await;
    let blobs = MemBlobStore::new();
    let kept = stored(&blobs, b"kept").await;
    s.assets()
        .link(
            &repo,
            &p("/v2/-/blobs/kept"),
            &kept,
            &linked(AssetRole::Part, &[], &blobs),
        )
        .await
        .unwrap();
    let unlinked = stored(&blobs, b"unlinked").await;
    s.assets()
        .link(
            &repo,
            &p("/v2/-/blobs/unlinked"),
            &unlinked,
            &linked(AssetRole::Part, &[], &blobs),
        )
        .await
        .unwrap();
    s.assets()
        .delete(&repo, "/v2/-/blobs/unlinked")
        .await
        .unwrap();
    let orphan = stored(&blobs, b"orphan file, no row").await;
    let digests = [
        kept.blob.digest.clone(),
        unlinked.blob.digest.clone(),
        orphan.blob.digest.clone(),
    ];
    let linked_now = s.gc().linked(&digests).await.unwrap();
    assert_eq!(
        linked_now,
        BTreeSet::from([kept.blob.digest.to_string()])
            .into_iter()
            .collect()
    );
    let rows = s.gc().unlinked_blobs("", 1000).await.unwrap();
    assert!(rows.iter().any(|(d, _)| *d == unlinked.blob.digest));
    assert!(rows.iter().all(|(d, _)| *d != kept.blob.digest));

    // Young: nothing goes.
    assert!(
        s.gc()
            .collect(&blobs, &digests, 0)
            .await
            .unwrap()
            .is_empty()
    );
    let gone = s
        .gc()
        .collect(&blobs, &digests, now_millis() + 1)
        .await
        .unwrap();
    let gone: BTreeSet<String> = gone.iter().map(|c| c.digest.to_string()).collect();
    assert_eq!(
        gone,
        BTreeSet::from([
            unlinked.blob.digest.to_string(),
            orphan.blob.digest.to_string()
        ])
    );
    assert!(blobs.stat(&kept.blob.digest).await.unwrap().is_some());
    assert!(blobs.stat(&unlinked.blob.digest).await.unwrap().is_none());
    assert!(
        s.gc()
            .unlinked_blobs("", 1000)
            .await
            .unwrap()
            .iter()
            .all(|(d, _)| *d != unlinked.blob.digest)
    );
    // A row whose file is already gone (a collection cut short) goes with 0 bytes.
    let half = stored(&blobs, b"half collected").await;
    s.assets()
        .link(
            &repo,
            &p("/v2/-/blobs/half"),
            &half,
            &linked(AssetRole::Part, &[], &blobs),
        )
        .await
        .unwrap();
    s.assets().delete(&repo, "/v2/-/blobs/half").await.unwrap();
    blobs.delete(&half.blob.digest).await.unwrap();
    let c = s
        .gc()
        .collect(
            &blobs,
            std::slice::from_ref(&half.blob.digest),
            now_millis() + 1,
        )
        .await
        .unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].bytes, 0);
    assert!(
        s.gc()
            .unlinked_blobs("", 1000)
            .await
            .unwrap()
            .iter()
            .all(|(d, _)| *d != half.blob.digest),
        "its row went"
    );
}

/// `delete_cascade`: a version with the documents only it kept, their referrers, an index's
/// manifests; shared documents and parts stay.
pub async fn cascade_conformance(s: &MetadataStore) {
    let blobs = MemBlobStore::new();
    let (repo, g) = graph(s, &blobs, "cascade-a").await;
    let other = stored(&blobs, b"index").await;
    // A second tag keeps the index: deleting the first removes only the tag.
    s.assets()
        .link(
            &repo,
            &p("/v2/app/manifests/2"),
            &other,
            &linked(
                AssetRole::Root,
                &[AssetRef::needs(p(&format!(
                    "/v2/app/manifests/{}",
                    other.blob.digest
                )))],
                &blobs,
            ),
        )
        .await
        .unwrap();
    let removed = s
        .assets()
        .delete_cascade(&repo, "/v2/app/manifests/1")
        .await
        .unwrap();
    assert_eq!(
        removed.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
        vec!["/v2/app/manifests/1"]
    );
    let removed = s
        .assets()
        .delete_cascade(&repo, "/v2/app/manifests/2")
        .await
        .unwrap();
    let removed: BTreeSet<String> = removed.into_iter().map(|r| r.path).collect();
    let documents: BTreeSet<String> = g
        .kept
        .iter()
        .filter(|p| p.contains("/manifests/"))
        .cloned()
        .chain(["/v2/app/manifests/2".to_owned()])
        .collect();
    assert_eq!(
        removed, documents,
        "tag, index, manifest, its signature; no part"
    );
    assert!(
        s.assets()
            .delete_cascade(&repo, "/v2/app/manifests/2")
            .await
            .unwrap()
            .is_empty()
    );
}

/// Leases: one holder at a time; renewed by its holder; taken over once expired; released.
pub async fn leases_conformance(s: &MetadataStore) {
    let l = s.leases();
    assert!(l.acquire("gc-test", "node-a", 60_000).await.unwrap());
    assert!(
        !l.acquire("gc-test", "node-b", 60_000).await.unwrap(),
        "held"
    );
    assert!(
        l.acquire("gc-test", "node-a", 60_000).await.unwrap(),
        "renewed"
    );
    assert_eq!(l.get("gc-test").await.unwrap().unwrap().holder, "node-a");
    l.release("gc-test", "node-b").await.unwrap();
    assert!(
        l.get("gc-test").await.unwrap().is_some(),
        "only the holder releases"
    );
    l.release("gc-test", "node-a").await.unwrap();
    assert!(l.get("gc-test").await.unwrap().is_none());
    assert!(
        l.acquire("gc-test", "node-b", -1).await.unwrap(),
        "already expired"
    );
    assert!(
        l.acquire("gc-test", "node-a", 60_000).await.unwrap(),
        "taken over"
    );
    // A holder known dead is taken over before its lease expires, once, and only from it.
    assert!(
        !l.take_over("gc-test", "node-b", "node-c", 60_000)
            .await
            .unwrap(),
        "b holds nothing"
    );
    assert!(
        l.take_over("gc-test", "node-a", "node-c", 60_000)
            .await
            .unwrap()
    );
    assert!(
        !l.take_over("gc-test", "node-a", "node-d", 60_000)
            .await
            .unwrap(),
        "taken already"
    );
    assert_eq!(l.get("gc-test").await.unwrap().unwrap().holder, "node-c");
    // Two nodes racing for it: one wins.
    l.release("gc-test", "node-c").await.unwrap();
    let (x, y) = tokio::join!(
        l.acquire("gc-test", "node-x", 60_000),
        l.acquire("gc-test", "node-y", 60_000)
    );
    assert!(x.unwrap() ^ y.unwrap(), "exactly one");
}

/// Task runs: started, finished, the latest by kind; a run cut short is marked failed by the
/// next start.
pub async fn tasks_conformance(s: &MetadataStore) {
    let t = s.tasks();
    assert!(t.last("gc", None).await.unwrap().is_none());
    let cut = t.start("gc", false, "node-a").await.unwrap();
    let id = t.start("gc", false, "node-b").await.unwrap();
    let cut = t.get(&cut).await.unwrap().unwrap();
    assert_eq!(cut.outcome, "failed");
    assert!(cut.errors[0].contains("interrupted"));
    t.finish(
        &id,
        &RunEnd {
            deleted: 3,
            bytes_freed: 42,
            report: json!({"blobs": 3}),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let dry = t.start("gc", true, "node-b").await.unwrap();
    t.finish(&dry, &RunEnd::default()).await.unwrap();
    let last = t.last("gc", Some(false)).await.unwrap().unwrap();
    assert_eq!(
        (last.outcome.as_str(), last.deleted, last.bytes_freed),
        ("ok", 3, 42)
    );
    assert_eq!(last.report, json!({"blobs": 3}));
    assert!(last.finished.is_some());
    assert_eq!(t.last("gc", Some(true)).await.unwrap().unwrap().id, dry);
    assert_eq!(
        t.last("gc", None).await.unwrap().unwrap().id,
        dry,
        "the latest of either"
    );
    assert_eq!(t.history("gc", 10).await.unwrap().len(), 3);
}

/// Cleanup policies: created, listed, edited, refused while a repository uses them;
/// reconciled from the file like routing rules; a repository's lifecycle settings round trip.
pub async fn cleanup_policies_conformance(s: &MetadataStore) {
    let c = s.cleanup();
    let keep2 = PolicyRow {
        name: "keep-2".into(),
        format: "docker".into(),
        keep_latest: Some(2),
        managed_by: "ui".into(),
        ..Default::default()
    };
    c.create(&keep2).await.unwrap();
    assert_eq!(
        c.create(&keep2).await.unwrap_err().kind,
        ErrorKind::AlreadyExists
    );
    let mut edited = keep2.clone();
    edited.published_before_days = Some(30);
    edited.name_regex = Some("^app:".into());
    c.update(&edited).await.unwrap();
    assert_eq!(c.get("keep-2").await.unwrap().unwrap(), edited);
    let mut repo = hosted("policy-user");
    repo.lifecycle.cleanup_policies = vec!["keep-2".into()];
    repo.lifecycle.quota_bytes = Some(1 << 30);
    repo.lifecycle.immutable_tags = vec![r"^v\d+$".into()];
    s.repos().create(&repo, "ui").await.unwrap();
    let stored = s.repos().list().await.unwrap();
    let stored = stored
        .iter()
        .find(|r| r.name.as_str() == "policy-user")
        .unwrap();
    assert_eq!(
        stored.lifecycle, repo.lifecycle,
        "lifecycle settings round trip"
    );
    assert_eq!(c.used_by("keep-2").await.unwrap(), vec!["policy-user"]);
    let e = c.delete("keep-2", "ui").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.msg.contains("policy-user"), "{}", e.msg);

    let declared = PolicyRow {
        name: "from-file".into(),
        format: "*".into(),
        last_downloaded_before_days: Some(90),
        ..Default::default()
    };
    assert!(
        c.reconcile(std::slice::from_ref(&declared), true)
            .await
            .unwrap()
    );
    assert!(
        !c.reconcile(std::slice::from_ref(&declared), true)
            .await
            .unwrap(),
        "idempotent"
    );
    let got = c.get("from-file").await.unwrap().unwrap();
    assert_eq!(got.managed_by, "config");
    assert_eq!(got.last_downloaded_before_days, Some(90));
    let mut as_ui = got.clone();
    as_ui.managed_by = "ui".into();
    assert_eq!(
        c.update(&as_ui).await.unwrap_err().kind,
        ErrorKind::Forbidden
    );
    assert!(c.reconcile(&[], true).await.unwrap());
    assert!(
        c.get("from-file").await.unwrap().is_none(),
        "removed from the file"
    );
    s.repos().delete("policy-user", "ui").await.unwrap();
    c.delete("keep-2", "ui").await.unwrap();
    assert!(c.list().await.unwrap().is_empty());
}
