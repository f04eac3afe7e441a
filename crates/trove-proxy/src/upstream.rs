//! The HTTP side of a proxy: one reqwest client per repository, the upstream's authentication
//! (stored Basic credentials, or the bearer-token dance of `WWW-Authenticate: Bearer`, with a
//! token cached per scope), the mapping of upstream statuses to `trove_core` errors, and the
//! health record behind auto-blocking.
//!
//! The bearer challenge is plain HTTP (RFC 6750 plus the token endpoint of the distribution
//! auth spec), not format logic: the format only says which scope a path needs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use serde::{Deserialize, Serialize};
use trove_core::{Error, ErrorKind, ProxyConfig, Result, UpstreamHeaders, UpstreamRequest};

/// Consecutive connection failures after which the upstream is blocked.
const BLOCK_AFTER: u32 = 3;
/// The first block lasts this long; each further failure right after a block doubles it.
const FIRST_BLOCK: Duration = Duration::from_secs(10);
const MAX_BLOCK: Duration = Duration::from_secs(300);
/// A token is dropped this long before the upstream says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(10);

/// Upstream username and password. `Debug` never shows the password.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Reads the password named by the config (`upstream_password_env` or
    /// `upstream_password_file`; a trailing newline in the file is ignored). `None` when no
    /// username is configured.
    pub fn from_config(cfg: &ProxyConfig) -> Result<Option<Credentials>> {
        let Some(username) = cfg.upstream_username.clone() else {
            return Ok(None);
        };
        let password = match (&cfg.upstream_password_env, &cfg.upstream_password_file) {
            (Some(var), _) => std::env::var(var).map_err(|_| {
                Error::invalid(format!(
                    "upstream_password_env: environment variable {var} is not set"
                ))
            })?,
            (None, Some(file)) => std::fs::read_to_string(file)
                .map_err(|e| {
                    Error::invalid(format!(
                        "upstream_password_file {file}: cannot read it: {e}"
                    ))
                })?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            (None, None) => String::new(),
        };
        Ok(Some(Credentials { username, password }))
    }
}

/// What a proxy's upstream looks like right now (the repository status shown to admins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamStatus {
    pub remote: String,
    /// `false` while auto-blocked.
    pub available: bool,
    /// Unix millis until which no request is sent upstream.
    pub blocked_until: Option<i64>,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    /// Requests sent upstream since start, by method (token requests counted apart).
    pub gets: u64,
    pub heads: u64,
    pub token_requests: u64,
}

