//! A restart does not re-verify declared passwords before it listens; the check follows at
//! once in the background, so a password rotated in the file takes over right after.

use std::time::{Duration, Instant};

use crate::support;

#[actix_web::test]
async fn a_password_rotated_in_the_file_takes_over_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("ci.password");
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\nshutdown_timeout = 1\n\
         [[user]]\nname = \"ci\"\npassword_file = {pw:?}\nroles = [\"admin\"]\n",
        dir.path().join("data")
    );
    let config = || trove_server::Config::from_toml_str(&toml).unwrap();
    let login = |p: &str| support::basic("ci", p);

    std::fs::write(&pw, "first-password").unwrap();
    let running = trove_server::start(config()).await.unwrap();
    let auth = running.trove().auth.clone();
    assert!(
        auth.authenticator
            .authenticate(Some(&login("first-password")))
            .await
            .is_ok()
    );
    running.stop().await;

    std::fs::write(&pw, "second-password").unwrap();
    let running = trove_server::start(config()).await.unwrap();
    let auth = running.trove().auth.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        auth.authenticator.clear_cache();
        if auth
            .authenticator
            .authenticate(Some(&login("second-password")))
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new password never took over"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    auth.authenticator.clear_cache();
    assert!(
        auth.authenticator
            .authenticate(Some(&login("first-password")))
            .await
            .is_err(),
        "the old password stops working"
    );
    running.stop().await;
}
