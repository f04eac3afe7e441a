//! Two nodes over one database: a change made through the service layer on one reaches the
//! other through the `generation` counter.

use trove_auth::Principal;
use trove_server::service::{RepoInput, Service};

use crate::support;

#[actix_web::test]
async fn a_console_change_on_one_node_reaches_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let a = support::open(&dir, "").await;
    let b = support::open(&dir, "").await;
    let tester = a.meta.security().user("tester").await.unwrap().unwrap();
    let admin = Principal::User {
        id: tester.id,
        name: tester.name,
    };
    assert!(
        !b.refresh_if_changed().await.unwrap(),
        "nothing changed yet"
    );
    Service::new(a.clone())
        .create_repository(
            &admin,
            &RepoInput {
                name: "made-on-a".into(),
                format: "docker".into(),
                kind: "hosted".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(a.repository("made-on-a").is_some());
    assert!(b.repository("made-on-a").is_none(), "b has not looked yet");
    assert!(b.refresh_if_changed().await.unwrap());
    assert!(b.repository("made-on-a").is_some());
    assert!(!b.refresh_if_changed().await.unwrap(), "seen now");
}
