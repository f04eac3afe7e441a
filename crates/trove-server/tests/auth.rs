//! Authentication and authorization on the registry API, in process: challenges, the token
//! realm, anonymous access, least privilege, and the explain endpoint.

use crate::support;

use actix_web::test::TestRequest;
use support::{
    OCI_MANIFEST, anonymous, basic, call, get, image_manifest, instance, put_manifest, sha256,
};

const USERS: &str = r#"
[[role]]
name = "readers"
privileges = [{ format = "docker", repo = "hosted", actions = ["browse", "read"] }]
[[role]]
name = "adders"
privileges = [{ format = "docker", repo = "hosted", actions = ["add"] }]
roles = ["readers"]
[[user]]
name = "reader"
password_file = "PWFILE"
roles = ["readers"]
[[user]]
name = "adder"
password_file = "PWFILE"
roles = ["adders"]
"#;

/// An instance with users `reader` (browse+read on hosted) and `adder` (+add, no edit), both
/// with password "pw", plus `extra`.
async fn with_users(extra: &str) -> support::Instance {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "pw\n").unwrap();
    let users = USERS.replace("PWFILE", pw.to_str().unwrap());
    let t = instance(&format!("{users}{extra}")).await;
    std::mem::forget(dir);
    t
}

fn as_user(req: TestRequest, user: &str, pw: &str) -> TestRequest {
    req.insert_header(("authorization", basic(user, pw)))
}

fn bearer(req: TestRequest, token: &str) -> TestRequest {
    req.insert_header(("authorization", format!("Bearer {token}")))
}

#[actix_web::test]
async fn ping_challenges_and_checks_credentials() {
    let t = instance("").await;
    let app = main_app!(t.trove);
    let r = call(&app, anonymous(get("/v2/"))).await;
    r.expect_error(401, "UNAUTHORIZED");
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer realm=\"http://"),
        "{challenge}"
    );
    assert!(
        challenge.contains("/v2/token\",service=\"trove\""),
        "{challenge}"
    );
    assert_eq!(
        call(&app, get("/v2/")).await.status,
        200,
        "valid credentials"
    );
    let r = call(&app, as_user(get("/v2/"), "tester", "wrong")).await;
    r.expect_error(401, "UNAUTHORIZED");
    assert_eq!(
        r.json()["errors"][0]["message"],
        "invalid username or password"
    );
    let r = call(&app, as_user(get("/v2/"), "nobody", "wrong")).await;
    assert_eq!(
        r.json()["errors"][0]["message"],
        "invalid username or password",
        "no user enumeration"
    );
    call(
        &app,
        get("/v2/").insert_header(("authorization", "Basic !!!")),
    )
    .await
    .expect_error(401, "UNAUTHORIZED");
    // Path-based access points at the root's token endpoint, for this repository: what a
    // proxy mapping a host onto the repository serves at the client's /v2/token, and what the
    // main port answers directly.
    let r = call(&app, anonymous(get("/repository/hosted/v2/"))).await;
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("/v2/token?repository=hosted\""),
        "{:?}",
        r.header("www-authenticate")
    );
}

#[actix_web::test]
async fn basic_challenge_when_the_token_realm_is_off() {
    let t = instance("[security]\nrealms = [\"basic\"]").await;
    let app = main_app!(t.trove);
    let r = call(&app, anonymous(get("/v2/hosted/img/tags/list"))).await;
    r.expect_error(401, "UNAUTHORIZED");
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("Basic realm=\"trove\"")
    );
    let r = call(
        &app,
        get("/v2/token?service=trove&scope=repository:hosted/img:pull"),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        call(&app, get("/v2/")).await.status,
        200,
        "Basic still works"
    );
}

