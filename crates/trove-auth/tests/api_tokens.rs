//! API tokens: every header form that carries one, what is refused (wrong, revoked, expired,
//! a disabled owner, off-shape strings), the narrowing at every use (also behind a bearer token
//! minted from one), and revocation seen by a second node on the same database at its next use.

use crate::common;

use base64::Engine as _;
use common::*;
use trove_auth::{
    Action, ActionSet, Auth, AuthError, AuthSettings, Identity, RequestedAccess, SecurityDecl,
    UserStatus,
};
use trove_core::RepositoryConfig;
use trove_store::MetadataStore;

struct Fixture {
    dir: tempfile::TempDir,
    meta: MetadataStore,
    auth: Auth,
    a: RepositoryConfig,
    b: RepositoryConfig,
}

async fn fixture() -> Fixture {
    let (dir, meta, auth) = auth().await;
    auth.apply_config(&SecurityDecl {
        anonymous: Some(false),
        roles: vec![
            role(
                "readers",
                vec![privilege("docker", "*", &["browse", "read"])],
                &[],
            ),
            role(
                "pushers",
                vec![privilege("docker", "repo-a", &["add", "edit"])],
                &["readers"],
            ),
            role("admins", vec![], &["admin"]),
        ],
        users: vec![
            user("pusher", Some("pusher-pw"), &["pushers"]),
            user("boss", Some("boss-pw"), &["admin"]),
        ],
        ..Default::default()
    })
    .await
    .unwrap();
    Fixture {
        dir,
        meta,
        auth,
        a: repo("id-a", "repo-a", "docker"),
        b: repo("id-b", "repo-b", "docker"),
    }
}

async fn make(
    f: &Fixture,
    user: &str,
    name: &str,
    repos: Option<&[&str]>,
    actions: Option<&[&str]>,
    expires: Option<i64>,
) -> String {
    let repos = repos.map(|r| r.iter().map(|s| s.to_string()).collect());
    let actions = actions.map(|a| ActionSet::parse(a).unwrap());
    let (t, row) = f
        .auth
        .create_api_token(user, name, repos, actions, expires, user)
        .await
        .unwrap();
    assert_eq!(row.name, name);
    assert!(t.token.starts_with("trove_"));
    assert_ne!(row.token_hash, t.token, "only the hash is stored");
    t.token
}

async fn who(auth: &Auth, header: &str) -> Result<Identity, AuthError> {
    auth.authenticator.identify(Some(header)).await
}

#[tokio::test]
async fn every_header_form_carries_a_token() {
    let f = fixture().await;
    let token = make(&f, "pusher", "ci", None, None, None).await;
    let forms = [
        basic("pusher", &token),
        basic("__token__", &token),
        basic("anyone-at-all", &token),
        format!("Bearer {token}"),
        format!("bearer {token}"),
        token.clone(),
    ];
    for h in &forms {
        let id = who(&f.auth, h).await.unwrap_or_else(|e| panic!("{h}: {e}"));
        assert_eq!(id.principal.name(), "pusher", "{h}");
        assert_eq!(id.api_token.as_ref().unwrap().name, "ci");
        assert_eq!(id.realm(), Some("user-token"));
        assert!(id.token.is_none());
    }
    // A token is no password: the user's password still works, and the token is not cached as
    // a Basic login (a revoked one would outlive its revocation there).
    let id = who(&f.auth, &basic("pusher", "pusher-pw")).await.unwrap();
    assert!(id.api_token.is_none());
    assert_eq!(id.realm(), Some("basic"));
    assert_eq!(f.auth.authenticator.stats().password_verifications, 1);

    // Uses are noted in memory and listed before the flush.
    let row = f
        .meta
        .api_tokens()
        .named("pusher", "ci")
        .await
        .unwrap()
        .unwrap();
    assert!(row.last_used.is_some());
    assert_eq!(f.meta.api_tokens().flush_uses().await.unwrap(), 1);
}

