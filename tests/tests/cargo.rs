//! cargo end to end with the real cargo CLI against Trove, and a second Trove's hosted cargo
//! registry as the upstream (the stand-in for crates.io, holding crates published to it here):
//! `cargo login` and tokens from the environment, `cargo publish` of two crates (one depending
//! on the other) to a hosted registry that requires authentication, `cargo yank` and
//! `--undo`, the errors cargo prints (wrong token, republished version), then `cargo build`
//! and `cargo fetch` of a fresh project with an empty `CARGO_HOME` through
//! `[source.crates-io] replace-with` a group of the hosted registry and a proxy of the
//! upstream, with `Cargo.lock` checksums equal to the upstream's (a public crate named like a
//! private one stays hidden), and again with the upstream stopped. One upstream and one Trove
//! for the whole group of checks.

use std::path::Path;

use serde_json::{Value, json};
use trove_tests::cargo::{CargoClient, Dep, lock_checksums, text, write_crate};
use trove_tests::{TroveInstance, blocking};

const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";

/// `POST /service/rest/v1/security/user-tokens` as `user`; the token.
async fn make_token(trove: &TroveInstance, user: &str, pw: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!(
            "http://{}/service/rest/v1/security/user-tokens",
            trove.main_addr()
        ))
        .basic_auth(user, Some(pw))
        .json(&json!({ "name": "cargo" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// A registry's index file as JSON lines, read with `token` (cargo's bare header) if given.
fn index_lines(url: &str, token: Option<&str>) -> Vec<Value> {
    let mut c = std::process::Command::new("curl");
    c.args(["-sS", "--fail-with-body", url]);
    if let Some(t) = token {
        c.args(["-H", &format!("Authorization: {t}")]);
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "GET {url}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn fails(cargo: &CargoClient, cwd: &Path, args: &[&str]) -> String {
    let out = cargo.run_unchecked(cwd, args);
    assert!(
        !out.status.success(),
        "cargo {args:?} should fail:\n{}",
        text(&out)
    );
    text(&out)
}

fn passwords(users: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (u, p) in users {
        std::fs::write(d.path().join(u), p).unwrap();
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_publish_yank_and_build_through_a_group_of_hosted_and_a_proxy_of_another_registry() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path().to_owned();

    // The upstream: another Trove with a hosted cargo registry anyone may read.
    let up_pw = passwords(&[("up", "up-pass-1")]);
    let upstream = TroveInstance::start_secured(&format!(
        r#"[security]
anonymous = true
[[role]]
name = "read"
privileges = [{{ format = "cargo", repo = "*", actions = ["browse", "read"] }}]
[[role]]
name = "all"
privileges = [{{ format = "cargo", repo = "*", actions = ["*"] }}]
[[user]]
name = "anonymous"
roles = ["read"]
[[user]]
name = "up"
password_file = "{pw}/up"
roles = ["all"]
[[repository]]
name = "crates"
format = "cargo"
kind = "hosted"
"#,
        pw = up_pw.path().display()
    ))
    .await;
    let up_index = format!("http://{}/repository/crates/", upstream.main_addr());
    let up_token = make_token(&upstream, "up", "up-pass-1").await;
    blocking({
        let (w, up_index) = (w.clone(), up_index.clone());
        move || {
            let mut up = CargoClient::new();
            up.write_config(&format!(
                "[registries.upstream]\nindex = \"sparse+{up_index}\"\n"
            ));
            up.token("upstream", &up_token);
            let reg = Some("upstream");
            for (dir, name, version, deps) in [
                ("up-util", "up-util", "1.2.0", vec![]),
                (
                    "up-only",
                    "up-only",
                    "0.1.0",
                    vec![Dep {
                        name: "up-util",
                        req: "1.2",
                        registry: reg,
                    }],
                ),
                // A public crate with the name of a private one: must never be built.
                ("confusion", "my-lib", "9.9.9", vec![]),
            ] {
                let d = write_crate(&w.join(dir), name, version, &deps, false, None);
                up.run(&d, &["publish", "--registry", "upstream", "--no-verify"]);
            }
        }
    })
    .await;

    // Trove: hosted (readable only with a token: auth-required), a proxy of the upstream and
    // a group of both that anyone may read.
    let pw = passwords(&[("alice", "alice-pass-1")]);
    let trove = TroveInstance::start_secured(&format!(
        r#"[security]
anonymous = true
[[role]]
name = "group-read"
privileges = [{{ format = "cargo", repo = "cargo-all", actions = ["browse", "read"] }}]
[[role]]
name = "cargo-deploy"
privileges = [{{ format = "cargo", repo = "*", actions = ["*"] }}]
[[user]]
name = "anonymous"
roles = ["group-read"]
[[user]]
name = "alice"
password_file = "{pw}/alice"
roles = ["cargo-deploy"]
[[repository]]
name = "cargo-hosted"
format = "cargo"
kind = "hosted"
[[repository]]
name = "cargo-upstream"
format = "cargo"
kind = "proxy"
remote = "{up_index}"
metadata_max_age = 0
[[repository]]
name = "cargo-all"
format = "cargo"
kind = "group"
members = ["cargo-hosted", "cargo-upstream"]
"#,
        pw = pw.path().display(),
    ))
    .await;
    let main = trove.main_addr();
    let hosted = format!("http://{main}/repository/cargo-hosted/");
    let group = format!("http://{main}/repository/cargo-all/");
    let alice_token = make_token(&trove, "alice", "alice-pass-1").await;

    let checks = blocking({
        let (w, hosted, group, up_index) =
            (w.clone(), hosted.clone(), group.clone(), up_index.clone());
        move || {
            // auth-required: config.json without a token is a challenge cargo understands.
            let out = std::process::Command::new("curl")
                .args([
                    "-s",
                    "-D",
                    "-",
                    "-o",
                    "/dev/null",
                    &format!("{hosted}config.json"),
                ])
                .output()
                .unwrap();
            let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 401"), "{head}");
            assert!(
                head.contains("www-authenticate: cargo login_url=\""),
                "{head}"
            );

            // cargo login stores alice's token; publishes go with it.
            let alice = CargoClient::new();
            alice.write_config(&format!(
                "[registries.trove]\nindex = \"sparse+{hosted}\"\n"
            ));
            alice.run(&w, &["login", "--registry", "trove", &alice_token]);
            let trove_reg = Some("trove");
            let util = write_crate(
                &w.join("my-util"),
                "my-util",
                "1.0.0",
                &[],
                false,
                Some("trove"),
            );
            alice.run(&util, &["publish", "--registry", "trove"]);
            // Verified by building it: my-util is downloaded from the hosted registry with the
            // token (auth-required), and cargo waits for the new version in the index.
            let lib = write_crate(
                &w.join("my-lib"),
                "my-lib",
                "1.0.0",
                &[Dep {
                    name: "my-util",
                    req: "1",
                    registry: trove_reg,
                }],
                false,
                Some("trove"),
            );
            alice.run(&lib, &["publish", "--registry", "trove"]);
            let lines = index_lines(&format!("{hosted}my/-l/my-lib"), Some(&alice_token));
            assert_eq!(lines.len(), 1);
            assert_eq!(lines[0]["deps"][0]["name"], "my-util");
            assert_eq!(lines[0]["deps"][0]["req"], "^1");
            assert!(
                lines[0]["deps"][0].get("registry").is_none(),
                "{}",
                lines[0]
            );
            // What cargo uploaded is what `cargo package` makes (reproducibly).
            alice.run(&lib, &["package", "--no-verify", "--registry", "trove"]);
            let crate_file = std::fs::read(lib.join("target/package/my-lib-1.0.0.crate")).unwrap();
            assert_eq!(
                lines[0]["cksum"].as_str().unwrap(),
                trove_tests::util::sha256_hex(&crate_file),
                "cksum is the .crate's SHA-256"
            );

            // yank and --undo of an older version.
            let old = write_crate(
                &w.join("my-lib-old"),
                "my-lib",
                "0.9.0",
                &[],
                false,
                Some("trove"),
            );
            alice.run(&old, &["publish", "--registry", "trove", "--no-verify"]);
            let yanked = |v: &str| {
                index_lines(&format!("{hosted}my/-l/my-lib"), Some(&alice_token))
                    .into_iter()
                    .find(|l| l["vers"] == v)
                    .unwrap()["yanked"]
                    .as_bool()
                    .unwrap()
            };
            alice.run(&w, &["yank", "--registry", "trove", "my-lib@0.9.0"]);
            assert!(yanked("0.9.0"));
            alice.run(
                &w,
                &["yank", "--registry", "trove", "--undo", "my-lib@0.9.0"],
            );
            assert!(!yanked("0.9.0"));
            let owners = alice.run(&w, &["owner", "--registry", "trove", "--list", "my-lib"]);
            assert_eq!(
                String::from_utf8_lossy(&owners.stdout).trim(),
                "alice (alice)"
            );
            let found = alice.run(&w, &["search", "--registry", "trove", "my-"]);
            let found = String::from_utf8_lossy(&found.stdout).into_owned();
            assert!(
                found.contains("my-lib = \"1.0.0\"") && found.contains("my-util = \"1.0.0\""),
                "{found}"
            );

            // The errors cargo prints.
            let e = fails(
                &alice,
                &lib,
                &["publish", "--registry", "trove", "--no-verify"],
            );
            assert!(e.contains("already exists on `trove` index"), "{e}");
            // cargo refuses a version the index shows by itself; a yanked one it does not see
            // reaches the server, whose refusal cargo prints.
            alice.run(&w, &["yank", "--registry", "trove", "my-lib@0.9.0"]);
            let e = fails(
                &alice,
                &old,
                &["publish", "--registry", "trove", "--no-verify"],
            );
            assert!(
                e.contains("crate version `my-lib@0.9.0` is already uploaded"),
                "{e}"
            );
            alice.run(
                &w,
                &["yank", "--registry", "trove", "--undo", "my-lib@0.9.0"],
            );
            let mut wrong = CargoClient::new();
            wrong.write_config(&format!(
                "[registries.trove]\nindex = \"sparse+{hosted}\"\n"
            ));
            // alice's token with its secret changed: a known selector, a wrong secret.
            let last = if alice_token.ends_with('A') { "B" } else { "A" };
            wrong.token(
                "trove",
                &format!("{}{last}", &alice_token[..alice_token.len() - 1]),
            );
            let next = write_crate(
                &w.join("my-lib-2"),
                "my-lib",
                "1.1.0",
                &[],
                false,
                Some("trove"),
            );
            let e = fails(
                &wrong,
                &next,
                &["publish", "--registry", "trove", "--no-verify"],
            );
            assert!(e.contains("token rejected"), "{e}");

            // A fresh project, empty CARGO_HOME, crates.io replaced by the group: hosted
            // crates, an upstream-only crate and its upstream dependency.
            let user = CargoClient::new();
            user.write_config(&format!(
                "[source.crates-io]\nreplace-with = \"trove-all\"\n\
                 [registries.trove-all]\nindex = \"sparse+{group}\"\n"
            ));
            let app = write_crate(
                &w.join("app"),
                "app",
                "0.1.0",
                &[
                    Dep {
                        name: "my-lib",
                        req: ">=1",
                        registry: None,
                    },
                    Dep {
                        name: "up-only",
                        req: "0.1",
                        registry: None,
                    },
                ],
                true,
                None,
            );
            user.run(&app, &["build"]);
            let ran = std::process::Command::new(app.join("target/debug/app"))
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&ran.stdout),
                "my-lib 1.0.0\nup-only 0.1.0\n"
            );
            let locked = lock_checksums(&app);
            let names: Vec<(&str, &str)> = locked
                .iter()
                .map(|(n, v, _, _)| (n.as_str(), v.as_str()))
                .collect();
            assert_eq!(
                names,
                [
                    ("my-lib", "1.0.0"),
                    ("my-util", "1.0.0"),
                    ("up-only", "0.1.0"),
                    ("up-util", "1.2.0")
                ],
                "the public my-lib 9.9.9 stays hidden behind the hosted one"
            );
            assert!(locked.iter().all(|l| l.2 == CRATES_IO), "{locked:?}");
            // Upstream crates keep the upstream's checksums: the bytes are its own.
            for (name, path) in [("up-only", "up/-o/up-only"), ("up-util", "up/-u/up-util")] {
                let theirs = index_lines(&format!("{up_index}{path}"), None);
                let ours = locked.iter().find(|l| l.0 == name).unwrap();
                assert_eq!(ours.3, theirs[0]["cksum"].as_str().unwrap(), "{name}");
            }
            // Same-registry dependencies keep `registry` absent through the group.
            let merged = index_lines(&format!("{group}up/-o/up-only"), None);
            assert!(
                merged[0]["deps"][0].get("registry").is_none(),
                "{}",
                merged[0]
            );
            (user, app, locked)
        }
    })
    .await;

    // The upstream goes away: builds keep working from what the proxy cached.
    upstream.stop().await;
    blocking(move || {
        let (user, app, locked) = checks;
        std::fs::remove_dir_all(app.join("target")).unwrap();
        user.clear_cache();
        user.run(&app, &["fetch"]);
        user.run(&app, &["build"]);
        assert_eq!(lock_checksums(&app), locked);
        // A fresh resolution too (no lockfile): the proxy serves its cached index files.
        std::fs::remove_file(app.join("Cargo.lock")).unwrap();
        user.clear_cache();
        user.run(&app, &["build"]);
        assert_eq!(lock_checksums(&app), locked);
    })
    .await;
    trove.stop().await;
}
