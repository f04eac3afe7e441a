//! Scenario S2 (../shared/SCENARIOS.md): a pull-through cache for an offline network. A group
//! on its own port combines a hosted repository, a proxy of "Docker Hub" (a local
//! docker-registry, with Docker Hub naming) and a proxy of a private upstream that needs
//! credentials (stored in Trove). Anonymous access, bearer-token realm on. A Docker daemon
//! configured with `--registry-mirror` pulls plain `docker pull e2emysql:8` names through it;
//! the cached images show in the group's catalog.

use trove_tests::pullthrough::push_generated;
use trove_tests::{Dockerd, ImageSpec, TroveInstance, Upstream, blocking};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_group_as_registry_mirror_for_an_offline_network() {
    let hub = Upstream::start();
    let hash = bcrypt::hash_with_result("mirror-pw", 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    let private = Upstream::start_with_htpasswd(&format!("mirror:{hash}\n"));
    let (hub_host, private_host) = (hub.host(), private.host());
    let (mysql, app, tool) = blocking(move || {
        let (mysql, _) = push_generated(
            &hub_host,
            "library/e2emysql:8",
            &ImageSpec::new(41, 2),
            None,
        );
        let (app, _) = push_generated(&hub_host, "someuser/app:1", &ImageSpec::new(42, 1), None);
        let (tool, _) = push_generated(
            &private_host,
            "private/tool:1",
            &ImageSpec::new(43, 1),
            Some("mirror:mirror-pw"),
        );
        (
            mysql.image_id().to_owned(),
            app.image_id().to_owned(),
            tool.image_id().to_owned(),
        )
    })
    .await;

    let secrets = tempfile::tempdir().unwrap();
    let (upstream_pw, alice_pw) = (
        secrets.path().join("upstream"),
        secrets.path().join("alice"),
    );
    std::fs::write(&upstream_pw, "mirror-pw\n").unwrap();
    std::fs::write(&alice_pw, "alice-pw\n").unwrap();
    let trove = TroveInstance::start_secured(&format!(
        r#"
[security]
anonymous = true
[[user]]
name = "anonymous"
roles = ["docker-pull-anonymous"]
[[user]]
name = "alice"
password_file = "{alice}"
roles = ["admin"]
[[repository]]
name = "docker-hosted"
format = "docker"
kind = "hosted"
[[repository]]
name = "docker-hub"
format = "docker"
kind = "proxy"
remote = "{hub}"
options = {{ hub_index = true }}
[[repository]]
name = "docker-private"
format = "docker"
kind = "proxy"
remote = "{private}"
upstream_username = "mirror"
upstream_password_file = "{upstream_pw}"
[[repository]]
name = "docker-group"
format = "docker"
kind = "group"
members = ["docker-hosted", "docker-hub", "docker-private"]
writable_member = "docker-hosted"
connector = {{ http = 0 }}
"#,
        alice = alice_pw.display(),
        hub = hub.url(),
        private = private.url(),
        upstream_pw = upstream_pw.display(),
    ))
    .await;
    let group = trove.registry_host("docker-group");

    let mirror = group.clone();
    blocking(move || {
        let docker = Dockerd::start_with(&["--registry-mirror", &format!("http://{mirror}")]);
        // Plain Docker Hub names, through the mirror: library/ is added, the group finds them
        // in its hub proxy member.
        docker.pull("e2emysql:8");
        assert_eq!(docker.image_id("e2emysql:8"), mysql);
        docker.pull("someuser/app:1");
        assert_eq!(docker.image_id("someuser/app:1"), app);
        // The private upstream's image, by the group's own host, with the stored credentials.
        let tool_ref = format!("{mirror}/private/tool:1");
        docker.pull(&tool_ref);
        assert_eq!(docker.image_id(&tool_ref), tool);
    })
    .await;

    // The cached content shows in the group's merged catalog.
    let client = reqwest::Client::new();
    let catalog: serde_json::Value = client
        .get(format!("http://{group}/v2/_catalog"))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = catalog["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for want in ["library/e2emysql", "someuser/app", "private/tool"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    drop(client);
    trove.stop().await;
}