#[derive(Default)]
struct Health {
    consecutive: u32,
    blocked_until: Option<Instant>,
    block_for: Duration,
    last_error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

enum Auth<'a> {
    Basic(&'a Credentials),
    Bearer(String),
}

struct Token {
    value: String,
    expires: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

pub(crate) struct Upstream {
    client: reqwest::Client,
    remote: String,
    repo: String,
    timeout: Duration,
    creds: Option<Credentials>,
    auto_block: bool,
    /// The scheme the upstream challenged with last: later requests authenticate up front.
    challenge: Mutex<Option<Challenge>>,
    tokens: Mutex<HashMap<String, Token>>,
    health: Mutex<Health>,
    gets: AtomicU64,
    heads: AtomicU64,
    token_requests: AtomicU64,
}

/// Whether `url` is on the same scheme, host and port as `remote`.
pub(crate) fn same_origin(remote: &str, url: &str) -> bool {
    match (url::Url::parse(remote), url::Url::parse(url)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

fn upstream_err(msg: String) -> Error {
    Error::new(ErrorKind::Upstream, msg)
}

/// Whether a transport error means the upstream could not be reached (or did not answer in
/// time): those count towards auto-blocking. Other errors (a malformed answer) do not.
fn is_connection_failure(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout()
}

/// The error chain in one line: reqwest's `Display` alone hides the cause ("error sending
/// request").
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

pub(crate) fn headers_of(map: &HeaderMap) -> UpstreamHeaders {
    let mut h = UpstreamHeaders::new();
    for (name, value) in map {
        if let Ok(v) = value.to_str() {
            h.push(name.as_str(), v);
        }
    }
    h
}

impl Upstream {
    pub fn new(repo: &str, cfg: &ProxyConfig, creds: Option<Credentials>) -> Result<Upstream> {
        let timeout = Duration::from_secs(cfg.upstream_timeout.max(1));
        let client = reqwest::Client::builder()
            .user_agent(concat!("trove/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout)
            // Per read, not per transfer: a multi-GiB layer may take long, a silent peer may not.
            .read_timeout(timeout)
            .build()
            .map_err(|e| Error::internal(format!("building the HTTP client: {}", describe(&e))))?;
        Ok(Upstream {
            client,
            remote: cfg.remote.clone(),
            repo: repo.to_owned(),
            timeout,
            creds,
            auto_block: cfg.auto_block,
            challenge: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
            health: Mutex::new(Health::default()),
            gets: AtomicU64::new(0),
            heads: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
        })
    }

    pub fn remote(&self) -> &str {
        &self.remote
    }

    pub fn status(&self) -> UpstreamStatus {
        let h = self.health.lock().expect("health lock");
        let now = Instant::now();
        let blocked = h.blocked_until.filter(|u| *u > now);
        UpstreamStatus {
            remote: self.remote.clone(),
            available: blocked.is_none(),
            blocked_until: blocked.map(|u| trove_core::now_millis() + (u - now).as_millis() as i64),
            consecutive_failures: h.consecutive,
            last_error: h.last_error.clone(),
            gets: self.gets.load(Ordering::Relaxed),
            heads: self.heads.load(Ordering::Relaxed),
            token_requests: self.token_requests.load(Ordering::Relaxed),
        }
    }

    /// `Unavailable` while the upstream is auto-blocked.
    pub fn check_blocked(&self) -> Result<()> {
        let h = self.health.lock().expect("health lock");
        match h.blocked_until {
            Some(until) if until > Instant::now() => Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "upstream {} of repository {} is blocked for {}s after {} connection \
                     failures (last: {})",
                    self.remote,
                    self.repo,
                    (until - Instant::now()).as_secs() + 1,
                    h.consecutive,
                    h.last_error.as_deref().unwrap_or("?")
                ),
            )),
            _ => Ok(()),
        }
    }

    fn record_failure(&self, msg: &str) {
        let mut h = self.health.lock().expect("health lock");
        h.consecutive += 1;
        h.last_error = Some(msg.to_owned());
        if self.auto_block && h.consecutive >= BLOCK_AFTER {
            h.block_for = if h.block_for.is_zero() {
                FIRST_BLOCK
            } else {
                (h.block_for * 2).min(MAX_BLOCK)
            };
            h.blocked_until = Some(Instant::now() + h.block_for);
            tracing::warn!(
                repository = %self.repo, remote = %self.remote, failures = h.consecutive,
                seconds = h.block_for.as_secs(), error = msg,
                "upstream auto-blocked after repeated connection failures"
            );
        } else {
            tracing::warn!(repository = %self.repo, remote = %self.remote, error = msg, "upstream unreachable");
        }
    }

    fn record_success(&self) {
        let mut h = self.health.lock().expect("health lock");
        if h.consecutive > 0 {
            tracing::info!(repository = %self.repo, remote = %self.remote, "upstream reachable again");
            *h = Health::default();
        }
    }

    /// Sends `method` for `req`, authenticating as the upstream asks. `Ok(None)` for 404; every
    /// other non-success status is an error of a kind a front-end can explain (never
    /// `Unauthenticated`: an upstream's 401 is not the client's business).
    pub async fn send(&self, method: Method, req: &UpstreamRequest) -> Result<Option<Response>> {
        self.check_blocked()?;
        let mut retried = false;
        loop {
            // Credentials go to the remote only, never to another host a document linked to.
            let auth = if same_origin(&self.remote, &req.url) {
                self.auth_header(req.scope.as_deref()).await?
            } else {
                None
            };
            let mut rb = self.client.request(method.clone(), &req.url);
            if let Some(a) = &req.accept {
                rb = rb.header(ACCEPT, a);
            }
            if let Some(v) = &req.if_none_match {
                rb = rb.header(reqwest::header::IF_NONE_MATCH, v);
            }
            if let Some(v) = &req.if_modified_since {
                rb = rb.header(reqwest::header::IF_MODIFIED_SINCE, v);
            }
            rb = match auth {
                Some(Auth::Basic(c)) => rb.basic_auth(&c.username, Some(&c.password)),
                Some(Auth::Bearer(t)) => rb.bearer_auth(t),
                None => rb,
            };
            let counter = if method == Method::HEAD {
                &self.heads
            } else {
                &self.gets
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let res = match rb.send().await {
                Ok(r) => r,
                Err(e) => {
                    let msg = describe(&e);
                    if is_connection_failure(&e) {
                        self.record_failure(&msg);
                        let what = if e.is_timeout() {
                            format!("did not answer within {}s", self.timeout.as_secs())
                        } else {
                            "is unreachable".to_owned()
                        };
                        return Err(Error::new(
                            ErrorKind::Unavailable,
                            format!("upstream {} {what}: {msg}", self.remote),
                        ));
                    }
                    return Err(upstream_err(format!(
                        "upstream {} request failed: {msg}",
                        self.remote
                    )));
                }
            };
            self.record_success();
            let status = res.status();
            tracing::debug!(%method, url = %req.url, status = status.as_u16(), "upstream");
            if status == StatusCode::UNAUTHORIZED && !retried {
                let challenge = res
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge);
                match challenge {
                    Some((Challenge::Basic, _)) if self.creds.is_some() => {
                        *self.challenge.lock().expect("lock") = Some(Challenge::Basic);
                    }
                    Some((Challenge::Basic, _)) => {
                        return Err(upstream_err(format!(
                            "upstream {} requires credentials; set upstream_username and \
                             upstream_password_env or upstream_password_file on repository {}",
                            self.remote, self.repo
                        )));
                    }
                    Some((bearer @ Challenge::Bearer { .. }, scope)) => {
                        let scope = scope.or_else(|| req.scope.clone()).unwrap_or_default();
                        *self.challenge.lock().expect("lock") = Some(bearer.clone());
                        self.fetch_token(&bearer, &scope).await?;
                        if req.scope.as_deref() != Some(scope.as_str()) {
                            // The token was issued for the challenge's scope; remember it
                            // under the scope this request asks with as well.
                            let mut t = self.tokens.lock().expect("lock");
                            if let Some(tok) = t.get(&scope) {
                                let copy = Token {
                                    value: tok.value.clone(),
                                    expires: tok.expires,
                                };
                                t.insert(req.scope.clone().unwrap_or_default(), copy);
                            }
                        }
                    }
                    None => {
                        return Err(upstream_err(format!(
                            "upstream {} answered 401 without a usable challenge",
                            self.remote
                        )));
                    }
                }
                retried = true;
                continue;
            }
            return match status {
                s if s.is_success() || s == StatusCode::NOT_MODIFIED => Ok(Some(res)),
                StatusCode::NOT_FOUND => Ok(None),
                StatusCode::UNAUTHORIZED if self.creds.is_none() => Err(upstream_err(format!(
                    "upstream {} requires credentials (401 with an anonymous token); set \
                         upstream_username and upstream_password_env or upstream_password_file \
                         on repository {}",
                    self.remote, self.repo
                ))),
                StatusCode::UNAUTHORIZED => Err(upstream_err(format!(
                    "upstream {} refused the credentials of repository {} (401)",
                    self.remote, self.repo
                ))),
                StatusCode::FORBIDDEN => Err(upstream_err(format!(
                    "upstream {} denied access to {} (403)",
                    self.remote, req.url
                ))),
                StatusCode::TOO_MANY_REQUESTS => Err(Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "upstream {} is rate-limiting (429){}",
                        self.remote,
                        res.headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .map(|v| format!("; retry after {v}"))
                            .unwrap_or_default()
                    ),
                )),
                s => Err(upstream_err(format!(
                    "upstream {} answered {} for {}",
                    self.remote, s, req.url
                ))),
            };
        }
    }

