//! npm end to end with the real npm CLI against Trove, and Verdaccio as the upstream (the
//! stand-in for registry.npmjs.org, holding packages published to it here): publish of scoped
//! and unscoped packages with dependencies between them to a hosted repository, dist-tags,
//! deprecate, unpublish, the errors npm prints, then `npm install` and `npm ci` from a
//! lockfile through a group of the hosted repository and a proxy of Verdaccio, with lockfile
//! integrity values unchanged (a public package named like a private one stays hidden), and
//! again with Verdaccio stopped; npm login, whoami and logout with an API token. One Verdaccio and one Trove
//! for the whole group of checks.

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use trove_tests::npm::{NpmClient, Verdaccio, write_package};
use trove_tests::{TroveInstance, blocking};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs npm, expecting failure, and returns what it printed.
fn fails(npm: &NpmClient, cwd: &Path, args: &[&str]) -> String {
    let out = npm.run_unchecked(cwd, args);
    assert!(
        !out.status.success(),
        "npm {args:?} should fail:\n{}",
        text(&out)
    );
    text(&out)
}

fn lockfile_integrity(project: &Path) -> Vec<(String, String)> {
    let lock: Value =
        serde_json::from_slice(&std::fs::read(project.join("package-lock.json")).unwrap()).unwrap();
    let mut out: Vec<(String, String)> = lock["packages"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.clone(), v["integrity"].as_str().unwrap_or("").to_owned()))
        .collect();
    out.sort();
    out
}

