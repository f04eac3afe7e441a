//! A full disk loses nothing and needs no restart (issue 14): Trove's data directory on a small
//! tmpfs the test mounts; while it is full, `docker push` and REST writes fail with clear
//! errors, nothing half-written becomes visible and `/status/writable` says so; once space is
//! freed, both work again against the same running server and database.

use trove_store::testing::SmallFs;
use trove_tests::images::write_docker_archive;
use trove_tests::pullthrough::check_blob_store;
use trove_tests::{Dockerd, ImageSpec, TroveInstance, blocking};

// What the clients print is checked to be an error with a message, not a bare status.

const MIB: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_cleanly_and_recovers_without_a_restart() {
    let fs = SmallFs::mount(96 << 20).expect("a disk-full test needs a small real filesystem");
    let data = fs.path().join("data");
    let pw_dir = tempfile::tempdir().unwrap();
    let pw = pw_dir.path().join("pw");
    std::fs::write(&pw, "admin-pw").unwrap();
    let trove = TroveInstance::start_secured_with_data(
        Some(data.clone()),
        &format!(
            "[[user]]\nname = \"root\"\npassword_file = {pw:?}\nroles = [\"admin\"]\n\
             [[repository]]\nname = \"hosted\"\nformat = \"docker\"\nkind = \"hosted\"\n\
             connector = {{ http = 0 }}\n"
        ),
    )
    .await;
    let host = trove.registry_host("hosted");
    let rest = format!("http://{}/service/rest/v1", trove.main_addr());
    let http = reqwest::Client::new();
    let create = |name: &str| {
        let body = serde_json::json!({"name": name, "format": "raw", "kind": "hosted"});
        http.post(format!("{rest}/repositories"))
            .basic_auth("root", Some("admin-pw"))
            .json(&body)
            .send()
    };
    let writable = || {
        http.get(format!("{rest}/status/writable"))
            .basic_auth("root", Some("admin-pw"))
            .send()
    };

    let work = tempfile::tempdir().unwrap();
    let small = write_docker_archive(
        &work.path().join("a.tar"),
        &ImageSpec::new(61, 1),
        Some("e2e/a:1"),
    );
    let big = write_docker_archive(
        &work.path().join("b.tar"),
        &ImageSpec::new(62, 3).file_size(4 * MIB),
        Some("e2e/b:1"),
    );
    let docker = blocking(Dockerd::start).await;
    let docker = std::sync::Arc::new(docker);
    {
        let (docker, host) = (docker.clone(), host.clone());
        let (a, b) = (small.path.clone(), big.path.clone());
        blocking(move || {
            docker.load(&a);
            docker.load(&b);
            docker.docker(&["tag", "e2e/a:1", &format!("{host}/e2e/a:1")]);
            docker.docker(&["tag", "e2e/b:1", &format!("{host}/e2e/b:1")]);
            docker.docker(&["login", "-u", "root", "-p", "admin-pw", &host]);
            docker.push(&format!("{host}/e2e/a:1"));
        })
        .await;
    }

    let filled = fs.fill().expect("fill the disk");
    assert!(filled > 0);
    // The failing push is skopeo's: docker retries a failed layer for ~50 s before it gives
    // up, which says nothing more (docker pushes once the space is back, below).
    let out = {
        let (host, b) = (host.clone(), big.path.clone());
        blocking(move || {
            trove_tests::Skopeo::new().try_run(&[
                "copy",
                "--dest-tls-verify=false",
                "--dest-creds",
                "root:admin-pw",
                &format!("docker-archive:{}", b.display()),
                &format!("docker://{host}/e2e/b:1"),
            ])
        })
        .await
    };
    assert!(!out.status.success(), "a push to a full disk must fail");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("500 Internal"),
        "a clear error, not a bare 500: {text}"
    );
    let r = create("while-full").await.unwrap();
    assert_eq!(r.status(), 503, "unavailable, not an internal error");
    let body = r.text().await.unwrap();
    assert!(body.contains("full"), "says the disk is full: {body}");
    assert_eq!(
        writable().await.unwrap().status(),
        503,
        "status/writable says so"
    );
    // Nothing half-written is visible: every stored blob is whole, and the image is absent.
    check_blob_store(&data);
    let manifest = http
        .get(format!("http://{host}/v2/e2e/b/manifests/1"))
        .basic_auth("root", Some("admin-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(manifest.status(), 404);

    fs.free().expect("free the disk");
    // Same server, same database: writes work again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while writable().await.unwrap().status() != 200 {
        assert!(std::time::Instant::now() < deadline, "never writable again");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let r = create("after-free").await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    {
        let (docker, host) = (docker.clone(), host.clone());
        blocking(move || {
            docker.push(&format!("{host}/e2e/b:1"));
            docker.docker(&["rmi", "--force", "e2e/a:1", "e2e/b:1"]);
            docker.docker(&[
                "rmi",
                "--force",
                &format!("{host}/e2e/a:1"),
                &format!("{host}/e2e/b:1"),
            ]);
            docker.pull(&format!("{host}/e2e/a:1"));
            docker.pull(&format!("{host}/e2e/b:1"));
        })
        .await;
    }
    check_blob_store(&data);
    drop(docker);
    trove.stop().await;
    drop(fs);
}
