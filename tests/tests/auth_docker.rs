//! The security model with the real docker client (scenarios S1 and S3): `docker login`,
//! anonymous pull-only access, and clear refusals.

use trove_tests::{Dockerd, ImageSpec, TroveInstance, blocking, images};

/// Two repositories with connectors: `public` (anonymous may browse and read) and `private`
/// (anonymous may not). Users: `alice` (admin) and `reader` (read on private), password "pw".
fn config(pw_file: &std::path::Path) -> String {
    let pw = pw_file.display();
    format!(
        r#"
[security]
anonymous = true
[[role]]
name = "public-pull"
privileges = [{{ format = "docker", repo = "public", actions = ["browse", "read"] }}]
[[role]]
name = "private-read"
privileges = [{{ format = "docker", repo = "private", actions = ["browse", "read"] }}]
[[user]]
name = "anonymous"
roles = ["public-pull"]
[[user]]
name = "alice"
password_file = "{pw}"
roles = ["admin"]
[[user]]
name = "reader"
password_file = "{pw}"
roles = ["private-read"]
[[repository]]
name = "public"
format = "docker"
kind = "hosted"
connector = {{ http = 0 }}
[[repository]]
name = "private"
format = "docker"
kind = "hosted"
connector = {{ http = 0 }}
"#
    )
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_anonymous_pull_and_refusals_with_docker() {
    let secrets = tempfile::tempdir().unwrap();
    let pw = secrets.path().join("pw");
    std::fs::write(&pw, "pw\n").unwrap();
    let trove = TroveInstance::start_secured(&config(&pw)).await;
    let public = trove.registry_host("public");
    let private = trove.registry_host("private");
    blocking(move || {
        let docker = Dockerd::start();
        let dir = tempfile::tempdir().unwrap();
        let archive =
            images::write_docker_archive(&dir.path().join("img.tar"), &ImageSpec::new(7, 2), None);
        docker.load(&archive.path);
        let id = archive.config_digest.clone();

        // Wrong password: login fails. Right one: succeeds.
        let o = docker.try_docker(&["login", "-u", "alice", "-p", "wrong", &public]);
        assert!(!o.status.success(), "login with a wrong password must fail");
        assert!(stderr(&o).contains("unauthorized"), "{}", stderr(&o));
        let o = docker.try_docker(&["login", "-u", "alice", "-p", "pw", &public]);
        assert!(o.status.success(), "{}", stderr(&o));
        docker.docker(&["login", "-u", "alice", "-p", "pw", &private]);

        // alice pushes to both.
        for host in [&public, &private] {
            let r = format!("{host}/team/app:1");
            docker.docker(&["tag", &id, &r]);
            docker.push(&r);
        }
        docker.docker(&["logout", &public]);
        docker.docker(&["logout", &private]);
        docker.rmi_all(&id);

        // Anonymous: pulls from public, not from private, pushes nowhere.
        docker.pull(&format!("{public}/team/app:1"));
        assert_eq!(docker.image_id(&format!("{public}/team/app:1")), id);
        let o = docker.try_docker(&["pull", &format!("{private}/team/app:1")]);
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("authentication required"),
            "{}",
            stderr(&o)
        );
        let o = docker.try_docker(&["push", &format!("{public}/team/app:1")]);
        assert!(!o.status.success(), "anonymous push must fail");

        // reader: pulls private, cannot push there.
        docker.docker(&["login", "-u", "reader", "-p", "pw", &private]);
        docker.pull(&format!("{private}/team/app:1"));
        docker.docker(&["tag", &id, &format!("{private}/team/app:2")]);
        let o = docker.try_docker(&["push", &format!("{private}/team/app:2")]);
        assert!(!o.status.success(), "a reader must not push");
        let text = stderr(&o);
        assert!(
            text.contains("denied") || text.contains("unauthorized"),
            "{text}"
        );
    })
    .await;
    trove.stop().await;
}
