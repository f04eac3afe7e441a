//! Two nodes over one database: a change made through the service layer on one reaches the
//! other through the `generation` counter.

use trove_auth::Principal;
use trove_service::RepoInput;

use crate::support;

#[actix_web::test]
async fn a_console_change_on_one_node_reaches_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let a = support::open(&dir, "").await;
    let b = support::open(&dir, "").await;
    let tester = a.meta.security().user("tester").await.unwrap().unwrap();
    let admin = trove_service::Actor::session(
        Principal::User {
            id: tester.id,
            name: tester.name,
        },
        None,
    );
    assert!(
        !b.refresh_if_changed().await.unwrap(),
        "nothing changed yet"
    );
    a.service()
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

/// Tag lists and catalogs are cached per node against the repository's content version, which
/// lives in the database: a push or a delete on one node is in the other's next listing, and a
/// node's own cached copy is never served after a change.
#[actix_web::test]
async fn listings_cached_on_one_node_follow_pushes_and_deletes_on_the_other() {
    use serde_json::json;
    use support::{OCI_MANIFEST, call, get, image_manifest, put_manifest};

    let dir = tempfile::tempdir().unwrap();
    let a = support::open(&dir, "").await;
    let b = support::open(&dir, "").await;
    let app_a = main_app!(a);
    let app_b = main_app!(b);
    let tags = |app_json: serde_json::Value| app_json["tags"].clone();

    let config = push_blob!(app_a, "img", b"{}");
    let m = image_manifest(OCI_MANIFEST, (&config, 2), &[]);
    let push =
        |tag: &str| put_manifest(&format!("/v2/hosted/img/manifests/{tag}"), OCI_MANIFEST, &m);
    assert_eq!(call(&app_a, push("one")).await.status, 201);

    for _ in 0..2 {
        // The second round is served from each node's cache.
        for app in [&app_a, &app_b] {
            let r = call(app, get("/v2/hosted/img/tags/list")).await;
            assert_eq!(tags(r.json()), json!(["one"]));
        }
        let r = call(&app_b, get("/v2/hosted/_catalog")).await;
        assert_eq!(r.json()["repositories"], json!(["img"]));
    }

    assert_eq!(call(&app_a, push("two")).await.status, 201);
    let r = call(&app_b, get("/v2/hosted/img/tags/list")).await;
    assert_eq!(tags(r.json()), json!(["one", "two"]));
    let r = call(&app_b, get("/v2/hosted/img/tags/list?n=1&last=one")).await;
    assert_eq!(tags(r.json()), json!(["two"]));

    let r = call(
        &app_b,
        actix_web::test::TestRequest::delete().uri("/v2/hosted/img/manifests/one"),
    )
    .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    for app in [&app_a, &app_b] {
        let r = call(app, get("/v2/hosted/img/tags/list")).await;
        assert_eq!(tags(r.json()), json!(["two"]));
    }

    let other = put_manifest("/v2/hosted/other/manifests/x", OCI_MANIFEST, &m);
    assert_eq!(call(&app_b, other).await.status, 201);
    let r = call(&app_a, get("/v2/hosted/_catalog")).await;
    assert_eq!(r.json()["repositories"], json!(["img", "other"]));
}