fn get_json(url: &str) -> Value {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail-with-body", url])
        .output()
        .unwrap();
    assert!(out.status.success(), "GET {url}: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// What `node -e` prints requiring `module` in `project`.
fn required(project: &Path, module: &str) -> String {
    let out = std::process::Command::new("node")
        .current_dir(project)
        .args(["-e", &format!("console.log(require({module:?}))")])
        .output()
        .unwrap();
    assert!(out.status.success(), "node: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_publish_install_and_ci_through_a_group_of_hosted_and_a_verdaccio_proxy() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path().to_owned();
    // The upstream: Verdaccio with packages published to it by npm.
    let upstream = blocking({
        let w = w.clone();
        move || {
            let v = Verdaccio::start();
            let token = v.add_user("upstream", "upstream-pass");
            let npm = NpmClient::new();
            npm.config_line(&format!("registry={}", v.url()));
            npm.token(&v.url(), &token);
            for (dir, name, version, deps) in [
                ("up-lib-1", "up-lib", "1.0.0", vec![]),
                ("up-lib-2", "up-lib", "1.1.0", vec![]),
                ("up-util", "@up/util", "2.0.0", vec![("up-lib", "^1.0.0")]),
                // A public package with the name of a private one: must never be installed.
                ("confusion", "my-lib", "9.9.9", vec![]),
            ] {
                let d = w.join(dir);
                write_package(&d, name, version, &deps);
                npm.run(&d, &["publish"]);
            }
            v
        }
    })
    .await;
    let passwords = tempfile::tempdir().unwrap();
    for (u, p) in [("alice", "alice-pass-1"), ("carol", "carol-pass-1")] {
        std::fs::write(passwords.path().join(u), p).unwrap();
    }
    let trove = TroveInstance::start_secured(&format!(
        r#"[security]
anonymous = true
[[role]]
name = "npm-read"
privileges = [{{ format = "npm", repo = "*", actions = ["browse", "read"] }}]
[[role]]
name = "npm-deploy"
privileges = [{{ format = "npm", repo = "npm-hosted", actions = ["*"] }}, {{ format = "npm", repo = "npm-all", actions = ["*"] }}]
[[user]]
name = "anonymous"
roles = ["npm-read"]
[[user]]
name = "alice"
password_file = "{pw}/alice"
roles = ["npm-deploy", "npm-read"]
[[user]]
name = "carol"
password_file = "{pw}/carol"
roles = ["npm-read"]
[[repository]]
name = "npm-hosted"
format = "npm"
kind = "hosted"
[[repository]]
name = "npm-upstream"
format = "npm"
kind = "proxy"
remote = "{remote}"
metadata_max_age = 0
[[repository]]
name = "npm-all"
format = "npm"
kind = "group"
members = ["npm-hosted", "npm-upstream"]
writable_member = "npm-hosted"
"#,
        pw = passwords.path().display(),
        remote = upstream.url().trim_end_matches('/'),
    ))
    .await;
    let main = trove.main_addr();
    let hosted = format!("http://{main}/repository/npm-hosted/");
    let group = format!("http://{main}/repository/npm-all/");

    let checks = blocking({
        let (w, hosted, group) = (w.clone(), hosted.clone(), group.clone());
        let upstream_url = upstream.url();
        move || {
            // Publish as alice: two versions of an unscoped package and a scoped one that
            // depends on it and on a scoped upstream package.
            let alice = NpmClient::new();
            alice.config_line(&format!("registry={hosted}"));
            alice.basic_auth(&hosted, "alice", "alice-pass-1");
            for (dir, name, version, deps) in [
                ("my-lib-1", "my-lib", "1.0.0", vec![("up-lib", "^1.0.0")]),
                ("my-lib-2", "my-lib", "1.1.0", vec![("up-lib", "^1.1.0")]),
                ("my-lib-0", "my-lib", "0.9.0", vec![]),
                (
                    "app",
                    "@team/app",
                    "0.1.0",
                    vec![("my-lib", "^1.0.0"), ("@up/util", "^2.0.0")],
                ),
            ] {
                let d = w.join(dir);
                write_package(&d, name, version, &deps);
                let tag: &[&str] = if version == "0.9.0" { &["--tag", "old"] } else { &[] };
                alice.run(&d, &[&["publish"], tag].concat());
            }
            let doc = get_json(&format!("{hosted}my-lib"));
            assert_eq!(doc["dist-tags"]["latest"], "1.1.0");
            assert_eq!(doc["versions"]["1.0.0"]["dependencies"]["up-lib"], "^1.0.0");
            assert_eq!(doc["versions"]["1.0.0"]["engines"]["node"], ">=18", "full manifests kept");
            assert_eq!(
                doc["versions"]["1.1.0"]["dist"]["tarball"],
                format!("{hosted}my-lib/-/my-lib-1.1.0.tgz")
            );
            assert!(doc["time"]["1.1.0"].is_string());

            // dist-tags, deprecate, unpublish of one version.
            let d = w.join("my-lib-1");
            alice.run(&d, &["dist-tag", "add", "my-lib@1.0.0", "stable"]);
            let tags = String::from_utf8_lossy(&alice.run(&d, &["dist-tag", "ls", "my-lib"]).stdout).into_owned();
            assert!(tags.contains("stable: 1.0.0") && tags.contains("latest: 1.1.0"), "{tags}");
            alice.run(&d, &["dist-tag", "rm", "my-lib", "stable"]);
            let tags = String::from_utf8_lossy(&alice.run(&d, &["dist-tag", "ls", "my-lib"]).stdout).into_owned();
            assert!(!tags.contains("stable"), "{tags}");
            alice.run(&d, &["deprecate", "my-lib@1.0.0", "use 1.1 or later"]);
            let dep = alice.run(&d, &["view", "my-lib@1.0.0", "deprecated"]);
            assert_eq!(String::from_utf8_lossy(&dep.stdout).trim(), "use 1.1 or later");
            alice.run(&d, &["unpublish", "my-lib@0.9.0"]);
            let vs = get_json(&format!("{hosted}my-lib"));
            let versions: Vec<&String> = vs["versions"].as_object().unwrap().keys().collect();
            assert_eq!(versions, ["1.0.0", "1.1.0"]);
            assert!(vs["dist-tags"].get("old").is_none(), "a tag of an unpublished version goes");
            let gone = std::process::Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("{hosted}my-lib/-/my-lib-0.9.0.tgz")])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&gone.stdout), "404");

            // The REST API (and the console) browse packages, versions, tags, sizes.
            let api = format!("{}service/rest/v1/repositories/npm-hosted", hosted.split("repository/").next().unwrap());
            let as_alice = |url: &str| {
                let out = std::process::Command::new("curl")
                    .args(["-sS", "--fail-with-body", "-u", "alice:alice-pass-1", url])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "GET {url}: {}", text(&out));
                serde_json::from_slice::<Value>(&out.stdout).unwrap()
            };
            let listed = as_alice(&format!("{api}/components"));
            assert_eq!(listed["nouns"]["component"], "package");
            let keys: Vec<&str> = listed["components"]["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["key"].as_str().unwrap())
                .collect();
            assert_eq!(keys, ["@team/app", "my-lib"]);
            let lib = as_alice(&format!("{api}/components/assets?component=my-lib"));
            let rows = lib["assets"]["entries"].as_array().unwrap();
            assert_eq!(rows[0]["facts"]["version"], "1.1.0", "newest first");
            assert_eq!(rows[0]["facts"]["dist_tags"], serde_json::json!(["latest"]));
            assert!(rows[0]["facts"]["tarball_size"].as_u64().unwrap() > 100);
            assert_eq!(rows[1]["facts"]["deprecated"], "use 1.1 or later");
            let one = as_alice(&format!("{api}/assets?component=my-lib&reference=1.0.0"));
            assert_eq!(one["detail"]["facts"]["manifest"]["dependencies"]["up-lib"], "^1.0.0");

            // The errors npm prints.
            let wrong = NpmClient::new();
            wrong.config_line(&format!("registry={hosted}"));
            wrong.basic_auth(&hosted, "alice", "not-her-password");
            write_package(&w.join("my-lib-3"), "my-lib", "1.2.0", &[]);
            let e = fails(&wrong, &w.join("my-lib-3"), &["publish"]);
            assert!(e.contains("401 Unauthorized") && e.contains("invalid username or password"), "{e}");
            let carol = NpmClient::new();
            carol.config_line(&format!("registry={hosted}"));
            carol.basic_auth(&hosted, "carol", "carol-pass-1");
            let e = fails(&carol, &w.join("my-lib-3"), &["publish"]);
            assert!(e.contains("403 Forbidden") && e.contains("add"), "{e}");
            let e = fails(&alice, &w.join("my-lib-1"), &["publish", "--force", "--tag", "again"]);
            assert!(
                e.contains("403") && e.contains("cannot publish over the previously published versions: 1.0.0"),
                "{e}"
            );

            // npm login (user name and password) gives npm an API token of carol's: whoami
            // says carol, her role still decides (no publish), and npm logout revokes it, so
            // the very token is refused afterwards.
            let carol = NpmClient::new();
            let out = carol.login(&w, &hosted, "carol", "wrong-pass");
            assert!(!out.status.success(), "{}", text(&out));
            assert!(text(&out).contains("invalid username or password"), "{}", text(&out));
            let out = carol.login(&w, &hosted, "carol", "carol-pass-1");
            assert!(out.status.success(), "npm login: {}", text(&out));
            assert!(text(&out).contains("Logged in"), "{}", text(&out));
            let rc = std::fs::read_to_string(carol.userconfig()).unwrap();
            let token = rc
                .lines()
                .find_map(|l| l.split_once(":_authToken=").map(|(_, t)| t.to_owned()))
                .unwrap_or_else(|| panic!("no token saved: {rc}"));
            assert!(token.starts_with("trove_"), "{rc}");
            let who = carol.run(&w, &["whoami", "--registry", &hosted]);
            assert_eq!(String::from_utf8_lossy(&who.stdout).trim(), "carol");
            let e = fails(&carol, &w.join("my-lib-3"), &["publish", "--registry", &hosted]);
            assert!(e.contains("403 Forbidden"), "{e}");
            carol.run(&w, &["logout", "--registry", &hosted]);
            let status = std::process::Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
                .arg(format!("Authorization: Bearer {token}"))
                .arg(format!("{hosted}-/whoami"))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&status.stdout), "401", "revoked at once");

            // Install through the group, anonymously: hosted packages and upstream ones.
            let user = NpmClient::new();
            user.config_line(&format!("registry={group}"));
            let project = w.join("project");
            std::fs::create_dir_all(&project).unwrap();
            std::fs::write(
                project.join("package.json"),
                r#"{"name":"project","version":"1.0.0","private":true,"dependencies":{"@team/app":"^0.1.0"}}"#,
            )
            .unwrap();
            user.run(&project, &["install"]);
            assert_eq!(required(&project, "@team/app"), "@team/app@0.1.0");
            assert_eq!(required(&project, "my-lib"), "my-lib@1.1.0");
            assert_eq!(required(&project, "up-lib"), "up-lib@1.1.0");
            assert_eq!(required(&project, "@up/util"), "@up/util@2.0.0");
            // The dependency-confusion guard: the group shows only the hosted my-lib.
            let merged = get_json(&format!("{group}my-lib"));
            assert!(merged["versions"].get("9.9.9").is_none(), "{merged}");
            assert_eq!(merged["dist-tags"]["latest"], "1.1.0");
            assert!(get_json(&format!("{upstream_url}my-lib"))["versions"].get("9.9.9").is_some());
            let locked = lockfile_integrity(&project);
            // Upstream tarballs keep the integrity Verdaccio announced: the bytes are its own.
            let theirs = get_json(&format!("{upstream_url}@up%2futil"));
            let ours = locked.iter().find(|(k, _)| k == "node_modules/@up/util").unwrap();
            assert_eq!(ours.1, theirs["versions"]["2.0.0"]["dist"]["integrity"].as_str().unwrap());
            let lock = std::fs::read_to_string(project.join("package-lock.json")).unwrap();
            assert!(lock.contains(&format!("{group}@up/util/-/util-2.0.0.tgz")), "{lock}");

            // npm ci from the lockfile in a clean project with an empty cache.
            let ci = w.join("ci");
            std::fs::create_dir_all(&ci).unwrap();
            for f in ["package.json", "package-lock.json"] {
                std::fs::copy(project.join(f), ci.join(f)).unwrap();
            }
            user.clear_cache();
            user.run(&ci, &["ci"]);
            assert_eq!(lockfile_integrity(&ci), locked);
            assert_eq!(required(&ci, "up-lib"), "up-lib@1.1.0");
            (user, ci, locked)
        }
    })
    .await;

    // The upstream goes away: installs keep working from what the proxy cached.
    drop(upstream);
    blocking(move || {
        let (user, ci, locked) = checks;
        std::fs::remove_dir_all(ci.join("node_modules")).unwrap();
        user.clear_cache();
        user.run(&ci, &["ci"]);
        assert_eq!(lockfile_integrity(&ci), locked);
        assert_eq!(required(&ci, "@up/util"), "@up/util@2.0.0");
    })
    .await;
    trove.stop().await;
}
