//! The docker API of a hosted repository, in process: status codes, headers and error bodies
//! of every endpoint the walking skeleton serves, including the upload edge cases.

use crate::support;

use actix_web::test::TestRequest;
use serde_json::json;
use support::{
    DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, call, get, image_manifest, instance, put_manifest,
    sha256,
};

#[actix_web::test]
async fn every_response_carries_the_api_version_header() {
    let t = instance("").await;
    let app = main_app!(t.trove);
    for (uri, status) in [
        ("/v2/", 200),
        ("/v2/hosted/", 200),
        ("/repository/hosted/v2/", 200),
        ("/v2/nope/x/tags/list", 404),
        ("/repository/nope/v2/", 404),
        ("/v2/hosted/x/manifests/latest", 404),
        ("/v2/hosted/Bad/manifests/latest", 400),
    ] {
        let r = call(&app, get(uri)).await;
        assert_eq!(r.status, status, "{uri}");
        assert_eq!(
            r.header("docker-distribution-api-version").as_deref(),
            Some("registry/2.0"),
            "{uri}"
        );
    }
    call(&app, get("/v2/nope/x/tags/list"))
        .await
        .expect_error(404, "NAME_UNKNOWN");
    call(&app, TestRequest::post().uri("/v2/"))
        .await
        .expect_error(405, "UNSUPPORTED");
    call(&app, TestRequest::delete().uri("/v2/hosted/x/tags/list"))
        .await
        .expect_error(405, "UNSUPPORTED");
}

#[actix_web::test]
async fn bad_names_digests_tags_and_paths() {
    let t = instance("").await;
    let app = main_app!(t.trove);
    call(&app, get("/v2/hosted/UPPER/tags/list"))
        .await
        .expect_error(400, "NAME_INVALID");
    call(&app, get("/v2/hosted/a//b/tags/list"))
        .await
        .expect_error(400, "NAME_INVALID");
    call(&app, get("/v2/hosted/x/blobs/sha256:1234"))
        .await
        .expect_error(400, "DIGEST_INVALID");
    call(&app, get("/v2/hosted/x/blobs/md5:abcd"))
        .await
        .expect_error(400, "DIGEST_INVALID");
    call(&app, get("/v2/hosted/x/manifests/.bad"))
        .await
        .expect_error(400, "TAG_INVALID");
    call(&app, get("/v2/hosted/x/nothing/here"))
        .await
        .expect_error(404, "NAME_UNKNOWN");
    let d = sha256(b"absent");
    call(&app, get(&format!("/v2/hosted/x/blobs/{d}")))
        .await
        .expect_error(404, "BLOB_UNKNOWN");
    let r = call(&app, support::head(&format!("/v2/hosted/x/blobs/{d}"))).await;
    assert_eq!(r.status, 404);
}

