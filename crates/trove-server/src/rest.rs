//! The admin REST API (`/service/rest/v1/...`, Nexus' paths). Today: the access explanation and
//! the routing-rule preview.
//! Every endpoint requires the admin privilege.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use trove_auth::{Action, Principal};
use trove_formats::docker::DockerApi;

/// The routing rules of the applied config, by name.
pub type Rules = std::sync::RwLock<
    std::collections::HashMap<String, std::sync::Arc<trove_routing::RoutingRule>>,
>;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/service/rest/v1/security/access/explain",
        web::get().to(explain),
    )
    .route(
        "/service/rest/v1/routing-rules/{name}/test",
        web::get().to(test_rule),
    );
}

#[derive(Deserialize)]
struct RuleTestQuery {
    path: String,
}

/// `GET /service/rest/v1/routing-rules/<name>/test?path=/v2/...`: would the rule let this
/// request path through, and why.
async fn test_rule(
    req: HttpRequest,
    api: web::Data<DockerApi>,
    rules: web::Data<Rules>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    if let Err(res) = require_admin(&req, &api).await {
        return res;
    }
    let name = req.match_info().get("name").unwrap_or_default().to_owned();
    let q = match web::Query::<RuleTestQuery>::from_query(req.query_string()) {
        Ok(q) => q.into_inner(),
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("query: {e} (need path)")),
    };
    let Some(rule) = rules.read().expect("rules lock").get(&name).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("routing rule {name:?} is not declared"),
        );
    };
    let path = match trove_core::AssetPath::parse(&q.path) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("path: {}", e.msg)),
    };
    HttpResponse::Ok().json(json!({
        "rule": name,
        "path": q.path,
        "allowed": rule.is_allowed(&path),
        "explanation": rule.explain(&path),
    }))
}

fn error(status: actix_web::http::StatusCode, message: &str) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    if status == actix_web::http::StatusCode::UNAUTHORIZED {
        res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"trove\""));
    }
    res.json(json!({ "error": message }))
}

/// Admin callers pass; anyone else gets 401 (no or bad credentials) or 403.
async fn require_admin(req: &HttpRequest, api: &DockerApi) -> Result<Principal, HttpResponse> {
    use actix_web::http::StatusCode;
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match api.auth.authenticator.authenticate(authorization).await {
        Ok(p) if api.auth.authorizer.is_admin(&p) => Ok(p),
        Ok(Principal::Anonymous) => Err(error(StatusCode::UNAUTHORIZED, "authentication required")),
        Ok(p) => Err(error(
            StatusCode::FORBIDDEN,
            &format!("{p} is not an administrator"),
        )),
        Err(e) => Err(error(StatusCode::UNAUTHORIZED, &e.to_string())),
    }
}

#[derive(Deserialize)]
struct ExplainQuery {
    user: String,
    repo: String,
    action: String,
}

/// `GET /service/rest/v1/security/access/explain?user=U&repo=R&action=A`: allowed or denied,
/// and which role and privilege decided it, or what is missing.
async fn explain(req: HttpRequest, api: web::Data<DockerApi>) -> HttpResponse {
    use actix_web::http::StatusCode;
    if let Err(res) = require_admin(&req, &api).await {
        return res;
    }
    let q = match web::Query::<ExplainQuery>::from_query(req.query_string()) {
        Ok(q) => q.into_inner(),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("query: {e} (need user, repo, action)"),
            );
        }
    };
    let action = match Action::parse(&q.action) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("action: {}", e.msg)),
    };
    let Some(repo) = api.repos.get(&q.repo) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("repository {:?} does not exist or is offline", q.repo),
        );
    };
    match api.auth.explain(&q.user, repo.config(), action).await {
        Ok(e) => HttpResponse::Ok().json(json!({
            "user": q.user,
            "repository": q.repo,
            "action": action.as_str(),
            "allowed": e.allowed,
            "roles": e.granted_by.as_ref().map(|(path, _)| path.clone()),
            "privilege": e.granted_by.as_ref().map(|(_, p)| p.clone()),
            "missing": e.missing,
            "explanation": e.to_string(),
        })),
        Err(e) => {
            tracing::error!(error = ?e, "explain failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
        }
    }
}
