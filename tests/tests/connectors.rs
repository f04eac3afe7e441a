//! Connector ports change at run time (issue 6): a reload adds, moves and removes repository
//! ports, including HTTPS with Trove's own TLS (rustls), without restarting Trove or touching
//! the content.

use std::process::{Command, Stdio};

use trove_tests::TroveInstance;

fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    self_signed_as(dir, "127.0.0.1")
}

/// A self-signed certificate for 127.0.0.1 whose subject's common name is `cn`, in
/// `dir/{cert,key}.pem` (replacing what is there).
fn self_signed_as(dir: &std::path::Path, cn: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let subject = format!("/CN={cn}");
    let ok = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", &subject,
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl");
    (cert, key)
}

/// The subject line of the certificate `addr` presents in a fresh TLS handshake.
fn served_subject(addr: std::net::SocketAddr) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {addr} </dev/null 2>/dev/null | openssl x509 -noout -subject"
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn users(pw: &std::path::Path) -> String {
    format!(
        "[[user]]\nname = \"alice\"\npassword_file = \"{}\"\nroles = [\"admin\"]\n",
        pw.display()
    )
}

fn repo(name: &str, connector: &str) -> String {
    format!(
        "[[repository]]\nname = \"{name}\"\nformat = \"docker\"\nkind = \"hosted\"\nconnector = {{ {connector} }}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectors_are_added_moved_and_removed_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "pw").unwrap();
    let (cert, key) = self_signed(dir.path());
    let mut trove =
        TroveInstance::start_secured(&format!("{}{}", users(&pw), repo("a", "http = 0"))).await;
    // No connection pool: every request opens a new connection, so "closed" means closed.
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let closed = |addr: std::net::SocketAddr| async move {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "{addr} still accepts connections"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    let a_http = trove.connector_addr("a");

    // Content pushed through the first connector.
    let blob = b"kept across reloads";
    let digest = trove_tests::sha256_digest(blob);
    let res = client
        .post(format!(
            "http://{a_http}/v2/img/blobs/uploads/?digest={digest}"
        ))
        .basic_auth("alice", Some("pw"))
        .body(blob.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // Reload: `a` moves to HTTPS (Trove terminates TLS itself), `b` appears on HTTP.
    let https = format!(
        "https = 0, certificate = \"{}\", key = \"{}\"",
        cert.display(),
        key.display()
    );
    trove
        .reload_secured(&format!(
            "{}{}{}",
            users(&pw),
            repo("a", &https),
            repo("b", "http = 0")
        ))
        .await;
    assert!(
        trove.running_connector_absent("a"),
        "a's HTTP listener is gone"
    );
    closed(a_http).await;
    let a_https = trove.connector_https_addr("a").expect("https connector");
    let res = client
        .head(format!("https://{a_https}/v2/img/blobs/{digest}"))
        .basic_auth("alice", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "same content over the new HTTPS port");
    assert_eq!(
        res.headers()["content-length"],
        blob.len().to_string().as_str()
    );
    let res = client
        .get(format!("https://{a_https}/v2/"))
        .send()
        .await
        .unwrap();
    let realm = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        realm.starts_with(&format!("Bearer realm=\"https://{a_https}/v2/token\"")),
        "{realm}"
    );
    let b_http = trove.connector_addr("b");
    let res = client
        .get(format!("http://{b_http}/v2/"))
        .basic_auth("alice", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // A broken certificate is refused with the repository named; what runs keeps running.
    let broken = format!(
        "https = 0, certificate = \"{}\", key = \"{}\"",
        key.display(),
        key.display()
    );
    let err = trove
        .try_reload(&format!(
            "{}{}{}{}",
            users(&pw),
            repo("a", &https),
            repo("b", "http = 0"),
            repo("c", &broken)
        ))
        .await
        .expect_err("a key is not a certificate");
    assert!(format!("{err:#}").contains("repository c"), "{err:#}");
    assert_eq!(trove.connector_https_addr("a"), Some(a_https));

    // Reload without `b`: its port closes and the repository is disabled, not deleted.
    trove
        .reload_secured(&format!("{}{}", users(&pw), repo("a", &https)))
        .await;
    closed(b_http).await;
    assert_eq!(
        trove.connector_https_addr("a"),
        Some(a_https),
        "unchanged connectors keep running"
    );
    // A certificate renewed in place (same paths, new content) is loaded by the next reload,
    // into the running listener (same port, nothing restarted).
    assert!(
        served_subject(a_https).contains("127.0.0.1"),
        "{}",
        served_subject(a_https)
    );
    self_signed_as(dir.path(), "renewed.example");
    trove
        .reload_secured(&format!("{}{}", users(&pw), repo("a", &https)))
        .await;
    assert_eq!(trove.connector_https_addr("a"), Some(a_https));
    let subject = served_subject(a_https);
    assert!(subject.contains("renewed.example"), "{subject}");
    let main = trove.main_addr();
    let res = client
        .get(format!("http://{main}/v2/b/img/tags/list"))
        .basic_auth("alice", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // A live client keeps connections that a graceful stop waits for (up to shutdown_timeout).
    drop((res, client));
    trove.stop().await;
}
