//! Authentication: an `Authorization` header string in, a [`Principal`] out.
//!
//! - `Basic`: argon2id verify on a blocking thread; successes are cached for a few seconds
//!   (docker sends Basic on every request of a pull), keyed by a salted SHA-256 of the
//!   credentials, never the plaintext.
//!   With the LDAP realm on, the same credentials are tried against the directory too, in the
//!   order of `[security] realms` (see `basic` below and `crate::ldap`); a directory that
//!   cannot answer makes a login that no realm accepted a 503 "directory unavailable", never
//!   "wrong password", and leaves local users working.
//! - `Bearer`: a Trove JWT (see [`crate::TokenService::verify`]).
//! - nothing: anonymous, if anonymous access is on.
//! - an API token (`trove_...`, see [`crate::api_token`]) in any of the forms clients send it:
//!   the password of `Basic` (any user name: `__token__` for pip and twine, the owner's for
//!   `docker login`), `Bearer` (npm's `_authToken`, the REST API, Prometheus), or the bare
//!   header cargo sends (`Authorization: trove_...`). Its row is read at every use.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use rand::RngCore;
use sha2::{Digest as _, Sha256};
use trove_core::{Error, ErrorKind};
use trove_store::{MetadataStore, UserStatus};

use crate::api_token::{self, TokenGrant};
use crate::ldap::{Directory, LdapConfig, LdapDirectory, Lookup};
use crate::model::{Principal, Realm};
use crate::password;
use crate::policy::{Policy, PolicyCache};
use crate::token::{Claims, TokenService};

/// Headers longer than this are refused before any parsing or hashing.
const MAX_HEADER_LEN: usize = 8 * 1024;
/// The Basic cache never grows past this many entries (only successful logins enter it).
const MAX_CACHE_ENTRIES: usize = 10_000;

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a request could not be authenticated. Every variant but `Internal` is
/// `ErrorKind::Unauthenticated`: the front-end answers 401 with a challenge.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credentials, and anonymous access is off.
    #[error("authentication required")]
    Required,
    /// Wrong password or unknown user: the same answer for both.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The password was right but the account is disabled.
    #[error("user account is disabled")]
    Disabled,
    #[error("token expired")]
    TokenExpired,
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    #[error("malformed authorization header: {0}")]
    Malformed(&'static str),
    /// The realm the credentials belong to is switched off.
    #[error("{0} authentication is turned off")]
    RealmDisabled(&'static str),
    /// The database failed; not the caller's fault.
    #[error("{0}")]
    Internal(Error),
    // ---- external realms (LDAP, OIDC) -------------------------------------------------
    /// The directory (or identity provider) that might know the caller cannot answer, and no
    /// other realm accepted the credentials: `ErrorKind::Unavailable`, which front ends answer
    /// with 503 in their own shape. Not "wrong password": trying again later may work.
    #[error("{0}")]
    Unavailable(Error),
    /// The directory (or provider) knows the caller, but none of their groups is mapped to a
    /// Trove role (`[[role]] external_groups`).
    #[error("signed in through {0}, but none of your groups is mapped to a Trove role")]
    NoMappedRole(&'static str),
}

/// What an LDAP user is told while the directory cannot answer (the detail is in the log).
pub const DIRECTORY_UNAVAILABLE: &str =
    "directory unavailable: the LDAP server cannot be reached or did not answer; try again later";

impl AuthError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            AuthError::Internal(e) | AuthError::Unavailable(e) => e.kind.clone(),
            _ => ErrorKind::Unauthenticated,
        }
    }

    /// Whether this is a failure that is not the caller's (`Internal`, `Unavailable`), which
    /// front ends map through their own error table; otherwise a refusal (401 with a
    /// challenge).
    pub fn service_failure(&self) -> Option<&Error> {
        match self {
            AuthError::Internal(e) | AuthError::Unavailable(e) => Some(e),
            _ => None,
        }
    }

    /// `Ok` with the error to map for a failure that is not the caller's, `Err(self)` for a
    /// refusal.
    pub fn into_service_failure(self) -> Result<Error, AuthError> {
        match self {
            AuthError::Internal(e) | AuthError::Unavailable(e) => Ok(e),
            e => Err(e),
        }
    }

    fn directory_unavailable() -> AuthError {
        AuthError::Unavailable(Error::new(ErrorKind::Unavailable, DIRECTORY_UNAVAILABLE))
    }
}

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Error {
        match e {
            AuthError::Internal(e) | AuthError::Unavailable(e) => e,
            e => Error::new(ErrorKind::Unauthenticated, e.to_string()),
        }
    }
}