#[actix_web::test]
async fn anonymous_pull_needs_the_anonymous_role_and_never_pushes() {
    // Anonymous off (the default): "authentication required" with a scoped challenge.
    let t = instance("").await;
    let app = main_app!(t.trove);
    let config = push_blob!(app, "img", b"{}");
    let m = image_manifest(OCI_MANIFEST, (&config, 2), &[]);
    assert_eq!(
        call(
            &app,
            put_manifest("/v2/hosted/img/manifests/1", OCI_MANIFEST, &m)
        )
        .await
        .status,
        201
    );
    let r = call(&app, anonymous(get("/v2/hosted/img/manifests/1"))).await;
    r.expect_error(401, "UNAUTHORIZED");
    assert_eq!(r.json()["errors"][0]["message"], "authentication required");
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .ends_with(",scope=\"repository:hosted/img:pull\"")
    );

    // Anonymous on, but the anonymous user has no role yet: still refused.
    let t = instance("[security]\nanonymous = true").await;
    let app = main_app!(t.trove);
    call(&app, anonymous(get("/v2/hosted/img/tags/list")))
        .await
        .expect_error(401, "UNAUTHORIZED");

    // Anonymous on with the built-in read role: pull works, push never.
    let t = instance("[security]\nanonymous = true\n[[user]]\nname = \"anonymous\"\nroles = [\"docker-pull-anonymous\"]").await;
    let app = main_app!(t.trove);
    let config = push_blob!(app, "img", b"{}");
    let m = image_manifest(OCI_MANIFEST, (&config, 2), &[]);
    call(
        &app,
        put_manifest("/v2/hosted/img/manifests/1", OCI_MANIFEST, &m),
    )
    .await;
    assert_eq!(
        call(&app, anonymous(get("/v2/hosted/img/manifests/1")))
            .await
            .status,
        200
    );
    assert_eq!(
        call(
            &app,
            anonymous(get(&format!("/v2/hosted/img/blobs/{config}")))
        )
        .await
        .status,
        200
    );
    let r = call(
        &app,
        anonymous(TestRequest::post().uri("/v2/hosted/img/blobs/uploads/")),
    )
    .await;
    r.expect_error(401, "UNAUTHORIZED");
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .ends_with(":pull,push\"")
    );
    // An anonymous token carries pull only.
    let r = call(
        &app,
        anonymous(get(
            "/v2/token?service=trove&scope=repository:hosted/img:pull,push",
        )),
    )
    .await;
    assert_eq!(r.status, 200);
    let token = r.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&app, bearer(get("/v2/hosted/img/manifests/1"), &token))
            .await
            .status,
        200
    );
    let r = call(
        &app,
        bearer(
            TestRequest::post().uri("/v2/hosted/img/blobs/uploads/"),
            &token,
        ),
    )
    .await;
    r.expect_error(401, "UNAUTHORIZED");
}

