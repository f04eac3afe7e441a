//! PyPI end to end with the real twine 6.1.0 and pip against Trove, and devpi-server (PEP 691
//! JSON) and pypiserver (HTML) as the upstreams: twine uploads of two versions (wheels and an
//! sdist) to a hosted repository, `--skip-existing` on a re-upload, an API token as
//! `__token__`'s password and the errors twine prints; then `pip install` through a group of
//! the hosted repository and proxies of both upstreams, anonymously, of a project whose
//! dependencies live only upstream, with pip reading the PEP 658 metadata files and checking
//! every hash (a public project named like a private one stays hidden); `pip download` of
//! upstream files with the upstream's hashes; a yanked version by exact pin but not by range;
//! and an install again with both upstreams stopped. One devpi, one pypiserver and one Trove
//! for the whole group of checks.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use trove_tests::pypi::{Devpi, PyClient, Pypiserver, build_dist};
use trove_tests::util::sha256_hex;
use trove_tests::{TroveInstance, blocking};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn curl(args: &[&str]) -> Output {
    std::process::Command::new("curl")
        .args(["-sS", "--fail-with-body"])
        .args(args)
        .output()
        .unwrap()
}

fn get_json(url: &str, accept: &str) -> Value {
    let out = curl(&["-H", &format!("accept: {accept}"), url]);
    assert!(out.status.success(), "GET {url}: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("GET {url}: {e}: {}", text(&out)))
}

const JSON: &str = "application/vnd.pypi.simple.v1+json";

/// The files pip left in `dir`, by name.
fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// What the installed module of `name` says its version is.
fn installed(target: &Path, module: &str) -> String {
    let init = std::fs::read_to_string(target.join(module).join("__init__.py"))
        .unwrap_or_else(|e| panic!("{module} not installed in {}: {e}", target.display()));
    init.lines()
        .find_map(|l| l.strip_prefix("VERSION = "))
        .unwrap()
        .trim_matches('\'')
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twine_upload_and_pip_install_through_a_group_of_hosted_devpi_and_pypiserver() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path().to_owned();
    // The upstreams: devpi with a dependency and a public project named like a private one;
    // pypiserver with another dependency.
    let (devpi, pypiserver) = blocking({
        let w = w.clone();
        move || {
            let devpi = Devpi::start();
            let up = w.join("devpi-files");
            std::fs::create_dir_all(&up).unwrap();
            let files = [
                build_dist(&up, "up-dep", "1.0", "wheel", &["html-dep>=2"]),
                build_dist(&up, "up-dep", "1.0", "sdist", &[]),
                build_dist(&up, "my-lib", "9.9", "wheel", &[]),
            ];
            let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
            let out = PyClient::new().twine_upload(&devpi.upload_url(), "root", "", &[], &refs);
            assert!(
                out.status.success(),
                "twine upload to devpi: {}",
                text(&out)
            );
            let pypiserver = Pypiserver::start();
            build_dist(&pypiserver.packages(), "html-dep", "2.0", "wheel", &[]);
            (devpi, pypiserver)
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
name = "pypi-read"
privileges = [{{ format = "pypi", repo = "*", actions = ["browse", "read"] }}]
[[role]]
name = "pypi-deploy"
privileges = [{{ format = "pypi", repo = "py-hosted", actions = ["*"] }}]
[[user]]
name = "anonymous"
roles = ["pypi-read"]
[[user]]
name = "alice"
password_file = "{pw}/alice"
roles = ["pypi-deploy", "pypi-read"]
[[user]]
name = "carol"
password_file = "{pw}/carol"
roles = ["pypi-read"]
[[repository]]
name = "py-hosted"
format = "pypi"
kind = "hosted"
[[repository]]
name = "py-devpi"
format = "pypi"
kind = "proxy"
remote = "{devpi}"
metadata_max_age = 0
[[repository]]
name = "py-pypiserver"
format = "pypi"
kind = "proxy"
remote = "{pypiserver}"
metadata_max_age = 0
[[repository]]
name = "py-all"
format = "pypi"
kind = "group"
members = ["py-hosted", "py-devpi", "py-pypiserver"]
"#,
        pw = passwords.path().display(),
        devpi = devpi.index_url(),
        pypiserver = pypiserver.index_url(),
    ))
    .await;
    let main = trove.main_addr();
    let base = format!("http://{main}");
    let hosted = format!("{base}/repository/py-hosted/");
    let group = format!("{base}/repository/py-all/simple/");

    let checks = blocking({
        let (w, hosted, group, base) = (w.clone(), hosted.clone(), group.clone(), base.clone());
        let devpi_index = devpi.index_url();
        let pypiserver_index = pypiserver.index_url();
        move || {
            let dist = w.join("dist");
            std::fs::create_dir_all(&dist).unwrap();
            let lib10 = build_dist(&dist, "my-lib", "1.0", "wheel", &["up-dep>=1.0"]);
            let lib10s = build_dist(&dist, "my-lib", "1.0", "sdist", &[]);
            let lib11 = build_dist(&dist, "my-lib", "1.1", "wheel", &["up-dep>=1.0"]);
            let app = build_dist(&dist, "Team.App", "0.1", "wheel", &["my-lib>=1.0"]);
            let twine = PyClient::new();

            // twine: two versions, a wheel and an sdist, as alice.
            let out = twine.twine_upload(&hosted, "alice", "alice-pass-1", &[], &[&lib10, &lib10s]);
            assert!(out.status.success(), "{}", text(&out));
            // Again: refused, and skipped with --skip-existing (twine 6.1.0).
            let out = twine.twine_upload(&hosted, "alice", "alice-pass-1", &[], &[&lib10]);
            assert!(!out.status.success());
            // twine prints the status, then the reason phrase: Trove's message.
            assert!(
                text(&out).contains("409 Conflict")
                    && text(&out).contains("File already exists: my_lib-1.0-py3-none-any.whl"),
                "{}",
                text(&out)
            );
            let out = twine.twine_upload(
                &hosted,
                "alice",
                "alice-pass-1",
                &["--skip-existing"],
                &[&lib10, &lib10s, &lib11],
            );
            assert!(out.status.success(), "{}", text(&out));
            assert!(text(&out).contains("Skipping my_lib-1.0-py3-none-any.whl"), "{}", text(&out));
            // An API token as __token__'s password (what pip and twine send for tokens).
            let made = curl(&[
                "-u",
                "alice:alice-pass-1",
                "-X",
                "POST",
                "-H",
                "content-type: application/json",
                "-d",
                r#"{"name": "ci-upload"}"#,
                &format!("{base}/service/rest/v1/security/user-tokens"),
            ]);
            assert!(made.status.success(), "{}", text(&made));
            let token: Value = serde_json::from_slice(&made.stdout).unwrap();
            let token = token["token"].as_str().unwrap().to_owned();
            let out = twine.twine_upload(&hosted, "__token__", &token, &[], &[&app]);
            assert!(out.status.success(), "{}", text(&out));
            // The errors twine prints: a wrong password, a missing privilege.
            let extra = build_dist(&dist, "my-lib", "1.2", "wheel", &[]);
            let out = twine.twine_upload(&hosted, "alice", "wrong", &[], &[&extra]);
            assert!(
                !out.status.success() && text(&out).contains("401")
                    && text(&out).contains("invalid username or password"),
                "{}",
                text(&out)
            );
            let out = twine.twine_upload(&hosted, "carol", "carol-pass-1", &[], &[&extra]);
            assert!(
                !out.status.success() && text(&out).contains("403") && text(&out).contains("add"),
                "{}",
                text(&out)
            );
            let page = get_json(&format!("{hosted}simple/my-lib/"), JSON);
            let names: Vec<&str> = page["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["filename"].as_str().unwrap())
                .collect();
            assert_eq!(
                names,
                ["my_lib-1.0-py3-none-any.whl", "my_lib-1.0.tar.gz", "my_lib-1.1-py3-none-any.whl"]
            );
            assert_eq!(page["versions"], serde_json::json!(["1.0", "1.1"]));

            // pip install through the group, anonymously: the hosted app and lib, up-dep from
            // devpi, html-dep from pypiserver; my-lib 9.9 on devpi stays hidden.
            let pip = PyClient::new();
            let target = w.join("site");
            let out = pip.run_pip(&[
                "install", "-v", "--index-url", &group, "--target", target.to_str().unwrap(),
                "team-app",
            ]);
            let log = text(&out);
            assert_eq!(installed(&target, "team_app"), "0.1");
            assert_eq!(installed(&target, "my_lib"), "1.1", "the hosted my-lib, not devpi's 9.9");
            assert_eq!(installed(&target, "up_dep"), "1.0");
            assert_eq!(installed(&target, "html_dep"), "2.0");
            // pip used the PEP 658 metadata files Trove serves for hosted wheels.
            for (project, file) in [
                ("team-app", "team_app-0.1-py3-none-any.whl"),
                ("my-lib", "my_lib-1.1-py3-none-any.whl"),
            ] {
                let url = format!("{base}/repository/py-all/packages/{project}/{file}.metadata");
                assert!(
                    log.contains("Obtaining dependency information for ") && log.contains(&url),
                    "pip did not read {url}:\n{log}"
                );
            }
            let merged = get_json(&format!("{group}my-lib/"), JSON);
            assert!(!merged.to_string().contains("9.9"), "{merged}");
            assert!(get_json(&format!("{devpi_index}my-lib/"), JSON).to_string().contains("9.9"));

            // pip download: upstream files with the upstream's own hashes.
            let dl = w.join("dl");
            pip.run_pip(&[
                "download", "--no-deps", "--index-url", &group, "-d", dl.to_str().unwrap(),
                "up-dep==1.0", "html-dep==2.0",
            ]);
            let theirs = get_json(&format!("{devpi_index}up-dep/"), JSON);
            let whl = theirs["files"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["filename"] == "up_dep-1.0-py3-none-any.whl")
                .unwrap();
            let ours = std::fs::read(dl.join("up_dep-1.0-py3-none-any.whl")).unwrap();
            assert_eq!(whl["hashes"]["sha256"].as_str().unwrap(), sha256_hex(&ours));
            let html = curl(&[&format!("{pypiserver_index}html-dep/")]);
            let ours = std::fs::read(dl.join("html_dep-2.0-py3-none-any.whl")).unwrap();
            assert!(
                String::from_utf8_lossy(&html.stdout).contains(&format!("#sha256={}", sha256_hex(&ours))),
                "{}",
                text(&html)
            );

            // Yank my-lib 1.1 (PEP 592) through the REST API: a range skips it, a pin takes it.
            let yank = curl(&[
                "-u",
                "alice:alice-pass-1",
                "-X",
                "POST",
                "-H",
                "content-type: application/json",
                "-d",
                r#"{"action": "yank", "input": "broken on 3.13"}"#,
                &format!(
                    "{base}/service/rest/v1/repositories/py-hosted/assets/actions?component=my-lib&reference=1.1"
                ),
            ]);
            assert!(yank.status.success(), "{}", text(&yank));
            let y = w.join("yanked");
            pip.run_pip(&[
                "download", "--no-deps", "--index-url", &group, "-d", y.to_str().unwrap(),
                "my-lib>=1.0",
            ]);
            assert_eq!(files_in(&y), ["my_lib-1.0-py3-none-any.whl"], "the range skips 1.1");
            let out = pip.run_pip(&[
                "download", "--no-deps", "--index-url", &group, "-d", y.to_str().unwrap(),
                "my-lib==1.1",
            ]);
            assert_eq!(
                files_in(&y),
                ["my_lib-1.0-py3-none-any.whl", "my_lib-1.1-py3-none-any.whl"]
            );
            assert!(text(&out).contains("broken on 3.13"), "pip shows the reason: {}", text(&out));
            // Un-yank, so the install below gets 1.1 again.
            let unyank = curl(&[
                "-u",
                "alice:alice-pass-1",
                "-X",
                "POST",
                "-H",
                "content-type: application/json",
                "-d",
                r#"{"action": "unyank"}"#,
                &format!(
                    "{base}/service/rest/v1/repositories/py-hosted/assets/actions?component=my-lib&reference=1.1"
                ),
            ]);
            assert!(unyank.status.success(), "{}", text(&unyank));
            // A wrong password on reads is a clear 401 too.
            let auth_group = group.replacen("http://", "http://alice:wrong@", 1);
            let out = pip.pip_unchecked(&[
                "download", "--no-deps", "--index-url", &auth_group, "-d",
                w.join("never").to_str().unwrap(), "my-lib",
            ]);
            assert!(!out.status.success() && text(&out).contains("401"), "{}", text(&out));
            pip
        }
    })
    .await;

    // Both upstreams go away: a fresh install works from what the proxies cached.
    let (mut devpi, mut pypiserver) = (devpi, pypiserver);
    blocking(move || {
        devpi.stop();
        pypiserver.stop();
        let pip = checks;
        pip.clear_cache();
        let target = w.join("site-offline");
        pip.run_pip(&[
            "install",
            "--index-url",
            &group,
            "--target",
            target.to_str().unwrap(),
            "team-app",
        ]);
        assert_eq!(installed(&target, "up_dep"), "1.0");
        assert_eq!(installed(&target, "html_dep"), "2.0");
        assert_eq!(installed(&target, "my_lib"), "1.1");
    })
    .await;
    trove.stop().await;
}
