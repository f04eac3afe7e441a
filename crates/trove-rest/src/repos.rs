//! `/service/rest/v1/repositories`: list, show, create, edit and delete repositories.

use actix_web::{HttpResponse, web};

use super::{ApiError, Caller, created, no_content};
use trove_service::{RepoInput, RepoView, Service};

type Name = web::Path<String>;

pub(super) async fn list(
    svc: web::Data<Service>,
    caller: Caller,
) -> Result<web::Json<Vec<RepoView>>, ApiError> {
    Ok(web::Json(svc.repositories(&caller).await?))
}

pub(super) async fn create(
    svc: web::Data<Service>,
    caller: Caller,
    body: web::Json<RepoInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(created(svc.create_repository(&caller, &body).await?))
}

pub(super) async fn get(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
) -> Result<web::Json<RepoView>, ApiError> {
    Ok(web::Json(svc.repository(&caller, &name).await?))
}

pub(super) async fn update(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
    body: web::Json<RepoInput>,
) -> Result<web::Json<RepoView>, ApiError> {
    Ok(web::Json(
        svc.update_repository(&caller, &name, &body).await?,
    ))
}

pub(super) async fn delete(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
) -> Result<HttpResponse, ApiError> {
    Ok(no_content(svc.delete_repository(&caller, &name).await?))
}
