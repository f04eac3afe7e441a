//! The storage lifecycle (issue 15): `/service/rest/v1/tasks` (garbage collection, each
//! cleanup policy, upload expiry: last runs, next run, run now or as a dry run),
//! `/service/rest/v1/cleanup-policies`, and `POST /repositories/{name}/purge`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, Caller, created, no_content};
use trove_service::{PolicyInput, PolicyView, PurgeView, RunView, Service, TaskView};

type Name = web::Path<String>;

pub(super) async fn tasks(
    svc: web::Data<Service>,
    caller: Caller,
) -> Result<web::Json<Vec<TaskView>>, ApiError> {
    Ok(web::Json(svc.tasks(&caller).await?))
}

pub(super) async fn task(
    svc: web::Data<Service>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<web::Json<TaskView>, ApiError> {
    Ok(web::Json(svc.task(&caller, &id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RunQuery {
    /// Report what the run would delete and free, and change nothing.
    #[serde(default)]
    dry_run: bool,
}

/// Runs the task and answers the run once it ended (it goes on if the client goes away).
pub(super) async fn run(
    svc: web::Data<Service>,
    caller: Caller,
    id: web::Path<String>,
    q: web::Query<RunQuery>,
) -> Result<web::Json<RunView>, ApiError> {
    Ok(web::Json(svc.run_task(&caller, &id, q.dry_run).await?))
}

pub(super) async fn policies(
    svc: web::Data<Service>,
    caller: Caller,
) -> Result<web::Json<Vec<PolicyView>>, ApiError> {
    Ok(web::Json(svc.cleanup_policies(&caller).await?))
}

pub(super) async fn create_policy(
    svc: web::Data<Service>,
    caller: Caller,
    body: web::Json<PolicyInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(created(svc.create_cleanup_policy(&caller, &body).await?))
}

pub(super) async fn policy(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
) -> Result<web::Json<PolicyView>, ApiError> {
    Ok(web::Json(svc.cleanup_policy(&caller, &name).await?))
}

pub(super) async fn update_policy(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
    body: web::Json<PolicyInput>,
) -> Result<web::Json<PolicyView>, ApiError> {
    Ok(web::Json(
        svc.update_cleanup_policy(&caller, &name, &body).await?,
    ))
}

pub(super) async fn delete_policy(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
) -> Result<HttpResponse, ApiError> {
    Ok(no_content(svc.delete_cleanup_policy(&caller, &name).await?))
}

pub(super) async fn purge(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
) -> Result<web::Json<PurgeView>, ApiError> {
    Ok(web::Json(svc.purge_repository(&caller, &name).await?))
}
