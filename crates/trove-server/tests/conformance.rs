//! The four workflows of the OCI distribution spec's conformance suite (pull, push, content
//! discovery, content management), rewritten from spec.md as in-process tests: each request
//! with the status, headers and body the spec prescribes.
//! https://github.com/opencontainers/distribution-spec/blob/main/spec.md

use crate::support;

use actix_web::test::TestRequest;
use serde_json::json;
use support::{
    OCI_INDEX, OCI_MANIFEST, call, get, head, image_manifest, instance, put_manifest, sha256,
};

const ARTIFACT: &str = "application/vnd.example.sbom+json";

/// An artifact manifest (OCI image manifest with `artifactType`) whose subject is `subject`.
fn referrer(config: &str, subject: (&str, usize), artifact_type: &str, note: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
        "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject.0, "size": subject.1},
        "annotations": {"note": note},
    }))
    .unwrap()
}

#[actix_web::test]
async fn pull_workflow() {
    let t = instance("").await;
    let app = main_app!(t.trove);
    let config = push_blob!(app, "pull", b"{}");
    let layer = push_blob!(app, "pull", b"layer");
    let m = image_manifest(OCI_MANIFEST, (&config, 2), &[(&layer, 5)]);
    let d = sha256(&m);
    assert_eq!(
        call(
            &app,
            put_manifest("/v2/hosted/pull/manifests/v1", OCI_MANIFEST, &m)
        )
        .await
        .status,
        201
    );

    // Pulling manifests: GET and HEAD by tag and by digest; unknown ones are 404.
    for r in ["v1", d.as_str()] {
        let res = call(&app, get(&format!("/v2/hosted/pull/manifests/{r}"))).await;
        assert_eq!(
            (res.status, res.header("docker-content-digest")),
            (200, Some(d.clone()))
        );
        assert_eq!(res.header("content-type").as_deref(), Some(OCI_MANIFEST));
        let res = call(&app, head(&format!("/v2/hosted/pull/manifests/{r}"))).await;
        assert_eq!((res.status, res.body.len()), (200, 0));
        assert_eq!(res.header("content-length"), Some(m.len().to_string()));
    }
    call(&app, get("/v2/hosted/pull/manifests/nope"))
        .await
        .expect_error(404, "MANIFEST_UNKNOWN");
    let absent = sha256(b"absent");
    assert_eq!(
        call(&app, head(&format!("/v2/hosted/pull/manifests/{absent}")))
            .await
            .status,
        404
    );

    // Pulling blobs: GET returns the bytes whose digest the URL names; HEAD has the length.
    let res = call(&app, get(&format!("/v2/hosted/pull/blobs/{layer}"))).await;
    assert_eq!((res.status, &res.body[..]), (200, &b"layer"[..]));
    assert_eq!(sha256(&res.body), layer);
    assert_eq!(
        call(&app, head(&format!("/v2/hosted/pull/blobs/{layer}")))
            .await
            .header("content-length")
            .as_deref(),
        Some("5")
    );
    call(&app, get(&format!("/v2/hosted/pull/blobs/{absent}")))
        .await
        .expect_error(404, "BLOB_UNKNOWN");
    // Unknown repository namespace.
    call(&app, get("/v2/nope/pull/manifests/v1"))
        .await
        .expect_error(404, "NAME_UNKNOWN");
}

