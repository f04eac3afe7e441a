//! OIDC sign-in in process, against a small fake issuer on a loopback port (discovery, JWKS and
//! a token endpoint handing out the ID token each case sets): the happy path, then every check
//! of the ID token failing on its own (nonce, audience, issuer, expiry, algorithm, key), the
//! discovery document naming another issuer, and a `state` used twice. The real provider runs
//! in trove-tests' `sso_browser`.

use crate::common;

use std::sync::{Arc, Mutex};

use common::*;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trove_auth::oidc::{OidcClient, OidcConfig, pkce_challenge};
use trove_auth::{Principal, SecurityDecl};
use trove_core::ErrorKind;

/// The test key (2048-bit RSA, PKCS#1 DER), made for these tests only, and its public half as
/// a JWK (`kid` k1, `alg` RS256).
const KEY_DER: &[u8] = include_bytes!("fixtures/oidc-test-rsa.der");
const JWK: &str = include_str!("fixtures/oidc-test-jwk.json");
const CLIENT: &str = "trove-console";
const REDIRECT: &str = "http://127.0.0.1:1/admin/login/sso/callback";

#[derive(Default)]
struct State {
    /// What the token endpoint answers.
    id_token: String,
    /// The issuer the discovery document names (default: the server's own URL).
    discovery_issuer: Option<String>,
    /// The last token request's body.
    token_request: String,
}

struct FakeIssuer {
    url: String,
    state: Arc<Mutex<State>>,
}

fn key() -> EncodingKey {
    EncodingKey::from_rsa_der(KEY_DER)
}

fn jwks() -> JwkSet {
    let jwk: Jwk = serde_json::from_str(JWK).unwrap();
    JwkSet { keys: vec![jwk] }
}

async fn serve(mut sock: tokio::net::TcpStream, url: String, state: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, mut body) = loop {
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break (
                String::from_utf8_lossy(&buf[..i]).into_owned(),
                buf[i + 4..].to_vec(),
            );
        }
    };
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    while body.len() < length {
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let json = match path.as_str() {
        "/.well-known/openid-configuration" => {
            let issuer = state.lock().unwrap().discovery_issuer.clone();
            serde_json::json!({
                "issuer": issuer.unwrap_or_else(|| url.clone()),
                "authorization_endpoint": format!("{url}/authorize"),
                "token_endpoint": format!("{url}/token"),
                "jwks_uri": format!("{url}/jwks"),
                "id_token_signing_alg_values_supported": ["RS256"],
            })
        }
        "/jwks" => serde_json::to_value(jwks()).unwrap(),
        "/token" => {
            let mut s = state.lock().unwrap();
            s.token_request = String::from_utf8_lossy(&body).into_owned();
            serde_json::json!({"id_token": s.id_token, "access_token": "at", "token_type": "Bearer"})
        }
        _ => serde_json::json!({"error": "not_found"}),
    };
    let body = json.to_string();
    let res = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = sock.write_all(res.as_bytes()).await;
}

impl FakeIssuer {
    async fn start() -> FakeIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state: Arc<Mutex<State>> = Default::default();
        let (u, s) = (url.clone(), state.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, u.clone(), s.clone()));
            }
        });
        FakeIssuer { url, state }
    }

    fn config(&self) -> OidcConfig {
        serde_json::from_value(serde_json::json!({
            "issuer": self.url, "client_id": CLIENT, "groups_claim": "groups",
        }))
        .unwrap()
    }

    fn set_token(&self, token: String) {
        self.state.lock().unwrap().id_token = token;
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Good claims for `issuer` and `nonce`; cases change one thing.
fn claims(issuer: &str, nonce: &str) -> serde_json::Value {
    serde_json::json!({
        "iss": issuer, "aud": CLIENT, "sub": "u-1", "exp": now() + 300, "iat": now(),
        "nonce": nonce, "preferred_username": "olga", "groups": ["Trove-Admins", "staff"],
    })
}

fn sign(claims: &serde_json::Value, alg: Algorithm, kid: Option<&str>) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key()).unwrap()
}

