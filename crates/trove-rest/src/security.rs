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

// ---- the LDAP realm (issue 16) ------------------------------------------------------------------

pub(super) async fn ldap(
    svc: web::Data<Service>,
    caller: Caller,
) -> Result<web::Json<trove_service::LdapView>, ApiError> {
    Ok(web::Json(svc.ldap(&caller).await?))
}

/// `PUT /security/ldap`: the `[ldap]` keys as JSON.
pub(super) async fn set_ldap(
    svc: web::Data<Service>,
    caller: Caller,
    body: web::Json<trove_auth::ldap::LdapConfig>,
) -> Result<web::Json<trove_service::LdapView>, ApiError> {
    Ok(web::Json(svc.set_ldap(&caller, &body).await?))
}

/// `POST /security/ldap/test` body: settings to test (default: the saved ones), and a user to
/// bind as (without one, only the connection is tested).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LdapTest {
    #[serde(default)]
    config: Option<trove_auth::ldap::LdapConfig>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    password: String,
}

pub(super) async fn test_ldap(
    svc: web::Data<Service>,
    caller: Caller,
    body: web::Json<LdapTest>,
) -> Result<web::Json<serde_json::Value>, ApiError> {
    let config = match &body.config {
        Some(c) => c.clone(),
        None => svc.ldap(&caller).await?.config.ok_or_else(|| {
            trove_service::ServiceError::invalid(
                "config",
                "no LDAP settings are saved: send them as config",
            )
        })?,
    };
    Ok(web::Json(match &body.user {
        None => {
            let message = svc.test_ldap_connection(&caller, &config).await?;
            serde_json::json!({ "ok": true, "message": message })
        }
        Some(user) => {
            let v = svc
                .test_ldap_login(&caller, &config, user, &body.password)
                .await?;
            serde_json::json!({
                "ok": v.signed_in, "message": v.outcome, "dn": v.dn,
                "groups": v.groups, "roles": v.roles,
            })
        }
    }))
}
