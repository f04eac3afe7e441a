//! Bearer tokens: what is accepted and everything that must be refused.

use crate::common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use trove_auth::{
    Action, Auth, AuthError, Identity, SIGNING_KEY_PURPOSE, SecurityDecl, TokenService, UserStatus,
};
use trove_core::{ErrorKind, RepositoryConfig};
use trove_store::MetadataStore;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

struct Fixture {
    _dir: tempfile::TempDir,
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
        ],
        users: vec![
            user("reader", Some("reader-pw"), &["readers"]),
            user("pusher", Some("pusher-pw"), &["pushers"]),
        ],
        ..Default::default()
    })
    .await
    .unwrap();
    Fixture {
        _dir: dir,
        meta,
        auth,
        a: repo("id-a", "repo-a", "docker"),
        b: repo("id-b", "repo-b", "docker"),
    }
}

async fn login(auth: &Auth, user: &str, pw: &str) -> trove_auth::Principal {
    auth.authenticator
        .authenticate(Some(&basic(user, pw)))
        .await
        .unwrap()
}

/// Claims as Trove writes them, for hand-made tokens.
fn claims_json(iss: &str, aud: &str, exp: u64, uid: &str) -> serde_json::Value {
    json!({
        "iss": iss, "sub": "pusher", "aud": aud, "exp": exp, "nbf": now() - 10, "iat": now() - 10,
        "jti": "x", "uid": uid,
        "access": [{"type": "repository", "name": "img", "actions": ["pull", "push"], "repository_id": "id-a",
                    "grants": "browse,read,add,edit"}]
    })
}

async fn db_key(meta: &MetadataStore) -> Vec<u8> {
    meta.security()
        .signing_key(SIGNING_KEY_PURPOSE, &[0; 64])
        .await
        .unwrap()
}

fn refused(r: Result<impl std::fmt::Debug, AuthError>, needle: &str) {
    let e = r.expect_err("must be refused");
    assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
    assert!(e.to_string().contains(needle), "{e} should say {needle}");
}

#[tokio::test]
async fn valid_token_is_accepted_and_bound_to_its_repository() {
    let f = fixture().await;
    let pusher = login(&f.auth, "pusher", "pusher-pw").await;
    let token = f
        .auth
        .tokens
        .issue(&pusher, &[ask(&f.a, "img", &["pull", "push"])])
        .unwrap();
    assert_eq!(token.expires_in, 300);
    assert!(token.issued_at.ends_with('Z'));
    assert!(
        !format!("{token:?}").contains(&token.token),
        "Debug redacts the token"
    );

    let claims = f.auth.tokens.verify(&token.token, "trove").unwrap();
    assert_eq!(
        (claims.iss.as_str(), claims.aud.as_str()),
        ("trove", "trove")
    );
    assert_eq!(claims.access[0].actions, ["pull", "push"]);
    assert_eq!(claims.access[0].repository_id, "id-a");
    assert!(claims.allows("id-a", "img", Action::Add));
    assert!(claims.allows("id-a", "img", Action::Edit));
    assert!(claims.allows("id-a", "img", Action::Read));
    assert!(!claims.allows("id-a", "img", Action::Delete));
    assert_eq!(claims.access[0].grants, "browse,read,add,edit");
    assert!(
        !claims.allows("id-a", "other-image", Action::Read),
        "image-bound"
    );

    let id = f
        .auth
        .authenticator
        .identify(Some(&format!("Bearer {}", token.token)))
        .await
        .unwrap();
    assert_eq!(id.principal, pusher);
    f.auth
        .authorize(&id, Action::Add, &f.a, Some("img"))
        .unwrap();
    f.auth
        .authorize(&id, Action::Read, &f.a, Some("img"))
        .unwrap();
    let denied = f
        .auth
        .authorize(&id, Action::Delete, &f.a, Some("img"))
        .unwrap_err();
    assert_eq!(denied.kind(), ErrorKind::Forbidden);

    // Repo A's token on repo B: refused although the user may read B with Basic.
    assert!(!claims.allows("id-b", "img", Action::Read));
    let denied = f
        .auth
        .authorize(&id, Action::Read, &f.b, Some("img"))
        .unwrap_err();
    assert!(
        denied
            .reason
            .contains("does not grant read on img in repository repo-b"),
        "{}",
        denied.reason
    );
    let basic_id = Identity::of(pusher.clone());
    f.auth
        .authorize(&basic_id, Action::Read, &f.b, Some("img"))
        .unwrap();

    // Disabling the user counts before the token expires.
    f.auth
        .set_user_status("pusher", UserStatus::Disabled)
        .await
        .unwrap();
    assert!(
        f.auth
            .authorize(&id, Action::Read, &f.a, Some("img"))
            .is_err()
    );
}

