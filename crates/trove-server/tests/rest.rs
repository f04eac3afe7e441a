//! The REST API (`/service/rest/v1`, `/metrics`, `/service/rest/openapi.json`), in process:
//! every endpoint's success path, validation errors naming the field, 401 without credentials,
//! 403 for a non-admin and for entities defined in trove.toml, 404s, 409s, and every answer
//! checked against the OpenAPI document (whose routes trove-rest's own tests check).

use actix_web::test::TestRequest;
use serde_json::{Value, json};
use trove_rest::testing::{conforms, openapi};

use crate::support::{self, OCI_MANIFEST, Resp, anonymous, basic, call, get, image_manifest};

const V1: &str = "/service/rest/v1";
const DEV_PW: &str = "dev-password";

/// `dev`: a non-admin with browse and read on `hosted`; a role, a privilege (inline in the
/// role), a user and a routing rule declared in the file (read-only through the API).
const CONFIG: &str = r#"
[[role]]
name = "readers"
privileges = [{ format = "docker", repo = "hosted", actions = ["browse", "read"] }]
[[user]]
name = "dev"
password_file = "DEVPW"
roles = ["readers"]
[[routing_rule]]
name = "config-rule"
mode = "block"
matchers = ["^/v2/secret/.*"]
"#;

struct T {
    _dir: tempfile::TempDir,
    trove: std::sync::Arc<trove_server::Trove>,
}

async fn setup(extra: &str) -> T {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("dev.password");
    std::fs::write(&pw, DEV_PW).unwrap();
    let config = CONFIG.replace("DEVPW", pw.to_str().unwrap());
    let trove = support::open(&dir, &format!("{config}{extra}")).await;
    T { _dir: dir, trove }
}

fn v1(path: &str) -> String {
    format!("{V1}{path}")
}

fn fetch(path: &str) -> TestRequest {
    get(&v1(path))
}

fn post(path: &str, body: Value) -> TestRequest {
    TestRequest::post().uri(&v1(path)).set_json(body)
}

fn put(path: &str, body: Value) -> TestRequest {
    TestRequest::put().uri(&v1(path)).set_json(body)
}

fn delete(path: &str) -> TestRequest {
    TestRequest::delete().uri(&v1(path))
}

fn as_user(req: TestRequest, user: &str, pw: &str) -> TestRequest {
    req.insert_header(("authorization", basic(user, pw)))
}

fn as_dev(req: TestRequest) -> TestRequest {
    as_user(req, "dev", DEV_PW)
}

fn body(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// Asserts a success status; returns the JSON body.
#[track_caller]
fn ok(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", body(r));
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

/// Asserts an error answer in the one shape; returns its `error` object.
#[track_caller]
fn error(r: &Resp, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", body(r));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    let v = r.json();
    assert_eq!(v["error"]["code"], code, "{}", body(r));
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        body(r)
    );
    if status == 401 {
        assert_eq!(
            r.header("www-authenticate").as_deref(),
            Some("Basic realm=\"trove\"")
        );
    }
    v["error"].clone()
}

/// Asserts a 400 naming `field`; returns the message.
#[track_caller]
fn invalid(r: &Resp, field: &str) -> String {
    let e = error(r, 400, "INVALID");
    assert_eq!(e["field"], field, "{}", body(r));
    e["message"].as_str().unwrap().to_owned()
}

#[track_caller]
fn read_only(r: &Resp) {
    let e = error(r, 403, "FORBIDDEN");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("trove.toml"), "{msg}");
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_owned())
        .collect()
}

// ---- the OpenAPI document ---------------------------------------------------------------------

// The document in step with the routes and the input types is checked in trove-rest
// (`openapi_tests.rs`); here every answer is checked against it with `conforms`.

// ---- status, metrics, dashboard -------------------------------------------------------------

#[actix_web::test]
async fn status_needs_no_credentials() {
    let t = setup("").await;
    let app = main_app!(t.trove);
    for path in ["/status", "/status/writable"] {
        let r = call(&app, anonymous(fetch(path))).await;
        let v = ok(&r, 200);
        conforms("Health", &v);
        assert_eq!(v["ok"], true);
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
        // Bad credentials do not matter here either.
        let r = call(&app, as_user(fetch(path), "tester", "wrong")).await;
        assert_eq!(r.status, 200);
    }
}

#[actix_web::test]
async fn dashboard_blob_stores_and_metrics() {
    let t = setup("").await;
    let app = main_app!(t.trove);
    push_blob!(app, "img", b"some layer");

    let v = ok(&call(&app, fetch("/dashboard")).await, 200);
    conforms("Dashboard", &v);
    assert_eq!(names(&v["repositories"]), ["hosted"]);
    assert_eq!(v["blob_store"]["blobs"], 1);

    let v = ok(&call(&app, fetch("/blobstores")).await, 200);
    conforms("BlobStoreView", &v[0]);
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["bytes"], b"some layer".len());

    let r = call(&app, get("/metrics")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/plain; version=0.0.4")
    );
    let text = body(&r);
    // In-process requests skip the listener middleware that counts them: the counter is
    // declared, its values are zero; the gauges are real.
    assert!(
        text.contains("# TYPE trove_http_requests_total counter"),
        "{text}"
    );
    assert!(
        text.contains("trove_http_requests_total{class=\"2xx\"} "),
        "{text}"
    );
    assert!(
        text.contains("trove_repository_assets{repository=\"hosted\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("trove_blob_store_bytes {}\n", b"some layer".len())),
        "{text}"
    );
    assert!(text.contains("trove_uptime_seconds "), "{text}");
    let buckets: Vec<(&str, u64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("trove_http_request_duration_seconds_bucket{le=\""))
        .map(|l| {
            let (le, n) = l.split_once("\"} ").expect("bucket line shape");
            (le, n.parse().expect("bucket count"))
        })
        .collect();
    assert_eq!(buckets.len(), trove_service::metrics::BUCKETS.len() + 1);
    assert_eq!(buckets.last().unwrap().0, "+Inf");
    for (le, _) in &buckets[..buckets.len() - 1] {
        le.parse::<f64>().expect("numeric bound");
    }
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "cumulative");
    let count = text
        .lines()
        .find_map(|l| l.strip_prefix("trove_http_request_duration_seconds_count "))
        .expect("count line");
    assert_eq!(count.parse::<u64>().unwrap(), buckets.last().unwrap().1);
    assert!(
        text.lines()
            .any(|l| l.starts_with("trove_http_request_duration_seconds_sum "))
    );
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = line.rsplit_once(' ').expect("name value");
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad sample line {line:?}"));
    }

    for path in ["/dashboard", "/blobstores"] {
        error(&call(&app, as_dev(fetch(path))).await, 403, "FORBIDDEN");
        error(
            &call(&app, anonymous(fetch(path))).await,
            401,
            "UNAUTHENTICATED",
        );
    }
    error(&call(&app, as_dev(get("/metrics"))).await, 403, "FORBIDDEN");
    error(
        &call(&app, anonymous(get("/metrics"))).await,
        401,
        "UNAUTHENTICATED",
    );
}

// ---- authentication and the error shape -----------------------------------------------------

