//! `uploads()`: upload sessions, shared by every node, and their expiry.

use trove_core::now_millis;

use super::repo_id;
use crate::MetadataStore;

/// Create, get, touch (moves `updated` only), idle listing, delete, and the cascade from a
/// deleted repository.
pub async fn uploads_conformance(s: &MetadataStore) {
    let repo = repo_id(s, "uploads-a").await;
    let up = s.uploads();
    let start = now_millis();
    up.create("upload-1", &repo, "img").await.unwrap();
    up.create("upload-2", &repo, "other/img").await.unwrap();
    assert!(
        up.create("upload-1", &repo, "img").await.is_err(),
        "an id is used once"
    );
    let row = up.get("upload-1").await.unwrap().unwrap();
    assert_eq!(
        (row.id.as_str(), row.repo_id.as_str(), row.scope.as_str()),
        ("upload-1", repo.as_str(), "img")
    );
    assert!(row.created >= start && row.updated == row.created);
    assert_eq!(up.get("upload-ghost").await.unwrap(), None);

    // Idle since a time: only sessions whose last activity is before it, oldest first.
    let later = now_millis() + 1;
    assert!(up.idle_since(start - 1).await.unwrap().is_empty());
    let idle = up.idle_since(later).await.unwrap();
    assert!(idle.contains(&"upload-1".to_owned()) && idle.contains(&"upload-2".to_owned()));
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    up.touch("upload-1").await.unwrap();
    let touched = up.get("upload-1").await.unwrap().unwrap();
    assert!(
        touched.updated > row.updated,
        "touch moves the activity time"
    );
    assert_eq!(touched.created, row.created, "and nothing else");
    let idle = up.idle_since(later).await.unwrap();
    assert!(!idle.contains(&"upload-1".to_owned()), "touched since");
    assert!(idle.contains(&"upload-2".to_owned()));
    let ordered = up.idle_since(now_millis() + 1).await.unwrap();
    let pos = |id: &str| ordered.iter().position(|x| x == id).unwrap();
    assert!(pos("upload-2") < pos("upload-1"), "oldest first");

    assert!(up.delete("upload-1").await.unwrap());
    assert!(!up.delete("upload-1").await.unwrap());
    assert_eq!(up.get("upload-1").await.unwrap(), None);
    s.repos().delete("uploads-a", "ui").await.unwrap();
    assert_eq!(
        up.get("upload-2").await.unwrap(),
        None,
        "a deleted repository takes its sessions"
    );
}