#[actix_web::test]
async fn token_realm_grants_the_intersection_and_binds_the_repository() {
    let t = with_users("[[repository]]\nname = \"other\"\nformat = \"docker\"\nkind = \"hosted\"")
        .await;
    let app = main_app!(t.trove);
    // Wrong credentials at the token endpoint: 401.
    let r = call(
        &app,
        as_user(
            get("/v2/token?scope=repository:hosted/img:pull"),
            "reader",
            "nope",
        ),
    )
    .await;
    assert_eq!(r.status, 401);
    // The reader asks for pull and push: gets a token, but it only carries pull.
    let r = call(
        &app,
        as_user(
            get("/v2/token?service=trove&scope=repository:hosted/img:pull,push"),
            "reader",
            "pw",
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["token"], body["access_token"]);
    assert!(body["expires_in"].as_u64().unwrap() > 0 && body["issued_at"].is_string());
    let token = body["token"].as_str().unwrap().to_owned();
    let r = call(&app, bearer(get("/v2/hosted/img/tags/list"), &token)).await;
    assert_eq!(
        r.status, 404,
        "authorized (the image just has no tags): {:?}",
        r.body
    );
    // Push with this token: the role does not allow it either, so a 403 that says why.
    let r = call(
        &app,
        bearer(
            TestRequest::post().uri("/v2/hosted/img/blobs/uploads/"),
            &token,
        ),
    )
    .await;
    r.expect_error(403, "DENIED");
    // The token is bound to image `img`: another image of `hosted` (which the role allows)
    // gets a challenge for a new token; repository `other` (no role) a 403.
    call(&app, bearer(get("/v2/hosted/elsewhere/tags/list"), &token))
        .await
        .expect_error(401, "UNAUTHORIZED");
    call(&app, bearer(get("/v2/other/img/tags/list"), &token))
        .await
        .expect_error(403, "DENIED");
    // A tampered token is refused.
    let mut bad = token.clone();
    bad.pop();
    call(&app, bearer(get("/v2/hosted/img/tags/list"), &bad))
        .await
        .expect_error(401, "UNAUTHORIZED");
    // An admin token with push works for a push, end to end.
    let r = call(
        &app,
        get("/v2/token?service=trove&scope=repository:hosted/img:pull,push"),
    )
    .await;
    let admin = r.json()["token"].as_str().unwrap().to_owned();
    // Bound to the repository: the admin may use `other`, but not with a token for `hosted`.
    let r = call(&app, bearer(get("/v2/other/img/tags/list"), &admin)).await;
    r.expect_error(401, "UNAUTHORIZED");
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("scope=\"repository:other/img:pull\"")
    );
    let d = sha256(b"x");
    let r = call(
        &app,
        bearer(
            TestRequest::post()
                .uri(&format!("/v2/hosted/img/blobs/uploads/?digest={d}"))
                .set_payload(&b"x"[..]),
            &admin,
        ),
    )
    .await;
    assert_eq!(r.status, 201);
    // A token with pull only, for a user whose role allows push: 401 asking for the scope.
    let r = call(
        &app,
        get("/v2/token?service=trove&scope=repository:hosted/img:pull"),
    )
    .await;
    let narrow = r.json()["token"].as_str().unwrap().to_owned();
    let r = call(
        &app,
        bearer(
            TestRequest::post().uri("/v2/hosted/img/blobs/uploads/"),
            &narrow,
        ),
    )
    .await;
    r.expect_error(401, "UNAUTHORIZED");
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("scope=\"repository:hosted/img:pull,push\"")
    );
}

#[actix_web::test]
async fn least_privilege_for_users() {
    let t = with_users("").await;
    let app = main_app!(t.trove);
    let config = push_blob!(app, "img", b"{}");
    let one = image_manifest(OCI_MANIFEST, (&config, 2), &[]);
    assert_eq!(
        call(
            &app,
            put_manifest("/v2/hosted/img/manifests/1", OCI_MANIFEST, &one)
        )
        .await
        .status,
        201
    );

    // reader: pulls, cannot push or delete.
    assert_eq!(
        call(
            &app,
            as_user(get("/v2/hosted/img/manifests/1"), "reader", "pw")
        )
        .await
        .status,
        200
    );
    let r = call(
        &app,
        as_user(
            TestRequest::post().uri("/v2/hosted/img/blobs/uploads/"),
            "reader",
            "pw",
        ),
    )
    .await;
    r.expect_error(403, "DENIED");
    assert!(
        r.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("add"),
        "says what is missing"
    );
    let r = call(
        &app,
        as_user(
            TestRequest::delete().uri("/v2/hosted/img/manifests/1"),
            "reader",
            "pw",
        ),
    )
    .await;
    r.expect_error(403, "DENIED");

    // adder: pushes new tags, cannot move an existing one (needs edit).
    let two = image_manifest(support::DOCKER_MANIFEST, (&config, 2), &[]);
    let r = call(
        &app,
        as_user(
            put_manifest("/v2/hosted/img/manifests/2", support::DOCKER_MANIFEST, &two),
            "adder",
            "pw",
        ),
    )
    .await;
    assert_eq!(r.status, 201);
    let r = call(
        &app,
        as_user(
            put_manifest("/v2/hosted/img/manifests/1", support::DOCKER_MANIFEST, &two),
            "adder",
            "pw",
        ),
    )
    .await;
    r.expect_error(403, "DENIED");
    // Re-pushing the same content to an existing tag is not an edit.
    let r = call(
        &app,
        as_user(
            put_manifest("/v2/hosted/img/manifests/1", OCI_MANIFEST, &one),
            "adder",
            "pw",
        ),
    )
    .await;
    assert_eq!(r.status, 201);
}

