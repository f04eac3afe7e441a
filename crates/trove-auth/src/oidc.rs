//! OIDC sign-in for the console: the authorization code flow with PKCE (RFC 7636, S256)
//! against one issuer found through its discovery document (OpenID Connect Discovery 1.0),
//! hand-rolled over reqwest and jsonwebtoken (decision record 0017).
//!
//! [`OidcClient::begin`] makes a flow's secrets (`state`, `nonce`, PKCE verifier, 32 random
//! bytes each) and the authorization URL; the console keeps the secrets server-side under the
//! state's hash and the state in a cookie. [`OidcClient::finish`] redeems the code with the
//! verifier and checks the ID token: signature with the issuer's JWKS key named by `kid`, the
//! algorithm pinned to that key (its `alg`, or the family of its type; never `none`, never an
//! HMAC with the client secret), `iss` equal to the discovered issuer (itself equal to the
//! configured one), `aud` containing the client id (and `azp` equal to it when there are
//! several), `exp` (60 s leeway), and `nonce` equal to the flow's. What it returns (a user
//! name and groups) is then signed in like an LDAP user (`crate::external`).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use trove_core::{Error, ErrorKind, Result};

/// `[oidc]` in trove.toml; stored as JSON in the security settings (`oidc`).
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer URL; `<issuer>/.well-known/openid-configuration` is its discovery document.
    /// https, or http on a loopback address (tests).
    pub issuer: String,
    pub client_id: String,
    /// The file holding the client secret (confidential clients); without it Trove is a public
    /// client and PKCE alone protects the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    /// The claim whose values (an array of strings, or one string) are the user's groups,
    /// matched against roles' `external_groups`.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// The claim that names the Trove user.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// Scopes asked for (`openid` is always sent).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The label of the sign-in button.
    #[serde(default = "default_label")]
    pub label: String,
}

fn default_groups_claim() -> String {
    "groups".into()
}
fn default_username_claim() -> String {
    "preferred_username".into()
}
fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "email".into()]
}
fn default_label() -> String {
    "Sign in with single sign-on".into()
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("groups_claim", &self.groups_claim)
            .finish_non_exhaustive()
    }
}

impl OidcConfig {
    /// Checks the settings; the message names the key.
    pub fn validate(&self) -> Result<()> {
        let url = url::Url::parse(&self.issuer)
            .map_err(|e| Error::invalid(format!("[oidc] issuer: not a URL: {e}")))?;
        let loopback = matches!(
            url.host(),
            Some(url::Host::Ipv4(a)) if a.is_loopback()
        ) || matches!(url.host(), Some(url::Host::Ipv6(a)) if a.is_loopback())
            || url.host_str() == Some("localhost");
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(Error::invalid(
                    "[oidc] issuer: use an https:// URL (http:// only on a loopback address)",
                ));
            }
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::invalid(
                "[oidc] issuer: an issuer URL has no query or fragment",
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err(Error::invalid("[oidc] client_id: required"));
        }
        if self.groups_claim.trim().is_empty() || self.username_claim.trim().is_empty() {
            return Err(Error::invalid(
                "[oidc] groups_claim and username_claim name claims",
            ));
        }
        Ok(())
    }
}

/// The secrets of one flow, kept by the console until the callback.
#[derive(Clone)]
pub struct FlowStart {
    /// Where to send the browser.
    pub authorization_url: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

/// Who signed in, as the ID token (or the userinfo endpoint, for groups) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcIdentity {
    pub subject: String,
    pub username: String,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
}

struct Known {
    discovery: Discovery,
    keys: JwkSet,
    fetched: Instant,
}

/// How long discovery and keys are reused; an unknown `kid` refetches the keys sooner.
const REFETCH_AFTER: Duration = Duration::from_secs(3600);
/// Clock difference allowed on `exp` / `iat` / `nbf`.
const LEEWAY_SECS: u64 = 60;

/// The OIDC client of one configuration.
pub struct OidcClient {
    config: OidcConfig,
    http: reqwest::Client,
    known: Mutex<Option<Known>>,
}

fn random_b64() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE S256 challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!("the identity provider could not be used ({what}): {e}"),
    )
}

