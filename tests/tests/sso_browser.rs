//! Single sign-on for the console in a real headless Chromium (issue 16): the sign-in page
//! sends the browser to a real OIDC provider (`oidc-provider-mock`), the user picks their
//! account there, and lands on the dashboard signed in with the role their `groups` claim
//! maps to; a user whose groups map to nothing is refused, and local sign-in still works.

use std::time::{Duration, Instant};

use trove_tests::oidc::OidcProvider;
use trove_tests::{Browser, TroveInstance, blocking};

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

async fn wait_for_path(b: &Browser, want: &str) -> String {
    let mut path = String::new();
    for _ in 0..50 {
        path = b.path().await;
        if path.starts_with(want) {
            return path;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never reached {want}; at {path}:\n{}", b.main_text().await);
}

/// On the provider's page: the button of predefined user `sub`.
async fn pick_user(b: &Browser, sub: &str) {
    let xpath = format!("//button[@name='sub' and @value='{sub}']");
    for _ in 0..50 {
        if let Ok(e) = b.client.find(fantoccini::Locator::XPath(&xpath)).await {
            e.click().await.expect("click the provider's user");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no user {sub} on the provider's page {}:\n{}",
        b.path().await,
        b.source().await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_single_sign_on_through_an_oidc_provider() {
    let started = Instant::now();
    let provider = blocking(|| {
        OidcProvider::start(&[
            serde_json::json!({"sub": "olga-sub", "preferred_username": "olga",
                               "groups": ["Trove-Admins", "staff"]}),
            serde_json::json!({"sub": "pete-sub", "preferred_username": "pete",
                               "groups": ["staff"]}),
        ])
    })
    .await;
    let secrets = tempfile::tempdir().unwrap();
    let secret = secrets.path().join("client.secret");
    std::fs::write(&secret, "sso-client-secret\n").unwrap();
    let local_pw = secrets.path().join("local.pw");
    std::fs::write(&local_pw, "local-admin-pw\n").unwrap();
    let trove = TroveInstance::start_secured(&format!(
        r#"
[oidc]
issuer = "{}"
client_id = "trove-console"
client_secret_file = "{}"
groups_claim = "groups"
label = "Sign in with Example SSO"
[[role]]
name = "sso-admins"
privileges = [{{ admin = true }}]
external_groups = ["trove-admins"]
[[user]]
name = "local-admin"
password_file = "{}"
roles = ["admin"]
"#,
        provider.issuer(),
        secret.display(),
        local_pw.display()
    ))
    .await;
    let base = format!("http://{}", trove.main_addr());
    let b = Browser::start().await;

    // 1. The sign-in page offers single sign-on; the provider asks who we are.
    b.goto(&format!("{base}/admin/dashboard")).await;
    wait_for_path(&b, "/admin/login").await;
    expect_text(&b, "Sign in with Example SSO").await;
    b.click("#sso").await;
    pick_user(&b, "olga-sub").await;

    // 2. Back at Trove: signed in as olga, an administrator through her group, on the page
    // she first asked for.
    wait_for_path(&b, "/admin/dashboard").await;
    let header = b
        .client
        .find(fantoccini::Locator::Css(".who"))
        .await
        .expect("signed-in header")
        .text()
        .await
        .unwrap();
    assert!(header.contains("Signed in as olga"), "{header}");
    expect_text(&b, "Dashboard").await;
    b.screenshot("sso-dashboard").await;
    // The users list shows her, owned by the realm, with the mapped role.
    b.goto(&format!("{base}/admin/users")).await;
    let text = expect_text(&b, "olga").await;
    let row = text
        .lines()
        .find(|l| l.contains("olga"))
        .unwrap_or_default()
        .to_owned();
    assert!(row.contains("sso-admins") && row.contains("oidc"), "{text}");
    b.click_text("Sign out").await;
    wait_for_path(&b, "/admin/login").await;

    // 3. pete's groups map to no role: refused with the reason, no session.
    b.click("#sso").await;
    pick_user(&b, "pete-sub").await;
    let text = expect_text(&b, "none of your groups").await;
    assert!(!text.contains("Dashboard"), "{text}");
    b.goto(&format!("{base}/admin/dashboard")).await;
    wait_for_path(&b, "/admin/login").await;

    // 4. A callback that did not start in this browser is refused.
    b.goto(&format!("{base}/admin/login/sso/callback?code=x&state=y"))
        .await;
    expect_text(&b, "did not start in this browser").await;

    // 5. Local sign-in still works beside it.
    b.goto(&format!("{base}/admin/login")).await;
    b.fill("#user", "local-admin").await;
    b.fill("#password", "local-admin-pw").await;
    b.click_text("Sign in").await;
    wait_for_path(&b, "/admin/dashboard").await;

    b.close().await;
    trove.stop().await;
    drop(provider);
    eprintln!(
        "[e2e] sso_browser took {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
