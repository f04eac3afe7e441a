//! A server hashes no password before it listens (argon2 was most of a start); password logins
//! wait until that work is done, so declared, rotated and first-start passwords work from the
//! very first request.

use crate::support;

fn config_with_user(dir: &tempfile::TempDir, password_file: &std::path::Path) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\nshutdown_timeout = 1\n\
         [[user]]\nname = \"ci\"\npassword_file = {password_file:?}\nroles = [\"admin\"]\n",
        dir.path().join("data")
    )
}

#[actix_web::test]
async fn declared_rotated_and_first_start_passwords_work_from_the_first_request() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("ci.password");
    let toml = config_with_user(&dir, &pw);
    let config = || trove_server::Config::from_toml_str(&toml).unwrap();
    let login = |user: &str, p: &str| support::basic(user, p);

    std::fs::write(&pw, "first-password").unwrap();
    let running = trove_server::start(config()).await.unwrap();
    let authn = running.trove().auth.authenticator.clone();
    // Straight after `start` returns: neither password is hashed yet, the logins wait for it.
    let admin_pw = std::fs::read_to_string(dir.path().join("data/admin.password")).unwrap();
    let (ci_header, admin_header) = (login("ci", "first-password"), login("admin", &admin_pw));
    let (ci, admin) = tokio::join!(
        authn.authenticate(Some(&ci_header)),
        authn.authenticate(Some(&admin_header)),
    );
    assert!(ci.is_ok(), "{ci:?}");
    assert!(admin.is_ok(), "{admin:?}");
    let row = running.trove().meta.security().user("admin").await.unwrap();
    assert!(
        row.unwrap().must_change_password,
        "the generated password must be changed"
    );
    running.stop().await;

    std::fs::write(&pw, "second-password").unwrap();
    let running = trove_server::start(config()).await.unwrap();
    let authn = running.trove().auth.authenticator.clone();
    assert!(
        authn
            .authenticate(Some(&login("ci", "first-password")))
            .await
            .is_err(),
        "the old password stops working at once"
    );
    assert!(
        authn
            .authenticate(Some(&login("ci", "second-password")))
            .await
            .is_ok()
    );
    running.stop().await;
}

/// A first start that stopped between creating `admin` and hashing its password (the hash
/// comes after listening) finishes it on the next start, from the same file.
#[actix_web::test]
async fn a_first_start_cut_short_before_the_admin_hash_is_finished_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("admin.password"), "generated-before-the-crash").unwrap();
    let meta =
        trove_store::MetadataStore::open(&format!("sqlite://{}", data.join("trove.db").display()))
            .await
            .unwrap();
    meta.security()
        .create_user("admin", None, "bootstrap")
        .await
        .unwrap();
    meta.close().await;

    let toml =
        format!("[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = {data:?}\nshutdown_timeout = 1\n");
    let running = trove_server::start(trove_server::Config::from_toml_str(&toml).unwrap())
        .await
        .unwrap();
    let authn = running.trove().auth.authenticator.clone();
    let admin = authn
        .authenticate(Some(&support::basic("admin", "generated-before-the-crash")))
        .await;
    assert!(admin.is_ok(), "{admin:?}");
    assert_eq!(
        std::fs::read_to_string(data.join("admin.password")).unwrap(),
        "generated-before-the-crash",
        "the file is not replaced"
    );
    running.stop().await;
}
