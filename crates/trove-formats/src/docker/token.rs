//! The Docker token endpoint (`GET .../v2/token?service=&scope=...`), the realm of the Bearer
//! challenges: Basic credentials (a password, or an API token as the password: `docker login`
//! with a token) or nobody (when anonymous access is on) in, a signed JWT whose
//! access is the intersection of the requested scopes and the caller's privileges out
//! (https://distribution.github.io/distribution/spec/auth/token/).

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use trove_auth::{Realm, RequestedAccess};
use trove_core::Repository;

use super::errors::{OciCode, OciError, Subject};
use super::{route, scope};
use crate::kit::Frontend;

/// Which repository a token request is for.
pub(crate) enum Fixed {
    /// A connector's or `/repository/<name>/`'s endpoint, or `/v2/token?repository=<name>`:
    /// scope names are image names of this repository (`None`: no such repository, nothing
    /// is granted).
    Repository(Option<Arc<dyn Repository>>),
    /// The main port's `/v2/token`: scope names are `<repository>/<image>`.
    Shared,
}

/// The `repository=<name>` parameter of a token request, if any.
pub(crate) fn repository_param(query: &str) -> Option<String> {
    web::Query::<Vec<(String, String)>>::from_query(query)
        .ok()?
        .into_inner()
        .into_iter()
        .find(|(k, _)| k == "repository")
        .map(|(_, v)| v)
}

/// Parses `repository:<name>:<actions>` scopes (several `scope` parameters, or several scopes
/// separated by spaces in one). Other resource types are ignored, as the spec allows.
pub fn parse_scopes(query: &str) -> Result<Vec<(String, Vec<String>)>, OciError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query).map_err(|e| {
        OciError::new(OciCode::Unsupported, format!("bad query string: {e}")).status(400)
    })?;
    let mut out = Vec::new();
    for (k, v) in pairs.into_inner() {
        if k != "scope" {
            continue;
        }
        for scope in v.split_whitespace() {
            let Some(rest) = scope.strip_prefix("repository:") else {
                continue;
            };
            let Some((name, actions)) = rest.rsplit_once(':') else {
                continue;
            };
            let actions = actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect();
            out.push((name.to_owned(), actions));
        }
    }
    Ok(out)
}

/// Issues a token for the scopes asked, intersected with the caller's rights.
pub(crate) async fn issue(
    front: &Frontend,
    req: &HttpRequest,
    fixed: Fixed,
) -> Result<HttpResponse, OciError> {
    let auth = &front.auth;
    if !auth.realms().contains(Realm::DockerToken) {
        return Err(
            OciError::new(OciCode::Unsupported, "the docker token realm is turned off").status(404),
        );
    }
    // Basic with a password or an API token (whose narrowing then bounds the grant), or
    // nobody.
    let identity = match crate::kit::caller::identify(auth, req).await {
        Ok(id) => id,
        Err(e) => {
            let e = match e.into_service_failure() {
                Ok(f) => return Err(OciError::from_core(f, Subject::Repository)),
                Err(e) => e,
            };
            return Err(OciError::new(OciCode::Unauthorized, e.to_string())
                .header("WWW-Authenticate", "Basic realm=\"trove\"".into()));
        }
    };
    let mut targets: Vec<(Arc<dyn Repository>, String, Vec<String>)> = Vec::new();
    for (name, actions) in parse_scopes(req.query_string())? {
        let (repo, image) = match &fixed {
            Fixed::Repository(repo) => (repo.clone(), name),
            Fixed::Shared => match name.split_once('/') {
                Some((repo, image)) => (front.repos.get(repo), image.to_owned()),
                None => (None, name),
            },
        };
        // Scopes for repositories that do not exist, or malformed names, are simply not
        // granted: the token is still issued, with less access (the spec's intersection).
        if let Some(repo) = repo.filter(|_| route::is_name(&image)) {
            targets.push((repo, image, actions));
        }
    }
    let requested: Vec<RequestedAccess<'_>> = targets
        .iter()
        .map(|(repo, image, actions)| RequestedAccess {
            repo: repo.config(),
            name: image.clone(),
            actions: scope::parse(actions),
        })
        .collect();
    let token = auth
        .tokens
        .issue_for(&identity, &requested)
        .map_err(|e| OciError::from_core(e, Subject::Repository))?;
    Ok(HttpResponse::Ok().json(json!({
        "token": token.token,
        "access_token": token.token,
        "expires_in": token.expires_in,
        "issued_at": token.issued_at,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let s = parse_scopes("service=trove&scope=repository:a/b:pull,push&scope=repository:c:pull%20registry:catalog:*%20repository:d:*").unwrap();
        assert_eq!(
            s,
            [
                ("a/b".to_owned(), vec!["pull".to_owned(), "push".to_owned()]),
                ("c".to_owned(), vec!["pull".to_owned()]),
                ("d".to_owned(), vec!["*".to_owned()]),
            ]
        );
        assert!(parse_scopes("scope=repository:nocolon").unwrap().is_empty());
    }
}
