//! Scenario S1 (../shared/SCENARIOS.md): a private registry behind a TLS-terminating reverse
//! proxy, with basic auth. nginx (Debian) terminates TLS with a self-signed certificate and
//! forwards plain HTTP to Trove's connector; the stock docker client logs in, pushes and pulls
//! through https. Trove trusts the proxy's X-Forwarded-Proto, so its token realm says https,
//! and upload Locations are relative, so a push is never redirected to http.

use trove_tests::{Dockerd, ImageSpec, TlsProxy, TroveInstance, blocking, images};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s1_private_registry_behind_a_tls_proxy() {
    let secrets = tempfile::tempdir().unwrap();
    let pw = secrets.path().join("alice");
    std::fs::write(&pw, "alice-pw\n").unwrap();
    // The first lines land in [server]: the harness writes that table just before.
    let trove = TroveInstance::start_secured(&format!(
        r#"trusted_proxies = ["127.0.0.1"]
[[user]]
name = "alice"
password_file = "{}"
roles = ["admin"]
[[repository]]
name = "private"
format = "docker"
kind = "hosted"
connector = {{ http = 0 }}
"#,
        pw.display()
    ))
    .await;
    let tls = TlsProxy::start(trove.connector_addr("private"));
    let host = tls.host();

    // What docker will see through the proxy: a challenge pointing at https, relative uploads.
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let res = client
        .get(format!("https://{host}/v2/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with(&format!("Bearer realm=\"https://{host}/v2/token\"")),
        "{challenge}"
    );
    let res = client
        .post(format!("https://{host}/v2/probe/blobs/uploads/"))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/v2/probe/blobs/uploads/"),
        "relative, so it keeps https: {location}"
    );

    blocking(move || {
        let docker = Dockerd::start();
        let dir = tempfile::tempdir().unwrap();
        let archive = images::write_docker_archive(
            &dir.path().join("img.tar"),
            &ImageSpec::new(11, 3).file_size(1 << 20),
            None,
        );
        docker.load(&archive.path);
        let id = archive.config_digest.clone();

        let o = docker.try_docker(&["login", "-u", "alice", "-p", "wrong", &host]);
        assert!(!o.status.success(), "a wrong password must fail");
        docker.docker(&["login", "-u", "alice", "-p", "alice-pw", &host]);
        let reference = format!("{host}/team/app:1");
        docker.docker(&["tag", &id, &reference]);
        docker.push(&reference);
        docker.rmi_all(&id);
        docker.pull(&reference);
        assert_eq!(docker.image_id(&reference), id, "the same image came back");
        assert_eq!(docker.image_layers(&reference).len(), 3);
    })
    .await;

    // Every registry call went through nginx over TLS, uploads included.
    let log = tls.access_log();
    let puts = log
        .lines()
        .filter(|l| l.contains("\"PUT /v2/team/app/blobs/uploads/"))
        .count();
    assert!(
        puts >= 3,
        "blob uploads completed through the proxy:\n{log}"
    );
    assert!(log.contains("\"PUT /v2/team/app/manifests/1"), "{log}");
    assert!(
        log.contains("\"GET /v2/token?"),
        "docker fetched its token through the proxy:\n{log}"
    );
    drop(tls);
    trove.stop().await;
}