#[actix_web::test]
async fn push_workflow() {
    let t = instance("").await;
    let app = main_app!(t.trove);

    // POST then PUT with the whole blob (monolithic, two requests).
    let r = call(
        &app,
        TestRequest::post().uri("/v2/hosted/push/blobs/uploads/"),
    )
    .await;
    assert_eq!(r.status, 202);
    let loc = r.header("location").unwrap();
    let d = sha256(b"{}");
    let r = call(
        &app,
        TestRequest::put()
            .uri(&format!("{loc}?digest={d}"))
            .insert_header(("content-type", "application/octet-stream"))
            .set_payload(&b"{}"[..]),
    )
    .await;
    assert_eq!(
        (r.status, r.header("location")),
        (201, Some(format!("/v2/hosted/push/blobs/{d}")))
    );

    // POST with ?digest= (single request).
    let layer = push_blob!(app, "push", b"a layer");

    // Chunked: POST, PATCH with Content-Range/Length, PUT; an out-of-order chunk is 416.
    let r = call(
        &app,
        TestRequest::post().uri("/v2/hosted/push/blobs/uploads/"),
    )
    .await;
    let loc = r.header("location").unwrap();
    let r = call(
        &app,
        TestRequest::patch()
            .uri(&loc)
            .insert_header(("content-range", "0-3"))
            .insert_header(("content-type", "application/octet-stream"))
            .set_payload(&b"abcd"[..]),
    )
    .await;
    assert_eq!((r.status, r.header("range").as_deref()), (202, Some("0-3")));
    let loc = r.header("location").unwrap();
    let r = call(
        &app,
        TestRequest::patch()
            .uri(&loc)
            .insert_header(("content-range", "8-11"))
            .set_payload(&b"ijkl"[..]),
    )
    .await;
    assert_eq!(r.status, 416);
    let r = call(
        &app,
        TestRequest::patch()
            .uri(&loc)
            .insert_header(("content-range", "4-7"))
            .set_payload(&b"efgh"[..]),
    )
    .await;
    assert_eq!(r.status, 202);
    let chunked = sha256(b"abcdefgh");
    assert_eq!(
        call(
            &app,
            TestRequest::put().uri(&format!("{loc}?digest={chunked}"))
        )
        .await
        .status,
        201
    );
    assert_eq!(
        &call(&app, get(&format!("/v2/hosted/push/blobs/{chunked}")))
            .await
            .body[..],
        b"abcdefgh"
    );

    // Cross-repository mount: 201 when the blob is reachable, 202 (a new session) otherwise.
    let r = call(
        &app,
        TestRequest::post().uri(&format!(
            "/v2/hosted/other/blobs/uploads/?mount={layer}&from=push"
        )),
    )
    .await;
    assert_eq!(
        (r.status, r.header("location")),
        (201, Some(format!("/v2/hosted/other/blobs/{layer}")))
    );
    let absent = sha256(b"absent");
    let r = call(
        &app,
        TestRequest::post().uri(&format!(
            "/v2/hosted/other/blobs/uploads/?mount={absent}&from=push"
        )),
    )
    .await;
    assert_eq!(r.status, 202);
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/v2/hosted/other/blobs/uploads/")
    );

    // Manifest PUT: 201 with Location; with a subject, OCI-Subject is returned.
    let m = image_manifest(OCI_MANIFEST, (&d, 2), &[(&layer, 7)]);
    let md = sha256(&m);
    let r = call(
        &app,
        put_manifest("/v2/hosted/push/manifests/v1", OCI_MANIFEST, &m),
    )
    .await;
    assert_eq!(
        (r.status, r.header("location")),
        (201, Some(format!("/v2/hosted/push/manifests/{md}")))
    );
    let art = referrer(&d, (&md, m.len()), ARTIFACT, "x");
    let r = call(
        &app,
        put_manifest(
            &format!("/v2/hosted/push/manifests/{}", sha256(&art)),
            OCI_MANIFEST,
            &art,
        ),
    )
    .await;
    assert_eq!((r.status, r.header("oci-subject")), (201, Some(md.clone())));
    // A subject need not exist yet (the spec lets referrers be pushed first).
    let early = referrer(&d, (&absent, 9), ARTIFACT, "early");
    assert_eq!(
        call(
            &app,
            put_manifest("/v2/hosted/push/manifests/early", OCI_MANIFEST, &early)
        )
        .await
        .status,
        201
    );
}

