//! The admin console in a real headless Chromium against a real Trove, with the stock docker
//! client pushing the image the console then shows: the acceptance test of the console.
//! Screenshots of the main pages land in `target/screenshots/`.

use std::time::Duration;

use trove_tests::{Browser, Dockerd, ImageSpec, TroveInstance, blocking, images};

const REPO: &str = "console-hosted";
const NEW_PASSWORD: &str = "console-e2e-password";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `main` contains `needle` (a page after a form post), or fails with the page.
async fn expect_text(b: &Browser, needle: &str) -> String {
    let mut text = String::new();
    for _ in 0..50 {
        text = b.main_text().await;
        if text.contains(needle) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{needle:?} not on the page {}:\n{text}", b.path().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_browser_from_first_sign_in_to_sign_out() {
    let trove = TroveInstance::start_secured("").await;
    let base = format!("http://{}", trove.main_addr());
    let generated = std::fs::read_to_string(trove.data_dir().join("admin.password"))
        .expect("admin.password")
        .trim()
        .to_owned();
    let b = Browser::start().await;

    // 1. Not signed in: the console sends us to the sign-in page.
    b.goto(&format!("{base}/admin")).await;
    assert!(
        b.path().await.starts_with("/admin/login"),
        "{}",
        b.path().await
    );
    expect_text(&b, "Sign in to Trove").await;

    // A wrong password: the sign-in page again, with a message.
    b.fill("#user", "admin").await;
    b.fill("#password", "not-the-password").await;
    b.click_text("Sign in").await;
    expect_text(&b, "Wrong user name or password").await;

    // 2. The generated password signs in, and must be changed first.
    b.fill("#user", "admin").await;
    b.fill("#password", &generated).await;
    b.click_text("Sign in").await;
    expect_text(&b, "choose your own").await;
    assert_eq!(b.path().await, "/admin/password");
    b.goto(&format!("{base}/admin/users")).await;
    assert_eq!(
        b.path().await,
        "/admin/password",
        "every page waits for the change"
    );
    b.fill("#current", &generated).await;
    b.fill("#new", NEW_PASSWORD).await;
    b.fill("#confirm", NEW_PASSWORD).await;
    b.click_text("Change password").await;
    expect_text(&b, "Password changed").await;
    assert_eq!(b.path().await, "/admin/dashboard");

    // 3. A hosted repository with its own HTTP port.
    let port = free_port();
    b.goto(&format!("{base}/admin/repositories/new?kind=hosted"))
        .await;
    expect_text(&b, "New hosted repository").await;
    b.fill("#name", REPO).await;
    b.fill("#connector-http", &port.to_string()).await;
    b.screenshot("repository-form").await;
    b.click_text("Create repository").await;
    expect_text(&b, &format!("Created repository {REPO}")).await;
    let text = expect_text(&b, &format!("http {port}")).await;
    assert!(text.contains("No images"), "{text}");
    b.goto(&format!("{base}/admin/repository/{REPO}/edit"))
        .await;
    expect_text(&b, &format!("Edit hosted repository {REPO}")).await;
    let form = b.source().await;
    assert!(
        form.contains(&format!(r#"value="{port}""#)),
        "the port is in the form"
    );
    b.screenshot("repository-edit").await;

    // 4. docker login and push to the new port.
    let registry = format!("127.0.0.1:{port}");
    let spec = ImageSpec::new(42, 3);
    let (pushed, diff_ids) = {
        let registry = registry.clone();
        let spec = spec.clone();
        blocking(move || {
            let docker = Dockerd::start();
            let dir = tempfile::tempdir().unwrap();
            let archive = images::write_docker_archive(&dir.path().join("img.tar"), &spec, None);
            docker.load(&archive.path);
            let target = format!("{registry}/team/app:1.0");
            docker.docker(&["tag", &archive.config_digest, &target]);
            docker.docker(&["login", "-u", "admin", "-p", NEW_PASSWORD, &registry]);
            (docker.push(&target), archive.diff_ids.clone())
        })
        .await
    };
    // What the registry serves: the manifest's layers and their sizes.
    let manifest: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{registry}/v2/team/app/manifests/1.0"))
        .basic_auth("admin", Some(NEW_PASSWORD))
        .header(
            "accept",
            "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
        )
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let layers: Vec<(String, u64)> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["digest"].as_str().unwrap().to_owned(),
                l["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(layers.len(), diff_ids.len());
    let total: u64 = layers.iter().map(|(_, s)| s).sum();

    // 5. The console shows the image, its tag and the manifest with its layers.
    b.goto(&format!("{base}/admin/dashboard")).await;
    let dash = expect_text(&b, REPO).await;
    assert!(dash.contains("Storage per repository"), "{dash}");
    assert!(
        b.source().await.contains(r#"class="chart bar-chart""#),
        "the storage chart"
    );
    b.screenshot("dashboard").await;
    b.goto(&format!("{base}/admin/repositories")).await;
    let list = expect_text(&b, REPO).await;
    assert!(list.contains(&format!("http {port}")), "{list}");
    b.screenshot("repositories").await;
    b.click_text(REPO).await;
    expect_text(&b, "team/app").await;
    b.click_text("team/app").await;
    let image = expect_text(&b, "Tags first").await;
    assert!(image.contains("1.0"), "{image}");
    assert!(image.contains(&pushed[..19]), "digest {pushed} in {image}");
    assert!(
        image.contains("Delete tag 1.0"),
        "the admin may delete: {image}"
    );
    b.screenshot("image").await;
    b.click_text("1.0").await;
    let detail = expect_text(&b, "Manifest of team/app").await;
    assert!(detail.contains(&pushed), "{detail}");
    for (digest, _) in &layers {
        assert!(detail.contains(digest), "layer {digest} missing:\n{detail}");
    }
    assert!(
        detail.contains(&format!("({total} bytes, compressed)")),
        "total layer size {total} in:\n{detail}"
    );
    assert!(
        detail.contains("\"schemaVersion\": 2"),
        "pretty JSON: {detail}"
    );
    b.screenshot("manifest").await;

    // 6. A privilege, a role holding it and a user with that role.
    b.goto(&format!("{base}/admin/privileges")).await;
    expect_text(&b, "New repository privilege").await;
    b.client
        .find(fantoccini::Locator::Css("#repository"))
        .await
        .unwrap()
        .select_by_value(REPO)
        .await
        .unwrap();
    b.click_text("Create privilege").await;
    let privilege = format!("nx-repository-view-docker-{REPO}-browse,read");
    expect_text(&b, &format!("Created privilege {privilege}")).await;

    b.goto(&format!("{base}/admin/roles/new")).await;
    expect_text(&b, "New role").await;
    b.fill("#name", "console-readers").await;
    b.fill("#description", "pull from the console repository")
        .await;
    b.click(&format!(r#"input[name="privileges"][value="{privilege}"]"#))
        .await;
    b.click_text("Create role").await;
    expect_text(&b, "Created role console-readers").await;
    b.goto(&format!("{base}/admin/roles")).await;
    let roles = expect_text(&b, "console-readers").await;
    assert!(roles.contains(&privilege), "{roles}");
    b.screenshot("roles").await;

    b.goto(&format!("{base}/admin/users/new")).await;
    expect_text(&b, "New user").await;
    b.fill("#name", "dora").await;
    b.fill("#password", "dora-password").await;
    b.click(r#"input[name="roles"][value="console-readers"]"#)
        .await;
    b.click_text("Create user").await;
    expect_text(&b, "Created user dora").await;
    b.goto(&format!("{base}/admin/users")).await;
    let users = expect_text(&b, "dora").await;
    assert!(users.contains("console-readers"), "{users}");
    b.screenshot("users").await;

    // The access explanation agrees.
    b.goto(&format!(
        "{base}/admin/explain?user=dora&repository={REPO}&action=read"
    ))
    .await;
    let why = expect_text(&b, "Allowed: dora").await;
    assert!(why.contains("console-readers"), "{why}");
    b.goto(&format!(
        "{base}/admin/explain?user=dora&repository={REPO}&action=delete"
    ))
    .await;
    expect_text(&b, "Denied: dora").await;

    // 7. A routing rule, previewed with one allowed and one blocked path.
    b.goto(&format!("{base}/admin/rules/new")).await;
    expect_text(&b, "New routing rule").await;
    b.fill("#name", "team-only").await;
    b.fill("#matchers", "^/v2/team/.*").await;
    b.fill("#preview-path", "/v2/other/app/manifests/1").await;
    b.click_text("Preview path").await;
    let preview = expect_text(&b, "Blocked: /v2/other/app/manifests/1").await;
    assert!(
        preview.contains("team-only") || preview.contains("draft"),
        "{preview}"
    );
    b.click_text("Create rule").await;
    expect_text(&b, "Created routing rule team-only").await;
    b.fill("#test-path", "/v2/team/app/manifests/1.0").await;
    b.click_text("Test path").await;
    expect_text(&b, "Allowed: /v2/team/app/manifests/1.0").await;
    b.fill("#test-path", "/v2/library/alpine/manifests/3").await;
    b.click_text("Test path").await;
    let blocked = expect_text(&b, "Blocked: /v2/library/alpine/manifests/3").await;
    assert!(blocked.contains("no matcher"), "{blocked}");
    b.fill("#preview-path", "/v2/team/app/blobs/sha256:00")
        .await;
    b.click_text("Preview path").await;
    expect_text(&b, "Allowed: /v2/team/app/blobs/sha256:00").await;
    b.screenshot("rule-preview").await;

    // 8. Sign out: console pages send us to the sign-in page again.
    b.click_text("Sign out").await;
    expect_text(&b, "You are signed out").await;
    b.goto(&format!("{base}/admin/users")).await;
    assert!(
        b.path().await.starts_with("/admin/login?next="),
        "{}",
        b.path().await
    );

    b.close().await;
    trove.stop().await;
}