#[tokio::test]
async fn wrong_revoked_expired_and_disabled_are_refused() {
    let f = fixture().await;
    let token = make(&f, "pusher", "ci", None, None, None).await;
    // The right selector with another secret.
    let forged = format!(
        "{}{}",
        &token[..token.len() - 1],
        if token.ends_with('a') { 'b' } else { 'a' }
    );
    for h in [
        forged.clone(),
        format!("Bearer {forged}"),
        basic("pusher", &forged),
    ] {
        let e = who(&f.auth, &h).await.unwrap_err();
        assert!(matches!(e, AuthError::InvalidToken(_)), "{h}: {e}");
    }
    // Off-shape strings are not tokens: a bare header is then a malformed one.
    let e = who(&f.auth, "trove_short").await.unwrap_err();
    assert!(matches!(e, AuthError::Malformed(_)), "{e}");

    let expiring = make(
        &f,
        "pusher",
        "old",
        None,
        None,
        Some(trove_core::now_millis() - 1),
    )
    .await;
    let e = who(&f.auth, &expiring).await.unwrap_err();
    assert!(matches!(e, AuthError::TokenExpired), "{e}");

    f.auth
        .set_user_status("pusher", UserStatus::Disabled)
        .await
        .unwrap();
    let e = who(&f.auth, &token).await.unwrap_err();
    assert!(matches!(e, AuthError::Disabled), "{e}");
    f.auth
        .set_user_status("pusher", UserStatus::Active)
        .await
        .unwrap();
    who(&f.auth, &token).await.unwrap();

    assert!(
        f.meta
            .api_tokens()
            .delete("pusher", "ci")
            .await
            .unwrap()
            .is_some()
    );
    let e = who(&f.auth, &token).await.unwrap_err();
    assert_eq!(e.to_string(), "invalid token: unknown or revoked API token");
}

#[tokio::test]
async fn narrowing_applies_at_every_use_and_never_widens() {
    let f = fixture().await;
    let reader = make(
        &f,
        "pusher",
        "pull-a",
        Some(&["repo-a"]),
        Some(&["browse", "read"]),
        None,
    )
    .await;
    let id = who(&f.auth, &reader).await.unwrap();
    f.auth
        .authorize(&id, Action::Read, &f.a, Some("img"))
        .unwrap();
    let no_push = f
        .auth
        .authorize(&id, Action::Add, &f.a, Some("img"))
        .unwrap_err();
    assert!(
        no_push
            .reason
            .contains("the API token pull-a does not grant add on repository repo-a"),
        "{}",
        no_push.reason
    );
    assert!(
        f.auth
            .authorize(&id, Action::Read, &f.b, Some("img"))
            .is_err(),
        "only repo-a"
    );
    assert!(
        f.auth.authorize_rights(&id, Action::Browse, &f.b).is_err(),
        "b is hidden"
    );

    // Never wider than the user: a token for everything still cannot push to repo-b.
    let wide = make(&f, "pusher", "all", None, None, None).await;
    let id = who(&f.auth, &wide).await.unwrap();
    f.auth
        .authorize(&id, Action::Add, &f.a, Some("img"))
        .unwrap();
    assert!(
        f.auth
            .authorize(&id, Action::Add, &f.b, Some("img"))
            .is_err()
    );
    // And a role taken away counts at the next use.
    f.auth
        .set_user_roles("pusher", &["readers".into()])
        .await
        .unwrap();
    let id = who(&f.auth, &wide).await.unwrap();
    assert!(
        f.auth
            .authorize(&id, Action::Add, &f.a, Some("img"))
            .is_err()
    );

    // Administrators: only an unnarrowed token is one.
    let open = make(&f, "boss", "all", None, None, None).await;
    let narrow = make(&f, "boss", "read", None, Some(&["read"]), None).await;
    assert!(f.auth.is_admin(&who(&f.auth, &open).await.unwrap()));
    assert!(f.auth.may(&who(&f.auth, &open).await.unwrap(), "metrics"));
    let narrow = who(&f.auth, &narrow).await.unwrap();
    assert!(!f.auth.is_admin(&narrow));
    assert!(!f.auth.may(&narrow, "metrics"));
    assert!(
        f.auth
            .authorize(&narrow, Action::Delete, &f.a, None)
            .is_err()
    );
    f.auth.authorize(&narrow, Action::Read, &f.b, None).unwrap();
}