#[actix_web::test]
async fn credentials_basic_bearer_and_bad_bodies() {
    let t = setup("").await;
    let app = main_app!(t.trove);
    // Wrong password, unknown scheme: 401 in the one shape.
    let e = error(
        &call(&app, as_user(fetch("/repositories"), "tester", "wrong")).await,
        401,
        "UNAUTHENTICATED",
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("invalid username or password"),
        "{e}"
    );
    let r = call(
        &app,
        fetch("/repositories").insert_header(("authorization", "Digest x")),
    )
    .await;
    error(&r, 401, "UNAUTHENTICATED");
    // A Bearer token from /v2/token works as well.
    let r = call(&app, get("/v2/token?service=trove")).await;
    let token = ok(&r, 200)["token"].as_str().unwrap().to_owned();
    let r = call(
        &app,
        fetch("/security/users").insert_header(("authorization", format!("Bearer {token}"))),
    )
    .await;
    assert!(names(&ok(&r, 200)).contains(&"tester".to_owned()));

    // No credentials: 401 before the body is even read.
    let r = call(
        &app,
        anonymous(TestRequest::post().uri(&v1("/repositories")))
            .insert_header(("content-type", "application/json"))
            .set_payload("{not json"),
    )
    .await;
    error(&r, 401, "UNAUTHENTICATED");

    // Bodies actix refuses: the same shape.
    let r = call(
        &app,
        TestRequest::post()
            .uri(&v1("/repositories"))
            .insert_header(("content-type", "application/json"))
            .set_payload("{not json"),
    )
    .await;
    let e = error(&r, 400, "INVALID");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("the body is not valid JSON"),
        "{e}"
    );
    let r = call(
        &app,
        TestRequest::post()
            .uri(&v1("/repositories"))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload("name=x"),
    )
    .await;
    let e = error(&r, 415, "INVALID");
    assert!(
        e["message"].as_str().unwrap().contains("application/json"),
        "{e}"
    );
    let big = json!({ "name": "x".repeat(trove_rest::JSON_LIMIT), "kind": "hosted" });
    error(
        &call(&app, post("/repositories", big)).await,
        413,
        "INVALID",
    );
    let msg = invalid(
        &call(
            &app,
            post(
                "/repositories",
                json!({"name": "x", "kind": "hosted", "nmae": "y"}),
            ),
        )
        .await,
        "nmae",
    );
    assert!(msg.contains("unknown field `nmae`"), "{msg}");
    let msg = invalid(
        &call(&app, post("/repositories", json!({"kind": "hosted"}))).await,
        "name",
    );
    assert!(msg.contains("missing field `name`"), "{msg}");
    let msg = error(
        &call(
            &app,
            post("/repositories", json!({"name": 5, "kind": "hosted"})),
        )
        .await,
        400,
        "INVALID",
    )["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("invalid type"), "{msg}");
}

// ---- repositories ---------------------------------------------------------------------------