#[tokio::test]
async fn requested_scope_is_trimmed_to_privileges() {
    let f = fixture().await;
    let reader = login(&f.auth, "reader", "reader-pw").await;
    let pusher = login(&f.auth, "pusher", "pusher-pw").await;
    let t = f
        .auth
        .tokens
        .issue(
            &reader,
            &[
                ask(&f.a, "img", &["pull", "push", "delete"]),
                ask(&f.b, "img", &["push"]),
                ask(&f.a, "img2", &["admin", "*"]),
            ],
        )
        .unwrap();
    let c = f.auth.tokens.verify(&t.token, "trove").unwrap();
    assert_eq!(
        c.access.len(),
        2,
        "repo-b entry had nothing left: {:?}",
        c.access
    );
    assert_eq!(
        (c.access[0].name.as_str(), c.access[0].actions.clone()),
        ("img", vec!["pull".to_string()])
    );
    assert_eq!(
        (c.access[1].name.as_str(), c.access[1].actions.clone()),
        ("img2", vec!["pull".to_string()])
    );

    // `*` expands to what the caller holds: pusher has read+add+edit on A, no delete; only
    // read on B.
    let t = f
        .auth
        .tokens
        .issue(
            &pusher,
            &[ask(&f.a, "img", &["*"]), ask(&f.b, "img", &["*"])],
        )
        .unwrap();
    let c = f.auth.tokens.verify(&t.token, "trove").unwrap();
    assert_eq!(c.access[0].actions, ["pull", "push"]);
    assert_eq!(
        (
            c.access[1].repository_id.as_str(),
            c.access[1].actions.clone()
        ),
        ("id-b", vec!["pull".to_string()])
    );

    // Anonymous (when on, without any role) gets a token with no access at all.
    f.auth.set_anonymous_enabled(true, "test").await.unwrap();
    let anon = f.auth.authenticator.authenticate(None).await.unwrap();
    let t = f
        .auth
        .tokens
        .issue(&anon, &[ask(&f.a, "img", &["pull"])])
        .unwrap();
    let c = f.auth.tokens.verify(&t.token, "trove").unwrap();
    assert!(c.access.is_empty() && c.uid.is_none() && c.sub == "anonymous");
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let f = fixture().await;
    let pusher = login(&f.auth, "pusher", "pusher-pw").await;
    let trove_auth::Principal::User { id: uid, .. } = &pusher else {
        unreachable!()
    };
    let key = db_key(&f.meta).await;
    let sign = |alg: Algorithm, key: &[u8], claims: &serde_json::Value| {
        jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap()
    };
    let good = claims_json("trove", "trove", now() + 300, uid);
    // Our hand-made token is accepted, so each refusal below is down to the one change.
    f.auth
        .tokens
        .verify(&sign(Algorithm::HS256, &key, &good), "trove")
        .unwrap();

    // Expired (well past the leeway).
    let expired = claims_json("trove", "trove", now() - 120, uid);
    refused(
        f.auth
            .tokens
            .verify(&sign(Algorithm::HS256, &key, &expired), "trove"),
        "token expired",
    );
    // Wrong signature: another key.
    refused(
        f.auth
            .tokens
            .verify(&sign(Algorithm::HS256, &[7u8; 64], &good), "trove"),
        "bad signature",
    );
    // Tampered payload, original signature.
    let token = sign(Algorithm::HS256, &key, &good);
    let parts: Vec<&str> = token.split('.').collect();
    let mut more = good.clone();
    more["access"][0]["actions"] = json!(["pull", "push", "delete"]);
    more["access"][0]["grants"] = json!("browse,read,add,edit,delete");
    let tampered = format!("{}.{}.{}", parts[0], b64(&more), parts[2]);
    refused(f.auth.tokens.verify(&tampered, "trove"), "bad signature");
    // alg: none, hand-crafted, with and without a signature part.
    let none_header = b64(&json!({"alg": "none", "typ": "JWT"}));
    for t in [
        format!("{none_header}.{}.", b64(&good)),
        format!("{none_header}.{}.{}", b64(&good), parts[2]),
    ] {
        refused(f.auth.tokens.verify(&t, "trove"), "invalid token");
    }
    // Other algorithms, even with the right key.
    refused(
        f.auth
            .tokens
            .verify(&sign(Algorithm::HS512, &key, &good), "trove"),
        "algorithm not allowed",
    );
    refused(
        f.auth
            .tokens
            .verify(&sign(Algorithm::HS384, &key, &good), "trove"),
        "algorithm not allowed",
    );
    let rs256 = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "RS256", "typ": "JWT"})),
        b64(&good),
        parts[2]
    );
    refused(
        f.auth.tokens.verify(&rs256, "trove"),
        "algorithm not allowed",
    );
    // Wrong audience (service) and wrong issuer.
    let other_aud = claims_json("trove", "other-service", now() + 300, uid);
    refused(
        f.auth
            .tokens
            .verify(&sign(Algorithm::HS256, &key, &other_aud), "trove"),
        "another service",
    );
    refused(
        f.auth
            .tokens
            .verify(&sign(Algorithm::HS256, &key, &good), "other-service"),
        "another service",
    );
    let other_iss = claims_json("evil", "trove", now() + 300, uid);
    refused(
        f.auth
            .tokens
            .verify(&sign(Algorithm::HS256, &key, &other_iss), "trove"),
        "wrong issuer",
    );
    // A token minted by a service with another name, through the authenticator.
    let other = TokenService::with_key(
        &key,
        "registry.example",
        Duration::from_secs(300),
        f.auth.authorizer.clone(),
    );
    let t = other
        .issue(&pusher, &[ask(&f.a, "img", &["pull"])])
        .unwrap();
    refused(
        f.auth
            .authenticator
            .authenticate(Some(&format!("Bearer {}", t.token)))
            .await,
        "another service",
    );
    // Missing claims and garbage.
    let mut no_aud = good.clone();
    no_aud.as_object_mut().unwrap().remove("aud");
    refused(
        f.auth
            .tokens
            .verify(&sign(Algorithm::HS256, &key, &no_aud), "trove"),
        "invalid token",
    );
    for junk in ["", "a.b", "a.b.c", "....", "eyJ.eyJ.sig"] {
        refused(f.auth.tokens.verify(junk, "trove"), "invalid token");
    }
    refused(
        f.auth.authenticator.authenticate(Some("Bearer")).await,
        "malformed",
    );
    refused(
        f.auth.authenticator.authenticate(Some("Bearer ")).await,
        "malformed",
    );
}