/// Who is calling, plus the token's claims when they came with a bearer token (whose scope
/// then limits what they may do, see `Auth::authorize`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub principal: Principal,
    pub token: Option<Claims>,
    /// The API token the request came with (directly, or behind a bearer token minted from
    /// one): its narrowing limits what the principal's roles allow.
    pub api_token: Option<TokenGrant>,
}

impl Identity {
    /// An identity without tokens.
    pub fn of(principal: Principal) -> Identity {
        Identity {
            principal,
            token: None,
            api_token: None,
        }
    }

    /// How the caller authenticated, for the audit log: `user-token` (an API token, also
    /// behind a bearer token minted from one), `docker-token`, `basic`, or `None` (anonymous).
    pub fn realm(&self) -> Option<&'static str> {
        if self.api_token.is_some() {
            Some("user-token")
        } else if self.token.is_some() {
            Some("docker-token")
        } else if self.principal.is_anonymous() {
            None
        } else {
            Some("basic")
        }
    }
}

/// Counters for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthStats {
    /// Argon2 verifications run (cache misses with a known user, plus dummy runs for unknown
    /// users so timing does not reveal which names exist).
    pub password_verifications: u64,
    pub cache_hits: u64,
    /// Logins sent to the LDAP directory (cache misses of the LDAP realm).
    pub directory_lookups: u64,
}

/// Successful logins of every password realm, each entry with its realm's TTL (`basic`: a few
/// seconds; `ldap`: `[ldap] cache_ttl`).
struct BasicCache {
    ttl: Duration,
    salt: [u8; 32],
    entries: Mutex<HashMap<[u8; 32], (Principal, Instant, Duration)>>,
}

impl BasicCache {
    fn new(ttl: Duration) -> Self {
        let mut salt = [0u8; 32];
        rand::rng().fill_bytes(&mut salt);
        BasicCache {
            ttl,
            salt,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// A per-process salted hash, so even a memory dump holds no fast-to-test password hash.
    fn key(&self, credentials: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(credentials);
        h.finalize().into()
    }

    fn get(&self, key: &[u8; 32]) -> Option<Principal> {
        let mut entries = self.entries.lock().expect("cache lock");
        match entries.get(key) {
            Some((p, at, ttl)) if at.elapsed() < *ttl => Some(p.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&self, key: [u8; 32], p: Principal, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= MAX_CACHE_ENTRIES {
            entries.retain(|_, (_, at, ttl)| at.elapsed() < *ttl);
            if entries.len() >= MAX_CACHE_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (p, Instant::now(), ttl));
    }

    fn clear(&self) {
        self.entries.lock().expect("cache lock").clear();
    }
}

/// Removes a finished verification's gate unless others still wait on it.
struct Flight<'a> {
    inner: &'a Inner,
    key: [u8; 32],
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut flights = self.inner.flights.lock().expect("flights lock");
        // Held by the map, this guard and our `gate` clone in `basic`: nobody else waits.
        if flights
            .get(&self.key)
            .is_some_and(|g| Arc::ptr_eq(g, &self.gate) && Arc::strong_count(g) <= 3)
        {
            flights.remove(&self.key);
        }
    }
}

struct Inner {
    meta: MetadataStore,
    policy: Arc<PolicyCache>,
    tokens: TokenService,
    cache: BasicCache,
    /// One verification per credentials at a time: when a cached login expires under load,
    /// the first request re-runs argon2 and the others wait for its answer instead of each
    /// running argon2 too (measured: p99 600 ms at 64 connections without this).
    flights: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
    verifications: AtomicU64,
    hits: AtomicU64,
    /// Read before a password is looked up; written by a [`LoginHold`] while declared
    /// passwords are still being hashed, so a login then waits instead of failing.
    settling: Arc<tokio::sync::RwLock<()>>,
    /// The LDAP client of the current `[ldap]`, rebuilt when it changes.
    directory: Mutex<Option<ConfiguredDirectory>>,
    /// Used instead of the LDAP client when set (tests).
    directory_override: Mutex<Option<Arc<dyn Directory>>>,
    /// After the directory failed, logins skip it until then (a directory that times out
    /// would otherwise make every local login wait when `ldap` is listed first).
    directory_down_until: Mutex<Option<Instant>>,
    directory_lookups: AtomicU64,
}

/// A directory client and the `[ldap]` it was built from.
type ConfiguredDirectory = (Arc<LdapConfig>, Arc<dyn Directory>);

/// How long logins skip a directory that just failed.
const DIRECTORY_BACKOFF: Duration = Duration::from_secs(2);

/// While held, password logins wait (see [`Authenticator::hold_logins`]).
#[must_use = "logins wait only while the hold is kept"]
pub struct LoginHold {
    _guard: tokio::sync::OwnedRwLockWriteGuard<()>,
}

/// Turns an `Authorization` header into a [`Principal`].
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

/// A hash no password matches, verified against when the user is unknown or has no
/// password, so those answers take as long as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        password::hash(&password::generate()).expect("hashing a random password works")
    })
}

