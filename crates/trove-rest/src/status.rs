//! Health (no authentication), the dashboard, the blob store, Prometheus metrics and the
//! OpenAPI document.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};

use super::{ApiError, Caller};
use trove_service::{BlobStoreView, Dashboard, Health, Service};

/// The OpenAPI 3.0 description of this module's endpoints.
pub const OPENAPI: &str = include_str!("openapi.json");

/// 200, or 503 when not ok (what load balancers look at); never cached.
fn health(h: Health) -> HttpResponse {
    let status = match h.ok {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    HttpResponse::build(status)
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .json(h)
}

pub(super) async fn status(svc: web::Data<Service>) -> HttpResponse {
    health(svc.health().await)
}

pub(super) async fn writable(svc: web::Data<Service>) -> HttpResponse {
    health(svc.health_writable().await)
}

pub(super) async fn dashboard(
    svc: web::Data<Service>,
    caller: Caller,
) -> Result<web::Json<Dashboard>, ApiError> {
    Ok(web::Json(svc.dashboard(&caller).await?))
}

/// Nexus lists blob stores; Trove has one.
pub(super) async fn blob_stores(
    svc: web::Data<Service>,
    caller: Caller,
) -> Result<web::Json<[BlobStoreView; 1]>, ApiError> {
    Ok(web::Json([svc.blob_store(&caller).await?]))
}

pub(super) async fn metrics(
    svc: web::Data<Service>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(svc.prometheus(&caller).await?))
}

pub(super) async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(header::ContentType::json())
        .body(OPENAPI)
}
