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

/// `scheme://host` of this listener as the client addressed it. Only the `Host` header and
/// the listener's own TLS setting are used: `X-Forwarded-*` is not trusted here.
pub(crate) fn origin(req: &HttpRequest) -> String {
    let scheme = if req.app_config().secure() { "https" } else { "http" };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()) && !h.contains('"'))
        .map(str::to_owned)
        .unwrap_or_else(|| req.app_config().host().to_owned());
    format!("{scheme}://{host}")
}

pub(crate) fn authorization(req: &HttpRequest) -> Option<&str> {
    req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
}

/// Authenticates the request's credentials; invalid credentials answer 401 with a challenge.
pub(crate) async fn identify(
    auth: &Auth,
    req: &HttpRequest,
    challenge: impl FnOnce(String) -> OciError,
) -> Result<Identity, OciError> {
    match auth.authenticator.identify(authorization(req)).await {
        Ok(id) => Ok(id),
        Err(AuthError::Internal(e)) => Err(OciError::from_core(e, super::errors::Subject::Repository)),
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
                v.push_str(&format!(",scope=\"repository:{}{image}:{actions}\"", self.scope_prefix));
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
