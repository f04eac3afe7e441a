//! The admin console in-process: sessions and their cookie, the CSRF and Origin checks, the
//! first-start password change, and who sees which page. The whole flow in a real browser is
//! `tests/tests/console_browser.rs` (package trove-tests).

use actix_web::dev::ServiceResponse;
use actix_web::test::{self, TestRequest};
use trove_auth::Principal;
use trove_service::{PrivilegeInput, RoleInput, UserInput, UserUpdate};

use crate::support;

const HOST: &str = "trove.test";
pub(crate) const ORIGIN: &str = "http://trove.test";

pub(crate) struct Page {
    pub status: u16,
    pub location: Option<String>,
    set_cookies: Vec<String>,
    pub body: String,
}

impl Page {
    /// The `trove_session` value this response set, if any.
    fn session(&self) -> Option<String> {
        self.set_cookies.iter().find_map(|c| {
            c.strip_prefix("trove_session=")
                .map(|rest| rest.split(';').next().unwrap().to_owned())
                .filter(|v| !v.is_empty())
        })
    }
    /// The CSRF token of the page's forms.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find(r#"name="csrf" value=""#)
            .unwrap_or_else(|| panic!("no csrf field in {}", self.body));
        let rest = &self.body[at + r#"name="csrf" value=""#.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

pub(crate) async fn send<S>(app: &S, req: TestRequest, cookie: Option<&str>) -> Page
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = ServiceResponse,
            Error = actix_web::Error,
        >,
{
    let mut req = req.insert_header(("host", HOST));
    if let Some(c) = cookie {
        req = req.insert_header(("cookie", format!("trove_session={c}")));
    }
    let res = app.call(req.to_request()).await.unwrap();
    let status = res.status().as_u16();
    let header = |n: &str| {
        res.headers()
            .get_all(n)
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let location = header("location").into_iter().next();
    let set_cookies = header("set-cookie");
    let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    Page {
        status,
        location,
        set_cookies,
        body,
    }
}

pub(crate) fn form_post(uri: &str, body: &str) -> TestRequest {
    TestRequest::post()
        .uri(uri)
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(body.to_owned())
}

/// Signs in through the form; returns the session token.
pub(crate) async fn sign_in<S>(app: &S, user: &str, password: &str) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = ServiceResponse,
            Error = actix_web::Error,
        >,
{
    let r = send(
        app,
        form_post("/admin/login", &format!("user={user}&password={password}"))
            .insert_header(("origin", ORIGIN)),
        None,
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    r.session().expect("a session cookie")
}

/// The test administrator as a console caller of the service layer.
async fn admin_principal(trove: &trove_server::Trove) -> trove_service::Actor {
    let u = trove.meta.security().user("tester").await.unwrap().unwrap();
    trove_service::Actor::session(
        Principal::User {
            id: u.id,
            name: u.name,
        },
        None,
    )
}

#[actix_web::test]
async fn sign_in_sets_an_httponly_strict_session_cookie() {
    let inst = support::instance("").await;
    let app = main_app!(inst.trove);

    let wrong = send(
        &app,
        form_post("/admin/login", "user=tester&password=nope").insert_header(("origin", ORIGIN)),
        None,
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.body.contains("Wrong user name or password"),
        "{}",
        wrong.body
    );
    assert!(wrong.session().is_none());

    let ok = send(
        &app,
        form_post(
            "/admin/login",
            &format!("user=tester&password={}", support::TESTER_PASSWORD),
        )
        .insert_header(("origin", ORIGIN)),
        None,
    )
    .await;
    assert_eq!((ok.status, ok.location.as_deref()), (303, Some("/admin")));
    let cookie = ok
        .set_cookies
        .iter()
        .find(|c| c.starts_with("trove_session="))
        .expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attr), "{attr} missing in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    let token = ok.session().unwrap();
    assert_eq!(token.len(), 43, "32 random bytes, base64url");

    // Only the hash is stored.
    assert!(
        inst.trove
            .meta
            .sessions()
            .get(&token)
            .await
            .unwrap()
            .is_none()
    );
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
    let row = inst
        .trove
        .meta
        .sessions()
        .get(&hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.user, "tester");

    let home = send(&app, TestRequest::get().uri("/admin"), Some(&token)).await;
    assert_eq!(home.location.as_deref(), Some("/admin/dashboard"));
    let dash = send(
        &app,
        TestRequest::get().uri("/admin/dashboard"),
        Some(&token),
    )
    .await;
    assert_eq!(dash.status, 200);
    assert!(dash.body.contains("<h1>Dashboard</h1>") && dash.body.contains("<svg"));
    assert!(
        dash.body.contains(">hosted</a>"),
        "the declared repository is listed"
    );

    // Signing out ends the session.
    let out = send(
        &app,
        form_post("/admin/logout", &format!("csrf={}", dash.csrf()))
            .insert_header(("origin", ORIGIN)),
        Some(&token),
    )
    .await;
    assert_eq!(out.location.as_deref(), Some("/admin/login?signed_out=1"));
    assert!(
        inst.trove
            .meta
            .sessions()
            .get(&hash)
            .await
            .unwrap()
            .is_none()
    );
    let after = send(
        &app,
        TestRequest::get().uri("/admin/dashboard"),
        Some(&token),
    )
    .await;
    assert_eq!(after.status, 303);
    assert!(after.location.unwrap().starts_with("/admin/login"));
}

#[actix_web::test]
async fn posts_need_the_session_csrf_token_and_a_matching_origin() {
    let inst = support::instance("").await;
    let app = main_app!(inst.trove);
    let token = sign_in(&app, "tester", support::TESTER_PASSWORD).await;
    let page = send(
        &app,
        TestRequest::get().uri("/admin/repositories/new"),
        Some(&token),
    )
    .await;
    let csrf = page.csrf();
    let body = |csrf: &str| {
        format!("csrf={csrf}&kind=hosted&format=docker&name=made-here&write_policy=allow")
    };

    let none = send(
        &app,
        form_post("/admin/repositories/new", "kind=hosted&name=made-here"),
        Some(&token),
    )
    .await;
    assert_eq!(none.status, 403, "{}", none.body);
    let wrong = send(
        &app,
        form_post("/admin/repositories/new", &body(&"x".repeat(43))),
        Some(&token),
    )
    .await;
    assert_eq!(wrong.status, 403);
    assert!(wrong.body.contains("security token"), "{}", wrong.body);
    let foreign = send(
        &app,
        form_post("/admin/repositories/new", &body(&csrf))
            .insert_header(("origin", "http://evil.example")),
        Some(&token),
    )
    .await;
    assert_eq!(foreign.status, 403);
    assert!(foreign.body.contains("another site"), "{}", foreign.body);
    let foreign_referer = send(
        &app,
        form_post("/admin/repositories/new", &body(&csrf))
            .insert_header(("referer", "http://evil.example/page")),
        Some(&token),
    )
    .await;
    assert_eq!(foreign_referer.status, 403);
    assert!(
        inst.trove.repository("made-here").is_none(),
        "nothing was created"
    );

    // The sign-in form checks the Origin too.
    let login = send(
        &app,
        form_post(
            "/admin/login",
            &format!("user=tester&password={}", support::TESTER_PASSWORD),
        )
        .insert_header(("origin", "http://evil.example")),
        None,
    )
    .await;
    assert_eq!(login.status, 403);
    assert!(login.session().is_none());

    let ok = send(
        &app,
        form_post("/admin/repositories/new", &body(&csrf)).insert_header(("origin", ORIGIN)),
        Some(&token),
    )
    .await;
    assert_eq!(
        (ok.status, ok.location.as_deref()),
        (303, Some("/admin/repository/made-here")),
        "{}",
        ok.body
    );
    assert!(inst.trove.repository("made-here").is_some());
}

#[actix_web::test]
async fn validation_errors_rerender_the_form_with_values_and_field_message() {
    let inst = support::instance("").await;
    let app = main_app!(inst.trove);
    let token = sign_in(&app, "tester", support::TESTER_PASSWORD).await;
    let csrf = send(
        &app,
        TestRequest::get().uri("/admin/repositories"),
        Some(&token),
    )
    .await
    .csrf();
    let r = send(
        &app,
        form_post(
            "/admin/repositories/new",
            &format!(
                "csrf={csrf}&kind=proxy&format=docker&name=px&remote=not-a-url&metadata_max_age=77"
            ),
        ),
        Some(&token),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains(r#"value="not-a-url""#),
        "entered value kept"
    );
    assert!(r.body.contains(r#"value="77""#), "entered value kept");
    assert!(
        r.body.contains(r#"<p class="error" id="remote-error">"#),
        "message next to the field: {}",
        r.body
    );
    assert!(r.body.contains(r#"aria-invalid="true""#));

    // A draft rule with a bad matcher comes back with its name and the matcher's error.
    let r = send(
        &app,
        form_post(
            "/admin/rules/new",
            &format!("csrf={csrf}&name=my-rule&mode=allow&matchers=%28&action=save"),
        ),
        Some(&token),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains(r#"id="name" name="name" value="my-rule""#),
        "{}",
        r.body
    );
    assert!(r.body.contains(r#"id="matchers-error""#), "{}", r.body);

    // The repository declared in the file shows why it is read-only and offers no form.
    let edit = send(
        &app,
        TestRequest::get().uri("/admin/repository/hosted/edit"),
        Some(&token),
    )
    .await;
    assert_eq!(edit.status, 200);
    assert!(edit.body.contains("defined in trove.toml"));
    assert!(!edit.body.contains("Save changes") && !edit.body.contains("Delete repository"));
}

#[actix_web::test]
async fn a_password_to_change_redirects_every_page_until_changed() {
    let inst = support::instance("").await;
    let app = main_app!(inst.trove);
    let svc = inst.trove.service();
    svc.create_user(
        &admin_principal(&inst.trove).await,
        &UserInput {
            name: "bob".into(),
            password: "first-password".into(),
            roles: vec!["admin".into()],
        },
    )
    .await
    .unwrap();
    let hash = trove_auth::password::hash("first-password").unwrap();
    inst.trove
        .meta
        .security()
        .set_password("bob", &hash, true)
        .await
        .unwrap();

    let r = send(
        &app,
        form_post("/admin/login", "user=bob&password=first-password")
            .insert_header(("origin", ORIGIN)),
        None,
    )
    .await;
    assert_eq!(r.location.as_deref(), Some("/admin/password"));
    let token = r.session().unwrap();
    for uri in [
        "/admin",
        "/admin/dashboard",
        "/admin/users",
        "/admin/repositories",
    ] {
        let p = send(&app, TestRequest::get().uri(uri), Some(&token)).await;
        assert_eq!(
            (p.status, p.location.as_deref()),
            (303, Some("/admin/password")),
            "{uri}"
        );
    }
    let form = send(
        &app,
        TestRequest::get().uri("/admin/password"),
        Some(&token),
    )
    .await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("choose your own"));
    // Other forms are refused until then.
    let other = send(
        &app,
        form_post(
            "/admin/users/new",
            &format!("csrf={}&name=x&password=xxxxxxxxxx", form.csrf()),
        ),
        Some(&token),
    )
    .await;
    assert_eq!(other.location.as_deref(), Some("/admin/password"));
    assert!(
        inst.trove
            .meta
            .security()
            .user("x")
            .await
            .unwrap()
            .is_none()
    );

    let bad = send(
        &app,
        form_post(
            "/admin/password",
            &format!(
                "csrf={}&current=wrong&new=second-password&confirm=second-password",
                form.csrf()
            ),
        ),
        Some(&token),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains(r#"id="current-error""#), "{}", bad.body);

    let changed = send(
        &app,
        form_post(
            "/admin/password",
            &format!(
                "csrf={}&current=first-password&new=second-password&confirm=second-password",
                form.csrf()
            ),
        ),
        Some(&token),
    )
    .await;
    assert_eq!(
        changed.location.as_deref(),
        Some("/admin"),
        "{}",
        changed.body
    );
    let token = changed.session().expect("a fresh session");
    let users = send(&app, TestRequest::get().uri("/admin/users"), Some(&token)).await;
    assert_eq!(users.status, 200);
    assert!(
        changed
            .set_cookies
            .iter()
            .any(|c| c.starts_with("trove_notice=")),
        "a notice for the next page"
    );
    assert!(
        !inst
            .trove
            .meta
            .security()
            .user("bob")
            .await
            .unwrap()
            .unwrap()
            .must_change_password
    );
}

#[actix_web::test]
async fn a_non_administrator_browses_but_gets_403_on_admin_pages() {
    let inst = support::instance("").await;
    let app = main_app!(inst.trove);
    let svc = inst.trove.service();
    svc.create_user(
        &admin_principal(&inst.trove).await,
        &UserInput {
            name: "carol".into(),
            password: "carol-password".into(),
            roles: vec![],
        },
    )
    .await
    .unwrap();
    let token = sign_in(&app, "carol", "carol-password").await;
    let home = send(&app, TestRequest::get().uri("/admin"), Some(&token)).await;
    assert_eq!(home.location.as_deref(), Some("/admin/repositories"));
    let repos = send(
        &app,
        TestRequest::get().uri("/admin/repositories"),
        Some(&token),
    )
    .await;
    assert_eq!(repos.status, 200);
    assert!(
        !repos.body.contains(">hosted</a>"),
        "carol may browse nothing"
    );
    assert!(!repos.body.contains("/admin/users"), "no admin navigation");
    for uri in [
        "/admin/users",
        "/admin/dashboard",
        "/admin/roles",
        "/admin/privileges",
        "/admin/rules",
        "/admin/blobstore",
        "/admin/repositories/new",
    ] {
        let p = send(&app, TestRequest::get().uri(uri), Some(&token)).await;
        assert_eq!(p.status, 403, "{uri}");
        assert!(
            p.body.contains("is not an administrator"),
            "{uri}: {}",
            p.body
        );
    }
    let browse = send(
        &app,
        TestRequest::get().uri("/admin/repository/hosted"),
        Some(&token),
    )
    .await;
    assert_eq!(browse.status, 403);

    // With browse rights on `hosted`, carol sees it (and no edit controls).
    let admin = admin_principal(&inst.trove).await;
    let p = svc
        .create_privilege(
            &admin,
            &PrivilegeInput {
                format: "docker".into(),
                repository: "hosted".into(),
                actions: vec!["browse".into(), "read".into()],
                description: String::new(),
            },
        )
        .await
        .unwrap();
    svc.create_role(
        &admin,
        &RoleInput {
            name: "hosted-readers".into(),
            privileges: vec![p.name],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    svc.update_user(
        &admin,
        "carol",
        &UserUpdate {
            roles: Some(vec!["hosted-readers".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let repos = send(
        &app,
        TestRequest::get().uri("/admin/repositories"),
        Some(&token),
    )
    .await;
    assert!(repos.body.contains(">hosted</a>"), "{}", repos.body);
    let browse = send(
        &app,
        TestRequest::get().uri("/admin/repository/hosted"),
        Some(&token),
    )
    .await;
    assert_eq!(browse.status, 200);
    assert!(browse.body.contains("No images") && !browse.body.contains("Edit settings"));
}

#[actix_web::test]
async fn only_the_sign_in_page_renders_without_a_session() {
    let inst = support::instance("").await;
    let app = main_app!(inst.trove);
    for uri in [
        "/admin/dashboard",
        "/admin/repositories",
        "/admin/repositories/new?kind=proxy",
        "/admin/repository/hosted",
        "/admin/repository/hosted/edit",
        "/admin/repository/hosted/image?name=x",
        "/admin/repository/hosted/manifest?image=x&reference=1",
        "/admin/users",
        "/admin/users/new",
        "/admin/user/tester",
        "/admin/roles",
        "/admin/role/admin",
        "/admin/privileges",
        "/admin/access",
        "/admin/rules",
        "/admin/rules/new",
        "/admin/explain",
        "/admin/blobstore",
        "/admin/password",
    ] {
        for cookie in [None, Some("x".repeat(43).as_str()), Some("garbage")] {
            let p = send(&app, TestRequest::get().uri(uri), cookie).await;
            assert_eq!(p.status, 303, "{uri}");
            let to = p.location.unwrap();
            assert!(
                to.starts_with("/admin/login?next=%2Fadmin%2F"),
                "{uri} → {to}"
            );
            assert!(
                !p.body.contains("<html"),
                "{uri} rendered without a session"
            );
        }
    }
    for uri in ["/", "/admin"] {
        let p = send(&app, TestRequest::get().uri(uri), None).await;
        assert_eq!(p.location.as_deref(), Some("/admin/login"), "{uri}");
    }
    let login = send(
        &app,
        TestRequest::get().uri("/admin/login?next=/admin/users"),
        None,
    )
    .await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains(r#"<label for="user">"#));
    assert!(login.body.contains(r#"name="next" value="/admin/users""#));
    // No open redirect through `next`.
    let evil = send(
        &app,
        TestRequest::get().uri("/admin/login?next=//evil.example/"),
        None,
    )
    .await;
    assert!(evil.body.contains(r#"name="next" value="""#));
    let css = send(
        &app,
        TestRequest::get().uri("/admin/static/trove.css"),
        None,
    )
    .await;
    assert_eq!(css.status, 200);
}

#[actix_web::test]
async fn browse_an_image_to_its_manifest_and_delete_a_tag() {
    let inst = support::instance("").await;
    let app = main_app!(inst.trove);
    let config = push_blob!(app, "team/app", b"{\"architecture\":\"amd64\"}");
    let layer = push_blob!(app, "team/app", b"layer bytes");
    let m = support::image_manifest(support::OCI_MANIFEST, (&config, 24), &[(&layer, 11)]);
    let digest = support::sha256(&m);
    for tag in ["1.0", "latest"] {
        let r = support::call(
            &app,
            support::put_manifest(
                &format!("/v2/hosted/team/app/manifests/{tag}"),
                support::OCI_MANIFEST,
                &m,
            ),
        )
        .await;
        assert_eq!(r.status, 201);
    }
    let token = sign_in(&app, "tester", support::TESTER_PASSWORD).await;

    let repo = send(
        &app,
        TestRequest::get().uri("/admin/repository/hosted"),
        Some(&token),
    )
    .await;
    assert_eq!(repo.status, 200);
    assert!(
        repo.body
            .contains(r#"href="/admin/repository/hosted/image?name=team%2Fapp">team/app</a>"#),
        "{}",
        repo.body
    );
    let image = send(
        &app,
        TestRequest::get().uri("/admin/repository/hosted/image?name=team%2Fapp"),
        Some(&token),
    )
    .await;
    assert_eq!(image.status, 200);
    assert!(image.body.contains("Delete tag 1.0") && image.body.contains("Delete tag latest"));
    assert!(image.body.contains(&format!(r#"title="{digest}""#)));
    let manifest = send(
        &app,
        TestRequest::get().uri("/admin/repository/hosted/manifest?image=team%2Fapp&reference=1.0"),
        Some(&token),
    )
    .await;
    assert_eq!(manifest.status, 200);
    for needle in [
        digest.as_str(),
        layer.as_str(),
        config.as_str(),
        r#"id="layers-total">11 B<"#,
        "&#34;schemaVersion&#34;: 2",
    ] {
        assert!(
            manifest.body.contains(needle),
            "{needle} in {}",
            manifest.body
        );
    }

    let deleted = send(
        &app,
        form_post(
            "/admin/repository/hosted/manifest/delete",
            &format!("csrf={}&image=team%2Fapp&reference=1.0", manifest.csrf()),
        )
        .insert_header(("origin", ORIGIN)),
        Some(&token),
    )
    .await;
    assert_eq!(
        deleted.location.as_deref(),
        Some("/admin/repository/hosted/image?name=team%2Fapp"),
        "{}",
        deleted.body
    );
    let r = support::call(&app, support::get("/v2/hosted/team/app/manifests/1.0")).await;
    assert_eq!(r.status, 404, "the tag is gone");
    let r = support::call(&app, support::get("/v2/hosted/team/app/manifests/latest")).await;
    assert_eq!(r.status, 200, "the other tag stays");

    let missing = send(
        &app,
        TestRequest::get().uri("/admin/repository/hosted/image?name=nope"),
        Some(&token),
    )
    .await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("no image nope"), "{}", missing.body);
}

#[actix_web::test]
async fn the_create_form_offers_the_registry_formats_and_their_options() {
    let inst = support::instance("").await;
    let app = main_app!(inst.trove);
    let token = sign_in(&app, "tester", support::TESTER_PASSWORD).await;
    let form = send(
        &app,
        TestRequest::get().uri("/admin/repositories/new?kind=proxy"),
        Some(&token),
    )
    .await;
    assert_eq!(form.status, 200);
    for f in trove_formats::registry().list() {
        let info = f.info();
        let kinds: Vec<&str> = info.kinds.iter().map(|k| k.as_str()).collect();
        assert!(
            form.body
                .contains(&format!(r#"<option value="{}""#, info.id))
                && form
                    .body
                    .contains(&format!("{} ({})", info.label, kinds.join(", "))),
            "{} with its kinds on the form: {}",
            info.id,
            form.body
        );
    }
    // Docker's own option, declared by the format, not a docker checkbox of the console.
    assert!(
        form.body.contains(r#"name="options.docker.hub_index""#),
        "{}",
        form.body
    );
    assert!(!form.body.contains("docker_hub_index"));
    let hosted = send(
        &app,
        TestRequest::get().uri("/admin/repositories/new?kind=hosted"),
        Some(&token),
    )
    .await;
    assert!(
        !hosted.body.contains("options.docker.hub_index"),
        "hub_index is a proxy option"
    );

    let csrf = form.csrf();
    let created = send(
        &app,
        form_post(
            "/admin/repositories/new",
            &format!(
                "csrf={csrf}&kind=proxy&format=docker&name=hub&remote=https%3A%2F%2Fregistry.example&options.docker.hub_index=on&auto_block=on"
            ),
        )
        .insert_header(("origin", ORIGIN)),
        Some(&token),
    )
    .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let svc = inst.trove.service();
    let principal = admin_principal(&inst.trove).await;
    let hub = svc.repository(&principal, "hub").await.unwrap();
    assert_eq!(hub.options.get("hub_index"), Some(&serde_json::json!(true)));
    let edit = send(
        &app,
        TestRequest::get().uri("/admin/repository/hub/edit"),
        Some(&token),
    )
    .await;
    assert!(
        edit.body
            .contains(r#"name="options.docker.hub_index" value="on" checked"#),
        "{}",
        edit.body
    );
    // Saved without the box ticked: the option is off again.
    let saved = send(
        &app,
        form_post(
            "/admin/repository/hub/edit",
            &format!(
                "csrf={csrf}&kind=proxy&format=docker&remote=https%3A%2F%2Fregistry.example&auto_block=on"
            ),
        )
        .insert_header(("origin", ORIGIN)),
        Some(&token),
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let hub = svc.repository(&principal, "hub").await.unwrap();
    assert!(hub.options.is_empty(), "{:?}", hub.options);
}

// ---- LDAP page and single sign-on (issue 16) -------------------------------------------------

/// A form body, values percent-encoded.
fn encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let v: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[actix_web::test]
async fn ldap_page_checks_saves_and_the_realms_keep_their_order() {
    let inst = support::instance("").await;
    let app = main_app!(inst.trove);
    let token = sign_in(&app, "tester", support::TESTER_PASSWORD).await;
    let page = send(&app, TestRequest::get().uri("/admin/ldap"), Some(&token)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Not configured yet"), "{}", page.body);
    let csrf = page.csrf();
    // Nothing listens on port 9: "test connection" says the directory is unavailable.
    let fields = |action: &'static str, url: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("do", action.to_owned()),
            ("url", url.to_owned()),
            ("user_base", "ou=people,dc=example,dc=org".to_owned()),
            ("user_filter", "(uid={username})".to_owned()),
            ("group_filter", "(member={dn})".to_owned()),
            ("cache_ttl", "30".to_owned()),
            ("timeout", "2".to_owned()),
            ("test_user", "carol".to_owned()),
            ("test_password", "pw".to_owned()),
        ]
    };
    let body = |f: Vec<(&str, String)>| {
        encode(&f.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>())
    };
    for action in ["connection", "login"] {
        let r = send(
            &app,
            form_post("/admin/ldap", &body(fields(action, "ldap://127.0.0.1:9"))),
            Some(&token),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("Failed:"), "{action}: {}", r.body);
        assert!(
            r.body.contains("directory unavailable"),
            "{action}: {}",
            r.body
        );
    }
    // A bad setting is shown next to its field, nothing saved.
    let r = send(
        &app,
        form_post("/admin/ldap", &body(fields("save", "http://x"))),
        Some(&token),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("ldap:// or ldaps://"), "{}", r.body);
    // Turning the realm on before the settings exist is refused.
    let r = send(
        &app,
        form_post(
            "/admin/access/realms",
            &format!("csrf={csrf}&realm=basic&realm=ldap&realm=docker-token"),
        ),
        Some(&token),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("needs the LDAP settings first"),
        "{}",
        r.body
    );
    // Saved; then on, tried first.
    let r = send(
        &app,
        form_post("/admin/ldap", &body(fields("save", "ldap://127.0.0.1:9"))),
        Some(&token),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let saved = inst.trove.auth.ldap_config().expect("saved");
    assert_eq!((saved.cache_ttl, saved.timeout), (30, 2));
    let r = send(
        &app,
        form_post(
            "/admin/access/realms",
            &format!("csrf={csrf}&realm=basic&realm=ldap&realm=docker-token&ldap_first=on"),
        ),
        Some(&token),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        inst.trove.auth.realms().names(),
        ["ldap", "basic", "docker-token"]
    );
    // The directory is down: the local administrator still signs in (ldap is asked first).
    sign_in(&app, "tester", support::TESTER_PASSWORD).await;
    // A directory user is told the directory is unavailable, not that the password is wrong.
    let r = send(
        &app,
        form_post("/admin/login", "user=carol&password=pw").insert_header(("origin", ORIGIN)),
        None,
    )
    .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("directory unavailable"), "{}", r.body);
}

#[actix_web::test]
async fn single_sign_on_is_offered_only_when_configured_and_checks_its_state() {
    let inst = support::instance("").await;
    let app = main_app!(inst.trove);
    let login = send(&app, TestRequest::get().uri("/admin/login"), None).await;
    assert!(!login.body.contains("/admin/login/sso"), "{}", login.body);
    let r = send(&app, TestRequest::get().uri("/admin/login/sso"), None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    // A callback without the state cookie of this browser: refused, no session.
    let r = send(
        &app,
        TestRequest::get().uri("/admin/login/sso/callback?code=c&state=s"),
        None,
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.session().is_none());
    // The provider's refusal is shown as such.
    let r = send(
        &app,
        TestRequest::get().uri("/admin/login/sso/callback?error=access_denied"),
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("access_denied"), "{}", r.body);
}

#[actix_web::test]
async fn roles_carry_external_groups_through_the_console() {
    let inst = support::instance("").await;
    let app = main_app!(inst.trove);
    let token = sign_in(&app, "tester", support::TESTER_PASSWORD).await;
    let page = send(
        &app,
        TestRequest::get().uri("/admin/roles/new"),
        Some(&token),
    )
    .await;
    let csrf = page.csrf();
    let r = send(
        &app,
        form_post(
            "/admin/roles/new",
            &encode(&[
                ("csrf", &csrf),
                ("name", "devs"),
                (
                    "external_groups",
                    "CN=Devs, OU=Groups,DC=example,DC=org\r\n\r\nstaff\r\n",
                ),
            ]),
        ),
        Some(&token),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let groups = inst
        .trove
        .meta
        .security()
        .role_external_groups("devs")
        .await
        .unwrap();
    assert_eq!(groups, ["cn=devs,ou=groups,dc=example,dc=org", "staff"]);
    let page = send(
        &app,
        TestRequest::get().uri("/admin/role/devs"),
        Some(&token),
    )
    .await;
    assert!(
        page.body
            .contains("cn=devs,ou=groups,dc=example,dc=org\nstaff"),
        "{}",
        page.body
    );
}

#[actix_web::test]
async fn a_maven_version_page_lists_its_files_and_the_dependency_snippet() {
    let inst = support::instance(
        "[[repository]]\nname = \"releases\"\nformat = \"maven\"\nkind = \"hosted\"\n",
    )
    .await;
    let app = main_app!(inst.trove);
    for (file, body) in [
        ("lib-1.0.jar", &b"jar"[..]),
        ("lib-1.0.pom", &b"<project/>"[..]),
    ] {
        let r = support::call(
            &app,
            TestRequest::put()
                .uri(&format!("/repository/releases/org/example/lib/1.0/{file}"))
                .set_payload(body.to_vec()),
        )
        .await;
        assert_eq!(r.status, 201);
    }
    let token = sign_in(&app, "tester", support::TESTER_PASSWORD).await;
    let page = send(
        &app,
        TestRequest::get()
            .uri("/admin/repository/releases/version?artifact=org.example%3Alib&reference=1.0"),
        Some(&token),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    for needle in [
        "lib-1.0.jar",
        "lib-1.0.pom",
        "&#60;dependency&#62;\n  &#60;groupId&#62;org.example&#60;/groupId&#62;",
        "&#60;version&#62;1.0&#60;/version&#62;",
    ] {
        assert!(page.body.contains(needle), "{needle} in {}", page.body);
    }
}