#[actix_web::test]
async fn mount_needs_read_on_the_source() {
    let t = with_users(
        "[[repository]]\nname = \"team\"\nformat = \"docker\"\nkind = \"hosted\"\n\
         [[role]]\nname = \"team-writers\"\nprivileges = [{ format = \"docker\", repo = \"team\", actions = [\"*\"] }]\n\
         [[user]]\nname = \"writer\"\npassword_file = \"PW\"\nroles = [\"team-writers\"]"
            .replace("PW", &t_pw())
            .as_str(),
    )
    .await;
    let app = main_app!(t.trove);
    let d = push_blob!(app, "src", b"secret layer");
    let req = TestRequest::post().uri(&format!(
        "/v2/team/dst/blobs/uploads/?mount={d}&from=hosted/src"
    ));
    let r = call(&app, as_user(req, "writer", "pw")).await;
    assert_eq!(
        r.status, 202,
        "no read on the source: an upload session, nothing revealed"
    );
    let req = TestRequest::post().uri(&format!(
        "/v2/team/dst/blobs/uploads/?mount={d}&from=hosted/src"
    ));
    assert_eq!(
        call(&app, req).await.status,
        201,
        "admin may read the source"
    );
}

fn t_pw() -> String {
    let p = std::env::temp_dir().join(format!("trove-auth-test-{}", std::process::id()));
    std::fs::write(&p, "pw").unwrap();
    p.to_str().unwrap().to_owned()
}

#[actix_web::test]
async fn explain_endpoint() {
    let t = with_users("").await;
    let app = main_app!(t.trove);
    let uri = "/service/rest/v1/security/access/explain?user=adder&repo=hosted&action=read";
    let r = call(&app, get(uri)).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["allowed"], true);
    assert_eq!(v["roles"], serde_json::json!(["adders", "readers"]));
    assert_eq!(
        v["privilege"],
        "nx-repository-view-docker-hosted-browse,read"
    );
    let r = call(
        &app,
        get("/service/rest/v1/security/access/explain?user=reader&repo=hosted&action=delete"),
    )
    .await;
    assert_eq!(r.json()["allowed"], false);
    assert!(!r.json()["missing"].as_str().unwrap().is_empty());
    assert_eq!(
        call(&app, as_user(get(uri), "reader", "pw")).await.status,
        403
    );
    assert_eq!(call(&app, anonymous(get(uri))).await.status, 401);
    let r = call(
        &app,
        get("/service/rest/v1/security/access/explain?user=x&repo=hosted&action=fly"),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["field"], "action");
    // The repository is a query parameter, not the resource: a bad one is a 400 naming it.
    let r = call(
        &app,
        get("/service/rest/v1/security/access/explain?user=reader&repo=nope&action=read"),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "INVALID");
    assert_eq!(r.json()["error"]["field"], "repository");
}