#[actix_web::test]
async fn repositories_create_list_edit_delete() {
    let t = setup("").await;
    let app = main_app!(t.trove);
    let v = ok(&call(&app, fetch("/repositories")).await, 200);
    assert_eq!(names(&v), ["hosted"]);
    conforms("RepoView", &v[0]);
    assert_eq!(v[0]["read_only"], "defined in trove.toml");
    assert_eq!(v[0]["managed_by"], "config");

    // Create a hosted repository with a connector port (in-process tests start no listener).
    let input = json!({"name": "made", "kind": "hosted", "connector": {"http": 18555}});
    conforms("RepoInput", &input);
    let v = ok(&call(&app, post("/repositories", input.clone())).await, 201);
    conforms("RepoView", &v);
    assert_eq!(v["name"], "made");
    assert_eq!(v["managed_by"], "ui");
    assert_eq!(v["read_only"], Value::Null);
    assert_eq!(v["connector"]["http"], 18555);
    assert_eq!(v["settings"]["kind"], "hosted");
    assert_eq!(v["path_url"], "/repository/made/");
    let v = ok(&call(&app, fetch("/repositories")).await, 200);
    assert_eq!(names(&v), ["hosted", "made"]);
    let v = ok(&call(&app, fetch("/repositories/made")).await, 200);
    assert_eq!(v["connector"]["http"], 18555);
    assert!(
        t.trove.repository("made").is_some(),
        "running after the refresh"
    );

    error(
        &call(&app, post("/repositories", input)).await,
        409,
        "CONFLICT",
    );
    invalid(
        &call(
            &app,
            post(
                "/repositories",
                json!({"name": "Bad Name", "kind": "hosted"}),
            ),
        )
        .await,
        "name",
    );
    let msg = invalid(
        &call(
            &app,
            post("/repositories", json!({"name": "k", "kind": "weird"})),
        )
        .await,
        "kind",
    );
    assert!(msg.contains("hosted, proxy, group"), "{msg}");
    let msg = invalid(
        &call(
            &app,
            post(
                "/repositories",
                json!({"name": "p", "kind": "hosted", "connector": {"http": 18555}}),
            ),
        )
        .await,
        "connector.http",
    );
    assert!(msg.contains("made"), "{msg}");
    invalid(
        &call(
            &app,
            post("/repositories", json!({"name": "p", "kind": "proxy"})),
        )
        .await,
        "remote",
    );
    invalid(
        &call(
            &app,
            post(
                "/repositories",
                json!({"name": "p", "kind": "hosted", "routing_rule": "nope"}),
            ),
        )
        .await,
        "routing_rule",
    );

    // Edit.
    let v = ok(
        &call(
            &app,
            put(
                "/repositories/made",
                json!({"name": "made", "kind": "hosted", "write_policy": "deny"}),
            ),
        )
        .await,
        200,
    );
    assert_eq!(v["settings"]["write_policy"], "deny");
    assert_eq!(v["connector"], Value::Null);
    invalid(
        &call(
            &app,
            put(
                "/repositories/made",
                json!({"name": "other", "kind": "hosted"}),
            ),
        )
        .await,
        "name",
    );
    invalid(
        &call(
            &app,
            put(
                "/repositories/made",
                json!({"name": "made", "kind": "hosted", "write_policy": "sometimes"}),
            ),
        )
        .await,
        "write_policy",
    );
    read_only(
        &call(
            &app,
            put(
                "/repositories/hosted",
                json!({"name": "hosted", "kind": "hosted"}),
            ),
        )
        .await,
    );
    error(
        &call(
            &app,
            put(
                "/repositories/nope",
                json!({"name": "nope", "kind": "hosted"}),
            ),
        )
        .await,
        404,
        "NOT_FOUND",
    );

    // A member of a group cannot go before the group does.
    ok(
        &call(
            &app,
            post(
                "/repositories",
                json!({"name": "grp", "kind": "group", "members": ["made"]}),
            ),
        )
        .await,
        201,
    );
    let msg = error(
        &call(&app, delete("/repositories/made")).await,
        400,
        "INVALID",
    )["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("grp"), "{msg}");
    ok(&call(&app, delete("/repositories/grp")).await, 204);

    // Delete.
    read_only(&call(&app, delete("/repositories/hosted")).await);
    ok(&call(&app, delete("/repositories/made")).await, 204);
    error(
        &call(&app, fetch("/repositories/made")).await,
        404,
        "NOT_FOUND",
    );
    error(
        &call(&app, delete("/repositories/made")).await,
        404,
        "NOT_FOUND",
    );
    assert!(t.trove.repository("made").is_none());

    // A non-admin sees what it may browse, and changes nothing.
    ok(
        &call(
            &app,
            post("/repositories", json!({"name": "hidden", "kind": "hosted"})),
        )
        .await,
        201,
    );
    let v = ok(&call(&app, as_dev(fetch("/repositories"))).await, 200);
    assert_eq!(names(&v), ["hosted"]);
    ok(
        &call(&app, as_dev(fetch("/repositories/hosted"))).await,
        200,
    );
    error(
        &call(&app, as_dev(fetch("/repositories/hidden"))).await,
        403,
        "FORBIDDEN",
    );
    error(
        &call(
            &app,
            as_dev(post(
                "/repositories",
                json!({"name": "x", "kind": "hosted"}),
            )),
        )
        .await,
        403,
        "FORBIDDEN",
    );
    error(
        &call(
            &app,
            as_dev(put(
                "/repositories/hidden",
                json!({"name": "hidden", "kind": "hosted"}),
            )),
        )
        .await,
        403,
        "FORBIDDEN",
    );
    error(
        &call(&app, as_dev(delete("/repositories/hidden"))).await,
        403,
        "FORBIDDEN",
    );
    for req in [
        fetch("/repositories"),
        fetch("/repositories/hosted"),
        post("/repositories", json!({"name": "x", "kind": "hosted"})),
        put(
            "/repositories/hidden",
            json!({"name": "hidden", "kind": "hosted"}),
        ),
        delete("/repositories/hidden"),
    ] {
        error(&call(&app, anonymous(req)).await, 401, "UNAUTHENTICATED");
    }
}

// ---- content --------------------------------------------------------------------------------

#[actix_web::test]
async fn browse_images_tags_manifests_and_delete_a_tag() {
    let t = setup("").await;
    let app = main_app!(t.trove);
    let config_json: &[u8] = b"{\"architecture\":\"amd64\"}";
    let config = push_blob!(app, "team/app", config_json);
    let layer = push_blob!(app, "team/app", b"layer bytes");
    let m = image_manifest(OCI_MANIFEST, (&config, config_json.len()), &[(&layer, 11)]);
    let r = call(
        &app,
        support::put_manifest("/v2/hosted/team/app/manifests/1", OCI_MANIFEST, &m),
    )
    .await;
    assert_eq!(r.status, 201, "{}", body(&r));
    let digest = support::sha256(&m);

    let v = ok(&call(&app, fetch("/repositories/hosted/images")).await, 200);
    conforms("RepoContent", &v);
    assert_eq!(
        v["images"],
        json!([{"name": "team/app", "tags": 1, "manifests": 1}])
    );

    let v = ok(
        &call(
            &app,
            fetch("/repositories/hosted/images/tags?image=team/app"),
        )
        .await,
        200,
    );
    conforms("ImageView", &v);
    assert_eq!(v["manifests"][0]["tag"], "1");
    assert_eq!(v["manifests"][0]["digest"], digest.as_str());
    assert_eq!(v["can_delete"], true);

    for reference in ["1", digest.as_str()] {
        let v = ok(
            &call(
                &app,
                fetch(&format!(
                    "/repositories/hosted/manifests?image=team/app&reference={reference}"
                )),
            )
            .await,
            200,
        );
        conforms("ManifestDetail", &v);
        assert_eq!(v["digest"], digest.as_str());
        assert_eq!(v["tags"], json!(["1"]));
        assert_eq!(v["layers"][0]["digest"], layer.as_str());
        assert_eq!(v["layers_size"], 11);
        assert_eq!(v["config"]["digest"], config.as_str());
        let pretty = v["pretty"].as_str().unwrap();
        assert!(pretty.contains("\n  \"schemaVersion\": 2"), "{pretty}");
    }

    // Query strings name what is missing.
    let msg = invalid(
        &call(&app, fetch("/repositories/hosted/images/tags")).await,
        "image",
    );
    assert!(msg.contains("missing field `image`"), "{msg}");
    invalid(
        &call(&app, fetch("/repositories/hosted/manifests?image=team/app")).await,
        "reference",
    );
    error(
        &call(
            &app,
            fetch("/repositories/hosted/images/tags?image=no/such"),
        )
        .await,
        404,
        "NOT_FOUND",
    );
    error(
        &call(
            &app,
            fetch("/repositories/hosted/manifests?image=team/app&reference=2"),
        )
        .await,
        404,
        "NOT_FOUND",
    );
    error(
        &call(&app, fetch("/repositories/nope/images")).await,
        404,
        "NOT_FOUND",
    );

    // dev may browse and read, not delete.
    ok(
        &call(&app, as_dev(fetch("/repositories/hosted/images"))).await,
        200,
    );
    let v = ok(
        &call(
            &app,
            as_dev(fetch("/repositories/hosted/images/tags?image=team/app")),
        )
        .await,
        200,
    );
    assert_eq!(v["can_delete"], false);
    let tag = "/repositories/hosted/manifests?image=team/app&reference=1";
    error(&call(&app, as_dev(delete(tag))).await, 403, "FORBIDDEN");
    for req in [
        fetch("/repositories/hosted/images"),
        fetch("/repositories/hosted/images/tags?image=team/app"),
        fetch(tag),
        delete(tag),
    ] {
        error(&call(&app, anonymous(req)).await, 401, "UNAUTHENTICATED");
    }

    // Delete the tag: gone from the API and from the registry.
    ok(&call(&app, delete(tag)).await, 204);
    error(&call(&app, fetch(tag)).await, 404, "NOT_FOUND");
    error(&call(&app, delete(tag)).await, 404, "NOT_FOUND");
    assert_eq!(
        call(&app, get("/v2/hosted/team/app/manifests/1"))
            .await
            .status,
        404
    );
}

// ---- users ----------------------------------------------------------------------------------

#[actix_web::test]
async fn users_and_own_password() {
    let t = setup("").await;
    let app = main_app!(t.trove);
    let v = ok(&call(&app, fetch("/security/users")).await, 200);
    let all = names(&v);
    assert!(
        all.contains(&"tester".to_owned()) && all.contains(&"dev".to_owned()),
        "{all:?}"
    );
    for u in v.as_array().unwrap() {
        conforms("UserView", u);
    }

    let input = json!({"name": "alice", "password": "alice-password", "roles": ["readers"]});
    conforms("UserInput", &input);
    let v = ok(
        &call(&app, post("/security/users", input.clone())).await,
        201,
    );
    conforms("UserView", &v);
    assert_eq!(v["roles"], json!(["readers"]));
    assert_eq!(v["managed_by"], "ui");
    assert_eq!(v["status"], "active");
    error(
        &call(&app, post("/security/users", input)).await,
        409,
        "CONFLICT",
    );
    invalid(
        &call(
            &app,
            post(
                "/security/users",
                json!({"name": "bob", "password": "short"}),
            ),
        )
        .await,
        "password",
    );
    let msg = invalid(
        &call(
            &app,
            post(
                "/security/users",
                json!({"name": "bob", "password": "long enough", "roles": ["nope"]}),
            ),
        )
        .await,
        "roles",
    );
    assert!(msg.contains("nope"), "{msg}");
    let msg = invalid(
        &call(
            &app,
            post(
                "/security/users",
                json!({"name": "bob:x", "password": "long enough"}),
            ),
        )
        .await,
        "name",
    );
    assert!(msg.contains("invalid user name"), "{msg}");
    // alice can read hosted now.
    ok(
        &call(
            &app,
            as_user(fetch("/repositories/hosted"), "alice", "alice-password"),
        )
        .await,
        200,
    );

    let v = ok(&call(&app, fetch("/security/users/alice")).await, 200);
    assert_eq!(v["name"], "alice");
    // `me` is not special outside `me/password`.
    error(
        &call(&app, fetch("/security/users/me")).await,
        404,
        "NOT_FOUND",
    );
    error(
        &call(&app, fetch("/security/users/nobody")).await,
        404,
        "NOT_FOUND",
    );

    let v = ok(
        &call(
            &app,
            put(
                "/security/users/alice",
                json!({"roles": [], "status": "disabled"}),
            ),
        )
        .await,
        200,
    );
    assert_eq!(v["status"], "disabled");
    assert_eq!(v["roles"], json!([]));
    invalid(
        &call(
            &app,
            put("/security/users/alice", json!({"status": "asleep"})),
        )
        .await,
        "status",
    );
    invalid(
        &call(
            &app,
            put("/security/users/alice", json!({"password": "short"})),
        )
        .await,
        "password",
    );
    invalid(
        &call(&app, put("/security/users/alice", json!({"name": "x"}))).await,
        "name",
    );
    error(
        &call(&app, put("/security/users/nobody", json!({"roles": []}))).await,
        404,
        "NOT_FOUND",
    );
    ok(
        &call(
            &app,
            put(
                "/security/users/alice",
                json!({"roles": ["readers"], "status": "active"}),
            ),
        )
        .await,
        200,
    );
    read_only(&call(&app, put("/security/users/dev", json!({"roles": []}))).await);
    read_only(&call(&app, delete("/security/users/dev")).await);
    // An administrator cannot delete or disable themselves.
    let root = json!({"name": "root", "password": "root-password", "roles": ["admin"]});
    ok(&call(&app, post("/security/users", root)).await, 201);
    let as_root = |req| as_user(req, "root", "root-password");
    invalid(
        &call(&app, as_root(delete("/security/users/root"))).await,
        "name",
    );
    invalid(
        &call(
            &app,
            as_root(put("/security/users/root", json!({"status": "disabled"}))),
        )
        .await,
        "status",
    );
    ok(&call(&app, delete("/security/users/root")).await, 204);

    // Own password: any signed-in user, the current one first.
    let me = "/security/users/me/password";
    let alice = |req| as_user(req, "alice", "alice-password");
    invalid(
        &call(
            &app,
            alice(put(
                me,
                json!({"current": "wrong-one", "new": "alice-new-password"}),
            )),
        )
        .await,
        "current",
    );
    invalid(
        &call(
            &app,
            alice(put(
                me,
                json!({"current": "alice-password", "new": "short"}),
            )),
        )
        .await,
        "new",
    );
    invalid(
        &call(&app, alice(put(me, json!({"current": "alice-password"})))).await,
        "new",
    );
    ok(
        &call(
            &app,
            alice(put(
                me,
                json!({"current": "alice-password", "new": "alice-new-password"}),
            )),
        )
        .await,
        204,
    );
    error(
        &call(&app, alice(fetch("/repositories/hosted"))).await,
        401,
        "UNAUTHENTICATED",
    );
    ok(
        &call(
            &app,
            as_user(fetch("/repositories/hosted"), "alice", "alice-new-password"),
        )
        .await,
        200,
    );
    error(
        &call(
            &app,
            anonymous(put(me, json!({"current": "a", "new": "b"}))),
        )
        .await,
        401,
        "UNAUTHENTICATED",
    );

    // Admin only.
    let admin_only = || {
        vec![
            fetch("/security/users"),
            fetch("/security/users/alice"),
            post(
                "/security/users",
                json!({"name": "x", "password": "long enough"}),
            ),
            put("/security/users/alice", json!({"roles": []})),
            delete("/security/users/alice"),
        ]
    };
    for req in admin_only() {
        error(&call(&app, as_dev(req)).await, 403, "FORBIDDEN");
    }
    for req in admin_only() {
        error(&call(&app, anonymous(req)).await, 401, "UNAUTHENTICATED");
    }

    ok(&call(&app, delete("/security/users/alice")).await, 204);
    error(
        &call(&app, delete("/security/users/alice")).await,
        404,
        "NOT_FOUND",
    );
    error(
        &call(&app, fetch("/security/users/alice")).await,
        404,
        "NOT_FOUND",
    );
}

// ---- roles, privileges, explain -------------------------------------------------------------

#[actix_web::test]
async fn privilege_role_user_then_explain_allows() {
    let t = setup("").await;
    let app = main_app!(t.trove);
    // Privileges.
    let v = ok(&call(&app, fetch("/security/privileges")).await, 200);
    for p in v.as_array().unwrap() {
        conforms("PrivilegeView", p);
    }
    let declared = "nx-repository-view-docker-hosted-browse,read";
    let p = v
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == declared)
        .expect("declared privilege");
    assert_eq!(p["roles"], json!(["readers"]));
    let input = json!({"format": "docker", "repository": "hosted", "actions": ["delete"]});
    conforms("PrivilegeInput", &input);
    let v = ok(
        &call(&app, post("/security/privileges", input.clone())).await,
        201,
    );
    conforms("PrivilegeView", &v);
    let privilege = "nx-repository-view-docker-hosted-delete";
    assert_eq!(v["name"], privilege);
    assert_eq!(v["kind"], "repository-view");
    error(
        &call(&app, post("/security/privileges", input)).await,
        409,
        "CONFLICT",
    );
    invalid(
        &call(&app, post("/security/privileges", json!({"actions": []}))).await,
        "actions",
    );
    invalid(
        &call(
            &app,
            post("/security/privileges", json!({"actions": ["fly"]})),
        )
        .await,
        "actions",
    );
    invalid(
        &call(
            &app,
            post(
                "/security/privileges",
                json!({"actions": ["read"], "repo": "x"}),
            ),
        )
        .await,
        "repo",
    );
    let v = ok(
        &call(&app, fetch(&format!("/security/privileges/{privilege}"))).await,
        200,
    );
    assert_eq!(v["actions"], "delete");
    error(
        &call(&app, fetch("/security/privileges/nope")).await,
        404,
        "NOT_FOUND",
    );

    // A role holding it.
    let input = json!({"name": "deleters", "description": "may delete", "privileges": [privilege], "roles": ["readers"]});
    conforms("RoleInput", &input);
    let v = ok(
        &call(&app, post("/security/roles", input.clone())).await,
        201,
    );
    conforms("RoleView", &v);
    assert_eq!(v["privileges"], json!([privilege]));
    assert_eq!(v["managed_by"], "ui");
    error(
        &call(&app, post("/security/roles", input)).await,
        409,
        "CONFLICT",
    );
    let msg = invalid(
        &call(
            &app,
            post(
                "/security/roles",
                json!({"name": "r2", "privileges": ["nope"]}),
            ),
        )
        .await,
        "privileges",
    );
    assert!(msg.contains("nope"), "{msg}");
    invalid(
        &call(
            &app,
            post("/security/roles", json!({"name": "r2", "roles": ["r2"]})),
        )
        .await,
        "roles",
    );
    invalid(
        &call(
            &app,
            post("/security/roles", json!({"name": "r2", "roles": ["nope"]})),
        )
        .await,
        "roles",
    );
    // Names and nesting are checked by the service (trove-auth's rules), not by the store.
    let msg = invalid(
        &call(&app, post("/security/roles", json!({"name": "r:2"}))).await,
        "name",
    );
    assert!(msg.contains("invalid role name"), "{msg}");
    ok(
        &call(
            &app,
            post(
                "/security/roles",
                json!({"name": "r3", "roles": ["deleters"]}),
            ),
        )
        .await,
        201,
    );
    let msg = invalid(
        &call(
            &app,
            put(
                "/security/roles/deleters",
                json!({"name": "deleters", "privileges": [privilege], "roles": ["r3"]}),
            ),
        )
        .await,
        "roles",
    );
    assert!(
        msg.contains("role cycle: deleters → r3 → deleters"),
        "{msg}"
    );
    let v = ok(&call(&app, fetch("/security/roles")).await, 200);
    assert!(names(&v).contains(&"deleters".to_owned()));
    for role in v.as_array().unwrap() {
        conforms("RoleView", role);
    }
    let readers = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "readers")
        .unwrap();
    assert_eq!(readers["read_only"], "defined in trove.toml");
    ok(&call(&app, fetch("/security/roles/deleters")).await, 200);
    error(
        &call(&app, fetch("/security/roles/nope")).await,
        404,
        "NOT_FOUND",
    );
    let v = ok(
        &call(
            &app,
            put(
                "/security/roles/deleters",
                json!({"name": "deleters", "privileges": [privilege]}),
            ),
        )
        .await,
        200,
    );
    assert_eq!(v["roles"], json!([]));
    assert_eq!(v["description"], "");
    invalid(
        &call(
            &app,
            put("/security/roles/deleters", json!({"name": "renamed"})),
        )
        .await,
        "name",
    );
    error(
        &call(&app, put("/security/roles/nope", json!({"name": "nope"}))).await,
        404,
        "NOT_FOUND",
    );
    read_only(
        &call(
            &app,
            put("/security/roles/readers", json!({"name": "readers"})),
        )
        .await,
    );
    read_only(&call(&app, delete("/security/roles/readers")).await);
    read_only(&call(&app, delete(&format!("/security/privileges/{declared}"))).await);

    // A user with the role; explain says allowed, and why.
    ok(
        &call(
            &app,
            post(
                "/security/users",
                json!({"name": "carl", "password": "carl-password", "roles": ["deleters"]}),
            ),
        )
        .await,
        201,
    );
    let explain = "/security/access/explain?user=carl&repo=hosted&action=delete";
    let v = ok(&call(&app, fetch(explain)).await, 200);
    conforms("ExplainView", &v);
    assert_eq!(v["allowed"], true, "{v}");
    assert_eq!(v["roles"], json!(["deleters"]));
    assert_eq!(v["privilege"], privilege);
    assert_eq!(v["user"], "carl");
    assert_eq!(v["repository"], "hosted");
    assert_eq!(v["action"], "delete");
    let v = ok(
        &call(
            &app,
            fetch("/security/access/explain?user=carl&repo=hosted&action=add"),
        )
        .await,
        200,
    );
    assert_eq!(v["allowed"], false);
    assert!(!v["missing"].as_str().unwrap().is_empty());
    invalid(
        &call(
            &app,
            fetch("/security/access/explain?user=carl&repo=hosted&action=fly"),
        )
        .await,
        "action",
    );
    invalid(
        &call(
            &app,
            fetch("/security/access/explain?user=nobody&repo=hosted&action=read"),
        )
        .await,
        "user",
    );
    let msg = invalid(
        &call(&app, fetch("/security/access/explain?repo=hosted")).await,
        "user",
    );
    assert!(msg.contains("missing field `user`"), "{msg}");

    // Admin only.
    let admin_only = || {
        vec![
            fetch("/security/privileges"),
            fetch(&format!("/security/privileges/{privilege}")),
            post("/security/privileges", json!({"actions": ["read"]})),
            delete(&format!("/security/privileges/{privilege}")),
            fetch("/security/roles"),
            fetch("/security/roles/deleters"),
            post("/security/roles", json!({"name": "x"})),
            put("/security/roles/deleters", json!({"name": "deleters"})),
            delete("/security/roles/deleters"),
            fetch(explain),
        ]
    };
    for req in admin_only() {
        error(&call(&app, as_dev(req)).await, 403, "FORBIDDEN");
    }
    for req in admin_only() {
        error(&call(&app, anonymous(req)).await, 401, "UNAUTHENTICATED");
    }

    // Deletes.
    ok(&call(&app, delete("/security/roles/deleters")).await, 204);
    error(
        &call(&app, delete("/security/roles/deleters")).await,
        404,
        "NOT_FOUND",
    );
    ok(
        &call(&app, delete(&format!("/security/privileges/{privilege}"))).await,
        204,
    );
    error(
        &call(&app, delete(&format!("/security/privileges/{privilege}"))).await,
        404,
        "NOT_FOUND",
    );
}

