//! `/service/rest/v1/repositories`: repositories and their content (images, tags, manifests).
//! Image names contain `/`, so they travel in the query string.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use trove_formats::docker::browse::ManifestDetail;

use super::{ApiError, Caller, created, no_content};
use crate::service::{ImageView, RepoContent, RepoInput, RepoView, Service};

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

pub(super) async fn images(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
) -> Result<web::Json<RepoContent>, ApiError> {
    Ok(web::Json(svc.browse(&caller, &name).await?))
}

#[derive(Deserialize)]
pub(super) struct ImageQuery {
    image: String,
}

pub(super) async fn image(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
    q: web::Query<ImageQuery>,
) -> Result<web::Json<ImageView>, ApiError> {
    Ok(web::Json(svc.image(&caller, &name, &q.image).await?))
}

#[derive(Deserialize)]
pub(super) struct ManifestQuery {
    image: String,
    /// A tag or a digest.
    reference: String,
}

pub(super) async fn manifest(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
    q: web::Query<ManifestQuery>,
) -> Result<web::Json<ManifestDetail>, ApiError> {
    Ok(web::Json(
        svc.manifest(&caller, &name, &q.image, &q.reference).await?,
    ))
}

pub(super) async fn delete_manifest(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
    q: web::Query<ManifestQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(no_content(
        svc.delete_manifest(&caller, &name, &q.image, &q.reference)
            .await?,
    ))
}
