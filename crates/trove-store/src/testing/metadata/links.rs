//! `links()` and repository options: what later formats stand on. A proxy records the upstream
//! URLs a fetched document taught, replaced by the next fetch of that document; a repository's
//! format options are kept, compared and changed like its other settings.

use serde_json::json;

use trove_core::{Algorithm, Digest};

use super::hosted;
use crate::{MetadataStore, ReconcileReport, StoredLink};

fn link(path: &str, url: &str) -> StoredLink {
    StoredLink {
        path: path.into(),
        url: url.into(),
        digest: None,
    }
}

pub async fn links_conformance(s: &MetadataStore) {
    s.repos().reconcile(&[hosted("links-a")]).await.unwrap();
    let id = s
        .repos()
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name.as_str() == "links-a")
        .unwrap()
        .id;
    let l = s.links();
    assert_eq!(l.get(&id, "/f/1").await.unwrap(), None);
    let (l, id) = (&l, id.as_str());
    let url = |p: &'static str| async move { l.get(id, p).await.unwrap().map(|l| l.url) };
    let announced = Digest::of(Algorithm::Sha512, b"one");
    let taught = [
        StoredLink {
            digest: Some(announced.clone()),
            ..link("/f/1", "https://cdn.example/1")
        },
        link("/f/2", "https://cdn.example/2"),
    ];
    l.replace(id, "/doc/a", &taught).await.unwrap();
    assert_eq!(
        l.get(id, "/f/1").await.unwrap(),
        Some(taught[0].clone()),
        "kept with the digest the document announced"
    );
    assert_eq!(l.get(id, "/f/2").await.unwrap().unwrap().digest, None);
    // The next fetch of the document replaces what it taught; another document's links stay.
    l.replace(id, "/doc/b", &[link("/f/9", "https://b/9")])
        .await
        .unwrap();
    l.replace(id, "/doc/a", &[link("/f/2", "https://cdn2.example/2")])
        .await
        .unwrap();
    assert_eq!(l.get(id, "/f/1").await.unwrap(), None, "no longer taught");
    assert_eq!(url("/f/2").await.as_deref(), Some("https://cdn2.example/2"));
    assert_eq!(url("/f/9").await.as_deref(), Some("https://b/9"));
    // A path taught by two documents keeps the last one written.
    l.replace(id, "/doc/b", &[link("/f/2", "https://b/2")])
        .await
        .unwrap();
    assert_eq!(url("/f/2").await.as_deref(), Some("https://b/2"));
    assert_eq!(l.get("another-repository", "/f/2").await.unwrap(), None);
}

pub async fn options_conformance(s: &MetadataStore) {
    let mut d = hosted("opts-a");
    d.options = json!({"hub_index": true}).as_object().unwrap().clone();
    s.repos().reconcile(&[d.clone()]).await.unwrap();
    let get = || async {
        s.repos()
            .list()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.name.as_str() == "opts-a")
            .unwrap()
    };
    assert_eq!(get().await.options["hub_index"], json!(true));
    assert_eq!(
        s.repos().reconcile(&[d.clone()]).await.unwrap(),
        ReconcileReport::default(),
        "unchanged options change nothing"
    );
    d.options.clear();
    let r = s.repos().reconcile(&[d.clone()]).await.unwrap();
    assert_eq!(r.updated, ["opts-a"], "a change of options is an update");
    assert!(get().await.options.is_empty());
    // The console's rows keep theirs too.
    let mut ui = hosted("opts-ui");
    ui.options = json!({"k": "v"}).as_object().unwrap().clone();
    s.repos().create(&ui, "ui").await.unwrap();
    ui.options = json!({"k": "w"}).as_object().unwrap().clone();
    s.repos().update(&ui, "ui").await.unwrap();
    let recs = s.repos().records().await.unwrap();
    let rec = recs
        .iter()
        .find(|r| r.config.name.as_str() == "opts-ui")
        .unwrap();
    assert_eq!(rec.config.options["k"], json!("w"));
}