fn refused(why: impl Into<String>) -> Error {
    Error::new(
        ErrorKind::Unauthenticated,
        format!("single sign-on refused: {}", why.into()),
    )
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct IdClaims {
    sub: String,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    aud: serde_json::Value,
    #[serde(default)]
    azp: Option<String>,
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

/// The string values of a claim: an array of strings, or one string.
fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    match v {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

impl OidcClient {
    pub fn new(config: OidcConfig) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::internal(format!("building the OIDC HTTP client: {e}")))?;
        Ok(OidcClient {
            config,
            http,
            known: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, what: &str, url: &str) -> Result<T> {
        let res = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| unavailable(what, e))?;
        if !res.status().is_success() {
            return Err(unavailable(
                what,
                format!("{url} answered {}", res.status()),
            ));
        }
        res.json().await.map_err(|e| unavailable(what, e))
    }

    /// Discovery and keys, fetched when missing, old, or (`refresh_keys`) when a `kid` was
    /// not found.
    async fn known(&self, refresh_keys: bool) -> Result<(Discovery, JwkSet)> {
        {
            let k = self.known.lock().expect("oidc lock");
            if let Some(k) = k.as_ref()
                && k.fetched.elapsed() < REFETCH_AFTER
                && !refresh_keys
            {
                return Ok((k.discovery.clone(), k.keys.clone()));
            }
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let discovery: Discovery = self.get_json("discovery document", &url).await?;
        // OpenID Connect Discovery §4.3: the issuer in the document is the one we asked.
        if discovery.issuer.trim_end_matches('/') != self.config.issuer.trim_end_matches('/') {
            return Err(unavailable(
                "discovery document",
                format!(
                    "it names issuer {:?}, not the configured {:?}",
                    discovery.issuer, self.config.issuer
                ),
            ));
        }
        let keys: JwkSet = self.get_json("JWKS", &discovery.jwks_uri).await?;
        *self.known.lock().expect("oidc lock") = Some(Known {
            discovery: discovery.clone(),
            keys: keys.clone(),
            fetched: Instant::now(),
        });
        Ok((discovery, keys))
    }

    /// Checks that the issuer answers: what the console shows next to the button.
    pub async fn check(&self) -> Result<String> {
        let (d, keys) = self.known(true).await?;
        Ok(format!(
            "issuer {} answers; {} signing key(s)",
            d.issuer,
            keys.keys.len()
        ))
    }

    /// Starts a flow: fresh `state`, `nonce` and PKCE verifier, and the URL to send the
    /// browser to. `redirect_uri` is the console's callback as the browser reaches it.
    pub async fn begin(&self, redirect_uri: &str) -> Result<FlowStart> {
        let (d, _) = self.known(false).await?;
        let (state, nonce, verifier) = (random_b64(), random_b64(), random_b64());
        let mut url = url::Url::parse(&d.authorization_endpoint)
            .map_err(|e| unavailable("authorization_endpoint", e))?;
        let mut scopes = vec!["openid".to_owned()];
        scopes.extend(
            self.config
                .scopes
                .iter()
                .filter(|s| *s != "openid")
                .cloned(),
        );
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(FlowStart {
            authorization_url: url.into(),
            state,
            nonce,
            verifier,
        })
    }

    async fn client_secret(&self) -> Result<Option<String>> {
        let Some(file) = &self.config.client_secret_file else {
            return Ok(None);
        };
        let s = tokio::fs::read_to_string(file).await.map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!(
                    "[oidc] client_secret_file {} cannot be read: {e}",
                    file.display()
                ),
            )
        })?;
        Ok(Some(s.trim_end_matches(['\r', '\n']).to_owned()))
    }

    /// Redeems `code` with the flow's verifier, checks the ID token against the flow's nonce,
    /// and returns who signed in.
    pub async fn finish(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<OidcIdentity> {
        let (d, _) = self.known(false).await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
            ("client_id", self.config.client_id.as_str()),
        ];
        let secret = self.client_secret().await?;
        let methods = &d.token_endpoint_auth_methods_supported;
        let post_secret = secret.is_some()
            && !methods.is_empty()
            && !methods.iter().any(|m| m == "client_secret_basic")
            && methods.iter().any(|m| m == "client_secret_post");
        if let (Some(s), true) = (&secret, post_secret) {
            form.push(("client_secret", s.as_str()));
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&form)
            .finish();
        let mut req = self
            .http
            .post(&d.token_endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body);
        if let (Some(s), false) = (&secret, post_secret) {
            // RFC 6749 §2.3.1: both form-urlencoded before Basic.
            let enc =
                |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            req = req.basic_auth(enc(&self.config.client_id), Some(enc(s)));
        }
        let res = req
            .send()
            .await
            .map_err(|e| unavailable("token endpoint", e))?;
        let status = res.status();
        let body: TokenResponse = res
            .json()
            .await
            .map_err(|e| unavailable("token endpoint", format!("{status}: {e}")))?;
        if let Some(err) = body.error {
            return Err(refused(format!(
                "the token endpoint answered {err}{}",
                body.error_description
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            )));
        }
        let id_token = body
            .id_token
            .ok_or_else(|| refused("the token endpoint sent no ID token"))?;
        let claims = self.verify_id_token(&id_token, nonce).await?;
        let mut groups = strings(claims.other.get(&self.config.groups_claim));
        if !claims.other.contains_key(&self.config.groups_claim)
            && let (Some(info), Some(token)) = (&d.userinfo_endpoint, &body.access_token)
        {
            groups = self.userinfo_groups(info, token, &claims.sub).await?;
        }
        let username = match claims.other.get(&self.config.username_claim) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            _ if self.config.username_claim == "sub" => claims.sub.clone(),
            _ => {
                return Err(refused(format!(
                    "the ID token has no {:?} claim to name the user by (set [oidc] \
                     username_claim, e.g. to \"email\" or \"sub\")",
                    self.config.username_claim
                )));
            }
        };
        Ok(OidcIdentity {
            subject: claims.sub,
            username,
            groups,
        })
    }

    async fn userinfo_groups(&self, url: &str, token: &str, sub: &str) -> Result<Vec<String>> {
        let res = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| unavailable("userinfo endpoint", e))?;
        if !res.status().is_success() {
            return Ok(Vec::new());
        }
        let info: serde_json::Map<String, serde_json::Value> = res
            .json()
            .await
            .map_err(|e| unavailable("userinfo endpoint", e))?;
        // OpenID Connect Core §5.3.2: the userinfo sub must be the ID token's.
        if info.get("sub").and_then(|v| v.as_str()) != Some(sub) {
            return Err(refused("the userinfo endpoint named another subject"));
        }
        Ok(strings(info.get(&self.config.groups_claim)))
    }

    /// The signature (key by `kid`, algorithm pinned to the key), `iss`, `aud`/`azp`, `exp`
    /// and `nonce`.
    async fn verify_id_token(&self, token: &str, nonce: &str) -> Result<IdClaims> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| refused(format!("the ID token is malformed: {e}")))?;
        let (d, mut keys) = self.known(false).await?;
        let find = |keys: &JwkSet| match &header.kid {
            Some(kid) => keys.find(kid).cloned(),
            None if keys.keys.len() == 1 => keys.keys.first().cloned(),
            None => None,
        };
        let jwk = match find(&keys) {
            Some(k) => k,
            None => {
                // Keys rotate: fetch them again once before refusing.
                keys = self.known(true).await?.1;
                find(&keys).ok_or_else(|| {
                    refused("the ID token is signed with a key the issuer does not publish")
                })?
            }
        };
        let alg = pinned_algorithm(&jwk, &d.id_token_signing_alg_values_supported)?;
        if header.alg != alg {
            return Err(refused(format!(
                "the ID token says {:?}, but its key is for {alg:?}",
                header.alg
            )));
        }
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|e| refused(format!("the issuer's key cannot be used: {e}")))?;
        let mut v = Validation::new(alg);
        v.leeway = LEEWAY_SECS;
        v.set_issuer(&[d.issuer.as_str()]);
        v.set_audience(&[self.config.client_id.as_str()]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<IdClaims>(token, &key, &v)
            .map_err(|e| refused(format!("the ID token does not verify: {e}")))?;
        let claims = data.claims;
        let audiences = strings(Some(&claims.aud));
        if audiences.len() > 1 && claims.azp.as_deref() != Some(self.config.client_id.as_str()) {
            return Err(refused(
                "the ID token has several audiences and another authorized party",
            ));
        }
        if claims.nonce.as_deref() != Some(nonce) {
            return Err(refused(
                "the ID token's nonce is not this sign-in's (a replayed token?)",
            ));
        }
        Ok(claims)
    }
}

