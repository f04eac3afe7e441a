//! Who is calling and may they: authentication and authorization for every registry request,
//! and the `WWW-Authenticate` challenges docker clients follow
//! (https://distribution.github.io/distribution/spec/auth/token/).

use actix_web::HttpRequest;
use actix_web::http::header;
use trove_auth::{Action, Auth, AuthError, Denied, Identity, Realm};

use super::errors::{OciCode, OciError};

/// The caller of one request and what is needed to challenge it.
pub(crate) struct Caller {
    pub identity: Identity,
    pub auth: Auth,
    /// Absolute URL of this mount's token endpoint (the `realm` of a Bearer challenge).
    pub token_url: String,
    /// Prepended to image names in challenge scopes: `<repo>/` on the main port's
    /// `/v2/<repo>/...` form (where the token endpoint is shared), empty elsewhere.
    pub scope_prefix: String,
}

/// How the client addressed this listener: `scheme://host[:port]` and, behind a path-mapping
/// proxy, the external path prefix. `X-Forwarded-Proto`, `-Host`, `-Port` and `-Prefix` count
/// only from `trusted` peers (scenario S1: a TLS-terminating proxy in front of plain HTTP);
/// otherwise the `Host` header and the listener's own TLS setting decide.
pub(crate) struct External {
    pub origin: String,
    pub prefix: Option<String>,
}

fn first_header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    let v = req.headers().get(name)?.to_str().ok()?;
    let v = v.split(',').next()?.trim();
    // Values end up inside a quoted challenge parameter and in URLs: nothing exotic allowed.
    (!v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'))
    .then_some(v)
}

impl External {
    pub fn of(req: &HttpRequest, trusted: &[ipnet::IpNet]) -> External {
        let is_trusted = req
            .peer_addr()
            .is_some_and(|a| trusted.iter().any(|n| n.contains(&a.ip())));
        let own_scheme = if req.app_config().secure() {
            "https"
        } else {
            "http"
        };
        let own_host = first_header(req, "host")
            .map(str::to_owned)
            .unwrap_or_else(|| req.app_config().host().to_owned());
        if !is_trusted {
            return External {
                origin: format!("{own_scheme}://{own_host}"),
                prefix: None,
            };
        }
        let scheme = match first_header(req, "x-forwarded-proto") {
            Some("https") => "https",
            Some("http") => "http",
            _ => own_scheme,
        };
        let mut host = first_header(req, "x-forwarded-host").map_or(own_host, str::to_owned);
        if let Some(port) =
            first_header(req, "x-forwarded-port").filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        {
            let default =
                (scheme == "https" && port == "443") || (scheme == "http" && port == "80");
            let has_port = host
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()));
            if !default && !has_port {
                host = format!("{host}:{port}");
            }
        }
        let prefix = first_header(req, "x-forwarded-prefix")
            .filter(|p| p.starts_with('/') && !p.contains(".."))
            .map(|p| p.trim_end_matches('/').to_owned());
        External {
            origin: format!("{scheme}://{host}"),
            prefix,
        }
    }
}

pub(crate) fn authorization(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// Authenticates the request's credentials; invalid credentials answer 401 with a challenge.
pub(crate) async fn identify(
    auth: &Auth,
    req: &HttpRequest,
    challenge: impl FnOnce(String) -> OciError,
) -> Result<Identity, OciError> {
    match auth.authenticator.identify(authorization(req)).await {
        Ok(id) => Ok(id),
        Err(AuthError::Internal(e)) => {
            Err(OciError::from_core(e, super::errors::Subject::Repository))
        }
        Err(e) => Err(challenge(e.to_string())),
    }
}

impl Caller {
    /// A 401 `UNAUTHORIZED` with the challenge of the active realm. `scope` is
    /// `(image, "pull"|"pull,push"|...)` for repository requests.
    pub fn challenge(&self, message: String, scope: Option<(&str, &str)>) -> OciError {
        let realms = self.auth.realms();
        // The access that was needed, as distribution reports it. Docker drops an error that
        // has only the code's default message and no detail, printing a bare "unauthorized".
        let detail = scope.map(|(image, actions)| {
            let name = format!("{}{image}", self.scope_prefix);
            let entries: Vec<_> = actions
                .split(',')
                .map(|a| serde_json::json!({"Type": "repository", "Name": name, "Action": a}))
                .collect();
            serde_json::Value::Array(entries)
        });
        let value = if realms.contains(Realm::DockerToken) {
            let mut v = format!(
                "Bearer realm=\"{}\",service=\"{}\"",
                self.token_url,
                self.auth.tokens.service()
            );
            if let Some((image, actions)) = scope {
                v.push_str(&format!(
                    ",scope=\"repository:{}{image}:{actions}\"",
                    self.scope_prefix
                ));
            }
            v
        } else {
            "Basic realm=\"trove\"".to_owned()
        };
        let err = OciError::new(OciCode::Unauthorized, message).header("WWW-Authenticate", value);
        match detail {
            Some(d) => err.detail(d),
            None => err,
        }
    }

    /// Maps a refusal: anonymous callers get a challenge ("authentication required"), known
    /// users a 403 that says what is missing.
    pub fn denied(&self, d: Denied, image: &str) -> OciError {
        if d.kind() == trove_core::ErrorKind::Unauthenticated {
            let actions = match d.action {
                Action::Browse | Action::Read => "pull",
                Action::Add | Action::Edit => "pull,push",
                Action::Delete => "delete",
            };
            return self.challenge(d.to_string(), Some((image, actions)));
        }
        tracing::info!(principal = %d.principal, action = %d.action, repo = %d.repo, reason = %d.reason, "denied");
        OciError::new(OciCode::Denied, format!("{d}: {}", d.reason))
    }
}
