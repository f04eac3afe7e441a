//! The npm registry API in process, for what the e2e test with the npm CLI does not reach:
//! content negotiation and conditional requests, `?write=true`, every refusal of a publish
//! (integrity, shasum, republish, names, versions), revision-checked updates, privileges per
//! kind of change, dist-tag rules, search, the small endpoints, and groups with the
//! dependency-confusion guard.

use crate::support;

use actix_web::test::TestRequest;
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;
use support::{anonymous, basic, call, get, head, instance};

const NPM: &str = r#"
[security]
anonymous = true
[[role]]
name = "npm-read"
privileges = [{ format = "npm", repo = "*", actions = ["browse", "read"] }]
[[user]]
name = "anonymous"
roles = ["npm-read"]
[[repository]]
name = "npm"
format = "npm"
kind = "hosted"
[[repository]]
name = "npm2"
format = "npm"
kind = "hosted"
[[repository]]
name = "npm-all"
format = "npm"
kind = "group"
members = ["npm", "npm2"]
writable_member = "npm"
[[role]]
name = "npm-publish"
privileges = [{ format = "npm", repo = "*", actions = ["browse", "read", "add", "edit"] }]
[[user]]
name = "dev"
password_file = "PWFILE"
roles = ["npm-publish"]
"#;

async fn npm() -> support::Instance {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "pw\n").unwrap();
    let t = instance(&NPM.replace("PWFILE", pw.to_str().unwrap())).await;
    std::mem::forget(dir);
    t
}

fn sri(data: &[u8]) -> String {
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(data))
    )
}

/// The document `npm publish` sends for one version of `name`.
fn publish_doc(name: &str, version: &str, tarball: &[u8]) -> Value {
    let unscoped = name.rsplit('/').next().unwrap();
    json!({
        "_id": name, "name": name, "description": "d",
        "dist-tags": { "latest": version },
        "versions": { version: {
            "name": name, "version": version, "dependencies": { "dep": "^1" },
            "keywords": ["blue", "fast"], "engines": { "node": ">=18" },
            "dist": {
                "integrity": sri(tarball),
                "shasum": hex::encode(sha1::Sha1::digest(tarball)),
                "tarball": format!("http://example/{name}/-/{unscoped}-{version}.tgz"),
            }
        }},
        "access": null,
        "_attachments": { format!("{name}-{version}.tgz"): {
            "content_type": "application/octet-stream",
            "data": base64::engine::general_purpose::STANDARD.encode(tarball),
            "length": tarball.len(),
        }}
    })
}

fn put_json(uri: &str, v: &Value) -> TestRequest {
    TestRequest::put()
        .uri(uri)
        .insert_header(("content-type", "application/json"))
        .set_payload(v.to_string())
}

fn as_dev(req: TestRequest) -> TestRequest {
    req.insert_header(("authorization", basic("dev", "pw")))
}

fn error_of(r: &support::Resp) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_owned()
}

const CORGI: &str = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