    /// The `Authorization` value to send up front: Basic once the upstream asked for it, or a
    /// cached (or freshly fetched) bearer token for `scope` once it challenged with Bearer.
    async fn auth_header(&self, scope: Option<&str>) -> Result<Option<Auth<'_>>> {
        let challenge = self.challenge.lock().expect("lock").clone();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.creds.as_ref().map(Auth::Basic)),
            Some(bearer @ Challenge::Bearer { .. }) => {
                let scope = scope.unwrap_or_default();
                if let Some(t) = self.cached_token(scope) {
                    return Ok(Some(Auth::Bearer(t)));
                }
                self.fetch_token(&bearer, scope).await?;
                Ok(self.cached_token(scope).map(Auth::Bearer))
            }
        }
    }

    fn cached_token(&self, scope: &str) -> Option<String> {
        let t = self.tokens.lock().expect("lock");
        t.get(scope)
            .filter(|t| t.expires > Instant::now())
            .map(|t| t.value.clone())
    }

    /// The token endpoint of the distribution auth spec: `GET realm?service=&scope=`, with the
    /// stored credentials as Basic when there are some (anonymous otherwise).
    async fn fetch_token(&self, challenge: &Challenge, scope: &str) -> Result<()> {
        let Challenge::Bearer { realm, service } = challenge else {
            return Ok(());
        };
        let mut url = url::Url::parse(realm).map_err(|e| {
            upstream_err(format!(
                "upstream {} sent a bad token realm {realm:?}: {e}",
                self.remote
            ))
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            if !scope.is_empty() {
                q.append_pair("scope", scope);
            }
        }
        let mut rb = self.client.get(url.as_str());
        if let Some(c) = &self.creds {
            rb = rb.basic_auth(&c.username, Some(&c.password));
        }
        self.token_requests.fetch_add(1, Ordering::Relaxed);
        let res = rb.send().await.map_err(|e| {
            let msg = describe(&e);
            if is_connection_failure(&e) {
                self.record_failure(&msg);
                Error::new(
                    ErrorKind::Unavailable,
                    format!("token realm {realm} is unreachable: {msg}"),
                )
            } else {
                upstream_err(format!("token realm {realm}: {msg}"))
            }
        })?;
        let status = res.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(upstream_err(match &self.creds {
                None => format!(
                    "upstream {} requires credentials (its token realm {realm} refused an \
                     anonymous request); set upstream_username and upstream_password_env or \
                     upstream_password_file on repository {}",
                    self.remote, self.repo
                ),
                Some(_) => format!(
                    "upstream {} refused the credentials of repository {} (token realm {realm} \
                     answered {status})",
                    self.remote, self.repo
                ),
            }));
        }
        if !status.is_success() {
            return Err(upstream_err(format!(
                "token realm {realm} of upstream {} answered {status}",
                self.remote
            )));
        }
        let body: TokenResponse = res.json().await.map_err(|e| {
            upstream_err(format!(
                "token realm {realm} sent no token: {}",
                describe(&e)
            ))
        })?;
        let value = body
            .token
            .or(body.access_token)
            .ok_or_else(|| upstream_err(format!("token realm {realm} sent no token")))?;
        // The spec's default lifetime is 60 s.
        let life = Duration::from_secs(body.expires_in.unwrap_or(60).max(20));
        self.tokens.lock().expect("lock").insert(
            scope.to_owned(),
            Token {
                value,
                expires: Instant::now() + life - TOKEN_MARGIN,
            },
        );
        Ok(())
    }
}

