//! `assets()`: the path → blob links the kinds read and write, their listings, the content
//! version generated documents are cached by, download times, and usage.

use trove_core::{AssetMeta, AssetPath, ErrorKind, Page};

use super::{asset, repo_id};
use crate::{MetadataStore, PutOutcome};

fn p(path: &str) -> AssetPath {
    AssetPath::parse(path).unwrap()
}

fn names(v: Vec<AssetMeta>) -> Vec<String> {
    v.into_iter().map(|m| m.path.to_string()).collect()
}

/// Put (created, unchanged, refused without overwrite, replaced), get, the three listings,
/// delete, content versions, download times, usage and blob totals.
pub async fn assets_conformance(s: &MetadataStore) {
    let repo = repo_id(s, "assets-a").await;
    let other = repo_id(s, "assets-b").await;
    let assets = s.assets();
    assert_eq!(
        assets.content_version(&repo).await.unwrap(),
        0,
        "no rows yet"
    );
    assert_eq!(assets.get(&repo, "/v2/x/manifests/1").await.unwrap(), None);

    let (meta, o) = assets
        .put(&repo, &p("/v2/x/manifests/1"), &asset(b"one"), true)
        .await
        .unwrap();
    assert_eq!(o, PutOutcome::Created);
    assert_eq!(meta.blob, asset(b"one").blob);
    assert_eq!(meta.attrs, asset(b"one").attrs);
    assert_eq!(meta.last_downloaded, None);
    assert_eq!(
        assets.get(&repo, "/v2/x/manifests/1").await.unwrap(),
        Some(meta.clone()),
        "get returns what put recorded"
    );
    assert_eq!(
        assets.get(&other, "/v2/x/manifests/1").await.unwrap(),
        None,
        "repositories are apart"
    );
    let v1 = assets.content_version(&repo).await.unwrap();
    assert!(v1 > 0, "a new row moves the version");
    assert_eq!(assets.content_version(&other).await.unwrap(), 0);

    let (_, o) = assets
        .put(&repo, &p("/v2/x/manifests/1"), &asset(b"one"), false)
        .await
        .unwrap();
    assert_eq!(
        o,
        PutOutcome::Unchanged,
        "same content, even without overwrite"
    );
    let e = assets
        .put(&repo, &p("/v2/x/manifests/1"), &asset(b"two"), false)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists);
    assert_eq!(
        assets.get(&repo, "/v2/x/manifests/1").await.unwrap(),
        Some(meta.clone()),
        "a refused put changes nothing"
    );
    let v2 = assets.content_version(&repo).await.unwrap();
    let (m2, o) = assets
        .put(&repo, &p("/v2/x/manifests/1"), &asset(b"two"), true)
        .await
        .unwrap();
    assert_eq!(o, PutOutcome::Replaced);
    assert_eq!(m2.created, meta.created, "created survives a replace");
    assert_eq!(m2.blob, asset(b"two").blob);
    assert!(assets.content_version(&repo).await.unwrap() > v2);

    for t in ["2", "3", "4"] {
        let path = format!("/v2/x/manifests/{t}");
        assets
            .put(&repo, &p(&path), &asset(t.as_bytes()), true)
            .await
            .unwrap();
    }
    assets
        .put(&repo, &p("/v2/xy/manifests/9"), &asset(b"9"), true)
        .await
        .unwrap();
    let x = [
        "/v2/x/manifests/1",
        "/v2/x/manifests/2",
        "/v2/x/manifests/3",
        "/v2/x/manifests/4",
    ];

    // Listings: ordered, inside the prefix only (`/v2/xy/` is not under `/v2/x/`), keyset pages.
    let all = assets
        .list(&repo, "/v2/x/manifests/", &Page::default())
        .await
        .unwrap();
    assert_eq!(names(all), x);
    let page = Page {
        after: Some("/v2/x/manifests/2".into()),
        limit: Some(1),
    };
    let one = assets.list(&repo, "/v2/x/manifests/", &page).await.unwrap();
    assert_eq!(names(one), ["/v2/x/manifests/3"]);
    let first = Page {
        after: None,
        limit: Some(2),
    };
    assert_eq!(
        names(assets.list(&repo, "/v2/x/", &first).await.unwrap()),
        &x[..2]
    );
    assert_eq!(
        names(assets.list(&repo, "/v2/", &Page::default()).await.unwrap()).len(),
        5
    );
    let paths = assets.list_paths(&repo, "/v2/x/manifests/").await.unwrap();
    assert_eq!(paths, x, "the paths-only listing agrees with the full one");
    assert_eq!(
        assets
            .list_paths_from(&repo, "/v2/x/manifests/", "/v2/x/manifests/3")
            .await
            .unwrap(),
        &x[2..],
        "from the given path on"
    );
    assert_eq!(
        assets
            .list_paths_from(&repo, "/v2/x/manifests/", "/v2/a")
            .await
            .unwrap(),
        x,
        "a start before the prefix starts at the prefix"
    );
    assert!(
        assets
            .list_paths(&repo, "/v2/none/")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(assets.list_paths(&other, "/v2/").await.unwrap().is_empty());

    // Download times are noted in memory and written in one batch, and moving them
    // invalidates no generated document.
    let version = assets.content_version(&repo).await.unwrap();
    s.note_download(&repo, "/v2/x/manifests/2");
    s.note_download(&repo, "/v2/x/manifests/3");
    s.note_download(&repo, "/v2/x/manifests/3");
    assert_eq!(
        assets
            .get(&repo, "/v2/x/manifests/2")
            .await
            .unwrap()
            .unwrap()
            .last_downloaded,
        None,
        "nothing is written before the flush"
    );
    assert_eq!(s.flush_downloads().await.unwrap(), 2);
    assert_eq!(s.flush_downloads().await.unwrap(), 0, "the batch was taken");
    let got = assets
        .get(&repo, "/v2/x/manifests/3")
        .await
        .unwrap()
        .unwrap();
    let when = got.last_downloaded.expect("the flush wrote it");
    assert!(when >= got.created);
    assert_eq!(assets.content_version(&repo).await.unwrap(), version);
    s.note_download(&repo, "/v2/x/manifests/gone");
    assert!(
        s.flush_downloads().await.is_ok(),
        "a path deleted since is no error"
    );

    assert!(assets.delete(&repo, "/v2/x/manifests/1").await.unwrap());
    assert!(!assets.delete(&repo, "/v2/x/manifests/1").await.unwrap());
    assert_eq!(assets.get(&repo, "/v2/x/manifests/1").await.unwrap(), None);
    assert!(
        assets.content_version(&repo).await.unwrap() > version,
        "a delete moves the version"
    );

    // Usage: a blob stored under two paths (a tag and its digest) counts once.
    let same = asset(b"manifest bytes");
    for path in ["/v2/u/manifests/1", "/v2/u/manifests/sha256:aa"] {
        assets.put(&other, &p(path), &same, true).await.unwrap();
    }
    let usage = assets.usage().await.unwrap();
    let b = usage.iter().find(|u| u.repo == "assets-b").unwrap();
    assert_eq!((b.assets, b.blobs, b.bytes), (2, 1, 14));
    let a = usage.iter().find(|u| u.repo == "assets-a").unwrap();
    assert_eq!((a.assets, a.blobs), (4, 4));
    let (blobs, bytes) = assets.blob_totals().await.unwrap();
    // Blob rows stay (garbage collection removes them): one, two, 2, 3, 4, 9, manifest bytes.
    assert!(blobs >= 7 && bytes >= 24, "{blobs} blobs, {bytes} bytes");
    let mut names_in_order: Vec<&str> = usage.iter().map(|u| u.repo.as_str()).collect();
    let sorted = {
        let mut v = names_in_order.clone();
        v.sort();
        v
    };
    assert_eq!(
        names_in_order, sorted,
        "usage is ordered by repository name"
    );
    names_in_order.retain(|n| n.starts_with("assets-"));
    assert_eq!(names_in_order, ["assets-a", "assets-b"]);

    // Deleting a repository takes its assets with it.
    s.repos().delete("assets-b", "ui").await.unwrap();
    assert_eq!(assets.get(&other, "/v2/u/manifests/1").await.unwrap(), None);
}
