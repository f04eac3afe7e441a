//! Bearer tokens scoped to resources: JWTs whose access claims are the intersection of what the
//! client asked for and what the caller may do, in the shape of the docker token spec
//! (<https://distribution.github.io/distribution/spec/auth/token/>) but in no format's
//! vocabulary: a format names its scope actions ([`ScopeAction`]: docker's `pull`, `push`,
//! `delete`) and says which Trove actions each covers and requires; this module only grants and
//! checks them.
//!
//! HS256 with a key kept in the database, so every node verifies every node's tokens. Access
//! entries name the Trove repository **id** as well as the resource (an image), so a token
//! minted for one repository (or connector) is worthless on another.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use trove_core::{Error, RepositoryConfig, Result};
use trove_store::MetadataStore;

use crate::authn::{AuthError, Identity};
use crate::model::{Action, ActionSet, Principal};
use crate::policy::Authorizer;

/// The `iss` of every token Trove mints.
pub const ISSUER: &str = "trove";
/// The `signing_keys.purpose` of the token key.
pub const SIGNING_KEY_PURPOSE: &str = "docker-token";
/// Default token lifetime (the docker spec suggests short-lived tokens; clients refresh).
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Clock skew tolerated between nodes when checking `exp` and `nbf`.
const LEEWAY_SECS: u64 = 5;

/// An action of a token scope as a format names it (docker's `pull`), with the Trove actions a
/// token holding it may be used for and those the caller must hold for it to be granted. Each
/// format keeps one table of these, which its challenges, token grants and refusals all use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeAction {
    pub name: &'static str,
    pub covers: ActionSet,
    pub requires: ActionSet,
}

/// What a client asked for on one repository (docker: `scope=repository:<image>:<actions>`),
/// with the repository already resolved and the actions looked up by the front-end.
#[derive(Debug, Clone)]
pub struct RequestedAccess<'a> {
    pub repo: &'a RepositoryConfig,
    /// The resource inside the repository (an image name, `library/nginx`).
    pub name: String,
    /// The scope actions asked for; each is granted only if the caller holds what it requires.
    pub actions: Vec<ScopeAction>,
}

/// One granted access entry, as in the docker token spec, plus the Trove repository id and the
/// Trove actions the entry covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaim {
    /// Always `repository` for now.
    #[serde(rename = "type")]
    pub kind: String,
    /// The resource name (an image).
    pub name: String,
    /// Granted scope actions, as the format names them (`pull`, `push`, `delete`).
    pub actions: Vec<String>,
    /// The Trove repository id the grant is bound to.
    pub repository_id: String,
    /// The Trove actions the granted scope actions cover (`browse,read`): what
    /// [`Claims::allows`] checks. A token without it allows nothing.
    #[serde(default)]
    pub grants: String,
}

/// The claims of a Trove token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The user name (`anonymous` for anonymous tokens).
    pub sub: String,
    /// The service (`service=` of the challenge).
    pub aud: String,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: String,
    /// The user id; absent for anonymous tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default)]
    pub access: Vec<AccessClaim>,
    /// The API token this token was minted from (its selector): it must still be valid at
    /// every use, and its narrowing applies (see `Authenticator::identify`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
}

impl Claims {
    /// Who the token was minted for.
    pub fn principal(&self) -> Principal {
        match &self.uid {
            Some(id) => Principal::User {
                id: id.clone(),
                name: self.sub.clone(),
            },
            None => Principal::Anonymous,
        }
    }

    /// See [`allows`].
    pub fn allows(&self, repo_id: &str, name: &str, action: Action) -> bool {
        allows(self, repo_id, name, action)
    }
}

/// Whether the token's scope covers Trove `action` on resource `name` in the repository with
/// id `repo_id`. This is the scope check only: pair it with `Authorizer::check` for the
/// principal's current rights (as `Auth::authorize` does), so a role taken away counts at once
/// rather than when the token expires.
pub fn allows(claims: &Claims, repo_id: &str, name: &str, action: Action) -> bool {
    claims.access.iter().any(|a| {
        a.kind == "repository"
            && a.repository_id == repo_id
            && a.name == name
            && ActionSet::parse_list(&a.grants).is_ok_and(|g| g.contains(action))
    })
}

/// A minted token, in the shape `/v2/token` answers with (`token` and `access_token` both carry
/// `token`).
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub token: String,
    /// Seconds.
    pub expires_in: u64,
    /// RFC 3339.
    pub issued_at: String,
}

/// Never prints the token itself.
impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

struct Inner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    service: String,
    /// Seconds; changed by a reload (`[security] token_ttl`).
    ttl: std::sync::atomic::AtomicU64,
    authorizer: Authorizer,
}

