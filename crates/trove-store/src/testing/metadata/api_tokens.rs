//! `api_tokens()`: rows by selector and by owner and name, unique names per user, the owner's
//! current status, last use noted in memory and written in batches, revocation, the cascade
//! from a deleted user.

use crate::{MetadataStore, NewApiToken, UserStatus};

fn token(id: &str, user: &str, name: &str) -> NewApiToken {
    NewApiToken {
        id: id.into(),
        user: user.into(),
        name: name.into(),
        token_hash: format!("hash-of-{id}"),
        repositories: None,
        actions: None,
        created_by: user.into(),
        expires: None,
    }
}

pub async fn api_tokens_conformance(s: &MetadataStore) {
    let sec = s.security();
    sec.create_user("tokens-alice", None, "ui").await.unwrap();
    sec.create_user("tokens-bob", None, "ui").await.unwrap();
    let t = s.api_tokens();

    let mut narrowed = token("tokAAAAAAAA1", "tokens-alice", "ci");
    narrowed.repositories = Some(vec!["repo-a".into(), "repo-b".into()]);
    narrowed.actions = Some("browse,read".into());
    narrowed.expires = Some(4_000_000_000_000);
    narrowed.created_by = "admin".into();
    let created = t.create(&narrowed).await.unwrap();
    assert_eq!(created.id, "tokAAAAAAAA1");
    assert_eq!(created.user, "tokens-alice");
    assert_eq!(created.user_status, "active");
    assert_eq!(created.token_hash, "hash-of-tokAAAAAAAA1");
    assert_eq!(
        created.repositories.as_deref(),
        Some(&["repo-a".to_owned(), "repo-b".to_owned()][..])
    );
    assert_eq!(created.actions.as_deref(), Some("browse,read"));
    assert_eq!(created.expires, Some(4_000_000_000_000));
    assert_eq!(created.created_by, "admin");
    assert_eq!(created.last_used, None);
    assert!(created.created > 0);
    assert!(
        !format!("{created:?}").contains("hash-of"),
        "Debug hides the hash"
    );

    let e = t
        .create(&token("tokAAAAAAAA2", "tokens-alice", "ci"))
        .await
        .unwrap_err();
    assert_eq!(
        e.kind,
        trove_core::ErrorKind::AlreadyExists,
        "one name per user"
    );
    let e = t
        .create(&token("tokAAAAAAAA3", "tokens-nobody", "ci"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, trove_core::ErrorKind::NotFound);
    t.create(&token("tokBBBBBBBB1", "tokens-bob", "ci"))
        .await
        .unwrap();
    t.create(&token("tokAAAAAAAA4", "tokens-alice", "another"))
        .await
        .unwrap();

    let all = t.list(Some("tokens-alice")).await.unwrap();
    let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["another", "ci"], "by name");
    assert_eq!(created.repositories, all[1].repositories);
    let every = t.list(None).await.unwrap();
    assert!(every.iter().any(|r| r.user == "tokens-bob"));
    assert!(t.list(Some("tokens-nobody")).await.unwrap().is_empty());
    assert_eq!(
        t.named("tokens-bob", "ci").await.unwrap().unwrap().id,
        "tokBBBBBBBB1"
    );
    assert!(t.named("tokens-bob", "another").await.unwrap().is_none());
    assert!(t.get("tokZZZZZZZZ9").await.unwrap().is_none());

    // The owner's status, as it is now.
    sec.set_user_status("tokens-alice", UserStatus::Disabled)
        .await
        .unwrap();
    assert_eq!(
        t.get("tokAAAAAAAA1").await.unwrap().unwrap().user_status,
        "disabled"
    );

    // Last use: noted in memory (listed at once), written by a flush, never moved back.
    t.note_use("tokAAAAAAAA1");
    let listed = t.named("tokens-alice", "ci").await.unwrap().unwrap();
    let noted = listed
        .last_used
        .expect("a noted use is listed before the flush");
    assert_eq!(
        t.get("tokAAAAAAAA1").await.unwrap().unwrap().last_used,
        None
    );
    assert_eq!(t.flush_uses().await.unwrap(), 1);
    assert_eq!(t.flush_uses().await.unwrap(), 0, "nothing left to write");
    assert_eq!(
        t.get("tokAAAAAAAA1").await.unwrap().unwrap().last_used,
        Some(noted)
    );

    // Revocation: the row goes, its other rows stay.
    let gone = t.delete("tokens-alice", "ci").await.unwrap().unwrap();
    assert_eq!(gone.id, "tokAAAAAAAA1");
    assert!(t.get("tokAAAAAAAA1").await.unwrap().is_none());
    assert!(t.delete("tokens-alice", "ci").await.unwrap().is_none());
    assert!(t.get("tokAAAAAAAA4").await.unwrap().is_some());
    // A revoked token's pending use is not written back.
    t.create(&token("tokAAAAAAAA5", "tokens-alice", "ci"))
        .await
        .unwrap();
    t.note_use("tokAAAAAAAA5");
    t.delete("tokens-alice", "ci").await.unwrap();
    assert_eq!(t.flush_uses().await.unwrap(), 0);

    // A deleted user takes their tokens.
    assert!(sec.delete_user("tokens-bob").await.unwrap());
    assert!(t.get("tokBBBBBBBB1").await.unwrap().is_none());
}