// ---- anonymous access and realms ------------------------------------------------------------

#[actix_web::test]
async fn anonymous_access_on_and_off() {
    let t = setup("").await;
    let app = main_app!(t.trove);
    let v = ok(&call(&app, fetch("/security/anonymous")).await, 200);
    conforms("AnonymousView", &v);
    assert_eq!(v["enabled"], false);
    assert_eq!(v["read_only"], Value::Null);
    error(
        &call(&app, anonymous(fetch("/repositories"))).await,
        401,
        "UNAUTHENTICATED",
    );

    let v = ok(
        &call(&app, put("/security/anonymous", json!({"enabled": true}))).await,
        200,
    );
    assert_eq!(v["enabled"], true);
    // Anonymous callers get the anonymous user's roles: no admin rights.
    ok(&call(&app, anonymous(fetch("/repositories"))).await, 200);
    error(
        &call(&app, anonymous(fetch("/security/users"))).await,
        401,
        "UNAUTHENTICATED",
    );

    invalid(
        &call(&app, put("/security/anonymous", json!({}))).await,
        "enabled",
    );
    invalid(
        &call(
            &app,
            put(
                "/security/anonymous",
                json!({"enabled": true, "userId": "x"}),
            ),
        )
        .await,
        "userId",
    );
    error(
        &call(&app, put("/security/anonymous", json!({"enabled": "yes"}))).await,
        400,
        "INVALID",
    );
    error(
        &call(
            &app,
            as_dev(put("/security/anonymous", json!({"enabled": false}))),
        )
        .await,
        403,
        "FORBIDDEN",
    );
    error(
        &call(&app, as_dev(fetch("/security/anonymous"))).await,
        403,
        "FORBIDDEN",
    );

    let v = ok(
        &call(&app, put("/security/anonymous", json!({"enabled": false}))).await,
        200,
    );
    assert_eq!(v["enabled"], false);
    error(
        &call(&app, anonymous(fetch("/repositories"))).await,
        401,
        "UNAUTHENTICATED",
    );
    error(
        &call(&app, anonymous(fetch("/security/anonymous"))).await,
        401,
        "UNAUTHENTICATED",
    );
}