#[tokio::test]
async fn bearer_tokens_minted_from_an_api_token_keep_its_narrowing_and_die_with_it() {
    let f = fixture().await;
    let reader = make(
        &f,
        "pusher",
        "pull-a",
        Some(&["repo-a"]),
        Some(&["browse", "read"]),
        None,
    )
    .await;
    let id = who(&f.auth, &basic("pusher", &reader)).await.unwrap();
    let requested = [
        RequestedAccess {
            repo: &f.a,
            name: "img".into(),
            actions: scope(&["pull", "push"]),
        },
        RequestedAccess {
            repo: &f.b,
            name: "img".into(),
            actions: scope(&["pull"]),
        },
    ];
    let jwt = f.auth.tokens.issue_for(&id, &requested).unwrap();
    let claims = f.auth.tokens.verify(&jwt.token, "trove").unwrap();
    assert_eq!(
        claims.access.len(),
        1,
        "repo-b is outside the token: {:?}",
        claims.access
    );
    assert_eq!(
        claims.access[0].actions,
        ["pull"],
        "push is outside the token"
    );
    assert_eq!(
        claims.tid.as_deref(),
        Some(id.api_token.as_ref().unwrap().id.as_str())
    );

    let bearer = format!("Bearer {}", jwt.token);
    let via = who(&f.auth, &bearer).await.unwrap();
    assert_eq!(via.api_token.as_ref().unwrap().name, "pull-a");
    assert_eq!(via.realm(), Some("user-token"));
    f.auth
        .authorize(&via, Action::Read, &f.a, Some("img"))
        .unwrap();

    // The same user's password mints a token with push: the narrowing was the token's.
    let pw = who(&f.auth, &basic("pusher", "pusher-pw")).await.unwrap();
    let wide = f.auth.tokens.issue_for(&pw, &requested).unwrap();
    let wide = f.auth.tokens.verify(&wide.token, "trove").unwrap();
    assert_eq!(wide.access[0].actions, ["pull", "push"]);
    assert!(wide.tid.is_none());

    f.meta
        .api_tokens()
        .delete("pusher", "pull-a")
        .await
        .unwrap();
    let e = who(&f.auth, &bearer).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid token: the API token it was issued for was revoked"
    );
}

/// Two nodes on one database: a token revoked on one is refused by the other's next request
/// (every use reads the row; nothing is cached).
#[tokio::test]
async fn a_revocation_on_one_node_counts_on_the_other_at_its_next_use() {
    let f = fixture().await;
    let url = format!("sqlite://{}", f.dir.path().join("t.db").display());
    let other_meta = MetadataStore::open(&url).await.unwrap();
    let other = Auth::init(other_meta, AuthSettings::default())
        .await
        .unwrap();
    let token = make(&f, "pusher", "ci", None, None, None).await;
    for _ in 0..3 {
        who(&other, &format!("Bearer {token}")).await.unwrap();
    }
    f.meta.api_tokens().delete("pusher", "ci").await.unwrap();
    assert!(who(&other, &format!("Bearer {token}")).await.is_err());
    assert!(who(&f.auth, &format!("Bearer {token}")).await.is_err());
}

#[test]
fn base64_of_a_token_login_is_what_docker_sends() {
    // docker login stores base64("user:password") and sends it as Basic: the same bytes.
    let h = basic("u", "p");
    assert_eq!(
        h,
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("u:p")
        )
    );
}