#[actix_web::test]
async fn monolithic_upload_then_head_get_and_ranges() {
    let t = instance("").await;
    let app = main_app!(t.trove);
    let data = b"0123456789abcdef";
    let d = sha256(data);
    let r = call(
        &app,
        TestRequest::post()
            .uri(&format!("/v2/hosted/img/blobs/uploads/?digest={d}"))
            .set_payload(&data[..]),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.header("location").unwrap(),
        format!("/v2/hosted/img/blobs/{d}")
    );
    assert_eq!(r.header("docker-content-digest").unwrap(), d);

    // Any image name of the repository serves the blob (one blob namespace per repository).
    let r = call(&app, support::head(&format!("/v2/hosted/other/blobs/{d}"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length").as_deref(), Some("16"));
    assert_eq!(r.header("docker-content-digest").unwrap(), d);
    assert!(r.body.is_empty());

    let r = call(&app, get(&format!("/v2/hosted/img/blobs/{d}"))).await;
    assert_eq!((r.status, &r.body[..]), (200, &data[..]));
    let r = call(
        &app,
        get(&format!("/v2/hosted/img/blobs/{d}")).insert_header(("range", "bytes=4-7")),
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (206, &b"4567"[..]));
    assert_eq!(r.header("content-range").unwrap(), "bytes 4-7/16");
    let r = call(
        &app,
        get(&format!("/v2/hosted/img/blobs/{d}")).insert_header(("range", "bytes=-3")),
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (206, &b"def"[..]));
    let r = call(
        &app,
        get(&format!("/v2/hosted/img/blobs/{d}")).insert_header(("range", "bytes=16-")),
    )
    .await;
    r.expect_error(416, "SIZE_INVALID");
}

#[actix_web::test]
async fn chunked_upload_with_status_and_out_of_order_chunk() {
    let t = instance("").await;
    let app = main_app!(t.trove);
    let r = call(
        &app,
        TestRequest::post().uri("/v2/hosted/img/blobs/uploads/"),
    )
    .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.header("range").as_deref(), Some("0-0"));
    let loc = r.header("location").unwrap();
    let id = r.header("docker-upload-uuid").unwrap();
    assert_eq!(loc, format!("/v2/hosted/img/blobs/uploads/{id}"));

    let patch = |range: Option<&str>, body: &'static [u8]| {
        let mut req = TestRequest::patch().uri(&loc).set_payload(body);
        if let Some(r) = range {
            req = req.insert_header(("content-range", r.to_owned()));
        }
        req
    };
    let r = call(&app, patch(Some("0-4"), b"hello")).await;
    assert_eq!((r.status, r.header("range").as_deref()), (202, Some("0-4")));
    let r = call(&app, get(&loc)).await;
    assert_eq!((r.status, r.header("range").as_deref()), (204, Some("0-4")));
    assert_eq!(r.header("location").unwrap(), loc);

    // A chunk that does not continue where the upload ends: 416 with the current range.
    let r = call(&app, patch(Some("2-6"), b"XXXXX")).await;
    r.expect_error(416, "BLOB_UPLOAD_INVALID");
    assert_eq!(r.header("range").as_deref(), Some("0-4"));
    call(&app, patch(Some("9-5"), b"XXXXX"))
        .await
        .expect_error(416, "BLOB_UPLOAD_INVALID");

    let r = call(&app, patch(None, b" wor")).await;
    assert_eq!((r.status, r.header("range").as_deref()), (202, Some("0-8")));
    let d = sha256(b"hello world");
    let r = call(
        &app,
        TestRequest::put()
            .uri(&format!("{loc}?digest={d}"))
            .set_payload(&b"ld"[..]),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(
        r.header("location").unwrap(),
        format!("/v2/hosted/img/blobs/{d}")
    );
    let r = call(&app, get(&format!("/v2/hosted/img/blobs/{d}"))).await;
    assert_eq!(&r.body[..], b"hello world");
    call(&app, get(&loc))
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
}

#[actix_web::test]
async fn wrong_digest_is_refused_and_leaves_no_blob() {
    let t = instance("").await;
    let app = main_app!(t.trove);
    let wrong = sha256(b"what the client claims");
    let actual = sha256(b"what the client sent");

    let r = call(
        &app,
        TestRequest::post()
            .uri(&format!("/v2/hosted/img/blobs/uploads/?digest={wrong}"))
            .set_payload(&b"what the client sent"[..]),
    )
    .await;
    r.expect_error(400, "DIGEST_INVALID");

    let r = call(
        &app,
        TestRequest::post().uri("/v2/hosted/img/blobs/uploads/"),
    )
    .await;
    let loc = r.header("location").unwrap();
    call(
        &app,
        TestRequest::patch()
            .uri(&loc)
            .set_payload(&b"what the client sent"[..]),
    )
    .await;
    call(
        &app,
        TestRequest::put().uri(&format!("{loc}?digest={wrong}")),
    )
    .await
    .expect_error(400, "DIGEST_INVALID");
    for d in [&wrong, &actual] {
        call(&app, get(&format!("/v2/hosted/img/blobs/{d}")))
            .await
            .expect_error(404, "BLOB_UNKNOWN");
    }
    call(&app, get(&loc))
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    // Nothing half-written is left in the blob store either.
    let blobs = t.dir.path().join("data/blobs");
    let files = walk(&blobs);
    assert!(files.is_empty(), "{files:?}");

    let r = call(
        &app,
        TestRequest::post().uri("/v2/hosted/img/blobs/uploads/"),
    )
    .await;
    let loc = r.header("location").unwrap();
    call(&app, TestRequest::put().uri(&loc))
        .await
        .expect_error(400, "DIGEST_INVALID");
    call(
        &app,
        TestRequest::put().uri(&format!("{loc}?digest=sha256:zz")),
    )
    .await
    .expect_error(400, "DIGEST_INVALID");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[actix_web::test]
async fn unknown_and_foreign_upload_ids() {
    let t =
        instance("[[repository]]\nname = \"other\"\nformat = \"docker\"\nkind = \"hosted\"").await;
    let app = main_app!(t.trove);
    let ghost = "/v2/hosted/img/blobs/uploads/0191c5d2-5a7e-4c1f-8b0a-1234567890ab";
    let d = sha256(b"");
    call(&app, get(ghost))
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    call(&app, TestRequest::patch().uri(ghost).set_payload(&b"x"[..]))
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    call(&app, TestRequest::put().uri(&format!("{ghost}?digest={d}")))
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    call(&app, TestRequest::delete().uri(ghost))
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    call(&app, get("/v2/hosted/img/blobs/uploads/../../etc"))
        .await
        .expect_error(404, "NAME_UNKNOWN");
    call(&app, get("/v2/hosted/img/blobs/uploads/not-a-uuid"))
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");

    // A session belongs to its repository and image name.
    let r = call(
        &app,
        TestRequest::post().uri("/v2/hosted/img/blobs/uploads/"),
    )
    .await;
    let id = r.header("docker-upload-uuid").unwrap();
    call(&app, get(&format!("/v2/hosted/another/blobs/uploads/{id}")))
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    call(&app, get(&format!("/v2/other/img/blobs/uploads/{id}")))
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");

    // Cancel ends it.
    let loc = format!("/v2/hosted/img/blobs/uploads/{id}");
    assert_eq!(
        call(&app, TestRequest::delete().uri(&loc)).await.status,
        204
    );
    call(&app, get(&loc))
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
}

#[actix_web::test]
async fn empty_blob() {
    let t = instance("").await;
    let app = main_app!(t.trove);
    let d = sha256(b"");
    let r = call(
        &app,
        TestRequest::post().uri(&format!("/v2/hosted/img/blobs/uploads/?digest={d}")),
    )
    .await;
    assert_eq!(r.status, 201);
    let r = call(&app, support::head(&format!("/v2/hosted/img/blobs/{d}"))).await;
    assert_eq!(
        (r.status, r.header("content-length").as_deref()),
        (200, Some("0"))
    );
    // And through POST + PUT with no chunk at all.
    let r = call(
        &app,
        TestRequest::post().uri("/v2/hosted/e2/blobs/uploads/"),
    )
    .await;
    let loc = r.header("location").unwrap();
    assert_eq!(
        call(&app, TestRequest::put().uri(&format!("{loc}?digest={d}")))
            .await
            .status,
        201
    );
    let r = call(&app, get(&format!("/v2/hosted/e2/blobs/{d}"))).await;
    assert_eq!((r.status, r.body.len()), (200, 0));
}

#[actix_web::test]
async fn manifests_by_tag_and_digest_keep_their_bytes() {
    let t = instance("").await;
    let app = main_app!(t.trove);
    let config = push_blob!(app, "img", b"{\"architecture\":\"amd64\"}");
    let layer = push_blob!(app, "img", b"layer bytes");
    for (tag, mt) in [("oci", OCI_MANIFEST), ("docker", DOCKER_MANIFEST)] {
        let m = image_manifest(mt, (&config, 24), &[(&layer, 11)]);
        let d = sha256(&m);
        let r = call(
            &app,
            put_manifest(&format!("/v2/hosted/img/manifests/{tag}"), mt, &m),
        )
        .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_eq!(
            r.header("location").unwrap(),
            format!("/v2/hosted/img/manifests/{d}")
        );
        assert_eq!(r.header("docker-content-digest").unwrap(), d);
        for reference in [tag, d.as_str()] {
            let r = call(&app, get(&format!("/v2/hosted/img/manifests/{reference}"))).await;
            assert_eq!(r.status, 200);
            assert_eq!(&r.body[..], &m[..], "bytes exactly as pushed");
            assert_eq!(r.header("content-type").unwrap(), mt);
            assert_eq!(r.header("docker-content-digest").unwrap(), d);
            let r = call(
                &app,
                support::head(&format!("/v2/hosted/img/manifests/{reference}")),
            )
            .await;
            assert_eq!(r.header("content-length").unwrap(), m.len().to_string());
            assert_eq!(r.header("docker-content-digest").unwrap(), d);
        }
    }
    // An index over both, pushed by digest.
    let children: Vec<_> = ["oci", "docker"]
        .iter()
        .map(|tag| {
            let mt = if *tag == "oci" { OCI_MANIFEST } else { DOCKER_MANIFEST };
            let m = image_manifest(mt, (&config, 24), &[(&layer, 11)]);
            json!({"mediaType": mt, "digest": sha256(&m), "size": m.len(), "platform": {"os": "linux", "architecture": "amd64"}})
        })
        .collect();
    let index = serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}),
    )
    .unwrap();
    let d = sha256(&index);
    let r = call(
        &app,
        put_manifest(&format!("/v2/hosted/img/manifests/{d}"), OCI_INDEX, &index),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // A child with the right digest but a wrong size is refused (issue 14).
    let mut wrong = children.clone();
    wrong[0]["size"] = json!(wrong[0]["size"].as_u64().unwrap() + 1);
    let bad = serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": wrong}),
    )
    .unwrap();
    let r = call(
        &app,
        put_manifest("/v2/hosted/img/manifests/bad-sizes", OCI_INDEX, &bad),
    )
    .await;
    r.expect_error(400, "MANIFEST_INVALID");
    assert!(
        String::from_utf8_lossy(&r.body).contains("the index says"),
        "{:?}",
        r.body
    );
    let r = call(&app, get("/v2/hosted/img/tags/list")).await;
    assert_eq!(r.json(), json!({"name": "img", "tags": ["docker", "oci"]}));
    // Moving a tag (write policy "allow").
    let r = call(
        &app,
        put_manifest("/v2/hosted/img/manifests/oci", OCI_INDEX, &index),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        &call(&app, get("/v2/hosted/img/manifests/oci")).await.body[..],
        &index[..]
    );
}

