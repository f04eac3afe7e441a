//! Scenario S3 (../shared/SCENARIOS.md): a public, anonymous, pull-only proxy limited to some
//! namespaces by a routing rule, reached through path-based access: nginx maps its host onto
//! `/repository/docker/` with the very block the scenario's users publish (no
//! `X-Forwarded-Prefix`, and Trove not told to trust it). The stock docker client, never logged
//! in: an allowed namespace pulls, another is refused naming the rule, a push is refused. A
//! local docker-registry stands in for Docker Hub.

use std::net::SocketAddr;

use trove_tests::pullthrough::push_generated;
use trove_tests::{Dockerd, ImageSpec, Nginx, TroveInstance, Upstream, blocking};

/// The location block of SCENARIOS.md S3, verbatim but for `IP:8081`.
const PUBLISHED_BLOCK: &str = r#"location / {
  client_max_body_size  64m;
  proxy_http_version 1.1;
  proxy_pass http://IP:8081/repository/docker/;
  proxy_set_header Host $host;
  proxy_set_header X-Forwarded-For $remote_addr;
  proxy_set_header X-Forwarded-Proto $scheme;
  proxy_connect_timeout 60s;  proxy_send_timeout 60s;  proxy_read_timeout 300s;  send_timeout 60s;
  proxy_buffers 16 32k;  proxy_buffer_size 64k;
  proxy_set_header Connection "";
}"#;

/// The public host. `Host $host` drops the port, so the proxy must listen where clients need no
/// port: port 80, on an address of its own (127.0.0.0/8 is an insecure registry to docker by
/// default, so it talks plain HTTP there).
const PUBLIC: &str = "127.0.0.83";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_public_pull_only_proxy_limited_to_namespaces() {
    let upstream = Upstream::start();
    let up = upstream.host();
    let (_, allowed_digest) = blocking({
        let up = up.clone();
        move || {
            push_generated(&up, "someoneelse/app:latest", &ImageSpec::new(31, 1), None);
            push_generated(&up, "helloz/onenav:0.9.33", &ImageSpec::new(32, 2), None)
        }
    })
    .await;
    // The whole S3 configuration (config/examples/s3-public-mirror.toml has it with comments).
    let trove = TroveInstance::start_secured(&format!(
        r#"
[security]
anonymous = true
[[user]]
name = "anonymous"
roles = ["docker-pull-anonymous"]
[[routing_rule]]
name = "hub-namespaces"
mode = "allow"
matchers = ["^/v2/(helloz|user2)/.*"]
[[repository]]
name = "docker"
format = "docker"
kind = "proxy"
remote = "{}"
routing_rule = "hub-namespaces"
"#,
        upstream.url()
    ))
    .await;
    let block = PUBLISHED_BLOCK.replace("IP:8081", &trove.main_addr().to_string());
    let addr: SocketAddr = format!("{PUBLIC}:80").parse().unwrap();
    let front = Nginx::start(&format!("server {{\n listen {addr};\n {block}\n}}"), addr);
    let host = PUBLIC.to_owned();

    blocking(move || {
        let docker = Dockerd::start();
        let allowed = format!("{host}/helloz/onenav:0.9.33");
        docker.pull(&allowed);
        let digests = docker.repo_digests(&allowed);
        assert!(
            digests.iter().any(|d| d.ends_with(&allowed_digest)),
            "{digests:?} vs {allowed_digest}"
        );

        let o = docker.try_docker(&["pull", &format!("{host}/someoneelse/app:latest")]);
        assert!(
            !o.status.success(),
            "a namespace outside the rule must be refused"
        );
        let text =
            String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("routing rule 'hub-namespaces'"),
            "the refusal names the rule: {text}"
        );

        docker.docker(&["tag", &allowed, &format!("{host}/helloz/mine:1")]);
        let o = docker.try_docker(&["push", &format!("{host}/helloz/mine:1")]);
        assert!(!o.status.success(), "nobody pushes to the public proxy");
    })
    .await;
    // The pull came through the proxy, token included.
    let log = front.access_log();
    assert!(log.contains("GET /v2/token?"), "{log}");
    assert!(log.contains("/v2/helloz/onenav/manifests/0.9.33"), "{log}");
    trove.stop().await;
}