#[actix_web::test]
async fn content_discovery_workflow() {
    let t = instance("").await;
    let app = main_app!(t.trove);
    let config = push_blob!(app, "disc", b"{}");
    let m = image_manifest(OCI_MANIFEST, (&config, 2), &[]);
    let md = sha256(&m);
    for tag in ["t1", "t2", "t3", "t4"] {
        call(
            &app,
            put_manifest(
                &format!("/v2/hosted/disc/manifests/{tag}"),
                OCI_MANIFEST,
                &m,
            ),
        )
        .await;
    }
    // Tags, whole and paginated.
    let r = call(&app, get("/v2/hosted/disc/tags/list")).await;
    assert_eq!(
        r.json(),
        json!({"name": "disc", "tags": ["t1", "t2", "t3", "t4"]})
    );
    let r = call(&app, get("/v2/hosted/disc/tags/list?n=3")).await;
    assert_eq!(r.json()["tags"], json!(["t1", "t2", "t3"]));
    assert_eq!(
        r.header("link").unwrap(),
        "</v2/hosted/disc/tags/list?n=3&last=t3>; rel=\"next\""
    );
    let r = call(&app, get("/v2/hosted/disc/tags/list?n=3&last=t3")).await;
    assert_eq!(r.json()["tags"], json!(["t4"]));

    // Referrers: every manifest whose subject is md, filterable by artifactType.
    let sbom = referrer(&config, (&md, m.len()), ARTIFACT, "sbom");
    let sig = referrer(
        &config,
        (&md, m.len()),
        "application/vnd.example.signature",
        "sig",
    );
    for doc in [&sbom, &sig] {
        let r = call(
            &app,
            put_manifest(
                &format!("/v2/hosted/disc/manifests/{}", sha256(doc)),
                OCI_MANIFEST,
                doc,
            ),
        )
        .await;
        assert_eq!(r.status, 201);
    }
    let r = call(&app, get(&format!("/v2/hosted/disc/referrers/{md}"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type").as_deref(), Some(OCI_INDEX));
    let index = r.json();
    assert_eq!(index["schemaVersion"], 2);
    let mut found: Vec<_> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digest"].as_str().unwrap().to_owned())
        .collect();
    found.sort();
    let mut want = vec![sha256(&sbom), sha256(&sig)];
    want.sort();
    assert_eq!(found, want);
    let sbom_desc = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["digest"] == sha256(&sbom))
        .unwrap()
        .clone();
    assert_eq!(
        sbom_desc,
        json!({"mediaType": OCI_MANIFEST, "digest": sha256(&sbom), "size": sbom.len(), "artifactType": ARTIFACT, "annotations": {"note": "sbom"}})
    );

    let filtered = format!(
        "/v2/hosted/disc/referrers/{md}?artifactType={}",
        ARTIFACT.replace('+', "%2B")
    );
    let r = call(&app, get(&filtered)).await;
    assert_eq!(
        r.header("oci-filters-applied").as_deref(),
        Some("artifactType")
    );
    assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 1);
    // No referrers: an empty index, not a 404.
    let r = call(
        &app,
        get(&format!("/v2/hosted/disc/referrers/{}", sha256(b"none"))),
    )
    .await;
    assert_eq!((r.status, r.json()["manifests"].clone()), (200, json!([])));

    // Catalog of the repository, paginated.
    push_blob!(app, "another/img", b"{}");
    call(
        &app,
        put_manifest("/v2/hosted/another/img/manifests/1", OCI_MANIFEST, &m),
    )
    .await;
    let r = call(&app, get("/v2/hosted/_catalog")).await;
    assert_eq!(r.json(), json!({"repositories": ["another/img", "disc"]}));
    let r = call(&app, get("/v2/hosted/_catalog?n=1")).await;
    assert_eq!(r.json(), json!({"repositories": ["another/img"]}));
    assert_eq!(
        r.header("link").unwrap(),
        "</v2/hosted/_catalog?n=1&last=another/img>; rel=\"next\""
    );
}

#[actix_web::test]
async fn content_management_workflow() {
    let t = instance("").await;
    let app = main_app!(t.trove);
    let config = push_blob!(app, "mgmt", b"{}");
    let layer = push_blob!(app, "mgmt", b"layer");
    let m = image_manifest(OCI_MANIFEST, (&config, 2), &[(&layer, 5)]);
    let md = sha256(&m);
    for tag in ["a", "b"] {
        call(
            &app,
            put_manifest(
                &format!("/v2/hosted/mgmt/manifests/{tag}"),
                OCI_MANIFEST,
                &m,
            ),
        )
        .await;
    }
    let art = referrer(&config, (&md, m.len()), ARTIFACT, "r");
    let ad = sha256(&art);
    call(
        &app,
        put_manifest(
            &format!("/v2/hosted/mgmt/manifests/{ad}"),
            OCI_MANIFEST,
            &art,
        ),
    )
    .await;

    // Delete a tag: only the tag goes.
    assert_eq!(
        call(
            &app,
            TestRequest::delete().uri("/v2/hosted/mgmt/manifests/a")
        )
        .await
        .status,
        202
    );
    call(&app, get("/v2/hosted/mgmt/manifests/a"))
        .await
        .expect_error(404, "MANIFEST_UNKNOWN");
    assert_eq!(
        call(&app, get("/v2/hosted/mgmt/manifests/b")).await.status,
        200
    );
    call(
        &app,
        TestRequest::delete().uri("/v2/hosted/mgmt/manifests/a"),
    )
    .await
    .expect_error(404, "MANIFEST_UNKNOWN");

    // Delete the referrer by digest: the referrers list drops it.
    assert_eq!(
        call(
            &app,
            TestRequest::delete().uri(&format!("/v2/hosted/mgmt/manifests/{ad}"))
        )
        .await
        .status,
        202
    );
    let r = call(&app, get(&format!("/v2/hosted/mgmt/referrers/{md}"))).await;
    assert_eq!(r.json()["manifests"], json!([]));

    // Delete the manifest by digest: it and every tag pointing at it go.
    assert_eq!(
        call(
            &app,
            TestRequest::delete().uri(&format!("/v2/hosted/mgmt/manifests/{md}"))
        )
        .await
        .status,
        202
    );
    for r in ["b", md.as_str()] {
        call(&app, get(&format!("/v2/hosted/mgmt/manifests/{r}")))
            .await
            .expect_error(404, "MANIFEST_UNKNOWN");
    }
    call(&app, get("/v2/hosted/mgmt/tags/list"))
        .await
        .expect_error(404, "NAME_UNKNOWN");

    // Delete blobs.
    for d in [&layer, &config] {
        assert_eq!(
            call(
                &app,
                TestRequest::delete().uri(&format!("/v2/hosted/mgmt/blobs/{d}"))
            )
            .await
            .status,
            202
        );
        call(&app, get(&format!("/v2/hosted/mgmt/blobs/{d}")))
            .await
            .expect_error(404, "BLOB_UNKNOWN");
    }
    call(
        &app,
        TestRequest::delete().uri(&format!("/v2/hosted/mgmt/blobs/{layer}")),
    )
    .await
    .expect_error(404, "BLOB_UNKNOWN");

    // A read-only repository refuses deletes.
    let t = instance("[[repository]]\nname = \"ro\"\nformat = \"docker\"\nkind = \"hosted\"\nwrite_policy = \"deny\"").await;
    let app = main_app!(t.trove);
    call(&app, TestRequest::delete().uri("/v2/ro/x/manifests/a"))
        .await
        .expect_error(405, "UNSUPPORTED");
}
