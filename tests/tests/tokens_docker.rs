//! API tokens with the real docker client (issue 16): `docker login` with a token as the
//! password and a push; a narrowed token that pulls from repository A cannot push there nor
//! pull from B; a revoked token is refused by the next request on both nodes of a two-node
//! setup (two Troves on one database file and data directory).

use serde_json::{Value, json};
use trove_tests::{Dockerd, ImageSpec, TroveInstance, blocking, images};

/// Repositories `team-a` and `team-b` with connectors; user `ci` may do everything on both
/// (password in `pw_file`). Anonymous access is off.
fn config(pw_file: &std::path::Path) -> String {
    let pw = pw_file.display();
    format!(
        r#"
[[role]]
name = "ci"
privileges = [{{ format = "docker", repo = "*", actions = ["*"] }}]
[[user]]
name = "ci"
password_file = "{pw}"
roles = ["ci"]
[[repository]]
name = "team-a"
format = "docker"
kind = "hosted"
connector = {{ http = 0 }}
[[repository]]
name = "team-b"
format = "docker"
kind = "hosted"
connector = {{ http = 0 }}
"#
    )
}

const PW: &str = "ci-password";

fn output(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout)
}

/// `POST /service/rest/v1/security/user-tokens` as ci; the token.
async fn make_token(trove: &TroveInstance, body: Value) -> String {
    let r = reqwest::Client::new()
        .post(format!(
            "http://{}/service/rest/v1/security/user-tokens",
            trove.main_addr()
        ))
        .basic_auth("ci", Some(PW))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// Status of `GET /service/rest/v1/repositories` on `trove` with the token as Bearer.
async fn rest_status(trove: &TroveInstance, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!(
            "http://{}/service/rest/v1/repositories",
            trove.main_addr()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_login_with_a_token_push_narrowing_and_revocation_on_two_nodes() {
    let secrets = tempfile::tempdir().unwrap();
    let pw = secrets.path().join("pw");
    std::fs::write(&pw, format!("{PW}\n")).unwrap();
    let toml = config(&pw);
    let node_a = TroveInstance::start_secured(&toml).await;
    // The second node: the same data directory (database, blobs, signing key), its own ports.
    let node_b = TroveInstance::start_secured_with_data(Some(node_a.data_dir()), &toml).await;

    let full = make_token(&node_a, json!({"name": "ci-full"})).await;
    let narrowed = make_token(
        &node_a,
        json!({"name": "pull-a", "repositories": ["team-a"], "actions": ["browse", "read"]}),
    )
    .await;
    let shared = make_token(&node_a, json!({"name": "shared"})).await;

    let a = node_a.registry_host("team-a");
    let b = node_a.registry_host("team-b");
    let b_on_b = node_b.registry_host("team-b");
    let (full_c, narrowed_c, shared_c) = (full.clone(), narrowed.clone(), shared.clone());
    let (docker, id) = blocking(move || {
        let docker = Dockerd::start();
        let dir = tempfile::tempdir().unwrap();
        let archive =
            images::write_docker_archive(&dir.path().join("img.tar"), &ImageSpec::new(16, 2), None);
        docker.load(&archive.path);
        let id = archive.config_digest.clone();

        // docker login with the token as the password, then a push to each repository.
        for host in [&a, &b] {
            let o = docker.try_docker(&["login", "-u", "ci", "-p", &full_c, host]);
            assert!(o.status.success(), "{}", output(&o));
            let r = format!("{host}/team/app:1");
            docker.docker(&["tag", &id, &r]);
            docker.push(&r);
            docker.docker(&["logout", host]);
        }
        docker.rmi_all(&id);

        // The narrowed token: pulls from A; cannot push to A nor pull from B.
        for host in [&a, &b] {
            let o = docker.try_docker(&["login", "-u", "__token__", "-p", &narrowed_c, host]);
            assert!(o.status.success(), "{}", output(&o));
        }
        docker.pull(&format!("{a}/team/app:1"));
        assert_eq!(docker.image_id(&format!("{a}/team/app:1")), id);
        docker.docker(&["tag", &id, &format!("{a}/team/app:2")]);
        let o = docker.try_docker(&["push", &format!("{a}/team/app:2")]);
        assert!(
            !o.status.success(),
            "a pull-only token pushed:\n{}",
            output(&o)
        );
        assert!(output(&o).contains("denied"), "{}", output(&o));
        let o = docker.try_docker(&["pull", &format!("{b}/team/app:1")]);
        assert!(
            !o.status.success(),
            "a token for A pulled from B:\n{}",
            output(&o)
        );
        assert!(output(&o).contains("denied"), "{}", output(&o));
        docker.docker(&["logout", &a]);
        docker.docker(&["logout", &b]);
        docker.rmi_all(&id);

        // Both nodes accept the shared token.
        for host in [&b, &b_on_b] {
            let o = docker.try_docker(&["login", "-u", "ci", "-p", &shared_c, host]);
            assert!(o.status.success(), "{}", output(&o));
            docker.pull(&format!("{host}/team/app:1"));
        }
        docker.rmi_all(&id);
        (docker, id)
    })
    .await;
    assert_eq!(rest_status(&node_b, &shared).await, 200);

    // Revoked on node A: the very next request on either node is refused.
    let r = reqwest::Client::new()
        .delete(format!(
            "http://{}/service/rest/v1/security/user-tokens/shared",
            node_a.main_addr()
        ))
        .basic_auth("ci", Some(PW))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(rest_status(&node_b, &shared).await, 401);
    assert_eq!(rest_status(&node_a, &shared).await, 401);
    let b = node_a.registry_host("team-b");
    let b_on_b = node_b.registry_host("team-b");
    blocking(move || {
        for host in [&b_on_b, &b] {
            // Still logged in (docker keeps the credentials): the pull is what is refused.
            let o = docker.try_docker(&["pull", &format!("{host}/team/app:1")]);
            assert!(
                !o.status.success(),
                "a revoked token pulled from {host}:\n{}",
                output(&o)
            );
            let text = output(&o);
            assert!(
                text.contains("unauthorized") || text.contains("revoked"),
                "{text}"
            );
            assert!(!docker.has_image(&id));
        }
    })
    .await;
    // The full token still works: revocation is per token.
    assert_eq!(rest_status(&node_b, &full).await, 200);
    node_b.stop().await;
    node_a.stop().await;
}
