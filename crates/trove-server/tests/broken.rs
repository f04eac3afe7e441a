//! A repository that cannot be built (a proxy whose password file or variable is missing):
//! declared in the file, it fails the start and a reload changes nothing; made in the console
//! or the API, it is offline with its reason while everything else keeps serving and changing
//! (issue 14: it used to block every later change).

use crate::support;

use support::{call, get};
use trove_core::{KindConfig, ProxyConfig, RepoName};

#[actix_web::test]
async fn a_proxy_without_its_secret_is_offline_and_blocks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // In the file: refused, naming the repository.
    let bad = "[[repository]]\nname = \"up\"\nformat = \"docker\"\nkind = \"proxy\"\n\
               remote = \"https://upstream.example\"\nupstream_username = \"u\"\n\
               upstream_password_file = \"/nonexistent/secret\"\n";
    let pw = dir.path().join("tester.password");
    std::fs::write(&pw, support::TESTER_PASSWORD).unwrap();
    let toml = |extra: &str| {
        format!(
            "[server]\ndata_dir = {:?}\n[[repository]]\nname = \"hosted\"\nformat = \"docker\"\n\
             kind = \"hosted\"\n[[user]]\nname = \"tester\"\npassword_file = {pw:?}\n\
             roles = [\"admin\"]\n{extra}",
            dir.path().join("data")
        )
    };
    let e = trove_server::Trove::open(&trove_server::Config::from_toml_str(&toml(bad)).unwrap())
        .await
        .err()
        .expect("a declared proxy without its secret fails the start");
    assert!(format!("{e:#}").contains("repository up"), "{e:#}");
    let trove = trove_server::Trove::open(&trove_server::Config::from_toml_str(&toml("")).unwrap())
        .await
        .unwrap();
    let e = trove
        .apply(&trove_server::Config::from_toml_str(&toml(bad)).unwrap())
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("/nonexistent/secret"), "{e:#}");
    assert!(
        trove
            .meta
            .repos()
            .list()
            .await
            .unwrap()
            .iter()
            .all(|r| r.name.as_str() != "up"),
        "a refused reload saves nothing"
    );

    // Made in the console: saved, offline with its reason; the rest serves and changes.
    let mut proxy = ProxyConfig::new("https://upstream.example");
    proxy.upstream_username = Some("u".into());
    proxy.upstream_password_file = Some("/nonexistent/secret".into());
    let decl = trove_store::DeclaredRepo {
        name: RepoName::parse("ui-proxy").unwrap(),
        format: "docker".into(),
        options: Default::default(),
        kind: KindConfig::Proxy(proxy),
        force_basic_auth: false,
        routing_rule: None,
        connector: None,
        lifecycle: Default::default(),
    };
    trove.meta.repos().create(&decl, "ui").await.unwrap();
    trove
        .changed()
        .await
        .expect("a broken repository does not fail the refresh");
    assert!(trove.repository("ui-proxy").is_none());
    let why = trove.repository_problem("ui-proxy").expect("a reason");
    assert!(why.contains("/nonexistent/secret"), "{why}");
    let mut other = decl.clone();
    other.name = RepoName::parse("ui-hosted").unwrap();
    other.kind = KindConfig::Hosted {
        write_policy: Default::default(),
    };
    trove.meta.repos().create(&other, "ui").await.unwrap();
    trove.changed().await.unwrap();
    assert!(
        trove.repository("ui-hosted").is_some(),
        "later changes apply"
    );
    let app = main_app!(trove);
    assert_eq!(
        call(&app, get("/v2/ui-hosted/img/tags/list")).await.status,
        404
    );
    assert_eq!(call(&app, get("/v2/hosted/")).await.status, 200);
}
