//! Who is calling and may they: authorization for every registry request, and the
//! `WWW-Authenticate` challenges docker clients follow
//! (https://distribution.github.io/distribution/spec/auth/token/). Every challenge names the
//! scopes of [`super::scope`], so a client that asks for exactly those gets what it needs.

use actix_web::HttpRequest;
use trove_auth::{Action, Auth, Denied, Identity, Realm, ScopeAction};

use super::errors::{OciCode, OciError};
use super::scope;
use crate::kit::caller;

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

/// One `repository:<name>:<actions>` entry of a challenge.
pub(crate) struct Scope {
    pub image: String,
    pub actions: &'static [ScopeAction],
}

impl Scope {
    pub fn of(image: &str, action: Action) -> Self {
        Scope {
            image: image.to_owned(),
            actions: scope::for_action(action),
        }
    }
}

/// Authenticates the request's credentials; invalid credentials answer 401 with a challenge.
pub(crate) async fn identify(
    auth: &Auth,
    req: &HttpRequest,
    challenge: impl FnOnce(String) -> OciError,
) -> Result<Identity, OciError> {
    match caller::identify(auth, req).await {
        Ok(id) => Ok(id),
        // The database, or a directory that cannot answer (503): not the caller's fault.
        Err(e) => match e.into_service_failure() {
            Ok(f) => Err(OciError::from_core(f, super::errors::Subject::Repository)),
            Err(e) => Err(challenge(e.to_string())),
        },
    }
}

/// What a caller who may not see a repository is told, whether it exists or not: nothing in
/// the answer says which.
pub(crate) fn hidden(repo: &str) -> OciError {
    OciError::new(
        OciCode::Denied,
        format!("requested access to repository {repo} is denied (or it does not exist)"),
    )
}

impl Caller {
    /// A 401 `UNAUTHORIZED` with the challenge of the active realm, naming `scopes`.
    pub fn challenge(&self, message: String, scopes: &[Scope]) -> OciError {
        let realms = self.auth.realms();
        // The access that was needed, as distribution reports it. Docker drops an error that
        // has only the code's default message and no detail, printing a bare "unauthorized".
        let detail: Vec<_> = scopes
            .iter()
            .flat_map(|s| {
                let name = format!("{}{}", self.scope_prefix, s.image);
                s.actions.iter().map(move |a| {
                    serde_json::json!({"Type": "repository", "Name": name, "Action": a.name})
                })
            })
            .collect();
        let value = if realms.contains(Realm::DockerToken) {
            let mut v = format!(
                "Bearer realm=\"{}\",service=\"{}\"",
                self.token_url,
                self.auth.tokens.service()
            );
            if !scopes.is_empty() {
                let list: Vec<String> = scopes
                    .iter()
                    .map(|s| {
                        format!(
                            "repository:{}{}:{}",
                            self.scope_prefix,
                            s.image,
                            scope::names(s.actions)
                        )
                    })
                    .collect();
                v.push_str(&format!(",scope=\"{}\"", list.join(" ")));
            }
            v
        } else {
            "Basic realm=\"trove\"".to_owned()
        };
        let err = OciError::new(OciCode::Unauthorized, message).header("WWW-Authenticate", value);
        if detail.is_empty() {
            err
        } else {
            err.detail(serde_json::Value::Array(detail))
        }
    }

    /// Maps a refusal: anonymous callers get a challenge ("authentication required"); known
    /// users who may see the repository a 403 that says what is missing, and those who may not
    /// the same answer as for a repository that does not exist.
    pub fn denied(&self, d: Denied, image: &str, visible: bool) -> OciError {
        if d.kind() == trove_core::ErrorKind::Unauthenticated {
            return self.challenge(d.to_string(), &[Scope::of(image, d.action)]);
        }
        tracing::info!(principal = %d.principal, action = %d.action, repo = %d.repo, reason = %d.reason, "denied");
        if !visible {
            return hidden(&d.repo).reason(d.reason);
        }
        OciError::new(OciCode::Denied, format!("{d}: {}", d.reason)).reason(d.reason)
    }
}
