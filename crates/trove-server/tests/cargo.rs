//! The cargo registry API in process, for what the e2e test with the cargo CLI does not reach:
//! `config.json` per caller and its challenge, index files and conditional requests, every
//! refusal of a publish (body bounds, names, collisions, republish, owners, privileges), yank,
//! owners, search, the conventional download path, groups (union of lines, first member wins,
//! the dependency-confusion guard), and a proxy of a loopback upstream that keeps only
//! `.crate` files matching their checksum and serves stale copies when the upstream is down.

use crate::support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::test::TestRequest;
use serde_json::{Value, json};
use sha2::Digest as _;
use support::{anonymous, basic, call, get, instance};

const CARGO: &str = r#"
[security]
anonymous = true
[[role]]
name = "open-read"
privileges = [{ format = "cargo", repo = "open", actions = ["browse", "read"] }, { format = "cargo", repo = "all", actions = ["browse", "read"] }]
[[user]]
name = "anonymous"
roles = ["open-read"]
[[repository]]
name = "crates"
format = "cargo"
kind = "hosted"
[[repository]]
name = "open"
format = "cargo"
kind = "hosted"
[[repository]]
name = "all"
format = "cargo"
kind = "group"
members = ["crates", "open"]
[[role]]
name = "publish"
privileges = [{ format = "cargo", repo = "*", actions = ["browse", "read", "add", "edit"] }]
[[role]]
name = "reader"
privileges = [{ format = "cargo", repo = "*", actions = ["browse", "read"] }]
[[user]]
name = "dev"
password_file = "PWFILE"
roles = ["publish"]
[[user]]
name = "dev2"
password_file = "PWFILE"
roles = ["publish"]
[[user]]
name = "reader"
password_file = "PWFILE"
roles = ["reader"]
"#;

async fn cargo_instance(extra: &str) -> support::Instance {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "pw\n").unwrap();
    let t = instance(&format!(
        "{}\n{extra}",
        CARGO.replace("PWFILE", pw.to_str().unwrap())
    ))
    .await;
    std::mem::forget(dir);
    t
}

/// A `.crate` stand-in: gzip's magic, then bytes unique to `name` and `version`.
fn krate(name: &str, version: &str) -> Vec<u8> {
    let mut b = vec![0x1f, 0x8b, 8, 0];
    b.extend_from_slice(format!("{name}-{version}").as_bytes());
    b
}