fn query(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_flow_and_every_id_token_check() {
    let issuer = FakeIssuer::start().await;
    let client = OidcClient::new(issuer.config()).unwrap();
    let flow = client.begin(REDIRECT).await.unwrap();
    // The authorization request: code flow, PKCE S256 over the verifier, state and nonce.
    let url = &flow.authorization_url;
    assert!(
        url.starts_with(&format!("{}/authorize?", issuer.url)),
        "{url}"
    );
    assert_eq!(query(url, "response_type"), "code");
    assert_eq!(query(url, "client_id"), CLIENT);
    assert_eq!(query(url, "redirect_uri"), REDIRECT);
    assert_eq!(query(url, "state"), flow.state);
    assert_eq!(query(url, "nonce"), flow.nonce);
    assert_eq!(query(url, "code_challenge_method"), "S256");
    assert_eq!(query(url, "code_challenge"), pkce_challenge(&flow.verifier));
    assert!(query(url, "scope").split(' ').any(|s| s == "openid"));
    assert_eq!(flow.verifier.len(), 43);
    assert_ne!(flow.state, flow.nonce);

    // Happy path: the code is redeemed with the verifier; name and groups come out.
    let good = claims(&issuer.url, &flow.nonce);
    issuer.set_token(sign(&good, Algorithm::RS256, Some("k1")));
    let who = client
        .finish("the-code", REDIRECT, &flow.verifier, &flow.nonce)
        .await
        .unwrap();
    assert_eq!(who.username, "olga");
    assert_eq!(who.groups, ["Trove-Admins", "staff"]);
    let sent = issuer.state.lock().unwrap().token_request.clone();
    assert!(sent.contains("grant_type=authorization_code"), "{sent}");
    assert!(
        sent.contains(&format!("code_verifier={}", flow.verifier)),
        "{sent}"
    );
    assert!(sent.contains("code=the-code"), "{sent}");

    // Each check on its own.
    let mut cases: Vec<(&str, String, &str)> = Vec::new();
    let with = |k: &str, v: serde_json::Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    cases.push((
        "nonce",
        sign(&with("nonce", "other".into()), Algorithm::RS256, Some("k1")),
        "nonce",
    ));
    let mut no_nonce = good.clone();
    no_nonce.as_object_mut().unwrap().remove("nonce");
    cases.push((
        "no nonce",
        sign(&no_nonce, Algorithm::RS256, Some("k1")),
        "nonce",
    ));
    cases.push((
        "audience",
        sign(
            &with("aud", "someone-else".into()),
            Algorithm::RS256,
            Some("k1"),
        ),
        "does not verify",
    ));
    cases.push((
        "azp",
        sign(
            &with("aud", serde_json::json!([CLIENT, "other"])),
            Algorithm::RS256,
            Some("k1"),
        ),
        "authorized party",
    ));
    cases.push((
        "issuer",
        sign(
            &with("iss", "http://evil.example".into()),
            Algorithm::RS256,
            Some("k1"),
        ),
        "does not verify",
    ));
    cases.push((
        "expired",
        sign(
            &with("exp", (now() - 3600).into()),
            Algorithm::RS256,
            Some("k1"),
        ),
        "does not verify",
    ));
    // The key is RS256's: a token claiming RS384 (same key) is refused before verifying.
    cases.push((
        "algorithm",
        sign(&good, Algorithm::RS384, Some("k1")),
        "its key is for",
    ));
    // HS256 "signed" with anything: refused, the key is RSA.
    let hs = jsonwebtoken::encode(
        &Header {
            kid: Some("k1".into()),
            ..Header::new(Algorithm::HS256)
        },
        &good,
        &EncodingKey::from_secret(b"client-secret"),
    )
    .unwrap();
    cases.push(("hmac", hs, "its key is for"));
    cases.push((
        "unknown kid",
        sign(&good, Algorithm::RS256, Some("k2")),
        "does not publish",
    ));
    // alg none: not even a JWT jsonwebtoken will parse.
    let none = format!(
        "{}.{}.",
        base64url(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#),
        base64url(good.to_string().as_bytes())
    );
    cases.push(("alg none", none, "malformed"));
    // A valid signature over a token whose payload was changed afterwards.
    let t = sign(&good, Algorithm::RS256, Some("k1"));
    let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
    parts[1] = base64url(
        with("groups", serde_json::json!(["root"]))
            .to_string()
            .as_bytes(),
    );
    cases.push(("tampered", parts.join("."), "does not verify"));
    for (name, token, needle) in cases {
        issuer.set_token(token);
        let e = client
            .finish("c", REDIRECT, &flow.verifier, &flow.nonce)
            .await
            .expect_err(name);
        assert_eq!(e.kind, ErrorKind::Unauthenticated, "{name}: {}", e.msg);
        assert!(e.msg.contains(needle), "{name}: {}", e.msg);
    }

    // A discovery document naming another issuer is not used at all.
    issuer.state.lock().unwrap().discovery_issuer = Some("http://127.0.0.1:9".into());
    let fresh = OidcClient::new(issuer.config()).unwrap();
    let e = fresh.begin(REDIRECT).await.err().expect("refused");
    assert_eq!(e.kind, ErrorKind::Unavailable, "{}", e.msg);
    assert!(e.msg.contains("not the configured"), "{}", e.msg);
}

fn base64url(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[tokio::test]
async fn sign_in_maps_groups_to_roles_and_a_state_works_once() {
    let issuer = FakeIssuer::start().await;
    let (_d, _meta, auth) = auth().await;
    let mut admins = role("sso-admins", vec![], &["admin"]);
    admins.external_groups = vec!["trove-admins".into()];
    auth.apply_config(&SecurityDecl {
        roles: vec![admins],
        users: vec![user("local", Some("local-pw"), &[])],
        oidc: Some(issuer.config()),
        ..Default::default()
    })
    .await
    .unwrap();

    let (url, state) = auth.oidc_begin(REDIRECT, "/admin/users").await.unwrap();
    let nonce = query(&url, "nonce");
    issuer.set_token(sign(
        &claims(&issuer.url, &nonce),
        Algorithm::RS256,
        Some("k1"),
    ));
    let (p, next) = auth.oidc_finish(&state, "code", REDIRECT).await.unwrap();
    assert_eq!(next, "/admin/users");
    assert!(matches!(&p, Principal::User { name, .. } if name == "olga"));
    assert!(
        auth.authorizer.is_admin(&p),
        "trove-admins → sso-admins → admin"
    );
    // The state is spent; an unknown one is refused too.
    for s in [state.as_str(), "never-issued"] {
        let e = auth.oidc_finish(s, "code", REDIRECT).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
        assert!(e.msg.contains("unknown, used or expired"), "{}", e.msg);
    }

    // A provider user named like a local user never signs in as them.
    let (url, state) = auth.oidc_begin(REDIRECT, "").await.unwrap();
    let mut c = claims(&issuer.url, &query(&url, "nonce"));
    c["preferred_username"] = "local".into();
    issuer.set_token(sign(&c, Algorithm::RS256, Some("k1")));
    let e = auth
        .oidc_finish(&state, "code", REDIRECT)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unauthenticated, "{}", e.msg);

    // Groups that map to nothing: refused, saying why.
    let (url, state) = auth.oidc_begin(REDIRECT, "").await.unwrap();
    let mut c = claims(&issuer.url, &query(&url, "nonce"));
    c["preferred_username"] = "pete".into();
    c["groups"] = serde_json::json!(["staff"]);
    issuer.set_token(sign(&c, Algorithm::RS256, Some("k1")));
    let e = auth
        .oidc_finish(&state, "code", REDIRECT)
        .await
        .unwrap_err();
    assert!(e.msg.contains("none of your groups"), "{}", e.msg);
}