/// `X-Forwarded-*` shape the URLs Trove sends back only when they come from a trusted proxy.
#[actix_web::test]
async fn forwarded_headers_only_from_trusted_proxies() {
    let t = support::instance_with_server("trusted_proxies = [\"127.0.0.1\"]", "").await;
    let app = main_app!(t.trove);
    let forwarded = |req: TestRequest, peer: &str| {
        anonymous(req)
            .peer_addr(peer.parse().unwrap())
            .insert_header(("host", "trove.internal:8081"))
            .insert_header(("x-forwarded-proto", "https"))
            .insert_header(("x-forwarded-host", "registry.example.com"))
    };
    // Untrusted peer: the forwarded host is ignored; only an upgrade to https is believed,
    // which cannot send the client anywhere else (decision record 0014).
    let r = call(&app, forwarded(get("/v2/"), "192.0.2.7:5555")).await;
    let realm = r.header("www-authenticate").unwrap();
    assert!(
        realm.starts_with("Bearer realm=\"https://trove.internal:8081/v2/token\""),
        "{realm}"
    );
    let r = call(
        &app,
        anonymous(get("/v2/"))
            .peer_addr("192.0.2.7:5555".parse().unwrap())
            .insert_header(("host", "trove.internal:8081"))
            .insert_header(("x-forwarded-proto", "http")),
    )
    .await;
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer realm=\"http://trove.internal:8081/v2/token\"")
    );
    // Trusted proxy (S1: TLS terminated in front): https and the public host.
    let r = call(&app, forwarded(get("/v2/"), "127.0.0.1:5555")).await;
    let realm = r.header("www-authenticate").unwrap();
    assert!(
        realm.starts_with("Bearer realm=\"https://registry.example.com/v2/token\""),
        "{realm}"
    );
    let r = call(
        &app,
        forwarded(get("/v2/"), "127.0.0.1:5555").insert_header(("x-forwarded-port", "8443")),
    )
    .await;
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("https://registry.example.com:8443/v2/token")
    );

    // S3: https://hub.example.com/ is mapped onto /repository/hosted/: with X-Forwarded-Prefix
    // the realm and upload Locations use the client's paths.
    let s3 = |req: TestRequest| {
        forwarded(req, "127.0.0.1:5555")
            .insert_header(("x-forwarded-host", "hub.example.com"))
            .insert_header(("x-forwarded-prefix", "/"))
    };
    let r = call(&app, s3(get("/repository/hosted/v2/img/manifests/1"))).await;
    let realm = r.header("www-authenticate").unwrap();
    assert!(
        realm.starts_with("Bearer realm=\"https://hub.example.com/v2/token\""),
        "{realm}"
    );
    assert!(realm.contains("scope=\"repository:img:pull\""), "{realm}");
    let req = s3(TestRequest::post().uri("/repository/hosted/v2/img/blobs/uploads/"));
    let r = call(
        &app,
        req.insert_header(("authorization", basic("tester", support::TESTER_PASSWORD))),
    )
    .await;
    assert_eq!(r.status, 202);
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/v2/img/blobs/uploads/"),
        "{:?}",
        r.header("location")
    );
}

/// `force_basic_auth` refuses anonymous requests and anonymous tokens even where the
/// anonymous role would allow them; logged-in users are unaffected.
#[actix_web::test]
async fn force_basic_auth_refuses_anonymous_callers() {
    let t = instance(
        "[security]\nanonymous = true\n[[user]]\nname = \"anonymous\"\nroles = [\"docker-pull-anonymous\"]\n\
         [[repository]]\nname = \"locked\"\nformat = \"docker\"\nkind = \"hosted\"\nforce_basic_auth = true",
    )
    .await;
    let app = main_app!(t.trove);
    let config = sha256(b"{}");
    let r = call(
        &app,
        TestRequest::post()
            .uri(&format!("/v2/locked/img/blobs/uploads/?digest={config}"))
            .set_payload(&b"{}"[..]),
    )
    .await;
    assert_eq!(r.status, 201);
    let m = image_manifest(OCI_MANIFEST, (&config, 2), &[]);
    assert_eq!(
        call(
            &app,
            put_manifest("/v2/locked/img/manifests/1", OCI_MANIFEST, &m)
        )
        .await
        .status,
        201
    );
    // The open repository serves anonymous pulls; the locked one does not.
    call(&app, anonymous(get("/v2/hosted/img/tags/list")))
        .await
        .expect_error(404, "NAME_UNKNOWN");
    let r = call(&app, anonymous(get("/v2/locked/img/manifests/1"))).await;
    r.expect_error(401, "UNAUTHORIZED");
    assert!(
        r.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("does not allow anonymous access")
    );
    call(&app, anonymous(get("/v2/locked/_catalog")))
        .await
        .expect_error(401, "UNAUTHORIZED");
    let r = call(
        &app,
        anonymous(get(
            "/v2/token?service=trove&scope=repository:locked/img:pull",
        )),
    )
    .await;
    let token = r.json()["token"].as_str().unwrap().to_owned();
    call(&app, bearer(get("/v2/locked/img/manifests/1"), &token))
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert_eq!(
        call(&app, get("/v2/locked/img/manifests/1")).await.status,
        200,
        "a user may"
    );
}