fn hex_sha256(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

/// What `cargo publish` sends: the length-prefixed metadata and `.crate`.
fn publish_body(meta: &Value, krate: &[u8]) -> Vec<u8> {
    let meta = meta.to_string();
    let mut b = (meta.len() as u32).to_le_bytes().to_vec();
    b.extend_from_slice(meta.as_bytes());
    b.extend_from_slice(&(krate.len() as u32).to_le_bytes());
    b.extend_from_slice(krate);
    b
}

fn meta(name: &str, version: &str, deps: Value) -> Value {
    json!({
        "name": name, "vers": version, "deps": deps, "features": {},
        "authors": [], "description": format!("the {name} crate"), "license": "MIT",
        "keywords": [], "categories": [], "badges": {}, "links": null, "rust_version": null
    })
}

fn publish(repo: &str, name: &str, version: &str, deps: Value) -> TestRequest {
    TestRequest::put()
        .uri(&format!("/repository/{repo}/api/v1/crates/new"))
        .set_payload(publish_body(
            &meta(name, version, deps),
            &krate(name, version),
        ))
}

fn as_user(req: TestRequest, user: &str) -> TestRequest {
    req.insert_header(("authorization", basic(user, "pw")))
}

fn detail(r: &support::Resp) -> String {
    r.json()["errors"][0]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn lines(r: &support::Resp) -> Vec<Value> {
    String::from_utf8_lossy(&r.body)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[actix_web::test]
async fn config_json_challenges_and_tokens_are_cargo_shaped() {
    let t = cargo_instance("").await;
    let app = main_app!(t.trove);
    // A registry anonymous callers may not read: 401 with cargo's challenge.
    let r = call(
        &app,
        anonymous(get("/repository/crates/config.json")).insert_header(("host", "reg.example")),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("Cargo login_url=\"http://reg.example/admin/tokens\"")
    );
    assert!(!detail(&r).is_empty());
    // With a token as cargo sends it (bare): auth-required, URLs of the caller's host.
    let token = call(
        &app,
        as_user(
            TestRequest::post()
                .uri("/service/rest/v1/security/user-tokens")
                .set_json(json!({"name": "cargo"})),
            "dev",
        ),
    )
    .await;
    assert_eq!(token.status, 201);
    let token = token.json()["token"].as_str().unwrap().to_owned();
    let r = call(
        &app,
        get("/repository/crates/config.json")
            .insert_header(("authorization", token.as_str()))
            .insert_header(("host", "reg.example")),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({
            "dl": "http://reg.example/repository/crates/crates/{crate}/{version}/{sha256-checksum}",
            "api": "http://reg.example/repository/crates",
            "auth-required": true
        })
    );
    // A registry anonymous callers may read: no challenge, auth-required false.
    let r = call(&app, anonymous(get("/repository/open/config.json"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["auth-required"], false);
    // A token that is not (or no longer) valid: 401, which cargo reports as "token rejected".
    let r = call(
        &app,
        get("/repository/crates/config.json")
            .insert_header(("authorization", "trove_nosuch_0000000000000000")),
    )
    .await;
    assert_eq!(r.status, 401, "{}", detail(&r));
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .starts_with("Cargo login_url=")
    );
    // A publish without the add privilege: 403 with the reason.
    let r = call(
        &app,
        as_user(publish("crates", "nope", "1.0.0", json!([])), "reader"),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(detail(&r).contains("add"), "{}", detail(&r));
    // Not a registry path.
    let r = call(&app, get("/repository/crates/nope/nope")).await;
    assert_eq!(r.status, 404);
    assert!(detail(&r).contains("not a cargo registry path"));
}

#[actix_web::test]
async fn publish_index_download_and_conditional_requests() {
    let t = cargo_instance("").await;
    let app = main_app!(t.trove);
    let deps = json!([
        {"name": "dep-one", "version_req": "^1.2", "features": [], "optional": false,
         "default_features": true, "target": null, "kind": "normal", "registry": null},
        {"name": "real", "version_req": "=0.3", "features": ["x"], "optional": true,
         "default_features": false, "target": null, "kind": "normal",
         "explicit_name_in_toml": "alias",
         "registry": "https://github.com/rust-lang/crates.io-index"}
    ]);
    let r = call(
        &app,
        as_user(publish("crates", "My_Crate", "1.0.0", deps), "dev"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", detail(&r));
    assert!(r.json()["warnings"].is_object());
    // Visible at once, at the lowercase path, with the .crate's SHA-256 as cksum.
    let r = call(&app, get("/repository/crates/my/_c/my_crate")).await;
    assert_eq!(r.status, 200);
    let l = lines(&r);
    assert_eq!(l.len(), 1);
    let sum = hex_sha256(&krate("My_Crate", "1.0.0"));
    assert_eq!(l[0]["name"], "My_Crate");
    assert_eq!(l[0]["vers"], "1.0.0");
    assert_eq!(l[0]["cksum"], sum.as_str());
    assert_eq!(l[0]["yanked"], false);
    assert_eq!(l[0]["deps"][0]["req"], "^1.2");
    assert!(l[0]["deps"][0].get("registry").is_none());
    assert_eq!(l[0]["deps"][1]["name"], "alias");
    assert_eq!(l[0]["deps"][1]["package"], "real");
    let etag = r.header("etag").unwrap();
    let r = call(
        &app,
        get("/repository/crates/my/_c/my_crate").insert_header(("if-none-match", etag.as_str())),
    )
    .await;
    assert_eq!(r.status, 304);
    // A second version changes the file and its ETag; lines stay in version order.
    let r = call(
        &app,
        as_user(publish("crates", "My_Crate", "0.9.0", json!([])), "dev"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", detail(&r));
    let r = call(
        &app,
        get("/repository/crates/my/_c/my_crate").insert_header(("if-none-match", etag.as_str())),
    )
    .await;
    assert_eq!(r.status, 200);
    let vers: Vec<Value> = lines(&r).iter().map(|l| l["vers"].clone()).collect();
    assert_eq!(vers, [json!("0.9.0"), json!("1.0.0")]);
    // Not found: a crate nobody published, an uppercase or misplaced path.
    for p in ["/3/a/abc", "/my/_c/My_Crate", "/my/xx/my_crate"] {
        let r = call(&app, get(&format!("/repository/crates{p}"))).await;
        assert_eq!(r.status, 404, "{p}");
    }
    // Downloads: the dl path with the checksum, the conventional API path; a wrong checksum
    // is not this crate.
    let r = call(
        &app,
        get(&format!("/repository/crates/crates/My_Crate/1.0.0/{sum}")),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], &krate("My_Crate", "1.0.0")[..]);
    let r = call(
        &app,
        get("/repository/crates/api/v1/crates/my_crate/1.0.0/download"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], &krate("My_Crate", "1.0.0")[..]);
    let other = "0".repeat(64);
    let r = call(
        &app,
        get(&format!("/repository/crates/crates/My_Crate/1.0.0/{other}")),
    )
    .await;
    assert_eq!(r.status, 404);
    // Anonymous callers may not read this registry: 401 on every read, not just config.json.
    let r = call(&app, anonymous(get("/repository/crates/my/_c/my_crate"))).await;
    assert_eq!(r.status, 401);
}

#[actix_web::test]
async fn publish_refusals_are_printed_by_cargo() {
    let t = cargo_instance("").await;
    let app = main_app!(t.trove);
    let ok = call(
        &app,
        as_user(publish("crates", "foo-bar", "1.0.0", json!([])), "dev"),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", detail(&ok));
    let refused = |status: u16, needle: &'static str| {
        move |r: support::Resp| {
            assert_eq!(r.status, status, "{}", detail(&r));
            assert!(
                detail(&r).contains(needle),
                "{needle:?} not in {:?}",
                detail(&r)
            );
        }
    };
    // Republish: refused, build metadata or not.
    let r = call(
        &app,
        as_user(publish("crates", "foo-bar", "1.0.0", json!([])), "dev"),
    )
    .await;
    refused(409, "already uploaded")(r);
    let r = call(
        &app,
        as_user(publish("crates", "foo-bar", "1.0.0+b", json!([])), "dev"),
    )
    .await;
    refused(409, "already uploaded")(r);
    // Another spelling of the same crate (crates.io's normalisation).
    for n in ["foo_bar", "Foo-Bar"] {
        let r = call(
            &app,
            as_user(publish("crates", n, "2.0.0", json!([])), "dev"),
        )
        .await;
        refused(400, "conflicts with the existing crate foo-bar")(r);
    }
    // Names and versions.
    for (n, v, needle) in [
        ("std", "1.0.0", "reserved"),
        ("1abc", "1.0.0", "first character"),
        ("a.b", "1.0.0", "invalid crate name"),
        ("okname", "1.0", "invalid version"),
    ] {
        let r = call(&app, as_user(publish("crates", n, v, json!([])), "dev")).await;
        refused(400, needle)(r);
    }
    // Not an owner: dev2 may publish, but foo-bar is dev's.
    let r = call(
        &app,
        as_user(publish("crates", "foo-bar", "1.1.0", json!([])), "dev2"),
    )
    .await;
    refused(403, "not an owner")(r);
    // Bodies with lengths that do not add up, and a .crate that is not gzip.
    let body = publish_body(&meta("x", "1.0.0", json!([])), &krate("x", "1.0.0"));
    for (bad, needle) in [
        (body[..body.len() - 1].to_vec(), "only"),
        ([&body[..], b"x"].concat(), "follow the .crate"),
        (vec![1, 2], "ends before"),
        (
            publish_body(&json!({"name": "x", "vers": "1.0.0"}), b"plain"),
            "gzip",
        ),
        (publish_body(&json!([1]), b"\x1f\x8b"), "not a JSON object"),
    ] {
        let r = call(
            &app,
            as_user(
                TestRequest::put()
                    .uri("/repository/crates/api/v1/crates/new")
                    .set_payload(bad),
                "dev",
            ),
        )
        .await;
        refused(400, needle)(r);
    }
    // A dependency with a requirement semver cannot read.
    let deps = json!([{"name": "d", "version_req": "not a req", "kind": "normal"}]);
    let r = call(
        &app,
        as_user(publish("crates", "baddep", "1.0.0", deps), "dev"),
    )
    .await;
    refused(400, "invalid version requirement")(r);
}

#[actix_web::test]
async fn yank_owners_and_search() {
    let t = cargo_instance("").await;
    let app = main_app!(t.trove);
    for (n, v) in [
        ("alpha", "1.0.0"),
        ("alpha", "1.1.0"),
        ("alphabet", "0.1.0"),
        ("beta", "2.0.0"),
    ] {
        let r = call(&app, as_user(publish("crates", n, v, json!([])), "dev")).await;
        assert_eq!(r.status, 200, "{}", detail(&r));
    }
    let yank = |m: &str, v: &str, who: &str| {
        let uri = format!("/repository/crates/api/v1/crates/alpha/{v}/{m}");
        let req = if m == "yank" {
            TestRequest::delete()
        } else {
            TestRequest::put()
        };
        as_user(req.uri(&uri), who)
    };
    let r = call(&app, yank("yank", "1.1.0", "dev")).await;
    assert_eq!((r.status, r.json()), (200, json!({"ok": true})));
    let r = call(&app, get("/repository/crates/al/ph/alpha")).await;
    let l = lines(&r);
    assert_eq!(
        (l[0]["yanked"].clone(), l[1]["yanked"].clone()),
        (json!(false), json!(true))
    );
    // Search shows the highest version not yanked.
    let r = call(
        &app,
        get("/repository/crates/api/v1/crates?q=alpha&per_page=10"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"crates": [
            {"name": "alpha", "max_version": "1.0.0", "description": "the alpha crate"},
            {"name": "alphabet", "max_version": "0.1.0", "description": "the alphabet crate"}
        ], "meta": {"total": 2}})
    );
    let r = call(&app, yank("unyank", "1.1.0", "dev")).await;
    assert_eq!(r.status, 200);
    let r = call(&app, get("/repository/crates/al/ph/alpha")).await;
    assert_eq!(lines(&r)[1]["yanked"], false);
    let r = call(&app, yank("yank", "3.0.0", "dev")).await;
    assert_eq!(r.status, 404);
    // Owners: the publisher; others are added by name (Trove users only).
    let owners = "/repository/crates/api/v1/crates/alpha/owners";
    let r = call(&app, get(owners)).await;
    assert_eq!(
        r.json(),
        json!({"users": [{"id": 1, "login": "dev", "name": "dev"}]})
    );
    let r = call(&app, yank("yank", "1.0.0", "dev2")).await;
    assert_eq!(r.status, 403, "not an owner yet");
    let change = |m: TestRequest, users: Value| {
        as_user(m.uri(owners).set_json(json!({ "users": users })), "dev")
    };
    let r = call(&app, change(TestRequest::put(), json!(["nobody-here"]))).await;
    assert_eq!(r.status, 400);
    assert!(detail(&r).contains("no Trove user"));
    let r = call(&app, change(TestRequest::put(), json!(["dev2"]))).await;
    assert_eq!(r.status, 200, "{}", detail(&r));
    assert_eq!(r.json()["ok"], true);
    let r = call(&app, yank("yank", "1.0.0", "dev2")).await;
    assert_eq!(r.status, 200, "an owner now");
    let r = call(&app, change(TestRequest::delete(), json!(["dev", "dev2"]))).await;
    assert_eq!(r.status, 400, "the last owner stays");
    let r = call(&app, change(TestRequest::delete(), json!(["dev"]))).await;
    assert_eq!(r.status, 200);
    let r = call(&app, get(owners)).await;
    assert_eq!(r.json()["users"][0]["login"], "dev2");

    // The REST API (and the console) browse crates, versions, yanked status, sizes.
    let api = "/service/rest/v1/repositories/crates";
    let r = call(&app, get(&format!("{api}/components"))).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["nouns"]["component"], "crate");
    let keys: Vec<&str> = v["components"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["alpha", "alphabet", "beta"]);
    let r = call(
        &app,
        get(&format!("{api}/components/assets?component=alpha")),
    )
    .await;
    let rows = r.json()["assets"]["entries"].as_array().unwrap().clone();
    assert_eq!(rows[0]["facts"]["version"], "1.1.0", "newest first");
    assert_eq!(rows[1]["facts"]["yanked"], true, "1.0.0 was yanked by dev2");
    assert_eq!(
        rows[1]["facts"]["crate_size"],
        krate("alpha", "1.0.0").len() as u64
    );
    let r = call(
        &app,
        get(&format!("{api}/assets?component=alpha&reference=1.1.0")),
    )
    .await;
    assert_eq!(
        r.json()["detail"]["facts"]["line"]["cksum"],
        hex_sha256(&krate("alpha", "1.1.0")).as_str()
    );
}

#[actix_web::test]
async fn groups_merge_lines_first_member_wins() {
    let t = cargo_instance(
        "[[repository]]\nname = \"all-w\"\nformat = \"cargo\"\nkind = \"group\"\n\
         members = [\"crates\", \"open\"]\nwritable_member = \"crates\"\n",
    )
    .await;
    let app = main_app!(t.trove);
    for (repo, v) in [("crates", "1.0.0"), ("open", "1.0.0"), ("open", "2.0.0")] {
        let r = call(&app, as_user(publish(repo, "shared", v, json!([])), "dev")).await;
        assert_eq!(r.status, 200, "{}", detail(&r));
    }
    let r = call(&app, anonymous(get("/repository/all/sh/ar/shared"))).await;
    assert_eq!(r.status, 200);
    let l = lines(&r);
    assert_eq!(l.len(), 2);
    assert_eq!(
        l[0]["cksum"],
        hex_sha256(&krate("shared", "1.0.0")).as_str()
    );
    assert_eq!(l[1]["vers"], "2.0.0");
    // Both members' crates download through the group; the group's config.json is its own.
    for (v, _) in [("1.0.0", "crates"), ("2.0.0", "open")] {
        let sum = hex_sha256(&krate("shared", v));
        let r = call(
            &app,
            anonymous(get(&format!("/repository/all/crates/shared/{v}/{sum}"))),
        )
        .await;
        assert_eq!(r.status, 200, "{v}");
    }
    let r = call(&app, anonymous(get("/repository/all/config.json"))).await;
    assert_eq!(r.json()["auth-required"], false);
    assert!(
        r.json()["dl"]
            .as_str()
            .unwrap()
            .contains("/repository/all/crates/")
    );
    let r = call(&app, anonymous(get("/repository/all/3/n/nop"))).await;
    assert_eq!(r.status, 404);
    // A group without a writable member takes no publish; one with it publishes there, and
    // the new version is in the group's index at once.
    let r = call(
        &app,
        as_user(publish("all", "viagroup", "1.0.0", json!([])), "dev"),
    )
    .await;
    assert_eq!(r.status, 405, "{}", detail(&r));
    let r = call(
        &app,
        as_user(publish("all-w", "viagroup", "1.0.0", json!([])), "dev"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", detail(&r));
    for repo in ["crates", "all-w"] {
        let r = call(&app, get(&format!("/repository/{repo}/vi/ag/viagroup"))).await;
        assert_eq!(lines(&r)[0]["vers"], "1.0.0", "{repo}");
    }
    let r = call(
        &app,
        as_user(
            TestRequest::delete().uri("/repository/all-w/api/v1/crates/viagroup/1.0.0/yank"),
            "dev",
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", detail(&r));
    let r = call(&app, get("/repository/crates/vi/ag/viagroup")).await;
    assert_eq!(lines(&r)[0]["yanked"], true);
}

/// A sparse registry on a loopback port: fixed answers by path, changeable, and a switch
/// that makes it answer 503 (down).
#[derive(Clone, Default)]
struct Upstream {
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    down: Arc<Mutex<bool>>,
    hits: Arc<Mutex<Vec<String>>>,
}

impl Upstream {
    fn start(&self) -> String {
        let me = self.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = actix_web::HttpServer::new(move || {
            let me = me.clone();
            actix_web::App::new().default_service(actix_web::web::to(
                move |req: actix_web::HttpRequest| {
                    let me = me.clone();
                    async move {
                        me.hits.lock().unwrap().push(req.path().to_owned());
                        if *me.down.lock().unwrap() {
                            return actix_web::HttpResponse::ServiceUnavailable().finish();
                        }
                        match me.files.lock().unwrap().get(req.path()) {
                            Some(b) => actix_web::HttpResponse::Ok().body(b.clone()),
                            None => actix_web::HttpResponse::NotFound().finish(),
                        }
                    }
                },
            ))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        format!("http://{addr}")
    }

    fn put(&self, path: &str, body: &[u8]) {
        self.files
            .lock()
            .unwrap()
            .insert(path.to_owned(), body.to_vec());
    }
}

#[actix_web::test]
async fn a_proxy_checks_crates_against_their_checksum_and_serves_stale_when_down() {
    let up = Upstream::default();
    let url = up.start();
    let good = krate("up-crate", "1.0.0");
    let good_sum = hex_sha256(&good);
    let bad_sum = hex_sha256(b"what the index promised");
    let line = |v: &str, sum: &str| {
        json!({"name": "up-crate", "vers": v, "deps": [], "cksum": sum, "features": {},
               "yanked": false, "links": null})
        .to_string()
    };
    up.put(
        "/index/config.json",
        format!(r#"{{"dl":"{url}/files/{{crate}}-{{version}}.crate"}}"#).as_bytes(),
    );
    up.put(
        "/index/up/-c/up-crate",
        format!(
            "{}\n{}\n",
            line("1.0.0", &good_sum),
            line("1.1.0", &bad_sum)
        )
        .as_bytes(),
    );
    up.put("/files/up-crate-1.0.0.crate", &good);
    up.put("/files/up-crate-1.1.0.crate", b"not what the index said");
    let t = cargo_instance(&format!(
        "[[repository]]\nname = \"up\"\nformat = \"cargo\"\nkind = \"proxy\"\n\
         remote = \"{url}/index/\"\nmetadata_max_age = 0\nauto_block = false\n\
         [[repository]]\nname = \"mixed\"\nformat = \"cargo\"\nkind = \"group\"\n\
         members = [\"crates\", \"up\"]\n"
    ))
    .await;
    let app = main_app!(t.trove);
    let r = call(&app, get("/repository/up/up/-c/up-crate")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(lines(&r).len(), 2);
    // Our config.json, not the upstream's.
    let r = call(&app, get("/repository/up/config.json")).await;
    assert!(
        r.json()["dl"]
            .as_str()
            .unwrap()
            .contains("/repository/up/crates/")
    );
    // The good crate: fetched from where the upstream's dl says, kept.
    let r = call(
        &app,
        get(&format!("/repository/up/crates/up-crate/1.0.0/{good_sum}")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(&r.body[..], &good[..]);
    // Bytes that do not hash to the index's cksum: the stream breaks (it started before the
    // last byte was hashed, as for every proxied blob) and nothing is cached.
    let bad_uri = format!("/repository/up/crates/up-crate/1.1.0/{bad_sum}");
    let req = get(&bad_uri)
        .insert_header(("authorization", basic("tester", support::TESTER_PASSWORD)))
        .to_request();
    let res = actix_web::test::call_service(&app, req).await;
    let body = actix_web::test::try_read_body(res).await;
    let err = body.expect_err("a body that does not match its checksum must not complete");
    assert!(err.to_string().contains("nothing was cached"), "{err}");
    // The upstream goes down: the cached index file (stale, marked) and crate still serve,
    // through the group too; the bad crate was never kept.
    *up.down.lock().unwrap() = true;
    let r = call(&app, get(&bad_uri)).await;
    assert!(r.status >= 500, "{}", r.status);
    let r = call(&app, get("/repository/up/up/-c/up-crate")).await;
    assert_eq!(r.status, 200);
    assert!(r.header("warning").unwrap_or_default().contains("stale"));
    let r = call(
        &app,
        get(&format!(
            "/repository/mixed/crates/up-crate/1.0.0/{good_sum}"
        )),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], &good[..]);
    let r = call(&app, get("/repository/mixed/up/-c/up-crate")).await;
    assert_eq!(r.status, 200);
    assert_eq!(lines(&r).len(), 2);
    // A hosted crate of the same name hides the proxied one in the group.
    *up.down.lock().unwrap() = false;
    let r = call(
        &app,
        as_user(publish("crates", "up-crate", "0.1.0", json!([])), "dev"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", detail(&r));
    let r = call(&app, get("/repository/mixed/up/-c/up-crate")).await;
    let vers: Vec<Value> = lines(&r).iter().map(|l| l["vers"].clone()).collect();
    assert_eq!(vers, [json!("0.1.0")]);
    // Proxies take no publishes.
    let r = call(
        &app,
        as_user(publish("up", "zzz", "1.0.0", json!([])), "dev"),
    )
    .await;
    assert_eq!(r.status, 405);
}