#[tokio::test]
async fn realm_switches_and_anonymous_tokens() {
    let f = fixture().await;
    let pusher = login(&f.auth, "pusher", "pusher-pw").await;
    let t = f.auth.tokens.issue(&pusher, &[]).unwrap();
    let bearer = format!("Bearer {}", t.token);
    f.auth
        .set_realms(
            trove_auth::Realms {
                basic: true,
                docker_token: false,
                ..trove_auth::Realms::NONE
            },
            "test",
        )
        .await
        .unwrap();
    refused(
        f.auth.authenticator.authenticate(Some(&bearer)).await,
        "docker-token authentication is turned off",
    );
    f.auth
        .set_realms(trove_auth::Realms::default(), "test")
        .await
        .unwrap();
    f.auth
        .authenticator
        .authenticate(Some(&bearer))
        .await
        .unwrap();

    // An anonymous token stops working when anonymous access is switched off.
    f.auth.set_anonymous_enabled(true, "test").await.unwrap();
    let anon = f
        .auth
        .tokens
        .issue(&trove_auth::Principal::Anonymous, &[])
        .unwrap();
    let anon = format!("Bearer {}", anon.token);
    f.auth
        .authenticator
        .authenticate(Some(&anon))
        .await
        .unwrap();
    f.auth.set_anonymous_enabled(false, "test").await.unwrap();
    refused(
        f.auth.authenticator.authenticate(Some(&anon)).await,
        "authentication required",
    );
}

#[tokio::test]
async fn nodes_share_the_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let meta_a = MetadataStore::open(&url).await.unwrap();
    let meta_b = MetadataStore::open(&url).await.unwrap();
    let (a, b) = tokio::join!(
        Auth::init(meta_a, Default::default()),
        Auth::init(meta_b, Default::default())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let t = a
        .tokens
        .issue(&trove_auth::Principal::Anonymous, &[])
        .unwrap();
    b.tokens.verify(&t.token, "trove").unwrap();
}

/// A token stops working the moment its user is disabled, for every use (not only where a
/// repository privilege is checked), and works again once the user is enabled.
#[tokio::test]
async fn a_disabled_users_token_is_refused_at_once() {
    let f = fixture().await;
    let reader = login(&f.auth, "reader", "reader-pw").await;
    let token = f.auth.tokens.issue(&reader, &[]).unwrap();
    let bearer = format!("Bearer {}", token.token);
    assert_eq!(
        f.auth
            .authenticator
            .authenticate(Some(&bearer))
            .await
            .unwrap(),
        reader
    );
    f.auth
        .set_user_status("reader", UserStatus::Disabled)
        .await
        .unwrap();
    let e = f
        .auth
        .authenticator
        .authenticate(Some(&bearer))
        .await
        .unwrap_err();
    assert!(matches!(e, AuthError::Disabled), "{e}");
    f.auth
        .set_user_status("reader", UserStatus::Active)
        .await
        .unwrap();
    assert_eq!(
        f.auth
            .authenticator
            .authenticate(Some(&bearer))
            .await
            .unwrap(),
        reader
    );
}
