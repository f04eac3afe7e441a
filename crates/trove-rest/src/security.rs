//! `/service/rest/v1/security/...`: users, roles, privileges, anonymous access, realms and
//! access explanations.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, Caller, created, no_content};
use trove_service::{
    AnonymousView, ExplainView, PasswordChange, PrivilegeInput, PrivilegeView, RealmsView,
    RoleInput, RoleView, Service, UserInput, UserUpdate, UserView,
};

type Name = web::Path<String>;

// ---- users ------------------------------------------------------------------------------------

pub(super) async fn users(
    svc: web::Data<Service>,
    caller: Caller,
) -> Result<web::Json<Vec<UserView>>, ApiError> {
    Ok(web::Json(svc.users(&caller).await?))
}

pub(super) async fn create_user(
    svc: web::Data<Service>,
    caller: Caller,
    body: web::Json<UserInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(created(svc.create_user(&caller, &body).await?))
}

pub(super) async fn user(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
) -> Result<web::Json<UserView>, ApiError> {
    Ok(web::Json(svc.user(&caller, &name).await?))
}

pub(super) async fn update_user(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
    body: web::Json<UserUpdate>,
) -> Result<web::Json<UserView>, ApiError> {
    Ok(web::Json(svc.update_user(&caller, &name, &body).await?))
}

pub(super) async fn delete_user(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
) -> Result<HttpResponse, ApiError> {
    Ok(no_content(svc.delete_user(&caller, &name).await?))
}

pub(super) async fn change_own_password(
    svc: web::Data<Service>,
    caller: Caller,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    Ok(no_content(svc.change_own_password(&caller, &body).await?))
}

// ---- roles ------------------------------------------------------------------------------------

pub(super) async fn roles(
    svc: web::Data<Service>,
    caller: Caller,
) -> Result<web::Json<Vec<RoleView>>, ApiError> {
    Ok(web::Json(svc.roles(&caller).await?))
}

pub(super) async fn create_role(
    svc: web::Data<Service>,
    caller: Caller,
    body: web::Json<RoleInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(created(svc.create_role(&caller, &body).await?))
}

pub(super) async fn role(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
) -> Result<web::Json<RoleView>, ApiError> {
    Ok(web::Json(svc.role(&caller, &name).await?))
}

pub(super) async fn update_role(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
    body: web::Json<RoleInput>,
) -> Result<web::Json<RoleView>, ApiError> {
    Ok(web::Json(svc.update_role(&caller, &name, &body).await?))
}

pub(super) async fn delete_role(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
) -> Result<HttpResponse, ApiError> {
    Ok(no_content(svc.delete_role(&caller, &name).await?))
}

// ---- privileges -------------------------------------------------------------------------------

pub(super) async fn privileges(
    svc: web::Data<Service>,
    caller: Caller,
) -> Result<web::Json<Vec<PrivilegeView>>, ApiError> {
    Ok(web::Json(svc.privileges(&caller).await?))
}

pub(super) async fn create_privilege(
    svc: web::Data<Service>,
    caller: Caller,
    body: web::Json<PrivilegeInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(created(svc.create_privilege(&caller, &body).await?))
}

pub(super) async fn privilege(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
) -> Result<web::Json<PrivilegeView>, ApiError> {
    Ok(web::Json(svc.privilege(&caller, &name).await?))
}

pub(super) async fn delete_privilege(
    svc: web::Data<Service>,
    caller: Caller,
    name: Name,
) -> Result<HttpResponse, ApiError> {
    Ok(no_content(svc.delete_privilege(&caller, &name).await?))
}

// ---- anonymous access and realms ----------------------------------------------------------------

pub(super) async fn anonymous(
    svc: web::Data<Service>,
    caller: Caller,
) -> Result<web::Json<AnonymousView>, ApiError> {
    Ok(web::Json(svc.anonymous(&caller).await?))
}

/// `PUT /security/anonymous` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AnonymousInput {
    enabled: bool,
}

pub(super) async fn set_anonymous(
    svc: web::Data<Service>,
    caller: Caller,
    body: web::Json<AnonymousInput>,
) -> Result<web::Json<AnonymousView>, ApiError> {
    Ok(web::Json(svc.set_anonymous(&caller, body.enabled).await?))
}

pub(super) async fn realms(
    svc: web::Data<Service>,
    caller: Caller,
) -> Result<web::Json<RealmsView>, ApiError> {
    Ok(web::Json(svc.realms(&caller).await?))
}

/// `PUT /security/realms/active` body: the realm names, in order, as Nexus takes them.
pub(super) async fn set_realms(
    svc: web::Data<Service>,
    caller: Caller,
    body: web::Json<Vec<String>>,
) -> Result<web::Json<RealmsView>, ApiError> {
    Ok(web::Json(svc.set_realms(&caller, &body).await?))
}

// ---- explanations -----------------------------------------------------------------------------

#[derive(Deserialize)]
pub(super) struct ExplainQuery {
    user: String,
    repo: String,
    action: String,
}

pub(super) async fn explain(
    svc: web::Data<Service>,
    caller: Caller,
    q: web::Query<ExplainQuery>,
) -> Result<web::Json<ExplainView>, ApiError> {
    Ok(web::Json(
        svc.explain(&caller, &q.user, &q.repo, &q.action).await?,
    ))
}
