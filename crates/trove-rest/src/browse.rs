//! `/service/rest/v1/repositories/{name}/components`, `.../components/assets` and
//! `.../assets`: a repository's content through its format's browse views (components, a
//! component's assets, one asset), for every format that has them. Names may contain `/`
//! (docker images), so they travel in the query string.
//!
//! `.../images`, `.../images/tags` and `.../manifests` are the same views under docker's words,
//! as the API had them before there were other formats: each row is the format's own JSON
//! (`facts`), under the keys clients of those paths read.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trove_service::{AssetView, ComponentView, RepoContent, Service};

use super::{ApiError, Caller, no_content};

type Name = web::Path<String>;

pub(super) async fn components(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
) -> Result<web::Json<RepoContent>, ApiError> {
    Ok(web::Json(svc.browse(&caller, &name).await?))
}

#[derive(Deserialize)]
pub(super) struct ComponentQuery {
    component: String,
}

pub(super) async fn component(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
    q: web::Query<ComponentQuery>,
) -> Result<web::Json<ComponentView>, ApiError> {
    Ok(web::Json(
        svc.component(&caller, &name, &q.component).await?,
    ))
}

#[derive(Deserialize)]
pub(super) struct AssetQuery {
    component: String,
    reference: String,
}

pub(super) async fn asset(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
    q: web::Query<AssetQuery>,
) -> Result<web::Json<AssetView>, ApiError> {
    Ok(web::Json(
        svc.asset(&caller, &name, &q.component, &q.reference)
            .await?,
    ))
}

pub(super) async fn delete_asset(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
    q: web::Query<AssetQuery>,
) -> Result<HttpResponse, ApiError> {
    delete(&svc, &caller, &name, &q.component, &q.reference).await
}

async fn delete(
    svc: &Service,
    caller: &trove_service::Actor,
    repo: &str,
    component: &str,
    reference: &str,
) -> Result<HttpResponse, ApiError> {
    Ok(no_content(
        svc.delete_asset(caller, repo, component, reference).await?,
    ))
}

// ---- docker's words ---------------------------------------------------------------------------

/// `.../images`: the components' own JSON under `images`.
#[derive(Serialize)]
pub(super) struct Images {
    repository: String,
    kind: trove_core::RepoKind,
    images: Vec<Value>,
    members: Vec<String>,
}

pub(super) async fn images(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
) -> Result<web::Json<Images>, ApiError> {
    let c = svc.browse(&caller, &name).await?;
    Ok(web::Json(Images {
        repository: c.repository,
        kind: c.kind,
        images: c
            .components
            .map(|l| l.entries.into_iter().map(|e| e.facts).collect())
            .unwrap_or_default(),
        members: c.members,
    }))
}

#[derive(Deserialize)]
pub(super) struct ImageQuery {
    image: String,
}

/// `.../images/tags`: a component's assets' own JSON under `manifests`.
#[derive(Serialize)]
pub(super) struct ImageTags {
    repository: String,
    image: String,
    manifests: Vec<Value>,
    can_delete: bool,
}

pub(super) async fn image(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
    q: web::Query<ImageQuery>,
) -> Result<web::Json<ImageTags>, ApiError> {
    let v = svc.component(&caller, &name, &q.image).await?;
    Ok(web::Json(ImageTags {
        repository: v.repository,
        image: v.component,
        manifests: v.assets.entries.into_iter().map(|e| e.facts).collect(),
        can_delete: v.can_delete,
    }))
}

#[derive(Deserialize)]
pub(super) struct ManifestQuery {
    image: String,
    /// A tag or a digest.
    reference: String,
}

/// `.../manifests`: the asset's own JSON.
pub(super) async fn manifest(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
    q: web::Query<ManifestQuery>,
) -> Result<web::Json<Value>, ApiError> {
    let v = svc.asset(&caller, &name, &q.image, &q.reference).await?;
    Ok(web::Json(v.detail.facts))
}

pub(super) async fn delete_manifest(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
    q: web::Query<ManifestQuery>,
) -> Result<HttpResponse, ApiError> {
    delete(&svc, &caller, &name, &q.image, &q.reference).await
}
