//! `/service/rest/v1/routing-rules`: routing rules, a stored rule tested against a path, and a
//! draft previewed before it is saved.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, Caller, created, no_content};
use trove_service::{RuleInput, RuleTestView, RuleView, Service};

type Name = web::Path<String>;

pub(super) async fn list(
    svc: web::Data<Service>,
    caller: Caller,
) -> Result<web::Json<Vec<RuleView>>, ApiError> {
    Ok(web::Json(svc.rules(&caller).await?))
}

pub(super) async fn create(
    svc: web::Data<Service>,
    caller: Caller,
    body: web::Json<RuleInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(created(svc.create_rule(&caller, &body).await?))
}

pub(super) async fn get(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
) -> Result<web::Json<RuleView>, ApiError> {
    Ok(web::Json(svc.rule(&caller, &name).await?))
}

pub(super) async fn update(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
    body: web::Json<RuleInput>,
) -> Result<web::Json<RuleView>, ApiError> {
    Ok(web::Json(svc.update_rule(&caller, &name, &body).await?))
}

pub(super) async fn delete(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
) -> Result<HttpResponse, ApiError> {
    Ok(no_content(svc.delete_rule(&caller, &name).await?))
}

#[derive(Deserialize)]
pub(super) struct TestQuery {
    /// A request path, `/v2/<image>/manifests/<tag>`.
    path: String,
}

pub(super) async fn test(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
    q: web::Query<TestQuery>,
) -> Result<web::Json<RuleTestView>, ApiError> {
    Ok(web::Json(svc.test_rule(&caller, &name, &q.path).await?))
}

/// `POST /routing-rules/preview` body: a draft rule and a path.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Preview {
    rule: RuleInput,
    path: String,
}

pub(super) async fn preview(
    svc: web::Data<Service>,
    caller: Caller,
    body: web::Json<Preview>,
) -> Result<web::Json<RuleTestView>, ApiError> {
    Ok(web::Json(
        svc.preview_rule(&caller, &body.rule, &body.path)?,
    ))
}