#[actix_web::test]
async fn manifest_validation_errors() {
    let t = instance("").await;
    let app = main_app!(t.trove);
    let config = push_blob!(app, "img", b"{}");
    let missing = sha256(b"never pushed");
    let put = |body: &[u8], ctype: &str| put_manifest("/v2/hosted/img/manifests/t", ctype, body);

    let m = image_manifest(OCI_MANIFEST, (&config, 2), &[(&missing, 12)]);
    let r = call(&app, put(&m, OCI_MANIFEST)).await;
    r.expect_error(404, "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(r.json()["errors"][0]["detail"]["digest"], missing);

    let m = image_manifest(OCI_MANIFEST, (&config, 3), &[]);
    call(&app, put(&m, OCI_MANIFEST))
        .await
        .expect_error(400, "MANIFEST_INVALID");

    let schema1 = br#"{"schemaVersion": 1, "name": "img", "tag": "t", "fsLayers": []}"#;
    let r = call(
        &app,
        put(
            schema1,
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
        ),
    )
    .await;
    r.expect_error(400, "MANIFEST_INVALID");
    assert!(
        r.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("schema 1")
    );

    call(&app, put(b"{\"schemaVersion\": 2, \"conf", OCI_MANIFEST))
        .await
        .expect_error(400, "MANIFEST_INVALID");
    call(&app, put(b"", OCI_MANIFEST))
        .await
        .expect_error(400, "MANIFEST_INVALID");
    let good = image_manifest(OCI_MANIFEST, (&config, 2), &[]);
    call(&app, put(&good, "application/json"))
        .await
        .expect_error(400, "MANIFEST_INVALID");
    call(&app, put(&good, DOCKER_MANIFEST))
        .await
        .expect_error(400, "MANIFEST_INVALID");

    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": missing, "size": 1}]}))
    .unwrap();
    call(&app, put(&index, OCI_INDEX))
        .await
        .expect_error(404, "MANIFEST_BLOB_UNKNOWN");

    let other = sha256(b"other");
    let r = call(
        &app,
        put_manifest(
            &format!("/v2/hosted/img/manifests/{other}"),
            OCI_MANIFEST,
            &good,
        ),
    )
    .await;
    r.expect_error(400, "DIGEST_INVALID");

    let mut huge = b"{\"schemaVersion\": 2, \"x\": \"".to_vec();
    huge.resize(4 * 1024 * 1024 + 10, b'a');
    call(&app, put(&huge, OCI_MANIFEST))
        .await
        .expect_error(413, "SIZE_INVALID");

    // None of these became visible.
    call(&app, get("/v2/hosted/img/manifests/t"))
        .await
        .expect_error(404, "MANIFEST_UNKNOWN");
    assert_eq!(call(&app, put(&good, OCI_MANIFEST)).await.status, 201);
}

#[actix_web::test]
async fn tag_list_pagination() {
    let t = instance("").await;
    let app = main_app!(t.trove);
    call(&app, get("/v2/hosted/img/tags/list"))
        .await
        .expect_error(404, "NAME_UNKNOWN");
    let config = push_blob!(app, "img", b"{}");
    let m = image_manifest(OCI_MANIFEST, (&config, 2), &[]);
    for tag in ["e", "a", "d", "b", "c"] {
        call(
            &app,
            put_manifest(&format!("/v2/hosted/img/manifests/{tag}"), OCI_MANIFEST, &m),
        )
        .await;
    }
    // Another image whose name extends this one's must not leak into its list.
    call(
        &app,
        put_manifest("/v2/hosted/img/sub/manifests/zz", OCI_MANIFEST, &m),
    )
    .await;
    let r = call(&app, get("/v2/hosted/img/tags/list")).await;
    assert_eq!(r.json()["tags"], json!(["a", "b", "c", "d", "e"]));
    assert!(r.header("link").is_none());
    let r = call(&app, get("/v2/hosted/img/tags/list?n=2")).await;
    assert_eq!(r.json()["tags"], json!(["a", "b"]));
    assert_eq!(
        r.header("link").unwrap(),
        "</v2/hosted/img/tags/list?n=2&last=b>; rel=\"next\""
    );
    let r = call(&app, get("/v2/hosted/img/tags/list?n=2&last=b")).await;
    assert_eq!(r.json()["tags"], json!(["c", "d"]));
    let r = call(&app, get("/v2/hosted/img/tags/list?n=2&last=d")).await;
    assert_eq!(r.json()["tags"], json!(["e"]));
    assert!(r.header("link").is_none());
    let r = call(&app, get("/v2/hosted/img/tags/list?n=0")).await;
    assert_eq!(r.json()["tags"], json!([]));
}

#[actix_web::test]
async fn locations_follow_the_mount() {
    let t = instance("").await;
    let main = main_app!(t.trove);
    // Path-based access is what a host-mapping proxy forwards (scenario S3), so Locations
    // are relative to the request: they resolve right both here and through the proxy.
    let r = call(
        &main,
        TestRequest::post().uri("/repository/hosted/v2/img/blobs/uploads/"),
    )
    .await;
    let location = r.header("location").unwrap();
    assert!(
        location.starts_with("../../../img/blobs/uploads/"),
        "{location}"
    );
    let here = url::Url::parse("http://h/repository/hosted/v2/img/blobs/uploads/").unwrap();
    assert!(
        here.join(&location)
            .unwrap()
            .path()
            .starts_with("/repository/hosted/v2/img/blobs/uploads/")
    );
    let behind = url::Url::parse("https://hub.example.com/v2/img/blobs/uploads/").unwrap();
    assert!(
        behind
            .join(&location)
            .unwrap()
            .path()
            .starts_with("/v2/img/blobs/uploads/")
    );
    let connector = actix_web::test::init_service(
        actix_web::App::new().configure(
            t.trove
                .connector_routes(trove_core::RepoName::parse("hosted").unwrap()),
        ),
    )
    .await;
    assert_eq!(call(&connector, get("/v2/")).await.status, 200);
    let r = call(
        &connector,
        TestRequest::post().uri("/v2/img/blobs/uploads/"),
    )
    .await;
    let loc = r.header("location").unwrap();
    assert!(loc.starts_with("/v2/img/blobs/uploads/"), "{loc}");
    // The same session continues through any mount of the same repository.
    let id = r.header("docker-upload-uuid").unwrap();
    assert_eq!(
        call(&main, get(&format!("/v2/hosted/img/blobs/uploads/{id}")))
            .await
            .status,
        204
    );
}

#[actix_web::test]
async fn write_policies() {
    let t = instance("[[repository]]\nname = \"ro\"\nformat = \"docker\"\nkind = \"hosted\"\nwrite_policy = \"deny\"\n\
        [[repository]]\nname = \"once\"\nformat = \"docker\"\nkind = \"hosted\"\nwrite_policy = \"allow_once\"").await;
    let app = main_app!(t.trove);
    call(&app, TestRequest::post().uri("/v2/ro/img/blobs/uploads/"))
        .await
        .expect_error(405, "UNSUPPORTED");
    call(
        &app,
        put_manifest("/v2/ro/img/manifests/1", OCI_MANIFEST, b"{}"),
    )
    .await
    .expect_error(405, "UNSUPPORTED");

    let d = sha256(b"{}");
    let r = call(
        &app,
        TestRequest::post()
            .uri(&format!("/v2/once/img/blobs/uploads/?digest={d}"))
            .set_payload(&b"{}"[..]),
    )
    .await;
    assert_eq!(r.status, 201);
    let one = image_manifest(OCI_MANIFEST, (&d, 2), &[]);
    let two = image_manifest(DOCKER_MANIFEST, (&d, 2), &[]);
    assert_eq!(
        call(
            &app,
            put_manifest("/v2/once/img/manifests/1", OCI_MANIFEST, &one)
        )
        .await
        .status,
        201
    );
    assert_eq!(
        call(
            &app,
            put_manifest("/v2/once/img/manifests/1", OCI_MANIFEST, &one)
        )
        .await
        .status,
        201
    );
    call(
        &app,
        put_manifest("/v2/once/img/manifests/1", DOCKER_MANIFEST, &two),
    )
    .await
    .expect_error(403, "DENIED");
}

#[actix_web::test]
async fn content_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config_digest;
    {
        let trove = support::open(&dir, "").await;
        let app = main_app!(trove);
        config_digest = push_blob!(app, "img", b"{}");
        let m = image_manifest(OCI_MANIFEST, (&config_digest, 2), &[]);
        assert_eq!(
            call(
                &app,
                put_manifest("/v2/hosted/img/manifests/1", OCI_MANIFEST, &m)
            )
            .await
            .status,
            201
        );
        trove.meta.close().await;
    }
    let trove = support::open(&dir, "").await;
    let app = main_app!(trove);
    assert_eq!(
        call(&app, get("/v2/hosted/img/manifests/1")).await.status,
        200
    );
    assert_eq!(
        call(&app, get(&format!("/v2/hosted/img/blobs/{config_digest}")))
            .await
            .body
            .as_ref(),
        b"{}"
    );
    assert!(dir.path().join("data/admin.password").exists());
}

