//! API tokens and the audit log in process (issue 16): the REST endpoints, every header form a
//! token travels in (Basic with any user name, Bearer, cargo's bare header) on the registry, raw
//! and REST front ends and the docker token endpoint, expiry, narrowing, Prometheus, revocation
//! seen by a second node, the console's token page; then one sequence of console, REST and
//! config-file changes whose audit entries are checked one by one, secrets redacted.

use actix_web::dev::ServiceResponse;
use actix_web::test::{self, TestRequest};
use serde_json::{Value, json};
use trove_rest::testing::conforms;

use crate::support::{self, OCI_MANIFEST, Resp, anonymous, basic, call, get, image_manifest};

const V1: &str = "/service/rest/v1";
const CI_PW: &str = "ci-password";

/// `ci` may read everything and push to `hosted` and `other`; `prom` may read metrics;
/// `files` is a raw repository.
const CONFIG: &str = r#"
[[repository]]
name = "other"
format = "docker"
kind = "hosted"
[[repository]]
name = "files"
format = "raw"
kind = "hosted"
[[role]]
name = "pushers"
privileges = [{ repo = "*", actions = ["browse", "read", "add", "edit", "delete"] }]
[[user]]
name = "ci"
password_file = "CIPW"
roles = ["pushers"]
[[user]]
name = "prom"
password_file = "CIPW"
roles = ["metrics"]
"#;

fn config(dir: &tempfile::TempDir) -> String {
    let pw = dir.path().join("ci.password");
    std::fs::write(&pw, CI_PW).unwrap();
    CONFIG.replace("CIPW", pw.to_str().unwrap())
}

fn v1(path: &str) -> String {
    format!("{V1}{path}")
}

