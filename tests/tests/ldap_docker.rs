//! The LDAP realm against a real OpenLDAP slapd with the stock docker client (issue 16):
//! - an LDAP user whose group maps to a role that may push: `docker login` and `docker push`;
//! - an LDAP user with no mapped group: refused at `docker login`;
//! - a user removed from the group in LDAP: refused once the 1 s cache TTL is over (polled);
//! - slapd stopped: directory users get a 503 "directory unavailable", a local user still
//!   logs in and pushes.

use std::time::{Duration, Instant};

use trove_tests::ldap::{PEOPLE, Slapd};
use trove_tests::{Dockerd, ImageSpec, TroveInstance, blocking, images};

const REPO: &str = "ldap-hosted";

fn output(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout)
}

fn config(slapd: &Slapd, devs: &str, ops_pw: &std::path::Path) -> String {
    format!(
        r#"
[security]
realms = ["ldap", "basic", "docker-token"]
[[role]]
name = "ldap-pushers"
privileges = [{{ format = "docker", repo = "{REPO}", actions = ["browse", "read", "add", "edit"] }}]
external_groups = ["{devs}"]
[[user]]
name = "ops"
password_file = "{}"
roles = ["admin"]
[[repository]]
name = "{REPO}"
format = "docker"
kind = "hosted"
connector = {{ http = 0 }}
{}
"#,
        ops_pw.display(),
        slapd.trove_section(1)
    )
}

/// `GET /v2/token` with Basic credentials: the status and body.
async fn token(host: &str, user: &str, pw: &str) -> (u16, String) {
    let res = reqwest::Client::new()
        .get(format!(
            "http://{host}/v2/token?service=trove&scope=repository:team/app:pull,push"
        ))
        .basic_auth(user, Some(pw))
        .send()
        .await
        .expect("token request");
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_users_log_in_and_push_with_docker_and_an_outage_is_clear() {
    let started = Instant::now();
    let (slapd, devs) = blocking(|| {
        let slapd = Slapd::start();
        let carol = slapd.add_user("carol", "carol-pw");
        let erin = slapd.add_user("erin", "erin-pw");
        let dave = slapd.add_user("dave", "dave-pw");
        // groupOfNames needs a member: erin stays when carol is removed.
        let devs = slapd.add_group("devs", &[&carol, &erin]);
        slapd.add_group("others", &[&dave]);
        (slapd, devs)
    })
    .await;
    let secrets = tempfile::tempdir().unwrap();
    let ops_pw = secrets.path().join("ops.pw");
    std::fs::write(&ops_pw, "ops-local-pw\n").unwrap();
    // The group is written in another case than slapd returns it: DNs compare normalised.
    let trove = TroveInstance::start_secured(&config(&slapd, &devs.to_uppercase(), &ops_pw)).await;
    let host = trove.registry_host(REPO);

    let docker = blocking(Dockerd::start).await;
    let dir = tempfile::tempdir().unwrap();
    let archive =
        images::write_docker_archive(&dir.path().join("img.tar"), &ImageSpec::new(16, 2), None);
    let id = archive.config_digest.clone();
    let docker = {
        let (host, id) = (host.clone(), id.clone());
        blocking(move || {
            docker.load(&archive.path);
            // 1. carol (group devs → role ldap-pushers): login and push.
            docker.docker(&["login", "-u", "carol", "-p", "carol-pw", &host]);
            let r = format!("{host}/team/app:1");
            docker.docker(&["tag", &id, &r]);
            docker.push(&r);
            // 2. dave is in the directory, but his group maps to no role: refused.
            let o = docker.try_docker(&["login", "-u", "dave", "-p", "dave-pw", &host]);
            assert!(!o.status.success(), "dave must not log in: {}", output(&o));
            assert!(output(&o).contains("unauthorized"), "{}", output(&o));
            docker
        })
        .await
    };

    // 3. carol leaves devs in the directory: refused once her cached login (1 s) expires.
    slapd.remove_member(&devs, &format!("uid=carol,{PEOPLE}"));
    let mut last = (0, String::new());
    let refused = {
        let mut refused = false;
        for _ in 0..100 {
            last = token(&host, "carol", "carol-pw").await;
            if last.0 == 401 {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        refused
    };
    assert!(
        refused,
        "carol is still let in after leaving devs: {last:?}"
    );
    assert!(last.1.contains("none of your groups"), "{}", last.1);
    let docker = {
        let host = host.clone();
        let id = id.clone();
        blocking(move || {
            let r = format!("{host}/team/app:2");
            docker.docker(&["tag", &id, &r]);
            let o = docker.try_docker(&["push", &r]);
            assert!(
                !o.status.success(),
                "carol's push must fail now: {}",
                output(&o)
            );
            docker
        })
        .await
    };

    // 4. slapd stops: a directory user is told the directory is unavailable (503), not that
    // the password is wrong; the local admin still logs in and pushes.
    blocking(move || {
        let mut slapd = slapd;
        slapd.stop();
    })
    .await;
    let (status, body) = token(&host, "erin", "erin-pw").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("directory unavailable"), "{body}");
    assert!(body.contains("UNAVAILABLE"), "{body}");
    blocking(move || {
        let o = docker.try_docker(&["login", "-u", "erin", "-p", "erin-pw", &host]);
        assert!(!o.status.success(), "{}", output(&o));
        let text = output(&o).to_lowercase();
        eprintln!("[e2e] docker login during the outage: {text}");
        assert!(
            text.contains("503") || text.contains("unavailable"),
            "docker shows the outage, not a wrong password: {text}"
        );
        docker.docker(&["login", "-u", "ops", "-p", "ops-local-pw", &host]);
        let r = format!("{host}/team/app:3");
        docker.docker(&["tag", &id, &r]);
        docker.push(&r);
    })
    .await;
    trove.stop().await;
    eprintln!(
        "[e2e] ldap_docker took {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