#[actix_web::test]
async fn mount_across_repositories_on_the_main_port() {
    let t =
        instance("[[repository]]\nname = \"team\"\nformat = \"docker\"\nkind = \"hosted\"").await;
    let app = main_app!(t.trove);
    let d = push_blob!(app, "src/img", b"shared layer");
    // `from` names <repository>/<image> on the /v2/<repository>/ form: linked, nothing copied.
    let r = call(
        &app,
        TestRequest::post().uri(&format!(
            "/v2/team/dst/blobs/uploads/?mount={d}&from=hosted/src/img"
        )),
    )
    .await;
    assert_eq!(
        (r.status, r.header("location")),
        (201, Some(format!("/v2/team/dst/blobs/{d}")))
    );
    assert_eq!(
        &call(&app, get(&format!("/v2/team/dst/blobs/{d}")))
            .await
            .body[..],
        b"shared layer"
    );
    // An unknown source repository falls back to an upload session.
    let r = call(
        &app,
        TestRequest::post().uri(&format!(
            "/v2/team/dst/blobs/uploads/?mount={d}&from=nowhere/img"
        )),
    )
    .await;
    assert_eq!(r.status, 202);
    // Deleting the link in one repository leaves the other's intact.
    assert_eq!(
        call(
            &app,
            TestRequest::delete().uri(&format!("/v2/team/dst/blobs/{d}"))
        )
        .await
        .status,
        202
    );
    assert_eq!(
        call(&app, get(&format!("/v2/hosted/src/img/blobs/{d}")))
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn idle_upload_sessions_expire_and_leave_nothing() {
    let t = instance("").await;
    let app = main_app!(t.trove);
    let r = call(
        &app,
        TestRequest::post().uri("/v2/hosted/img/blobs/uploads/"),
    )
    .await;
    let loc = r.header("location").unwrap();
    assert_eq!(
        call(
            &app,
            TestRequest::patch()
                .uri(&loc)
                .set_payload(&b"half a layer"[..])
        )
        .await
        .status,
        202
    );
    assert_eq!(
        t.trove
            .expire_uploads(std::time::Duration::from_secs(3600))
            .await
            .unwrap(),
        0,
        "still fresh"
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(
        t.trove
            .expire_uploads(std::time::Duration::ZERO)
            .await
            .unwrap(),
        1
    );
    call(&app, get(&loc))
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    let left = std::fs::read_dir(t.dir.path().join("data/blobs/uploads"))
        .unwrap()
        .count();
    assert_eq!(left, 0, "partial bytes removed");
}
