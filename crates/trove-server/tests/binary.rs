//! The README's first command: `trove serve` with no config file starts on its embedded
//! defaults (data under ./data), creates the first admin, answers `/v2/`, and stops cleanly on
//! SIGTERM.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16, path: &str, authorization: Option<&str>) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn serve_on_embedded_defaults_then_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_trove"))
        .arg("serve")
        .current_dir(dir.path())
        .env("TROVE_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("TROVE_CONFIG")
        .env_remove("TROVE_DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let ping = loop {
        if let Some(r) = http_get(port, "/v2/", None) {
            break r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "trove did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // Without credentials: the challenge docker login follows, with the API version header.
    assert!(ping.starts_with("HTTP/1.1 401"), "{ping}");
    let lower = ping.to_ascii_lowercase();
    assert!(
        lower.contains("docker-distribution-api-version: registry/2.0"),
        "{ping}"
    );
    assert!(
        lower.contains("www-authenticate: bearer realm=\"http://x/v2/token\""),
        "{ping}"
    );

    let data = dir.path().join("data");
    assert!(data.join("trove.db").exists());
    assert!(data.join("blobs").is_dir());
    let pw = data.join("admin.password");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&pw).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let password = std::fs::read_to_string(&pw).unwrap();
    assert_eq!(password.len(), 24);
    // The first-start admin signs in with that password; a wrong one is refused.
    use base64::Engine;
    let basic = |p: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("admin:{p}"))
        )
    };
    let ok = http_get(port, "/v2/", Some(&basic(&password))).unwrap();
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let wrong = http_get(port, "/v2/", Some(&basic("wrong"))).unwrap();
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {log}", out.status);
    assert!(log.contains("stopped"), "{log}");
    assert!(
        !log.contains(std::fs::read_to_string(&pw).unwrap().as_str()),
        "password must not be logged"
    );
}

/// The security CLI against the node's database: add a user with a role, explain a decision
/// (exit 0 when allowed, 1 when denied), disable the user.
#[test]
fn user_role_and_access_cli() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trove.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = {:?}\n[[repository]]\nname = \"hosted\"\nformat = \"docker\"\nkind = \"hosted\"\n",
            dir.path().join("data")
        ),
    )
    .unwrap();
    let trove = |args: &[&str], stdin: &str| {
        use std::io::Write as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_trove"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    };
    let (code, out) = trove(
        &[
            "role",
            "add",
            "pullers",
            "--privilege",
            "docker:hosted:browse,read",
        ],
        "",
    );
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = trove(
        &[
            "user",
            "add",
            "bob",
            "--role",
            "pullers",
            "--password-stdin",
        ],
        "s3cret\n",
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        !out.contains("s3cret"),
        "a password from stdin is never echoed"
    );
    let (code, out) = trove(
        &[
            "access", "explain", "--user", "bob", "--repo", "hosted", "--action", "read",
        ],
        "",
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("allowed") && out.contains("pullers"), "{out}");
    let (code, out) = trove(
        &[
            "access", "explain", "--user", "bob", "--repo", "hosted", "--action", "add",
        ],
        "",
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("denied"), "{out}");
    let (code, out) = trove(&["role", "list"], "");
    assert!(
        code == Some(0) && out.contains("nx-repository-view-docker-hosted-browse,read"),
        "{out}"
    );
    let (code, out) = trove(&["user", "disable", "bob"], "");
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = trove(
        &[
            "access", "explain", "--user", "bob", "--repo", "hosted", "--action", "read",
        ],
        "",
    );
    assert_eq!(code, Some(1), "a disabled user is denied: {out}");
    let (code, out) = trove(&["role", "add", "bad", "--privilege", "docker-read"], "");
    assert_ne!(code, Some(0));
    assert!(out.contains("FORMAT:REPO:ACTIONS"), "{out}");

    // API tokens: made (printed once), listed without the secret, revoked.
    trove(&["user", "enable", "bob"], "");
    let (code, out) = trove(
        &[
            "token",
            "add",
            "bob",
            "ci",
            "--repository",
            "hosted",
            "--action",
            "read",
            "--expires-days",
            "30",
        ],
        "",
    );
    assert_eq!(code, Some(0), "{out}");
    let token = out
        .split_whitespace()
        .find(|w| w.starts_with("trove_"))
        .unwrap_or_else(|| panic!("no token in {out}"))
        .to_owned();
    let (code, out) = trove(&["token", "list", "bob"], "");
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("ci") && out.contains("repositories: hosted") && out.contains("actions: read"),
        "{out}"
    );
    assert!(
        !out.contains(&token),
        "listings never show the secret: {out}"
    );
    let (code, out) = trove(&["token", "revoke", "bob", "ci"], "");
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = trove(&["token", "revoke", "bob", "ci"], "");
    assert_ne!(code, Some(0), "{out}");

    // What the commands changed is in the audit log, as the operator's, realm cli.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let entries = rt.block_on(async {
        let url = format!(
            "sqlite://{}",
            dir.path().join("data").join("trove.db").display()
        );
        let meta = trove_store::MetadataStore::open(&url).await.unwrap();
        meta.audit()
            .query(&trove_store::AuditQuery {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
    });
    let cli: Vec<(&str, &str, &str)> = entries
        .iter()
        .filter(|e| e.front_end == "cli")
        .map(|e| {
            (
                e.action.as_str(),
                e.entity_type.as_str(),
                e.entity_name.as_str(),
            )
        })
        .collect();
    for want in [
        ("create", "role", "pullers"),
        ("create", "user", "bob"),
        ("update", "user", "bob"),
        ("create", "token", "bob/ci"),
        ("delete", "token", "bob/ci"),
    ] {
        assert!(cli.contains(&want), "{want:?} missing from {cli:?}");
    }
    assert!(
        entries
            .iter()
            .filter(|e| e.front_end == "cli")
            .all(|e| e.realm.as_deref() == Some("cli"))
    );
    let text = serde_json::to_string(&entries).unwrap();
    assert!(
        !text.contains("s3cret") && !text.contains(&token),
        "no secret in the log"
    );
}

/// SIGHUP re-reads the config file and applies it: here a connector port appears without a
/// restart.
#[test]
fn sighup_applies_a_new_connector() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trove.toml");
    let (main, extra) = (free_port(), free_port());
    let base = format!(
        "[server]\nlisten = \"127.0.0.1:{main}\"\ndata_dir = {:?}\n[[repository]]\nname = \"a\"\nformat = \"docker\"\nkind = \"hosted\"\n",
        dir.path().join("data")
    );
    std::fs::write(&config, &base).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_trove"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let wait_for = |port: u16| {
        let started = Instant::now();
        loop {
            if let Some(r) = http_get(port, "/v2/", None) {
                break r;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "port {port} never answered"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for(main);
    assert!(http_get(extra, "/v2/", None).is_none(), "no connector yet");
    std::fs::write(&config, format!("{base}connector = {{ http = {extra} }}\n")).unwrap();
    let hup = Command::new("kill")
        .arg("-HUP")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(hup.success());
    let answer = wait_for(extra);
    assert!(
        answer.starts_with("HTTP/1.1 401"),
        "the new connector serves the registry API: {answer}"
    );
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = child.wait_with_output().unwrap().status;
    assert!(status.success());
}