#[actix_web::test]
async fn realms_active() {
    let t = setup("").await;
    let app = main_app!(t.trove);
    let v = ok(&call(&app, fetch("/security/realms/active")).await, 200);
    conforms("RealmsView", &v);
    assert_eq!(v["active"], json!(["basic", "docker-token"]));
    let r = call(&app, get("/v2/token?service=trove")).await;
    let token = ok(&r, 200)["token"].as_str().unwrap().to_owned();
    let body = json!(["basic"]);
    conforms("RealmNames", &body);
    let v = ok(&call(&app, put("/security/realms/active", body)).await, 200);
    assert_eq!(v["active"], json!(["basic"]));
    // Bearer tokens are refused now; Basic still works.
    let r = call(
        &app,
        fetch("/repositories").insert_header(("authorization", format!("Bearer {token}"))),
    )
    .await;
    error(&r, 401, "UNAUTHENTICATED");
    invalid(
        &call(&app, put("/security/realms/active", json!([]))).await,
        "active",
    );
    invalid(
        &call(&app, put("/security/realms/active", json!(["ldap"]))).await,
        "active",
    );
    error(
        &call(
            &app,
            put("/security/realms/active", json!({"active": ["basic"]})),
        )
        .await,
        400,
        "INVALID",
    );
    error(
        &call(
            &app,
            as_dev(put("/security/realms/active", json!(["basic"]))),
        )
        .await,
        403,
        "FORBIDDEN",
    );
    error(
        &call(&app, as_dev(fetch("/security/realms/active"))).await,
        403,
        "FORBIDDEN",
    );
    error(
        &call(&app, anonymous(fetch("/security/realms/active"))).await,
        401,
        "UNAUTHENTICATED",
    );
    let v = ok(
        &call(
            &app,
            put("/security/realms/active", json!(["basic", "docker-token"])),
        )
        .await,
        200,
    );
    assert_eq!(v["active"], json!(["basic", "docker-token"]));
}