fn body(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

#[track_caller]
fn ok(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", body(r));
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

fn with(req: TestRequest, authorization: &str) -> TestRequest {
    req.insert_header(("authorization", authorization.to_owned()))
}

fn ci(req: TestRequest) -> TestRequest {
    with(req, &basic("ci", CI_PW))
}

fn post(path: &str, body: Value) -> TestRequest {
    TestRequest::post().uri(&v1(path)).set_json(body)
}

/// Makes a token through the REST API as `who`; returns the whole answer.
async fn make<S>(app: &S, who: &str, input: Value) -> Value
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = ServiceResponse,
            Error = actix_web::Error,
        >,
{
    let r = call(app, with(post("/security/user-tokens", input), who)).await;
    let v = ok(&r, 201);
    conforms("CreatedToken", &v);
    v
}

/// Pushes `img:tag` to docker repository `repo` on the main port, as `auth`; the status of
/// the manifest PUT (201 when everything was allowed).
async fn push<S>(app: &S, repo: &str, img: &str, auth: &str) -> u16
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = ServiceResponse,
            Error = actix_web::Error,
        >,
{
    let config = b"{}";
    let d = support::sha256(config);
    let r = call(
        app,
        with(
            TestRequest::post()
                .uri(&format!("/v2/{repo}/{img}/blobs/uploads/?digest={d}"))
                .set_payload(config.to_vec()),
            auth,
        ),
    )
    .await;
    if r.status != 201 {
        return r.status;
    }
    let m = image_manifest(OCI_MANIFEST, (&d, 2), &[]);
    let r = call(
        app,
        with(
            support::put_manifest(&format!("/v2/{repo}/{img}/manifests/1"), OCI_MANIFEST, &m),
            auth,
        ),
    )
    .await;
    r.status
}

#[actix_web::test]
async fn tokens_are_shown_once_listed_without_secrets_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let trove = support::open(&dir, &config(&dir)).await;
    let app = main_app!(trove);
    let ci_basic = basic("ci", CI_PW);

    let made = make(&app, &ci_basic, json!({"name": "deploy"})).await;
    let token = made["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("trove_") && token.len() > 50, "{token}");
    assert_eq!(made["user"], "ci");
    assert_eq!(made["created_by"], "ci");
    assert!(token.starts_with(made["prefix"].as_str().unwrap()));
    assert_eq!(made["repositories"], Value::Null);
    assert_eq!(made["last_used"], Value::Null);

    let listed = ok(
        &call(&app, ci(get(&v1("/security/user-tokens")))).await,
        200,
    );
    conforms("TokenView", &listed[0]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "deploy");
    assert!(listed[0].get("token").is_none(), "never the secret");
    assert!(
        !listed
            .to_string()
            .contains(&token[made["prefix"].as_str().unwrap().len()..])
    );

    // Refusals, each naming its field.
    let again = call(
        &app,
        ci(post("/security/user-tokens", json!({"name": "deploy"}))),
    )
    .await;
    assert_eq!(again.status, 409, "{}", body(&again));
    for (input, field) in [
        (json!({"name": "x", "actions": ["fly"]}), "actions"),
        (json!({"name": "x", "actions": []}), "actions"),
        (
            json!({"name": "x", "repositories": ["no-such-repo"]}),
            "repositories",
        ),
        (json!({"name": "x", "repositories": []}), "repositories"),
        (json!({"name": "x", "expires_at": 1}), "expires_at"),
        (json!({"name": "bad name"}), "name"),
        (json!({"name": "x", "nmae": 1}), "nmae"),
    ] {
        let r = call(&app, ci(post("/security/user-tokens", input.clone()))).await;
        assert_eq!(r.status, 400, "{input}: {}", body(&r));
        assert_eq!(r.json()["error"]["field"], field, "{input}");
    }

    // Someone else's tokens: administrators only.
    let r = call(&app, ci(get(&v1("/security/user-tokens?user=tester")))).await;
    assert_eq!(r.status, 403, "{}", body(&r));
    let r = call(
        &app,
        ci(post(
            "/security/user-tokens",
            json!({"name": "x", "user": "tester"}),
        )),
    )
    .await;
    assert_eq!(r.status, 403, "{}", body(&r));
    let for_ci = make(
        &app,
        &basic("tester", support::TESTER_PASSWORD),
        json!({"name": "robot", "user": "ci"}),
    )
    .await;
    assert_eq!(
        (for_ci["user"].as_str(), for_ci["created_by"].as_str()),
        (Some("ci"), Some("tester"))
    );
    let admin_view = ok(
        &call(&app, get(&v1("/security/user-tokens?user=ci"))).await,
        200,
    );
    assert_eq!(admin_view.as_array().unwrap().len(), 2);

    // The token authenticates the REST API, and is its owner there.
    let bearer = format!("Bearer {token}");
    let r = call(&app, with(get(&v1("/security/user-tokens")), &bearer)).await;
    assert_eq!(ok(&r, 200).as_array().unwrap().len(), 2);
    // A token cannot make tokens.
    let r = call(
        &app,
        with(
            post("/security/user-tokens", json!({"name": "child"})),
            &bearer,
        ),
    )
    .await;
    assert_eq!(r.status, 403, "{}", body(&r));
    // Its use is listed.
    let listed = ok(
        &call(&app, ci(get(&v1("/security/user-tokens")))).await,
        200,
    );
    let deploy = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "deploy")
        .unwrap();
    assert!(deploy["last_used"].is_i64(), "{deploy}");

    // Revoked: the next request is refused.
    let r = call(
        &app,
        ci(TestRequest::delete().uri(&v1("/security/user-tokens/deploy"))),
    )
    .await;
    ok(&r, 204);
    let r = call(&app, with(get(&v1("/repositories")), &bearer)).await;
    assert_eq!(r.status, 401, "{}", body(&r));
    assert!(
        body(&r).contains("unknown or revoked API token"),
        "{}",
        body(&r)
    );
    let r = call(
        &app,
        ci(TestRequest::delete().uri(&v1("/security/user-tokens/deploy"))),
    )
    .await;
    assert_eq!(r.status, 404);
    // The administrator revokes ci's other token.
    let r = call(
        &app,
        TestRequest::delete().uri(&v1("/security/user-tokens/robot?user=ci")),
    )
    .await;
    ok(&r, 204);
}

#[actix_web::test]
async fn every_form_of_a_token_works_on_every_front_end() {
    let dir = tempfile::tempdir().unwrap();
    let trove = support::open(&dir, &config(&dir)).await;
    let app = main_app!(trove);
    let token = make(&app, &basic("ci", CI_PW), json!({"name": "all"})).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let forms = [
        basic("ci", &token),
        basic("__token__", &token),
        basic("someone-else", &token),
        format!("Bearer {token}"),
        token.clone(),
    ];
    assert_eq!(push(&app, "hosted", "img", &forms[0]).await, 201);
    for (i, form) in forms.iter().enumerate() {
        // Docker on the main port.
        let r = call(&app, with(get("/v2/hosted/img/manifests/1"), form)).await;
        assert_eq!(r.status, 200, "{form}: {}", body(&r));
        // Raw: write and read.
        let file = format!("/repository/files/dir/f{i}.txt");
        let r = call(
            &app,
            with(TestRequest::put().uri(&file).set_payload("hi"), form),
        )
        .await;
        assert!(
            r.status == 201 || r.status == 204,
            "{form}: {} {}",
            r.status,
            body(&r)
        );
        let r = call(&app, with(get(&file), form)).await;
        assert_eq!((r.status, &r.body[..]), (200, &b"hi"[..]), "{form}");
        // REST.
        let r = call(&app, with(get(&v1("/repositories")), form)).await;
        assert_eq!(r.status, 200, "{form}: {}", body(&r));
    }
    // The docker token endpoint takes it as the Basic password (docker login), and what it
    // mints works on the registry.
    let r = call(
        &app,
        with(
            get("/v2/token?service=trove&scope=repository:hosted/img:pull,push"),
            &basic("ci", &token),
        ),
    )
    .await;
    let jwt = ok(&r, 200)["token"].as_str().unwrap().to_owned();
    let r = call(
        &app,
        with(get("/v2/hosted/img/manifests/1"), &format!("Bearer {jwt}")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", body(&r));
    // A token-looking string that is not one is refused everywhere.
    let forged = format!("{}{}", &token[..token.len() - 3], "zzz");
    for r in [
        call(&app, with(get("/v2/hosted/img/manifests/1"), &forged)).await,
        call(
            &app,
            with(
                get("/repository/files/dir/f0.txt"),
                &format!("Bearer {forged}"),
            ),
        )
        .await,
    ] {
        assert_eq!(r.status, 401, "{}", body(&r));
    }
    let r = call(
        &app,
        with(get(&v1("/repositories")), &basic("__token__", &forged)),
    )
    .await;
    assert_eq!(r.status, 401, "{}", body(&r));
}

#[actix_web::test]
async fn a_narrowed_token_pulls_from_a_but_cannot_push_there_nor_pull_from_b() {
    let dir = tempfile::tempdir().unwrap();
    let trove = support::open(&dir, &config(&dir)).await;
    let app = main_app!(trove);
    let ci_basic = basic("ci", CI_PW);
    assert_eq!(push(&app, "hosted", "img", &ci_basic).await, 201);
    assert_eq!(push(&app, "other", "img", &ci_basic).await, 201);
    let token = make(
        &app,
        &ci_basic,
        json!({"name": "pull-hosted", "repositories": ["hosted"], "actions": ["browse", "read"]}),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let auth = basic("ci", &token);
    let r = call(&app, with(get("/v2/hosted/img/manifests/1"), &auth)).await;
    assert_eq!(r.status, 200, "{}", body(&r));
    let r = call(
        &app,
        with(
            TestRequest::post().uri("/v2/hosted/img2/blobs/uploads/"),
            &auth,
        ),
    )
    .await;
    r.expect_error(403, "DENIED");
    assert!(
        body(&r).contains("the API token pull-hosted does not grant add"),
        "{}",
        body(&r)
    );
    let r = call(&app, with(get("/v2/other/img/manifests/1"), &auth)).await;
    assert_eq!(r.status, 403, "{}", body(&r));
    assert!(
        body(&r).contains("denied (or it does not exist)"),
        "b is hidden: {}",
        body(&r)
    );
    // The token endpoint grants what the token allows, not what the user has.
    let r = call(
        &app,
        with(
            get("/v2/token?service=trove&scope=repository:hosted/img:pull,push&scope=repository:other/img:pull"),
            &auth,
        ),
    )
    .await;
    let jwt = ok(&r, 200)["token"].as_str().unwrap().to_owned();
    let claims = trove.auth.tokens.verify(&jwt, "trove").unwrap();
    assert_eq!(claims.access.len(), 1, "{:?}", claims.access);
    assert_eq!(claims.access[0].actions, ["pull"]);
    let r = call(
        &app,
        with(
            TestRequest::post().uri("/v2/hosted/img/blobs/uploads/"),
            &format!("Bearer {jwt}"),
        ),
    )
    .await;
    assert_eq!(r.status, 403, "{}", body(&r));
    // REST: only the repository it names is listed; nothing of the raw repository.
    let repos = ok(
        &call(&app, with(get(&v1("/repositories")), &auth)).await,
        200,
    );
    let names: Vec<&str> = repos
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hosted"]);
    let r = call(&app, with(get("/repository/files/x"), &auth)).await;
    assert_eq!(r.status, 403, "{}", body(&r));
    assert!(
        body(&r).contains("denied (or it does not exist)"),
        "{}",
        body(&r)
    );

    // An administrator's narrowed token is no administrator.
    let admin = basic("tester", support::TESTER_PASSWORD);
    let narrow = make(
        &app,
        &admin,
        json!({"name": "read-all", "actions": ["read"]}),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = call(
        &app,
        with(get(&v1("/security/users")), &format!("Bearer {narrow}")),
    )
    .await;
    assert_eq!(r.status, 403, "{}", body(&r));
    let wide = make(&app, &admin, json!({"name": "everything"})).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = call(
        &app,
        with(get(&v1("/security/users")), &format!("Bearer {wide}")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", body(&r));
}

#[actix_web::test]
async fn expired_tokens_and_disabled_owners_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let trove = support::open(&dir, &config(&dir)).await;
    let app = main_app!(trove);
    let soon = trove_core::now_millis() + 3_600_000;
    let made = make(
        &app,
        &basic("ci", CI_PW),
        json!({"name": "soon", "expires_at": soon}),
    )
    .await;
    assert_eq!(made["expires_at"], soon);
    assert_eq!(made["expired"], false);
    let (old, _) = trove
        .auth
        .create_api_token(
            "ci",
            "old",
            None,
            None,
            Some(trove_core::now_millis() - 1),
            "ci",
        )
        .await
        .unwrap();
    let r = call(
        &app,
        with(get(&v1("/repositories")), &format!("Bearer {}", old.token)),
    )
    .await;
    assert_eq!(r.status, 401, "{}", body(&r));
    assert!(body(&r).contains("token expired"), "{}", body(&r));
    let listed = ok(
        &call(&app, ci(get(&v1("/security/user-tokens")))).await,
        200,
    );
    let old_row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "old")
        .unwrap();
    assert_eq!(old_row["expired"], true);

    let live = made["token"].as_str().unwrap();
    let r = call(
        &app,
        TestRequest::put()
            .uri(&v1("/security/users/prom"))
            .set_json(json!({"status": "disabled"})),
    )
    .await;
    assert_eq!(r.status, 403, "prom is declared in the file: {}", body(&r));
    trove
        .auth
        .set_user_status("ci", trove_auth::UserStatus::Disabled)
        .await
        .unwrap();
    let r = call(
        &app,
        with(get(&v1("/repositories")), &format!("Bearer {live}")),
    )
    .await;
    assert_eq!(r.status, 401, "{}", body(&r));
}

#[actix_web::test]
async fn prometheus_scrapes_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let trove = support::open(&dir, &config(&dir)).await;
    let app = main_app!(trove);
    let prom = basic("prom", CI_PW);
    let token = make(&app, &prom, json!({"name": "scrape"})).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = call(&app, with(get("/metrics"), &format!("Bearer {token}"))).await;
    assert_eq!(r.status, 200, "{}", body(&r));
    assert!(body(&r).contains("trove_http_requests_total"));
    let r = call(&app, with(get("/metrics"), &basic("prometheus", &token))).await;
    assert_eq!(
        r.status,
        200,
        "basic_auth with the token as password: {}",
        body(&r)
    );
    // It reads metrics and nothing else.
    let r = call(
        &app,
        with(get(&v1("/security/users")), &format!("Bearer {token}")),
    )
    .await;
    assert_eq!(r.status, 403);
    // A narrowed token holds no application permission.
    let narrow = make(&app, &prom, json!({"name": "narrow", "actions": ["read"]})).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = call(&app, with(get("/metrics"), &format!("Bearer {narrow}"))).await;
    assert_eq!(r.status, 403, "{}", body(&r));
}

/// Two nodes on one database: a token made on one works on the other; revoked on the first, it
/// is refused by the second's very next request (every use reads the token's row), and so is
/// a bearer token the second minted from it.
#[actix_web::test]
async fn a_revoked_token_is_refused_by_the_next_request_on_the_other_node() {
    let dir = tempfile::tempdir().unwrap();
    let a = support::open(&dir, &config(&dir)).await;
    let b = support::open(&dir, &config(&dir)).await;
    let app_a = main_app!(a);
    let app_b = main_app!(b);
    let token = make(&app_a, &basic("ci", CI_PW), json!({"name": "shared"})).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = call(&app_b, with(get(&v1("/repositories")), &token)).await;
    assert_eq!(r.status, 200, "{}", body(&r));
    let r = call(
        &app_b,
        with(
            get("/v2/token?service=trove&scope=repository:hosted/img:pull"),
            &basic("ci", &token),
        ),
    )
    .await;
    let jwt = ok(&r, 200)["token"].as_str().unwrap().to_owned();
    let r = call(
        &app_a,
        with(get("/v2/hosted/img/tags/list"), &format!("Bearer {jwt}")),
    )
    .await;
    assert_ne!(r.status, 401, "{}", body(&r));

    let r = call(
        &app_a,
        ci(TestRequest::delete().uri(&v1("/security/user-tokens/shared"))),
    )
    .await;
    ok(&r, 204);
    let r = call(&app_b, with(get(&v1("/repositories")), &token)).await;
    assert_eq!(r.status, 401, "{}", body(&r));
    let r = call(
        &app_b,
        with(get("/v2/hosted/img/tags/list"), &basic("ci", &token)),
    )
    .await;
    assert_eq!(r.status, 401, "{}", body(&r));
    let r = call(
        &app_a,
        with(get("/v2/hosted/img/tags/list"), &format!("Bearer {jwt}")),
    )
    .await;
    assert_eq!(r.status, 401, "{}", body(&r));
}

// ---- the console ------------------------------------------------------------------------------

const HOST: &str = "trove.test";
const ORIGIN: &str = "http://trove.test";

struct Page {
    status: u16,
    location: Option<String>,
    cookie: Option<String>,
    body: String,
}

impl Page {
    fn csrf(&self) -> String {
        let key = r#"name="csrf" value=""#;
        let at = self
            .body
            .find(key)
            .unwrap_or_else(|| panic!("no csrf in {}", self.body));
        let rest = &self.body[at + key.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

async fn page<S>(app: &S, req: TestRequest, session: Option<&str>) -> Page
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = ServiceResponse,
            Error = actix_web::Error,
        >,
{
    let mut req = req
        .insert_header(("host", HOST))
        .peer_addr("10.1.1.1:40000".parse().unwrap())
        .insert_header(("x-forwarded-for", "198.51.100.7"));
    if let Some(c) = session {
        req = req.insert_header(("cookie", format!("trove_session={c}")));
    }
    let res = app.call(req.to_request()).await.unwrap();
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let cookie = res.headers().get_all("set-cookie").find_map(|c| {
        c.to_str()
            .unwrap()
            .strip_prefix("trove_session=")
            .map(|r| r.split(';').next().unwrap().to_owned())
            .filter(|v| !v.is_empty())
    });
    let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    Page {
        status,
        location,
        cookie,
        body,
    }
}

fn form(uri: &str, body: String) -> TestRequest {
    TestRequest::post()
        .uri(uri)
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .insert_header(("origin", ORIGIN))
        .set_payload(body)
}

async fn console_sign_in<S>(app: &S, user: &str, pw: &str) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = ServiceResponse,
            Error = actix_web::Error,
        >,
{
    let r = page(
        app,
        form("/admin/login", format!("user={user}&password={pw}")),
        None,
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    r.cookie.expect("a session")
}

#[actix_web::test]
async fn the_console_makes_lists_and_revokes_ones_own_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let trove = support::open(&dir, &config(&dir)).await;
    let app = main_app!(trove);
    let session = console_sign_in(&app, "ci", CI_PW).await;
    let list = page(
        &app,
        TestRequest::get().uri("/admin/tokens"),
        Some(&session),
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("0 tokens"), "{}", list.body);
    let made = page(
        &app,
        form(
            "/admin/tokens",
            format!("csrf={}&name=laptop&repositories=hosted&actions=read&actions=browse&expires=2999-01-01", list.csrf()),
        ),
        Some(&session),
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let at = made
        .body
        .find("id=\"token-value\">")
        .expect("the token is shown")
        + "id=\"token-value\">".len();
    let token = made.body[at..at + made.body[at..].find('<').unwrap()].to_owned();
    assert!(token.starts_with("trove_"), "{token}");
    let r = call(
        &app,
        with(get("/v2/hosted/img/tags/list"), &basic("ci", &token)),
    )
    .await;
    assert_ne!(r.status, 401, "{}", body(&r));
    let list = page(
        &app,
        TestRequest::get().uri("/admin/tokens"),
        Some(&session),
    )
    .await;
    assert!(
        list.body.contains("laptop") && list.body.contains("browse, read"),
        "{}",
        list.body
    );
    assert!(
        !list.body.contains(&token),
        "the list never shows the secret"
    );
    assert!(
        list.body.contains("2999-01-01 00:00:00 UTC"),
        "{}",
        list.body
    );
    // Someone else's: administrators only.
    let r = page(
        &app,
        TestRequest::get().uri("/admin/tokens?user=tester"),
        Some(&session),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let revoked = page(
        &app,
        form(
            "/admin/tokens/revoke",
            format!("csrf={}&name=laptop", list.csrf()),
        ),
        Some(&session),
    )
    .await;
    assert_eq!(
        (revoked.status, revoked.location.as_deref()),
        (303, Some("/admin/tokens"))
    );
    let r = call(
        &app,
        with(get("/v2/hosted/img/tags/list"), &basic("ci", &token)),
    )
    .await;
    assert_eq!(r.status, 401, "{}", body(&r));
    // The audit page is for administrators.
    let r = page(&app, TestRequest::get().uri("/admin/audit"), Some(&session)).await;
    assert_eq!(r.status, 403, "{}", r.body);
}

// ---- the audit log ----------------------------------------------------------------------------

/// `(actor, realm, front end, action, entity type, entity name)` of an entry.
fn shape(e: &Value) -> (String, String, String, String, String, String) {
    let s = |k: &str| e[k].as_str().unwrap_or("-").to_owned();
    (
        s("actor"),
        s("realm"),
        s("front_end"),
        s("action"),
        s("entity_type"),
        s("entity_name"),
    )
}

fn t(
    a: &str,
    r: &str,
    f: &str,
    act: &str,
    ty: &str,
    n: &str,
) -> (String, String, String, String, String, String) {
    (
        a.into(),
        r.into(),
        f.into(),
        act.into(),
        ty.into(),
        n.into(),
    )
}

#[actix_web::test]
async fn console_rest_and_config_changes_are_audited_exactly_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let base = format!("{}\n{}", "", config(&dir));
    let server = "trusted_proxies = [\"10.0.0.0/8\"]";
    let trove = support::open_with_server(&dir, server, &base).await;
    let app = main_app!(trove);
    let admin = basic("tester", support::TESTER_PASSWORD);
    let mark = trove
        .meta
        .audit()
        .query(&trove_store::AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .last()
        .map_or(0, |e| e.seq);
    let from_proxy = |req: TestRequest| {
        req.peer_addr("10.1.1.1:40000".parse().unwrap())
            .insert_header(("x-forwarded-for", "6.6.6.6, 198.51.100.7"))
    };

    // 1. REST: a user with a password, then a password change and a role.
    let r = call(
        &app,
        from_proxy(post(
            "/security/users",
            json!({"name": "alice", "password": "alice-secret-1", "roles": []}),
        )),
    )
    .await;
    ok(&r, 201);
    let r = call(
        &app,
        from_proxy(
            TestRequest::put()
                .uri(&v1("/security/users/alice"))
                .set_json(json!({"password": "alice-secret-2", "roles": ["pushers"]})),
        ),
    )
    .await;
    ok(&r, 200);
    // 2. REST: a token for alice, made by the administrator, then alice's failed sign-in.
    let token = make(&app, &admin, json!({"name": "ci", "user": "alice"})).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = call(
        &app,
        from_proxy(with(
            get(&v1("/repositories")),
            &basic("alice", "wrong-password"),
        )),
    )
    .await;
    assert_eq!(r.status, 401);
    // 3. REST with alice's token: a content delete through the registry.
    assert_eq!(push(&app, "hosted", "img", &basic("x", &token)).await, 201);
    let r = call(
        &app,
        with(
            TestRequest::delete().uri("/v2/hosted/img/manifests/1"),
            &token,
        ),
    )
    .await;
    assert_eq!(r.status, 202, "{}", body(&r));
    // 4. The console: sign in, switch anonymous access on, create a routing rule, sign out.
    let session = console_sign_in(&app, "tester", support::TESTER_PASSWORD).await;
    let access = page(
        &app,
        TestRequest::get().uri("/admin/access"),
        Some(&session),
    )
    .await;
    let r = page(
        &app,
        form(
            "/admin/access/anonymous",
            format!("csrf={}&enabled=true", access.csrf()),
        ),
        Some(&session),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = page(
        &app,
        form(
            "/admin/rules/new",
            format!(
                "csrf={}&name=only-team&mode=allow&matchers=%5E%2Fv2%2Fteam%2F.*",
                access.csrf()
            ),
        ),
        Some(&session),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = page(
        &app,
        form("/admin/logout", format!("csrf={}", access.csrf())),
        Some(&session),
    )
    .await;
    assert_eq!(r.status, 303);
    // 5. The config file: a role added (with its privilege), a repository removed (disabled),
    //    a user declared with a password file.
    let bob_pw = dir.path().join("bob.password");
    std::fs::write(&bob_pw, "bob-file-secret").unwrap();
    let reloaded = format!(
        "[server]\ndata_dir = {:?}\n{server}\n[[repository]]\nname = \"hosted\"\nformat = \"docker\"\nkind = \"hosted\"\n\
         [[user]]\nname = \"tester\"\npassword_file = {:?}\nroles = [\"admin\"]\n{}\n\
         [[role]]\nname = \"auditors\"\nprivileges = [{{ repo = \"*\", actions = [\"browse\"] }}]\n\
         [[user]]\nname = \"bob\"\npassword_file = {bob_pw:?}\nroles = [\"auditors\"]\n",
        dir.path().join("data"),
        dir.path().join("tester.password"),
        config(&dir).replace(
            "[[repository]]\nname = \"other\"\nformat = \"docker\"\nkind = \"hosted\"\n",
            ""
        ),
    );
    trove
        .apply(&trove_server::Config::from_toml_str(&reloaded).unwrap())
        .await
        .unwrap();
    // 6. REST: the token revoked.
    let r = call(
        &app,
        TestRequest::delete().uri(&v1("/security/user-tokens/ci?user=alice")),
    )
    .await;
    ok(&r, 204);

    let all = ok(
        &call(&app, get(&v1(&format!("/audit?after={mark}&limit=1000")))).await,
        200,
    );
    let entries: Vec<Value> = all.as_array().unwrap().to_vec();
    for e in &entries {
        conforms("AuditEntry", e);
    }
    let got: Vec<_> = entries.iter().map(shape).collect();
    let want = vec![
        t("tester", "basic", "rest", "create", "user", "alice"),
        t("tester", "basic", "rest", "update", "user", "alice"),
        t("tester", "basic", "rest", "create", "token", "alice/ci"),
        t("anonymous", "-", "rest", "sign-in-failed", "user", "alice"),
        t(
            "alice",
            "user-token",
            "registry",
            "delete",
            "content",
            "hosted:/v2/img/manifests/1",
        ),
        t("tester", "basic", "console", "sign-in", "user", "tester"),
        t(
            "tester",
            "session",
            "console",
            "update",
            "anonymous",
            "anonymous-access",
        ),
        t(
            "tester",
            "session",
            "console",
            "create",
            "routing-rule",
            "only-team",
        ),
        t("tester", "session", "console", "sign-out", "user", "tester"),
        t(
            "system",
            "config",
            "config",
            "create",
            "privilege",
            "nx-repository-view-*-*-browse",
        ),
        t("system", "config", "config", "create", "role", "auditors"),
        t(
            "system",
            "config",
            "config",
            "update",
            "repository",
            "other",
        ),
        t("system", "config", "config", "create", "user", "bob"),
        t("tester", "basic", "rest", "revoke", "token", "alice/ci"),
    ];
    let mut got_sorted = got.clone();
    let mut want_sorted = want.clone();
    // Within one config apply the entries come in the store's order (by entity type and name);
    // everything else in the order it happened.
    let config_part = |v: &mut Vec<(String, String, String, String, String, String)>| {
        let at = v.iter().position(|e| e.2 == "config").unwrap_or(v.len());
        let end = v
            .iter()
            .rposition(|e| e.2 == "config")
            .map_or(at, |i| i + 1);
        v[at..end].sort();
    };
    config_part(&mut got_sorted);
    config_part(&mut want_sorted);
    assert_eq!(
        got_sorted,
        want_sorted,
        "\n{}",
        serde_json::to_string_pretty(&all).unwrap()
    );

    // Who, from where: the client behind the trusted proxy, never the forged hop.
    assert_eq!(entries[0]["ip"], "198.51.100.7");
    assert_eq!(entries[3]["ip"], "198.51.100.7");
    assert_eq!(entries[5]["ip"], "198.51.100.7", "console sign-in");
    assert_eq!(entries[4]["token"], "ci");
    assert_eq!(entries[3]["detail"], "invalid username or password");
    // What: before and after, secrets redacted.
    assert_eq!(entries[0]["after"]["password"], "<redacted>");
    assert_eq!(entries[1]["before"]["roles"], json!([]));
    assert_eq!(entries[1]["after"]["roles"], json!(["pushers"]));
    assert_eq!(entries[1]["after"]["password"], "<redacted>");
    assert_eq!(entries[6]["before"]["enabled"], false);
    assert_eq!(entries[6]["after"]["enabled"], true);
    let repo = entries
        .iter()
        .find(|e| e["entity_name"] == "other")
        .unwrap();
    assert_eq!(
        (
            repo["before"]["online"].as_bool(),
            repo["after"]["online"].as_bool()
        ),
        (Some(true), Some(false))
    );
    let bob = entries.iter().find(|e| e["entity_name"] == "bob").unwrap();
    assert_eq!(bob["after"]["password"], "<redacted>");
    let text = all.to_string();
    for secret in [
        "alice-secret-1",
        "alice-secret-2",
        "wrong-password",
        "bob-file-secret",
        &token,
        "$argon2",
    ] {
        assert!(!text.contains(secret), "{secret} is in the log");
    }

    // Filters, the export, and no way to change it.
    let mine = ok(
        &call(&app, get(&v1(&format!("/audit?user=system&after={mark}")))).await,
        200,
    );
    assert_eq!(mine.as_array().unwrap().len(), 4);
    let alice = ok(
        &call(
            &app,
            get(&v1(&format!("/audit?entity=user:alice&after={mark}"))),
        )
        .await,
        200,
    );
    assert_eq!(alice.as_array().unwrap().len(), 3, "{alice}");
    let tokens = ok(
        &call(&app, get(&v1(&format!("/audit?entity=token&after={mark}")))).await,
        200,
    );
    assert_eq!(tokens.as_array().unwrap().len(), 2);
    let later = ok(
        &call(
            &app,
            get(&v1(&format!(
                "/audit?since={}",
                trove_core::now_millis() + 60_000
            ))),
        )
        .await,
        200,
    );
    assert_eq!(later, json!([]));
    let r = call(&app, get(&v1(&format!("/audit/export?after={mark}")))).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/x-ndjson")
    );
    let lines: Vec<Value> = body(&r)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, entries);
    for method in [
        TestRequest::post(),
        TestRequest::put(),
        TestRequest::delete(),
        TestRequest::patch(),
    ] {
        let r = call(&app, method.uri(&v1("/audit")).set_json(json!({}))).await;
        assert_eq!(r.status, 405, "{}", body(&r));
    }
    let r = call(&app, with(get(&v1("/audit")), &basic("ci", CI_PW))).await;
    assert_eq!(r.status, 403, "administrators only");
    let r = call(&app, anonymous(get(&v1("/audit")))).await;
    assert_eq!(r.status, 401);

    // The console shows it, filtered, and exports it.
    let session = console_sign_in(&app, "tester", support::TESTER_PASSWORD).await;
    let p = page(
        &app,
        TestRequest::get().uri("/admin/audit?entity=token"),
        Some(&session),
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body.contains("2 entries") && p.body.contains("alice/ci"),
        "{}",
        p.body
    );
    let p = page(
        &app,
        TestRequest::get().uri("/admin/audit/export?user=system"),
        Some(&session),
    )
    .await;
    assert_eq!(p.status, 200);
    assert!(p.body.lines().count() >= 3, "{}", p.body);
}