impl Authenticator {
    pub(crate) fn new(
        meta: MetadataStore,
        policy: Arc<PolicyCache>,
        tokens: TokenService,
        cache_ttl: Duration,
    ) -> Self {
        Authenticator {
            inner: Arc::new(Inner {
                meta,
                policy,
                tokens,
                cache: BasicCache::new(cache_ttl),
                flights: Mutex::new(HashMap::new()),
                verifications: AtomicU64::new(0),
                hits: AtomicU64::new(0),
                settling: Default::default(),
                directory: Mutex::new(None),
                directory_override: Mutex::new(None),
                directory_down_until: Mutex::new(None),
                directory_lookups: AtomicU64::new(0),
            }),
        }
    }

    /// Makes password logins (Basic, and so the token endpoint and the console) wait until the
    /// hold is dropped: a server listens before its declared passwords are hashed, and a login
    /// meanwhile must see them, not fail. `None` if a hold is already taken. Cached logins,
    /// bearer tokens and anonymous requests never wait.
    pub fn hold_logins(&self) -> Option<LoginHold> {
        self.inner
            .settling
            .clone()
            .try_write_owned()
            .ok()
            .map(|guard| LoginHold { _guard: guard })
    }

    /// `Basic` → a user, `Bearer` → the token's principal, no header → anonymous if anonymous
    /// access is on. Every failure is `Unauthenticated` with a message saying what is wrong.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        self.identify(authorization).await.map(|i| i.principal)
    }

    /// Like [`Self::authenticate`], also returning the bearer token's claims.
    pub async fn identify(&self, authorization: Option<&str>) -> Result<Identity, AuthError> {
        let inner = &self.inner;
        inner.policy.refresh_if_stale().await;
        let policy = inner.policy.current();
        let Some(header) = authorization.map(str::trim).filter(|h| !h.is_empty()) else {
            return if policy.anonymous_enabled {
                Ok(Identity::of(Principal::Anonymous))
            } else {
                Err(AuthError::Required)
            };
        };
        if header.len() > MAX_HEADER_LEN {
            return Err(AuthError::Malformed("too long"));
        }
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let rest = rest.trim();
        if let Some(token) = api_token_in(scheme, rest) {
            return self.api_token(&token).await;
        }
        if scheme.eq_ignore_ascii_case("basic") {
            if !policy.realms.basic && !policy.realms.ldap {
                return Err(AuthError::RealmDisabled("basic"));
            }
            let principal = self.basic(rest).await?;
            Ok(Identity::of(principal))
        } else if scheme.eq_ignore_ascii_case("bearer") {
            if !policy.realms.docker_token {
                return Err(AuthError::RealmDisabled("docker-token"));
            }
            if rest.is_empty() {
                return Err(AuthError::Malformed("empty bearer token"));
            }
            let claims = inner.tokens.verify(rest, inner.tokens.service())?;
            let principal = claims.principal();
            // Minted from an API token: that token must still be valid, and its narrowing
            // applies to every use of this one.
            let api_token = match &claims.tid {
                None => None,
                Some(tid) => Some(self.api_token_by_id(tid, claims.uid.as_deref()).await?),
            };
            match &principal {
                Principal::Anonymous if !policy.anonymous_enabled => {
                    return Err(AuthError::Required);
                }
                Principal::Anonymous => {}
                Principal::User { id, .. } => {
                    inner.policy.ensure_user_known(id, false).await;
                    // A token stops working the moment its user is disabled or deleted, on
                    // every front end (not only where a repository privilege is checked).
                    if !inner.policy.current().user_active(id) {
                        return Err(AuthError::Disabled);
                    }
                }
            }
            Ok(Identity {
                principal,
                token: Some(claims),
                api_token,
            })
        } else {
            Err(AuthError::Malformed(
                "unsupported scheme (use Basic or Bearer, or an API token)",
            ))
        }
    }

    /// An API token presented by the client: its row is read (one primary-key read, no
    /// cache: a revoked token is refused by the next request on every node), the hash
    /// compared in constant time, then its expiry and its owner's status checked. Its use is
    /// noted in memory (written in batches).
    async fn api_token(&self, token: &str) -> Result<Identity, AuthError> {
        let inner = &self.inner;
        let Some(id) = api_token::selector(token) else {
            return Err(AuthError::InvalidToken("not an API token"));
        };
        let row = inner
            .meta
            .api_tokens()
            .get(id)
            .await
            .map_err(AuthError::Internal)?;
        let row = match row {
            Some(row) if api_token::matches(token, &row.token_hash) => row,
            _ => return Err(AuthError::InvalidToken("unknown or revoked API token")),
        };
        self.accept_api_token(row).await
    }

    /// The API token a bearer token was minted from (`tid`), still valid and still its user's.
    async fn api_token_by_id(&self, id: &str, uid: Option<&str>) -> Result<TokenGrant, AuthError> {
        let row = self
            .inner
            .meta
            .api_tokens()
            .get(id)
            .await
            .map_err(AuthError::Internal)?;
        match row {
            Some(row) if Some(row.user_id.as_str()) == uid => {
                Ok(self.accept_api_token(row).await?.api_token.expect("set"))
            }
            _ => Err(AuthError::InvalidToken(
                "the API token it was issued for was revoked",
            )),
        }
    }

    async fn accept_api_token(&self, row: trove_store::ApiTokenRow) -> Result<Identity, AuthError> {
        let inner = &self.inner;
        if row.expires.is_some_and(|e| e <= trove_core::now_millis()) {
            return Err(AuthError::TokenExpired);
        }
        if UserStatus::parse(&row.user_status) != UserStatus::Active {
            return Err(AuthError::Disabled);
        }
        inner.policy.ensure_user_known(&row.user_id, true).await;
        inner.meta.api_tokens().note_use(&row.id);
        Ok(Identity {
            principal: Principal::User {
                id: row.user_id.clone(),
                name: row.user.clone(),
            },
            token: None,
            api_token: Some(TokenGrant::from_row(&row)),
        })
    }

    async fn basic(&self, encoded: &str) -> Result<Principal, AuthError> {
        let inner = &self.inner;
        if encoded.is_empty() {
            return Err(AuthError::Malformed("empty Basic credentials"));
        }
        let decoded = BASE64
            .decode(encoded)
            .map_err(|_| AuthError::Malformed("Basic credentials are not base64"))?;
        let key = inner.cache.key(&decoded);
        if let Some(p) = inner.cache.get(&key) {
            inner.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(p);
        }
        let gate = inner
            .flights
            .lock()
            .expect("flights lock")
            .entry(key)
            .or_default()
            .clone();
        let _flight = Flight {
            inner,
            key,
            gate: gate.clone(),
        };
        let _turn = gate.lock().await;
        if let Some(p) = inner.cache.get(&key) {
            inner.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(p);
        }
        let text = String::from_utf8(decoded)
            .map_err(|_| AuthError::Malformed("Basic credentials are not UTF-8"))?;
        let (user, password) = text
            .split_once(':')
            .ok_or(AuthError::Malformed("Basic credentials have no ':'"))?;
        if user.is_empty() {
            return Err(AuthError::InvalidCredentials);
        }
        // The password realms in their order: the first that knows the user decides.
        let policy = inner.policy.current();
        let mut outage = false;
        for realm in policy.realms.password_realms() {
            let found = match realm {
                Realm::Basic => self.local(user, password).await?,
                Realm::Ldap => match self.ldap(&policy, user, password).await {
                    Err(AuthError::Unavailable(_)) => {
                        outage = true;
                        None
                    }
                    other => other?,
                },
                Realm::DockerToken => None,
            };
            if let Some((principal, ttl)) = found {
                inner.cache.put(key, principal.clone(), ttl);
                return Ok(principal);
            }
        }
        if outage {
            return Err(AuthError::directory_unavailable());
        }
        Err(AuthError::InvalidCredentials)
    }

    /// The `basic` realm: a local user with this password. `None` for an unknown user, one
    /// without a password (LDAP and OIDC users) or a wrong password.
    async fn local(
        &self,
        user: &str,
        password: &str,
    ) -> Result<Option<(Principal, Duration)>, AuthError> {
        let inner = &self.inner;
        // Waits out a hold (only ever taken at start); free otherwise.
        drop(inner.settling.read().await);
        let row = inner
            .meta
            .security()
            .user(user)
            .await
            .map_err(AuthError::Internal)?;
        let stored = row.as_ref().and_then(|r| r.password_hash.clone());
        let known = stored.is_some();
        let password = password.to_owned();
        inner.verifications.fetch_add(1, Ordering::Relaxed);
        let ok = password::on_hasher(move || {
            password::verify(&password, stored.as_deref().unwrap_or_else(|| dummy_hash()))
        })
        .await
        .map_err(AuthError::Internal)?;
        let row = match row {
            Some(row) if ok && known => row,
            _ => return Ok(None),
        };
        if UserStatus::parse(&row.status) != UserStatus::Active {
            return Err(AuthError::Disabled);
        }
        inner.policy.ensure_user_known(&row.id, true).await;
        let principal = Principal::User {
            id: row.id,
            name: row.name,
        };
        Ok(Some((principal, inner.cache.ttl)))
    }

    /// The `ldap` realm: a bind as the directory's user of this name (`crate::ldap`), then the
    /// user's row and roles (`crate::external`). `None` when the directory has no such user or
    /// the password is wrong; `Unavailable` when it cannot answer.
    async fn ldap(
        &self,
        policy: &Policy,
        user: &str,
        password: &str,
    ) -> Result<Option<(Principal, Duration)>, AuthError> {
        let inner = &self.inner;
        let Some((config, directory)) = self.directory(policy) else {
            return Ok(None);
        };
        if inner
            .directory_down_until
            .lock()
            .expect("directory lock")
            .is_some_and(|until| Instant::now() < until)
        {
            return Err(AuthError::directory_unavailable());
        }
        inner.directory_lookups.fetch_add(1, Ordering::Relaxed);
        match directory.authenticate(user, password).await {
            Err(down) => {
                tracing::warn!(user = %user, url = %config.url, error = %down, "LDAP directory unavailable");
                *inner.directory_down_until.lock().expect("directory lock") =
                    Some(Instant::now() + DIRECTORY_BACKOFF);
                Err(AuthError::directory_unavailable())
            }
            Ok(Lookup::NoSuchUser | Lookup::WrongPassword) => Ok(None),
            Ok(Lookup::Found { dn, groups }) => {
                tracing::debug!(user = %user, dn = %dn, ?groups, "LDAP bind succeeded");
                let principal = crate::external::sign_in(
                    &inner.meta,
                    &inner.policy,
                    crate::external::LDAP_REALM,
                    user,
                    &groups,
                )
                .await?;
                Ok(Some((principal, config.cache_ttl())))
            }
        }
    }

    /// The directory of the current `[ldap]` (or the test's), if one is configured.
    fn directory(&self, policy: &Policy) -> Option<ConfiguredDirectory> {
        let config = policy.ldap.clone()?;
        if let Some(d) = self
            .inner
            .directory_override
            .lock()
            .expect("directory lock")
            .clone()
        {
            return Some((config, d));
        }
        let mut current = self.inner.directory.lock().expect("directory lock");
        if let Some((c, d)) = current.as_ref()
            && **c == *config
        {
            return Some((c.clone(), d.clone()));
        }
        let d: Arc<dyn Directory> = Arc::new(LdapDirectory::new((*config).clone()));
        *current = Some((config.clone(), d.clone()));
        *self
            .inner
            .directory_down_until
            .lock()
            .expect("directory lock") = None;
        Some((config, d))
    }

    /// Puts `directory` in place of the LDAP client of `[ldap]` (which must still be
    /// configured): tests of the realm without a directory server.
    pub fn use_directory(&self, directory: Arc<dyn Directory>) {
        *self
            .inner
            .directory_override
            .lock()
            .expect("directory lock") = Some(directory);
        *self
            .inner
            .directory_down_until
            .lock()
            .expect("directory lock") = None;
    }

    /// Signs in a user an OIDC provider vouched for (their name and groups): the same row and
    /// role rules as LDAP users (`crate::external`).
    pub async fn sign_in_oidc(
        &self,
        name: &str,
        groups: &[String],
    ) -> Result<Principal, AuthError> {
        crate::external::sign_in(
            &self.inner.meta,
            &self.inner.policy,
            crate::external::OIDC_REALM,
            name,
            groups,
        )
        .await
    }

    /// Forgets every cached Basic login (after a password change or a user is disabled; the
    /// entries would expire within the TTL anyway).
    pub fn clear_cache(&self) {
        self.inner.cache.clear();
    }

    pub fn stats(&self) -> AuthStats {
        AuthStats {
            password_verifications: self.inner.verifications.load(Ordering::Relaxed),
            cache_hits: self.inner.hits.load(Ordering::Relaxed),
            directory_lookups: self.inner.directory_lookups.load(Ordering::Relaxed),
        }
    }
}

