//! Scenario S3 (../shared/SCENARIOS.md): a public, anonymous, pull-only proxy limited to some
//! namespaces by a routing rule, reached through path-based access: a proxy maps its host onto
//! `/repository/docker/` (here the harness's PrefixProxy stands in for the TLS proxy). The stock
//! docker client, never logged in: an allowed namespace pulls, another is refused naming the
//! rule, a push is refused. A local docker-registry stands in for Docker Hub.

use trove_tests::pullthrough::push_generated;
use trove_tests::{Dockerd, ImageSpec, PrefixProxy, TroveInstance, Upstream, blocking};

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
    let front = PrefixProxy::start(trove.main_addr(), "/repository/docker");
    let host = front.host();

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
    // Every request came through path-based access.
    assert!(
        front
            .exchanges()
            .iter()
            .all(|e| e.upstream_path.starts_with("/repository/docker/"))
    );
    trove.stop().await;
}