/// Parses `Basic realm="x"` or `Bearer realm="..",service="..",scope=".."` (RFC 7235 auth-params;
/// quoted values may contain commas). Returns the challenge and its `scope`, if any.
fn parse_challenge(v: &str) -> Option<(Challenge, Option<String>)> {
    let v = v.trim();
    let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Some((Challenge::Basic, None))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        let realm = get("realm")?;
        Some((
            Challenge::Bearer {
                realm,
                service: get("service"),
            },
            get("scope"),
        ))
    } else {
        None
    }
}

fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            name.push(c);
            chars.next();
        }
        if chars.next() != Some('=') {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((name.trim().to_owned(), value.trim().to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_stay_on_the_remote() {
        assert!(same_origin("https://r.example/", "https://r.example/a/b"));
        assert!(same_origin(
            "http://127.0.0.1:8080/x",
            "http://127.0.0.1:8080/y"
        ));
        assert!(!same_origin("https://r.example", "https://cdn.example/a"));
        assert!(!same_origin("https://r.example", "http://r.example/a"));
        assert!(!same_origin(
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8081/a"
        ));
        assert!(!same_origin("https://r.example", "not a url"));
    }

    #[test]
    fn challenges() {
        let (c, scope) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            }
        );
        assert_eq!(
            scope.as_deref(),
            Some("repository:library/alpine:pull,push")
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="trove-e2e""#).unwrap().0,
            Challenge::Basic
        );
        assert!(parse_challenge("Negotiate").is_none());
        assert!(
            parse_challenge("Bearer service=x").is_none(),
            "realm is required"
        );
    }

    #[test]
    fn credentials_never_print_the_password() {
        let c = Credentials {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