/// The API token in an `Authorization` header split at its first space, if there is one: the
/// bare header (cargo), `Bearer <token>`, or `Basic` whose password is one (any user name).
fn api_token_in(scheme: &str, rest: &str) -> Option<String> {
    if rest.is_empty() && api_token::selector(scheme).is_some() {
        return Some(scheme.to_owned());
    }
    if scheme.eq_ignore_ascii_case("bearer") && api_token::selector(rest).is_some() {
        return Some(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = BASE64.decode(rest).ok()?;
        let text = std::str::from_utf8(&decoded).ok()?;
        let (_, password) = text.split_once(':')?;
        return api_token::selector(password).map(|_| password.to_owned());
    }
    None
}

/// Whom an `Authorization` header claims to be, for recording a failed sign-in without its
/// secret: `("user", name)` for Basic with a password, `("token", "trove_<selector>")` for an API
/// token in any form, `("credentials", scheme)` otherwise (a bearer JWT, garbage).
pub fn claimed(authorization: Option<&str>) -> (&'static str, String) {
    let Some(header) = authorization.map(str::trim).filter(|h| !h.is_empty()) else {
        return ("credentials", "none".into());
    };
    if header.len() > MAX_HEADER_LEN {
        return ("credentials", "oversized".into());
    }
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let rest = rest.trim();
    if let Some(token) = api_token_in(scheme, rest)
        && let Some(sel) = api_token::selector(&token)
    {
        return ("token", format!("{}{sel}", api_token::TOKEN_PREFIX));
    }
    if scheme.eq_ignore_ascii_case("basic")
        && let Some(user) = BASE64
            .decode(rest)
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .and_then(|t| t.split_once(':').map(|(u, _)| u.to_owned()))
        && !user.is_empty()
        && user.len() <= 128
    {
        return ("user", user);
    }
    let scheme: String = scheme.chars().take(16).collect();
    ("credentials", scheme.to_ascii_lowercase())
}