/// The one algorithm a key may verify: its `alg` when it has one, else the family of its type
/// (RSA: RS256 unless the issuer announces another RS/PS algorithm; EC: by curve; OKP:
/// EdDSA). Symmetric keys are refused: an ID token MAC'd with the client secret is not
/// supported.
fn pinned_algorithm(jwk: &jsonwebtoken::jwk::Jwk, announced: &[String]) -> Result<Algorithm> {
    if let Some(a) = jwk.common.key_algorithm {
        if matches!(
            a,
            KeyAlgorithm::HS256 | KeyAlgorithm::HS384 | KeyAlgorithm::HS512
        ) {
            return Err(refused("HMAC-signed ID tokens are not supported"));
        }
        return Algorithm::try_from(a)
            .map_err(|_| refused(format!("the issuer's key is for {a}, which is unsupported")));
    }
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => {
            let rsa = [
                ("RS256", Algorithm::RS256),
                ("RS384", Algorithm::RS384),
                ("RS512", Algorithm::RS512),
                ("PS256", Algorithm::PS256),
                ("PS384", Algorithm::PS384),
                ("PS512", Algorithm::PS512),
            ];
            let chosen: Vec<Algorithm> = rsa
                .iter()
                .filter(|(n, _)| announced.iter().any(|a| a == n))
                .map(|(_, a)| *a)
                .collect();
            match chosen.as_slice() {
                [] => Ok(Algorithm::RS256),
                [one] => Ok(*one),
                _ => Err(refused(
                    "the issuer's RSA key has no alg and several RSA algorithms are announced",
                )),
            }
        }
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => Ok(Algorithm::ES256),
            EllipticCurve::P384 => Ok(Algorithm::ES384),
            _ => Err(refused("the issuer's EC key uses an unsupported curve")),
        },
        AlgorithmParameters::OctetKeyPair(_) => Ok(Algorithm::EdDSA),
        _ => Err(refused("the issuer's key type is not supported")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn config_checks() {
        let c: OidcConfig =
            serde_json::from_str(r#"{"issuer":"https://id.example.com","client_id":"trove"}"#)
                .unwrap();
        c.validate().unwrap();
        assert_eq!(c.groups_claim, "groups");
        for (issuer, ok) in [
            ("http://127.0.0.1:9400", true),
            ("http://localhost:9400", true),
            ("http://id.example.com", false),
            ("https://id.example.com/realms/x?y=1", false),
        ] {
            let c = OidcConfig {
                issuer: issuer.into(),
                ..c.clone()
            };
            assert_eq!(c.validate().is_ok(), ok, "{issuer}");
        }
    }

    #[test]
    fn algorithms_are_pinned_to_the_key() {
        let rsa: jsonwebtoken::jwk::Jwk =
            serde_json::from_str(r#"{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"k"}"#).unwrap();
        assert_eq!(pinned_algorithm(&rsa, &[]).unwrap(), Algorithm::RS256);
        assert_eq!(
            pinned_algorithm(&rsa, &["PS256".into()]).unwrap(),
            Algorithm::PS256
        );
        let with_alg: jsonwebtoken::jwk::Jwk =
            serde_json::from_str(r#"{"kty":"RSA","n":"AQAB","e":"AQAB","alg":"RS384"}"#).unwrap();
        assert_eq!(pinned_algorithm(&with_alg, &[]).unwrap(), Algorithm::RS384);
        let hmac: jsonwebtoken::jwk::Jwk =
            serde_json::from_str(r#"{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}"#).unwrap();
        assert!(pinned_algorithm(&hmac, &[]).is_err());
        let oct: jsonwebtoken::jwk::Jwk =
            serde_json::from_str(r#"{"kty":"oct","k":"c2VjcmV0"}"#).unwrap();
        assert!(pinned_algorithm(&oct, &[]).is_err());
    }
}