/// `[security] token_ttl` is applied again by a reload (SIGHUP), not only at start.
#[actix_web::test]
async fn token_ttl_follows_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let trove = support::open(&dir, "[security]\ntoken_ttl = 100\n").await;
    let app = main_app!(trove);
    let ttl = |r: support::Resp| r.json()["expires_in"].as_u64().unwrap();
    assert_eq!(ttl(call(&app, get("/v2/token?service=trove")).await), 100);
    let pw = dir.path().join("tester.password");
    let toml = format!(
        "[server]\ndata_dir = {:?}\n[security]\ntoken_ttl = 250\n[[repository]]\nname = \"hosted\"\n\
         format = \"docker\"\nkind = \"hosted\"\n[[user]]\nname = \"tester\"\npassword_file = {pw:?}\n\
         roles = [\"admin\"]\n",
        dir.path().join("data")
    );
    trove
        .apply(&trove_server::Config::from_toml_str(&toml).unwrap())
        .await
        .unwrap();
    assert_eq!(ttl(call(&app, get("/v2/token?service=trove")).await), 250);
}

/// Issue 14: a caller who may not see a repository cannot tell it from one that does not exist
/// (the answers differ only in the name the caller asked for); a caller who could see a docker
/// repository of that name is told it is missing.
#[actix_web::test]
async fn existence_of_repositories_does_not_leak() {
    let t =
        with_users("[[repository]]\nname = \"other\"\nformat = \"docker\"\nkind = \"hosted\"\n")
            .await;
    let app = main_app!(t.trove);
    let same = |a: &support::Resp, b: &support::Resp, an: &str, bn: &str| {
        assert_eq!(a.status, b.status);
        let body = |r: &support::Resp, n: &str| String::from_utf8_lossy(&r.body).replace(n, "X");
        assert_eq!(body(a, an), body(b, bn));
        let challenge =
            |r: &support::Resp, n: &str| r.header("www-authenticate").map(|h| h.replace(n, "X"));
        assert_eq!(challenge(a, an), challenge(b, bn));
    };
    for path in ["img/manifests/1", "img/tags/list", "img/blobs/uploads/"] {
        let method = |uri: &str| {
            if path.ends_with("uploads/") {
                TestRequest::post().uri(uri)
            } else {
                get(uri)
            }
        };
        let a = call(&app, anonymous(method(&format!("/v2/other/{path}")))).await;
        let b = call(&app, anonymous(method(&format!("/v2/nope/{path}")))).await;
        assert_eq!(a.status, 401, "{path}");
        same(&a, &b, "other", "nope");
        let a = call(
            &app,
            anonymous(method(&format!("/repository/other/v2/{path}"))),
        )
        .await;
        let b = call(
            &app,
            anonymous(method(&format!("/repository/nope/v2/{path}"))),
        )
        .await;
        same(&a, &b, "other", "nope");
        // `reader` may read `hosted` only.
        let a = call(
            &app,
            as_user(method(&format!("/v2/other/{path}")), "reader", "pw"),
        )
        .await;
        let b = call(
            &app,
            as_user(method(&format!("/v2/nope/{path}")), "reader", "pw"),
        )
        .await;
        a.expect_error(403, "DENIED");
        same(&a, &b, "other", "nope");
    }
    // The administrator could see any docker repository: told it does not exist.
    call(&app, get("/v2/nope/img/manifests/1"))
        .await
        .expect_error(404, "NAME_UNKNOWN");
}