#[actix_web::test]
async fn documents_are_negotiated_conditional_and_carry_the_callers_urls() {
    let t = npm().await;
    let app = main_app!(t.trove);
    let tgz = b"a tarball of @s/pkg 1.0.0";
    let r = call(
        &app,
        put_json(
            "/repository/npm/@s%2fpkg",
            &publish_doc("@s/pkg", "1.0.0", tgz),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", error_of(&r));
    // Full document, both spellings of a scoped name.
    for uri in [
        "/repository/npm/@s%2fpkg",
        "/repository/npm/@s/pkg",
        "/repository/npm/@s%2Fpkg",
    ] {
        let r = call(
            &app,
            anonymous(get(uri)).insert_header(("host", "npm.example:8081")),
        )
        .await;
        assert_eq!(r.status, 200, "{uri}");
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json")
        );
        let doc = r.json();
        assert_eq!(doc["versions"]["1.0.0"]["engines"]["node"], ">=18");
        assert_eq!(
            doc["versions"]["1.0.0"]["dist"]["tarball"],
            "http://npm.example:8081/repository/npm/@s/pkg/-/pkg-1.0.0.tgz",
            "the URL the caller used, not what the client sent"
        );
        assert!(doc.get("_rev").is_none());
    }
    // npm install's Accept: the abbreviated document, with its own type and ETag.
    let full = call(&app, anonymous(get("/repository/npm/@s/pkg"))).await;
    let corgi = call(
        &app,
        anonymous(get("/repository/npm/@s/pkg")).insert_header(("accept", CORGI)),
    )
    .await;
    assert_eq!(
        corgi.header("content-type").as_deref(),
        Some("application/vnd.npm.install-v1+json")
    );
    assert_eq!(corgi.header("vary").as_deref(), Some("Accept"));
    let c = corgi.json();
    assert_eq!(c["versions"]["1.0.0"]["dependencies"]["dep"], "^1");
    assert!(c["versions"]["1.0.0"].get("keywords").is_none());
    assert_ne!(full.header("etag"), corgi.header("etag"));
    for (resp, accept) in [(&full, "application/json"), (&corgi, CORGI)] {
        let etag = resp.header("etag").unwrap();
        let r = call(
            &app,
            anonymous(get("/repository/npm/@s/pkg"))
                .insert_header(("accept", accept))
                .insert_header(("if-none-match", etag.as_str())),
        )
        .await;
        assert_eq!(r.status, 304, "{accept}");
    }
    // Another host name is another document (and another ETag).
    let other = call(
        &app,
        anonymous(get("/repository/npm/@s/pkg")).insert_header(("host", "other:1")),
    )
    .await;
    assert_ne!(other.header("etag"), full.header("etag"));
    // ?write=true: the full document with its revision.
    let w = call(
        &app,
        anonymous(get("/repository/npm/@s/pkg?write=true")).insert_header(("accept", CORGI)),
    )
    .await;
    assert!(w.json()["_rev"].as_str().unwrap().starts_with("1-"));
    assert!(w.json()["versions"]["1.0.0"].get("keywords").is_some());
    // HEAD and the tarball, byte for byte, with its ETag.
    let h = call(&app, anonymous(head("/repository/npm/@s/pkg"))).await;
    assert_eq!(h.status, 200);
    assert!(h.body.is_empty());
    let tar = call(
        &app,
        anonymous(get("/repository/npm/@s/pkg/-/pkg-1.0.0.tgz")),
    )
    .await;
    assert_eq!((tar.status, &tar.body[..]), (200, &tgz[..]));
    let again = call(
        &app,
        anonymous(get("/repository/npm/@s/pkg/-/pkg-1.0.0.tgz"))
            .insert_header(("if-none-match", tar.header("etag").unwrap().as_str())),
    )
    .await;
    assert_eq!(again.status, 304);
    let missing = call(&app, anonymous(get("/repository/npm/nope"))).await;
    assert_eq!(
        (missing.status, error_of(&missing).as_str()),
        (404, "package nope not found")
    );
}

#[actix_web::test]
async fn publishes_are_verified_before_anything_is_kept() {
    let t = npm().await;
    let app = main_app!(t.trove);
    let tgz = b"bytes";
    let mut bad = publish_doc("pkg", "1.0.0", tgz);
    bad["versions"]["1.0.0"]["dist"]["integrity"] = json!(sri(b"other bytes"));
    let r = call(&app, as_dev(put_json("/repository/npm/pkg", &bad))).await;
    assert_eq!(r.status, 400);
    assert!(error_of(&r).contains("dist.integrity"), "{}", error_of(&r));
    let mut bad = publish_doc("pkg", "1.0.0", tgz);
    bad["versions"]["1.0.0"]["dist"]["shasum"] = json!("0000");
    let r = call(&app, as_dev(put_json("/repository/npm/pkg", &bad))).await;
    assert!(error_of(&r).contains("dist.shasum"));
    let mut bad = publish_doc("pkg", "1.0.0", tgz);
    bad["_attachments"]["pkg-1.0.0.tgz"]["length"] = json!(99);
    assert_eq!(
        call(&app, as_dev(put_json("/repository/npm/pkg", &bad)))
            .await
            .status,
        400
    );
    let r = call(
        &app,
        as_dev(put_json(
            "/repository/npm/pkg",
            &publish_doc("other", "1.0.0", tgz),
        )),
    )
    .await;
    assert!(error_of(&r).contains("is not \"pkg\""), "{}", error_of(&r));
    let r = call(
        &app,
        as_dev(put_json(
            "/repository/npm/pkg",
            &publish_doc("pkg", "one", tgz),
        )),
    )
    .await;
    assert!(error_of(&r).contains("invalid version"));
    let r = call(
        &app,
        as_dev(put_json(
            "/repository/npm/Caps",
            &publish_doc("Caps", "1.0.0", tgz),
        )),
    )
    .await;
    assert!(error_of(&r).contains("lowercase"), "{}", error_of(&r));
    let r = call(
        &app,
        as_dev(
            TestRequest::put()
                .uri("/repository/npm/pkg")
                .set_payload("{not json"),
        ),
    )
    .await;
    assert!(error_of(&r).contains("not JSON"));
    // None of that left a trace.
    assert_eq!(call(&app, get("/repository/npm/pkg")).await.status, 404);
    // A good one, then the same version again.
    assert_eq!(
        call(
            &app,
            as_dev(put_json(
                "/repository/npm/pkg",
                &publish_doc("pkg", "1.0.0", tgz)
            ))
        )
        .await
        .status,
        201
    );
    let r = call(
        &app,
        as_dev(put_json(
            "/repository/npm/pkg",
            &publish_doc("pkg", "1.0.0", b"new"),
        )),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        error_of(&r),
        "cannot publish over the previously published versions: 1.0.0"
    );
    // Anonymous callers are asked to log in, in npm's words (no WWW-Authenticate).
    let r = call(
        &app,
        anonymous(put_json(
            "/repository/npm/pkg",
            &publish_doc("pkg", "2.0.0", tgz),
        )),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_none());
    let r = call(
        &app,
        put_json("/repository/npm/x", &publish_doc("x", "1.0.0", tgz))
            .insert_header(("authorization", basic("dev", "wrong"))),
    )
    .await;
    assert_eq!(
        (r.status, error_of(&r).as_str()),
        (401, "invalid username or password")
    );
}

#[actix_web::test]
async fn updates_name_the_current_revision_and_need_the_right_privilege() {
    let t = npm().await;
    let app = main_app!(t.trove);
    for v in ["1.0.0", "1.1.0", "2.0.0-rc.1"] {
        let mut doc = publish_doc("pkg", v, v.as_bytes());
        if v.contains("rc") {
            doc["dist-tags"] = json!({ "next": v });
        }
        assert_eq!(
            call(&app, as_dev(put_json("/repository/npm/pkg", &doc)))
                .await
                .status,
            201
        );
    }
    let read = || async {
        call(&app, get("/repository/npm/pkg?write=true"))
            .await
            .json()
    };
    let doc = read().await;
    assert_eq!(
        doc["dist-tags"],
        json!({"latest": "1.1.0", "next": "2.0.0-rc.1"})
    );
    let rev = doc["_rev"].as_str().unwrap().to_owned();
    // Deprecate (npm deprecate's PUT) as dev, who may edit.
    let mut changed = doc.clone();
    changed["versions"]["1.0.0"]["deprecated"] = json!("old");
    let r = call(
        &app,
        as_dev(put_json(
            &format!("/repository/npm/pkg/-rev/{rev}"),
            &changed,
        )),
    )
    .await;
    assert_eq!(r.status, 200, "{}", error_of(&r));
    assert_eq!(read().await["versions"]["1.0.0"]["deprecated"], "old");
    // The old revision is refused now: its reader missed a change.
    let r = call(
        &app,
        as_dev(put_json(
            &format!("/repository/npm/pkg/-rev/{rev}"),
            &changed,
        )),
    )
    .await;
    assert_eq!(r.status, 409);
    assert!(error_of(&r).contains("read it again"), "{}", error_of(&r));
    // Unpublishing a version (leaving it out) needs delete, which dev lacks; the admin has it.
    let mut doc = read().await;
    let rev = doc["_rev"].as_str().unwrap().to_owned();
    doc["versions"]
        .as_object_mut()
        .unwrap()
        .remove("2.0.0-rc.1");
    let uri = format!("/repository/npm/pkg/-rev/{rev}");
    let r = call(&app, as_dev(put_json(&uri, &doc))).await;
    assert_eq!(r.status, 403);
    assert!(error_of(&r).contains("delete"), "{}", error_of(&r));
    assert_eq!(call(&app, put_json(&uri, &doc)).await.status, 200);
    let now = read().await;
    assert!(now["versions"].get("2.0.0-rc.1").is_none());
    assert!(
        now["dist-tags"].get("next").is_none(),
        "the tag of a gone version goes"
    );
    assert_eq!(
        call(&app, get("/repository/npm/pkg/-/pkg-2.0.0-rc.1.tgz"))
            .await
            .status,
        404
    );
    // npm then deletes the tarball: already gone is fine while the package exists.
    let r = call(
        &app,
        TestRequest::delete().uri(&format!(
            "/repository/npm/pkg/-/pkg-2.0.0-rc.1.tgz/-rev/{}",
            now["_rev"].as_str().unwrap()
        )),
    )
    .await;
    assert_eq!(r.status, 200);
    // A version that was never published cannot appear through an update.
    let mut doc = read().await;
    let rev = doc["_rev"].as_str().unwrap().to_owned();
    doc["versions"]["9.9.9"] = json!({"name": "pkg", "version": "9.9.9"});
    let r = call(
        &app,
        put_json(&format!("/repository/npm/pkg/-rev/{rev}"), &doc),
    )
    .await;
    assert_eq!(r.status, 400);
    // The whole package, by its current revision.
    let rev = read().await["_rev"].as_str().unwrap().to_owned();
    let r = call(
        &app,
        as_dev(TestRequest::delete().uri(&format!("/repository/npm/pkg/-rev/{rev}"))),
    )
    .await;
    assert_eq!(r.status, 403, "dev may not delete");
    let r = call(
        &app,
        TestRequest::delete().uri(&format!("/repository/npm/pkg/-rev/{rev}")),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(call(&app, get("/repository/npm/pkg")).await.status, 404);
    assert_eq!(
        call(&app, get("/repository/npm/pkg/-/pkg-1.0.0.tgz"))
            .await
            .status,
        404
    );
}

#[actix_web::test]
async fn dist_tags_search_and_the_small_endpoints() {
    let t = npm().await;
    let app = main_app!(t.trove);
    for v in ["1.0.0", "1.1.0"] {
        assert_eq!(
            call(
                &app,
                as_dev(put_json(
                    "/repository/npm/blue-pkg",
                    &publish_doc("blue-pkg", v, v.as_bytes())
                ))
            )
            .await
            .status,
            201
        );
    }
    let tags = "/repository/npm/-/package/blue-pkg/dist-tags";
    assert_eq!(
        call(&app, get(tags)).await.json(),
        json!({"latest": "1.1.0"})
    );
    let put_tag = |tag: &str, v: &str| as_dev(put_json(&format!("{tags}/{tag}"), &json!(v)));
    assert_eq!(call(&app, put_tag("stable", "1.0.0")).await.status, 201);
    assert_eq!(
        call(&app, get(tags)).await.json(),
        json!({"latest": "1.1.0", "stable": "1.0.0"})
    );
    assert_eq!(call(&app, put_tag("stable", "7.0.0")).await.status, 404);
    let r = call(&app, put_tag("1.0", "1.0.0")).await;
    assert!(
        error_of(&r).contains("must not be a version"),
        "{}",
        error_of(&r)
    );
    let r = call(
        &app,
        as_dev(TestRequest::delete().uri(&format!("{tags}/latest"))),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        call(
            &app,
            as_dev(TestRequest::delete().uri(&format!("{tags}/stable")))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call(
            &app,
            as_dev(TestRequest::delete().uri(&format!("{tags}/stable")))
        )
        .await
        .status,
        404
    );
    // Search by name and by keyword; other words miss.
    macro_rules! found {
        ($q:expr) => {{
            let r = call(
                &app,
                anonymous(get(&format!(
                    "/repository/npm/-/v1/search?text={}&size=5",
                    $q
                ))),
            )
            .await;
            assert_eq!(r.status, 200);
            r.json()["objects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["package"]["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }};
    }
    assert_eq!(found!("blue"), ["blue-pkg"]);
    assert_eq!(found!("fast"), ["blue-pkg"], "keywords");
    assert!(found!("green").is_empty());
    let r = call(
        &app,
        anonymous(get("/repository/npm/-/v1/search?text=blue")),
    )
    .await;
    assert_eq!(r.json()["objects"][0]["package"]["version"], "1.1.0");
    assert_eq!(
        r.json()["objects"][0]["package"]["publisher"]["username"],
        "dev"
    );
    // Small endpoints.
    assert_eq!(
        call(&app, anonymous(get("/repository/npm/-/ping")))
            .await
            .json(),
        json!({})
    );
    assert_eq!(
        call(&app, as_dev(get("/repository/npm/-/whoami")))
            .await
            .json(),
        json!({"username": "dev"})
    );
    assert_eq!(
        call(&app, anonymous(get("/repository/npm/-/whoami")))
            .await
            .status,
        401
    );
    let r = call(
        &app,
        anonymous(TestRequest::post().uri("/repository/npm/-/v1/login")),
    )
    .await;
    assert_eq!(
        r.status, 404,
        "a 4xx makes npm fall back to user name and password"
    );
    let r = call(
        &app,
        anonymous(TestRequest::post().uri("/repository/npm/-/npm/v1/security/advisories/bulk")),
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(error_of(&r).contains("audit"));
    let r = call(&app, anonymous(get("/repository/npm/blue-pkg/nope"))).await;
    assert_eq!(r.status, 404);
    assert!(error_of(&r).contains("not an npm registry path"));
    let r = call(
        &app,
        anonymous(TestRequest::post().uri("/repository/npm/blue-pkg")),
    )
    .await;
    assert_eq!(r.status, 405);
}

/// npm login: the CouchDB user document with a password makes an API token of that user,
/// which then works as npm's `_authToken` (Bearer); the wrong password, an unknown user, a
/// token as the password and a name mismatch are refused; npm logout revokes the token at once
/// and only its owner can; both are in the audit log without the secret.
#[actix_web::test]
async fn login_makes_a_revocable_token_and_logout_revokes_it() {
    let t = npm().await;
    let app = main_app!(t.trove);
    let login = |user: &str, password: &str| {
        TestRequest::put()
            .uri(&format!("/repository/npm/-/user/org.couchdb.user:{user}"))
            .insert_header(("content-type", "application/json"))
            .set_payload(
                json!({"_id": format!("org.couchdb.user:{user}"), "name": user,
                       "password": password, "type": "user", "roles": [],
                       "date": "2026-12-03T00:00:00.000Z"})
                .to_string(),
            )
    };
    // What npm 11 sends: the document, and no Authorization (web login fell back).
    let r = call(&app, anonymous(login("dev", "pw"))).await;
    assert_eq!(r.status, 201, "{}", error_of(&r));
    let token = r.json()["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("trove_"), "{token}");
    let bearer = format!("Bearer {token}");
    let whoami = |auth: &str| {
        get("/repository/npm/-/whoami").insert_header(("authorization", auth.to_owned()))
    };
    assert_eq!(
        call(&app, whoami(&bearer)).await.json(),
        json!({"username": "dev"})
    );
    // The token publishes like the password would.
    let r = call(
        &app,
        put_json(
            "/repository/npm/login-pkg",
            &publish_doc("login-pkg", "1.0.0", b"login"),
        )
        .insert_header(("authorization", bearer.clone())),
    )
    .await;
    assert_eq!(r.status, 201, "{}", error_of(&r));
    // Refusals: wrong password, unknown user (same answer), a token as the password, a
    // document naming someone else, a body that is not JSON.
    for (user, pw) in [("dev", "nope"), ("nobody", "pw")] {
        let r = call(&app, anonymous(login(user, pw))).await;
        assert_eq!(r.status, 401, "{user}");
        assert!(
            error_of(&r).contains("invalid username or password"),
            "{}",
            error_of(&r)
        );
    }
    let r = call(&app, anonymous(login("dev", &token))).await;
    assert_eq!(r.status, 401);
    assert!(
        error_of(&r).contains("cannot make API tokens"),
        "{}",
        error_of(&r)
    );
    let r = call(
        &app,
        anonymous(
            TestRequest::put()
                .uri("/repository/npm/-/user/org.couchdb.user:dev")
                .set_payload(json!({"name": "admin", "password": "pw"}).to_string()),
        ),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = call(
        &app,
        anonymous(
            TestRequest::put()
                .uri("/repository/npm/-/user/org.couchdb.user:dev")
                .set_payload("{not json"),
        ),
    )
    .await;
    assert_eq!(r.status, 400);
    // Logout needs credentials, and the very token: the right selector with a wrong secret
    // is "not found", like a token of someone else's.
    let logout =
        |tok: &str| TestRequest::delete().uri(&format!("/repository/npm/-/user/token/{tok}"));
    assert_eq!(call(&app, anonymous(logout(&token))).await.status, 401);
    let forged = format!("{}x", &token[..token.len() - 1]);
    let r = call(
        &app,
        logout(&forged).insert_header(("authorization", bearer.clone())),
    )
    .await;
    assert_eq!(
        r.status, 404,
        "a token with the right selector but the wrong secret"
    );
    let r = call(
        &app,
        logout(&token).insert_header(("authorization", bearer.clone())),
    )
    .await;
    assert_eq!(r.status, 200, "{}", error_of(&r));
    // Revoked at once: the next request with it is refused.
    assert_eq!(call(&app, whoami(&bearer)).await.status, 401);
    let entries = t
        .trove
        .meta
        .audit()
        .query(&trove_store::AuditQuery {
            entity_type: Some("token".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    // Made, revoked, then its use after the revocation refused (named by its public prefix).
    assert_eq!(
        actions,
        ["create", "revoke", "sign-in-failed"],
        "{entries:?}"
    );
    assert!(
        entries[..2]
            .iter()
            .all(|e| e.entity_name.starts_with("dev/npm-npm-"))
    );
    assert!(token.starts_with(&entries[2].entity_name));
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains(&token), "no secret in the audit log");
}

#[actix_web::test]
async fn groups_merge_members_and_publish_to_the_writable_one() {
    let t = npm().await;
    let app = main_app!(t.trove);
    let publish = |repo: &str, v: &str| {
        as_dev(put_json(
            &format!("/repository/{repo}/shared"),
            &publish_doc("shared", v, format!("{repo}{v}").as_bytes()),
        ))
    };
    assert_eq!(call(&app, publish("npm", "1.0.0")).await.status, 201);
    assert_eq!(call(&app, publish("npm2", "1.0.0")).await.status, 201);
    assert_eq!(call(&app, publish("npm2", "2.0.0")).await.status, 201);
    // Two hosted members: a union, the first member winning 1.0.0, latest the highest.
    let doc = call(&app, anonymous(get("/repository/npm-all/shared")))
        .await
        .json();
    let mut versions: Vec<&String> = doc["versions"].as_object().unwrap().keys().collect();
    versions.sort();
    assert_eq!(versions, ["1.0.0", "2.0.0"]);
    assert_eq!(doc["dist-tags"]["latest"], "2.0.0");
    assert_eq!(
        doc["versions"]["2.0.0"]["dist"]["tarball"],
        "http://localhost:8080/repository/npm-all/shared/-/shared-2.0.0.tgz",
        "tarballs point at the group"
    );
    let t1 = call(
        &app,
        anonymous(get("/repository/npm-all/shared/-/shared-1.0.0.tgz")),
    )
    .await;
    assert_eq!(&t1.body[..], b"npm1.0.0", "the first member's bytes");
    // A publish through the group lands in its writable member and shows at once.
    assert_eq!(call(&app, publish("npm-all", "3.0.0")).await.status, 201);
    assert_eq!(
        call(&app, anonymous(get("/repository/npm/shared")))
            .await
            .json()["dist-tags"]["latest"],
        "3.0.0"
    );
    let doc = call(
        &app,
        anonymous(get("/repository/npm-all/shared")).insert_header(("accept", CORGI)),
    )
    .await
    .json();
    assert_eq!(doc["dist-tags"]["latest"], "3.0.0");
}