/// Mints and verifies bearer tokens. The key is read from the database once, at construction.
#[derive(Clone)]
pub struct TokenService {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenService")
            .field("service", &self.inner.service)
            .field("ttl", &self.ttl())
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl TokenService {
    /// Loads the signing key from the database, creating it if no node has yet.
    pub(crate) async fn load(
        meta: &MetadataStore,
        service: &str,
        ttl: Duration,
        authorizer: Authorizer,
    ) -> Result<TokenService> {
        let mut candidate = [0u8; 64];
        rand::rng().fill_bytes(&mut candidate);
        let key = meta
            .security()
            .signing_key(SIGNING_KEY_PURPOSE, &candidate)
            .await?;
        Ok(TokenService::with_key(&key, service, ttl, authorizer))
    }

    /// A service over an explicit HS256 key (tests, tools).
    pub fn with_key(key: &[u8], service: &str, ttl: Duration, authorizer: Authorizer) -> Self {
        TokenService {
            inner: Arc::new(Inner {
                encoding: EncodingKey::from_secret(key),
                decoding: DecodingKey::from_secret(key),
                service: service.to_owned(),
                ttl: std::sync::atomic::AtomicU64::new(ttl.as_secs()),
                authorizer,
            }),
        }
    }

    /// How long the tokens minted from now on live.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.inner.ttl.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Changes the lifetime of tokens minted from now on (a reload of `[security]
    /// token_ttl`); tokens already out keep theirs.
    pub fn set_ttl(&self, ttl: Duration) {
        self.inner
            .ttl
            .store(ttl.as_secs(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The audience tokens are minted for (`service=` in challenges).
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// Mints a token for `principal` granting, per requested repository and resource, the
    /// requested scope actions whose required Trove actions the principal holds there (the
    /// intersection the docker token spec asks for). Entries left with no action are dropped; a
    /// token with no access at all is still valid (it only proves who the caller is).
    pub fn issue(&self, principal: &Principal, requested: &[RequestedAccess<'_>]) -> Result<Token> {
        self.issue_for(&Identity::of(principal.clone()), requested)
    }

    /// [`Self::issue`] for a caller who may have come with an API token: what it grants is
    /// narrowed by the API token too, and the token names it (`tid`), so revoking the API
    /// token stops this one at its next use.
    pub fn issue_for(
        &self,
        identity: &Identity,
        requested: &[RequestedAccess<'_>],
    ) -> Result<Token> {
        let principal = &identity.principal;
        let mut access: Vec<(AccessClaim, ActionSet)> = Vec::new();
        for r in requested {
            let allowed = self.inner.authorizer.allowed_actions(principal, r.repo);
            let allowed = match &identity.api_token {
                Some(g) => g.narrow(r.repo.name.as_str(), allowed),
                None => allowed,
            };
            let granted: Vec<&ScopeAction> = r
                .actions
                .iter()
                .filter(|a| allowed.contains_all(a.requires))
                .collect();
            if granted.is_empty() {
                continue;
            }
            let i = match access
                .iter()
                .position(|(a, _)| a.repository_id == r.repo.id && a.name == r.name)
            {
                Some(i) => i,
                None => {
                    access.push((
                        AccessClaim {
                            kind: "repository".into(),
                            name: r.name.clone(),
                            actions: Vec::new(),
                            repository_id: r.repo.id.clone(),
                            grants: String::new(),
                        },
                        ActionSet::default(),
                    ));
                    access.len() - 1
                }
            };
            let (entry, covers) = &mut access[i];
            for g in granted {
                if !entry.actions.iter().any(|a| a == g.name) {
                    entry.actions.push(g.name.to_owned());
                }
                *covers = covers.union(g.covers);
            }
        }
        let access: Vec<AccessClaim> = access
            .into_iter()
            .map(|(mut a, covers)| {
                a.grants = covers.to_list_string();
                a
            })
            .collect();
        let now = now_secs();
        let mut jti = [0u8; 16];
        rand::rng().fill_bytes(&mut jti);
        let claims = Claims {
            iss: ISSUER.into(),
            sub: principal.name().to_owned(),
            aud: self.inner.service.clone(),
            exp: now + self.ttl().as_secs(),
            nbf: now,
            iat: now,
            jti: hex::encode(jti),
            uid: match principal {
                Principal::Anonymous => None,
                Principal::User { id, .. } => Some(id.clone()),
            },
            access,
            tid: identity.api_token.as_ref().map(|g| g.id.clone()),
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.inner.encoding,
        )
        .map_err(|e| Error::internal(format!("signing a token: {e}")))?;
        Ok(Token {
            token,
            expires_in: self.ttl().as_secs(),
            issued_at: rfc3339(now),
        })
    }

    /// Verifies signature (HS256 only: `none`, other HMAC sizes and public-key algorithms are
    /// refused), `exp`, `nbf`, `iss` = `trove` and `aud` = `audience`.
    pub fn verify(&self, token: &str, audience: &str) -> Result<Claims, AuthError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.algorithms = vec![Algorithm::HS256];
        v.set_audience(&[audience]);
        v.set_issuer(&[ISSUER]);
        v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        v.validate_exp = true;
        v.validate_nbf = true;
        v.validate_aud = true;
        v.leeway = LEEWAY_SECS;
        jsonwebtoken::decode::<Claims>(token, &self.inner.decoding, &v)
            .map(|d| d.claims)
            .map_err(|e| {
                AuthError::InvalidToken(match e.kind() {
                    JwtErrorKind::ExpiredSignature => return AuthError::TokenExpired,
                    JwtErrorKind::InvalidSignature => "bad signature",
                    JwtErrorKind::InvalidAlgorithm | JwtErrorKind::InvalidAlgorithmName => {
                        "algorithm not allowed"
                    }
                    JwtErrorKind::InvalidAudience => "issued for another service",
                    JwtErrorKind::InvalidIssuer => "wrong issuer",
                    JwtErrorKind::ImmatureSignature => "not valid yet",
                    JwtErrorKind::MissingRequiredClaim(_) => "missing claim",
                    _ => "malformed",
                })
            })
    }
}

/// `2026-11-22T10:00:00Z` from Unix seconds.
fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