#[actix_web::test]
async fn anonymous_and_realms_declared_in_the_file_are_read_only() {
    let t = setup("[security]\nanonymous = false\nrealms = [\"basic\"]\n").await;
    let app = main_app!(t.trove);
    let v = ok(&call(&app, fetch("/security/anonymous")).await, 200);
    assert_eq!(v["read_only"], "defined in trove.toml");
    read_only(&call(&app, put("/security/anonymous", json!({"enabled": true}))).await);
    let v = ok(&call(&app, fetch("/security/realms/active")).await, 200);
    assert_eq!(v["read_only"], "defined in trove.toml");
    read_only(
        &call(
            &app,
            put("/security/realms/active", json!(["basic", "docker-token"])),
        )
        .await,
    );
}

// ---- routing rules --------------------------------------------------------------------------

#[actix_web::test]
async fn routing_rules_create_preview_test_attach_delete() {
    let t = setup("").await;
    let app = main_app!(t.trove);
    let v = ok(&call(&app, fetch("/routing-rules")).await, 200);
    assert_eq!(names(&v), ["config-rule"]);
    conforms("RuleView", &v[0]);
    assert_eq!(v[0]["read_only"], "defined in trove.toml");

    let input = json!({"name": "team", "mode": "allow", "matchers": ["^/v2/team/.*"]});
    conforms("RuleInput", &input);
    let v = ok(
        &call(&app, post("/routing-rules", input.clone())).await,
        201,
    );
    conforms("RuleView", &v);
    assert_eq!(v["mode"], "allow");
    assert_eq!(v["used_by"], json!([]));
    error(
        &call(&app, post("/routing-rules", input)).await,
        409,
        "CONFLICT",
    );
    invalid(
        &call(
            &app,
            post(
                "/routing-rules",
                json!({"name": "r", "mode": "maybe", "matchers": ["x"]}),
            ),
        )
        .await,
        "mode",
    );
    invalid(
        &call(
            &app,
            post(
                "/routing-rules",
                json!({"name": "r", "mode": "block", "matchers": ["("]}),
            ),
        )
        .await,
        "matchers",
    );
    invalid(
        &call(
            &app,
            post(
                "/routing-rules",
                json!({"name": "r", "mode": "block", "matchers": [" "]}),
            ),
        )
        .await,
        "matchers",
    );
    ok(&call(&app, fetch("/routing-rules/team")).await, 200);
    error(
        &call(&app, fetch("/routing-rules/nope")).await,
        404,
        "NOT_FOUND",
    );
    // `preview` is a path of its own for POST only: GET falls through to the rule called so.
    error(
        &call(&app, fetch("/routing-rules/preview")).await,
        404,
        "NOT_FOUND",
    );

    let v = ok(
        &call(
            &app,
            put(
                "/routing-rules/team",
                json!({"name": "team", "description": "team images", "mode": "allow", "matchers": ["^/v2/team/.*", "^/v2/shared/.*"]}),
            ),
        )
        .await,
        200,
    );
    assert_eq!(v["description"], "team images");
    assert_eq!(v["matchers"].as_array().unwrap().len(), 2);
    invalid(
        &call(
            &app,
            put(
                "/routing-rules/team",
                json!({"name": "other", "mode": "allow", "matchers": ["x"]}),
            ),
        )
        .await,
        "name",
    );
    read_only(
        &call(
            &app,
            put(
                "/routing-rules/config-rule",
                json!({"name": "config-rule", "mode": "allow", "matchers": ["x"]}),
            ),
        )
        .await,
    );

    // Test the stored rule, preview a draft.
    let v = ok(
        &call(
            &app,
            fetch("/routing-rules/team/test?path=/v2/team/x/manifests/1"),
        )
        .await,
        200,
    );
    conforms("RuleTestView", &v);
    assert_eq!(v["allowed"], true);
    assert_eq!(v["rule"], "team");
    assert_eq!(v["path"], "/v2/team/x/manifests/1");
    let v = ok(
        &call(
            &app,
            fetch("/routing-rules/team/test?path=/v2/other/x/manifests/1"),
        )
        .await,
        200,
    );
    assert_eq!(v["allowed"], false);
    assert!(!v["explanation"].as_str().unwrap().is_empty());
    invalid(&call(&app, fetch("/routing-rules/team/test")).await, "path");
    invalid(
        &call(&app, fetch("/routing-rules/team/test?path=../x")).await,
        "path",
    );
    error(
        &call(&app, fetch("/routing-rules/nope/test?path=/v2/x")).await,
        404,
        "NOT_FOUND",
    );
    let preview = json!({"rule": {"name": "", "mode": "block", "matchers": ["^/v2/secret/.*"]}, "path": "/v2/secret/x/manifests/1"});
    conforms("RulePreview", &preview);
    let v = ok(
        &call(&app, post("/routing-rules/preview", preview)).await,
        200,
    );
    assert_eq!(v["allowed"], false);
    assert_eq!(v["rule"], "draft");
    invalid(
        &call(
            &app,
            post(
                "/routing-rules/preview",
                json!({"rule": {"name": "d", "mode": "no", "matchers": ["x"]}, "path": "/v2/x"}),
            ),
        )
        .await,
        "mode",
    );
    invalid(
        &call(
            &app,
            post(
                "/routing-rules/preview",
                json!({"rule": {"name": "d", "mode": "allow", "matchers": ["x"]}}),
            ),
        )
        .await,
        "path",
    );

    // Attach to a repository; deleting the rule is refused while it guards one.
    let v = ok(
        &call(
            &app,
            post(
                "/repositories",
                json!({"name": "guarded", "kind": "hosted", "routing_rule": "team"}),
            ),
        )
        .await,
        201,
    );
    assert_eq!(v["routing_rule"], "team");
    let v = ok(&call(&app, fetch("/routing-rules/team")).await, 200);
    assert_eq!(v["used_by"], json!(["guarded"]));
    let r = call(
        &app,
        TestRequest::post().uri("/v2/guarded/other/app/blobs/uploads/"),
    )
    .await;
    assert_eq!(r.status, 403, "the rule is in force: {}", body(&r));
    let msg = error(
        &call(&app, delete("/routing-rules/team")).await,
        400,
        "INVALID",
    )["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("guarded"), "{msg}");
    read_only(&call(&app, delete("/routing-rules/config-rule")).await);

    // Admin only.
    let admin_only = || {
        vec![
            fetch("/routing-rules"),
            fetch("/routing-rules/team"),
            post(
                "/routing-rules",
                json!({"name": "x", "mode": "allow", "matchers": ["x"]}),
            ),
            put(
                "/routing-rules/team",
                json!({"name": "team", "mode": "allow", "matchers": ["x"]}),
            ),
            delete("/routing-rules/team"),
            fetch("/routing-rules/team/test?path=/v2/x"),
            post(
                "/routing-rules/preview",
                json!({"rule": {"name": "d", "mode": "allow", "matchers": ["x"]}, "path": "/v2/x"}),
            ),
        ]
    };
    for req in admin_only() {
        error(&call(&app, as_dev(req)).await, 403, "FORBIDDEN");
    }
    for req in admin_only() {
        error(&call(&app, anonymous(req)).await, 401, "UNAUTHENTICATED");
    }

    // Detach, then delete.
    ok(
        &call(
            &app,
            put(
                "/repositories/guarded",
                json!({"name": "guarded", "kind": "hosted"}),
            ),
        )
        .await,
        200,
    );
    ok(&call(&app, delete("/routing-rules/team")).await, 204);
    error(
        &call(&app, fetch("/routing-rules/team")).await,
        404,
        "NOT_FOUND",
    );
    error(
        &call(&app, delete("/routing-rules/team")).await,
        404,
        "NOT_FOUND",
    );
}

#[actix_web::test]
async fn formats_come_from_the_registry() {
    let t = setup("").await;
    let app = main_app!(t.trove);
    let v = ok(&call(&app, fetch("/formats")).await, 200);
    let listed: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    let registered: Vec<String> = trove_formats::registry()
        .ids()
        .map(|i| i.to_string())
        .collect();
    assert_eq!(listed, registered);
    for f in v.as_array().unwrap() {
        conforms("FormatView", f);
    }
    let docker = &v[0];
    assert_eq!(docker["label"], "Docker / OCI");
    assert_eq!(docker["kinds"], json!(["hosted", "proxy", "group"]));
    assert_eq!(docker["options"][0]["key"], "hub_index");
    assert_eq!(docker["options"][0]["kinds"], json!(["proxy"]));
    // The formats a repository may name are documented as the registry's.
    let doc = openapi();
    let documented = &doc["components"]["schemas"]["RepoInput"]["properties"]["format"]["enum"];
    assert_eq!(documented, &json!(registered));
    error(
        &call(&app, anonymous(fetch("/formats"))).await,
        401,
        "UNAUTHENTICATED",
    );
    ok(&call(&app, as_dev(fetch("/formats"))).await, 200);
}

#[actix_web::test]
async fn browse_components_assets_and_delete_through_the_format_views() {
    let t = setup("").await;
    let app = main_app!(t.trove);
    let config_json: &[u8] = b"{\"architecture\":\"amd64\"}";
    let config = push_blob!(app, "team/app", config_json);
    let layer = push_blob!(app, "team/app", b"layer bytes");
    let m = image_manifest(OCI_MANIFEST, (&config, config_json.len()), &[(&layer, 11)]);
    let digest = support::sha256(&m);
    for tag in ["1", "2"] {
        let r = call(
            &app,
            support::put_manifest(
                &format!("/v2/hosted/team/app/manifests/{tag}"),
                OCI_MANIFEST,
                &m,
            ),
        )
        .await;
        assert_eq!(r.status, 201, "{}", body(&r));
    }

    let v = ok(
        &call(&app, fetch("/repositories/hosted/components")).await,
        200,
    );
    conforms("BrowseContent", &v);
    assert_eq!(v["format"], "docker");
    assert_eq!(v["nouns"]["component"], "image");
    let entries = &v["components"]["entries"];
    assert_eq!(entries.as_array().unwrap().len(), 1);
    assert_eq!(entries[0]["key"], "team/app");
    assert_eq!(
        entries[0]["facts"],
        json!({"name": "team/app", "tags": 2, "manifests": 1})
    );
    assert_eq!(
        entries[0]["cells"][0],
        json!({"type": "link", "value": {"text": {"type": "text", "value": "team/app"}, "to": {"component": {"component": "team/app"}}}})
    );

    let v = ok(
        &call(
            &app,
            fetch("/repositories/hosted/components/assets?component=team/app"),
        )
        .await,
        200,
    );
    conforms("BrowseComponent", &v);
    assert_eq!(v["can_delete"], true);
    let keys: Vec<&str> = v["assets"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["1", "2", digest.as_str()]);
    assert_eq!(v["assets"]["entries"][0]["delete"], "Delete tag 1");

    let v = ok(
        &call(
            &app,
            fetch(&format!(
                "/repositories/hosted/assets?component=team/app&reference={digest}"
            )),
        )
        .await,
        200,
    );
    conforms("BrowseAsset", &v);
    let detail = &v["detail"];
    assert_eq!(detail["title"], "Manifest of team/app");
    assert_eq!(detail["facts"]["digest"], digest.as_str());
    assert_eq!(detail["facts"]["tags"], json!(["1", "2"]));
    let layers = detail["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "layers")
        .expect("a layers section");
    assert_eq!(layers["total"], json!({"type": "bytes", "value": 11}));
    assert_eq!(layers["listing"]["entries"][0]["key"], layer.as_str());
    // The docker words answer the same facts.
    let legacy = ok(
        &call(
            &app,
            fetch(&format!(
                "/repositories/hosted/manifests?image=team/app&reference={digest}"
            )),
        )
        .await,
        200,
    );
    assert_eq!(legacy, detail["facts"]);

    // Missing query keys are named; unknown names are 404s in the format's words.
    invalid(
        &call(&app, fetch("/repositories/hosted/components/assets")).await,
        "component",
    );
    invalid(
        &call(
            &app,
            fetch("/repositories/hosted/assets?component=team/app"),
        )
        .await,
        "reference",
    );
    let e = error(
        &call(
            &app,
            fetch("/repositories/hosted/components/assets?component=no/such"),
        )
        .await,
        404,
        "NOT_FOUND",
    );
    assert!(
        e["message"].as_str().unwrap().contains("no image no/such"),
        "{e}"
    );

    // dev browses and reads, never deletes; anonymous callers are asked to sign in.
    let v = ok(
        &call(
            &app,
            as_dev(fetch(
                "/repositories/hosted/components/assets?component=team/app",
            )),
        )
        .await,
        200,
    );
    assert_eq!(v["can_delete"], false);
    let tag = "/repositories/hosted/assets?component=team/app&reference=1";
    error(&call(&app, as_dev(delete(tag))).await, 403, "FORBIDDEN");
    error(
        &call(&app, anonymous(fetch(tag))).await,
        401,
        "UNAUTHENTICATED",
    );

    ok(&call(&app, delete(tag)).await, 204);
    error(&call(&app, fetch(tag)).await, 404, "NOT_FOUND");
    assert_eq!(
        call(&app, get("/v2/hosted/team/app/manifests/1"))
            .await
            .status,
        404
    );
    assert_eq!(
        call(&app, get("/v2/hosted/team/app/manifests/2"))
            .await
            .status,
        200,
        "the other tag stays"
    );
}

/// Issue 14 on the REST API: `text/json` is refused with 415 as the docs promise; a disabled
/// user's bearer token stops working at once; a routing-rule preview with a hundred thousand
/// matchers is a clear 400; a proxy whose password variable is unset is saved (201) and shown
/// offline with its reason, and blocks no other change.
#[actix_web::test]
async fn hardening_of_the_rest_api() {
    let t = setup("").await;
    let app = main_app!(t.trove);
    let r = call(
        &app,
        TestRequest::post()
            .uri(&v1("/repositories"))
            .insert_header(("content-type", "text/json"))
            .set_payload(r#"{"name":"x","format":"raw","kind":"hosted"}"#),
    )
    .await;
    error(&r, 415, "INVALID");

    // carol's token, then carol disabled: the token is refused everywhere at once.
    let carol = json!({"name": "carol", "password": "carol-password-1", "roles": ["readers"]});
    ok(&call(&app, post("/security/users", carol)).await, 201);
    let r = call(
        &app,
        as_user(get("/v2/token?service=trove"), "carol", "carol-password-1"),
    )
    .await;
    let token = ok(&r, 200)["token"].as_str().unwrap().to_owned();
    let with_token =
        |req: TestRequest| req.insert_header(("authorization", format!("Bearer {token}")));
    let change =
        json!({"current_password": "carol-password-1", "new_password": "a-new-password-1"});
    ok(
        &call(
            &app,
            put("/security/users/carol", json!({"status": "disabled"})),
        )
        .await,
        200,
    );
    let r = call(&app, with_token(put("/security/users/me/password", change))).await;
    error(&r, 401, "UNAUTHENTICATED");
    let r = call(&app, with_token(fetch("/repositories"))).await;
    error(&r, 401, "UNAUTHENTICATED");

    // Short matchers, so the body stays within the JSON limit (as the probe's did).
    let many: Vec<String> = (0..100_000).map(|i| format!("{i}")).collect();
    let r = call(
        &app,
        post(
            "/routing-rules/preview",
            json!({"rule": {"name": "big", "mode": "allow", "matchers": many}, "path": "/v2/a/b"}),
        ),
    )
    .await;
    assert_eq!(r.status, 400, "{}", body(&r));
    assert!(body(&r).contains("at most 64"), "{}", body(&r));

    let r = call(
        &app,
        post(
            "/repositories",
            json!({"name": "up", "format": "docker", "kind": "proxy", "remote": "https://upstream.example",
                   "upstream_username": "u", "upstream_password_env": "TROVE_TEST_SURELY_UNSET_VARIABLE"}),
        ),
    )
    .await;
    let v = ok(&r, 201);
    assert!(
        v["problem"]
            .as_str()
            .unwrap_or_default()
            .contains("TROVE_TEST_SURELY_UNSET_VARIABLE"),
        "{v}"
    );
    let r = call(
        &app,
        post(
            "/repositories",
            json!({"name": "after", "format": "raw", "kind": "hosted"}),
        ),
    )
    .await;
    ok(&r, 201);
    assert!(t.trove.repository("after").is_some(), "later changes apply");
}

/// Issue 14: `/metrics` needs only the `metrics` application permission (built-in role
/// `metrics`), which lets a scraper's user read metrics and nothing else.
#[actix_web::test]
async fn metrics_have_a_privilege_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("scraper.pw");
    std::fs::write(&pw, "scraper-pw").unwrap();
    let t = setup(&format!(
        "[[user]]\nname = \"scraper\"\npassword_file = {pw:?}\nroles = [\"metrics\"]\n\
         [[role]]\nname = \"own-metrics\"\nprivileges = [{{ application = \"metrics\" }}]\n\
         [[user]]\nname = \"scraper2\"\npassword_file = {pw:?}\nroles = [\"own-metrics\"]\n"
    ))
    .await;
    let app = main_app!(t.trove);
    for who in ["scraper", "scraper2"] {
        let r = call(&app, as_user(get("/metrics"), who, "scraper-pw")).await;
        assert_eq!(r.status, 200, "{who}: {}", body(&r));
        assert!(body(&r).contains("trove_http_requests_total"));
        assert!(body(&r).contains("trove_http_client_aborts_total"));
        error(
            &call(&app, as_user(fetch("/security/users"), who, "scraper-pw")).await,
            403,
            "FORBIDDEN",
        );
    }
    let r = call(&app, as_dev(get("/metrics"))).await;
    assert_eq!(r.status, 403, "{}", body(&r));
    assert!(body(&r).contains("nx-metrics-all"), "{}", body(&r));
    let r = call(&app, anonymous(get("/metrics"))).await;
    assert_eq!(r.status, 401);
    let roles = ok(&call(&app, fetch("/security/roles")).await, 200);
    assert!(names(&roles).contains(&"metrics".to_owned()), "built in");
}

// ---- the LDAP realm (issue 16) ----------------------------------------------------------------

#[actix_web::test]
async fn ldap_settings_and_checks() {
    let t = setup("").await;
    let app = main_app!(t.trove);
    let v = ok(&call(&app, fetch("/security/ldap")).await, 200);
    assert_eq!(v["config"], Value::Null);
    assert_eq!(v["active"], false);
    // Only administrators.
    error(
        &call(&app, as_dev(fetch("/security/ldap"))).await,
        403,
        "FORBIDDEN",
    );
    // A bad key is named; the password is never a key.
    let r = call(
        &app,
        put(
            "/security/ldap",
            json!({"url": "http://x", "user_base": "dc=x"}),
        ),
    )
    .await;
    invalid(&r, "url");
    let r = call(
        &app,
        put(
            "/security/ldap",
            json!({"url": "ldap://x", "user_base": "dc=x", "bind_password": "p"}),
        ),
    )
    .await;
    assert_eq!(r.status, 400, "{}", body(&r));
    // Nothing listens on port 9: the checks say the directory is unavailable (503).
    let cfg = json!({"url": "ldap://127.0.0.1:9", "user_base": "ou=people,dc=x", "timeout": 2});
    let v = ok(&call(&app, put("/security/ldap", cfg.clone())).await, 200);
    assert_eq!(v["config"]["url"], "ldap://127.0.0.1:9");
    assert_eq!(v["config"]["user_filter"], "(uid={username})");
    for body_ in [
        json!({}),
        json!({"user": "carol", "password": "pw"}),
        json!({"config": cfg}),
    ] {
        let e = error(
            &call(&app, post("/security/ldap/test", body_)).await,
            503,
            "UNAVAILABLE",
        );
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("directory unavailable"),
            "{e}"
        );
    }
    // The realm can now be switched on, tried first.
    let v = ok(
        &call(
            &app,
            put(
                "/security/realms/active",
                json!(["ldap", "basic", "docker-token"]),
            ),
        )
        .await,
        200,
    );
    assert_eq!(v["active"], json!(["ldap", "basic", "docker-token"]));
    // With the directory down, the local admin still authenticates (this call), and a
    // directory user gets 503, not 401.
    let e = error(
        &call(&app, as_user(fetch("/security/ldap"), "carol", "pw")).await,
        503,
        "UNAVAILABLE",
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("directory unavailable"),
        "{e}"
    );
}
