//! `/service/rest/v1/security/user-tokens` (API tokens) and `/service/rest/v1/audit` (the audit
//! log, read-only: there is no endpoint that changes it).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, Caller, created, no_content};
use trove_service::audit::AuditEntry;
use trove_service::{AuditFilter, Service, TokenInput, TokenView};

type Name = web::Path<String>;

/// `?user=`: whose tokens (administrators only for someone else's).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserQuery {
    #[serde(default)]
    user: Option<String>,
}

pub(super) async fn create_token(
    svc: web::Data<Service>,
    caller: Caller,
    body: web::Json<TokenInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(created(svc.create_token(&caller, &body).await?))
}

pub(super) async fn tokens(
    svc: web::Data<Service>,
    caller: Caller,
    q: web::Query<UserQuery>,
) -> Result<web::Json<Vec<TokenView>>, ApiError> {
    Ok(web::Json(svc.tokens(&caller, q.user.as_deref()).await?))
}

pub(super) async fn revoke_token(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
    q: web::Query<UserQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(no_content(
        svc.revoke_token(&caller, &name, q.user.as_deref()).await?,
    ))
}

pub(super) async fn audit(
    svc: web::Data<Service>,
    caller: Caller,
    q: web::Query<AuditFilter>,
) -> Result<web::Json<Vec<AuditEntry>>, ApiError> {
    Ok(web::Json(svc.audit(&caller, &q).await?))
}

/// Every matching entry as JSON lines (`application/x-ndjson`), streamed page by page.
pub(super) async fn export(
    svc: web::Data<Service>,
    caller: Caller,
    q: web::Query<AuditFilter>,
) -> Result<HttpResponse, ApiError> {
    let pages = svc.audit_export(&caller, &q)?;
    let body = futures_util::stream::unfold(Some(pages), |pages| async move {
        let mut pages = pages?;
        match pages.next().await {
            Ok(Some(lines)) => Some((Ok(web::Bytes::from(lines)), Some(pages))),
            Ok(None) => None,
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"trove-audit.jsonl\"",
        ))
        .streaming(body))
}
