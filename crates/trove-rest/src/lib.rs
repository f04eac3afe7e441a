//! The JSON REST API of Trove on the main port: `/service/rest/v1/...` (the paths of Nexus'
//! REST API families), `/metrics` (Prometheus text) and `/service/rest/openapi.json` (its
//! OpenAPI 3.0 description, `openapi.json` beside this file, kept in step with the routes by a
//! test). docs/api.md is the user's guide. `trove-server` mounts [`configure`] on its main
//! port with a `web::Data<Service>`.
//!
//! It owns the HTTP shape of the service layer: routes, authentication from the
//! `Authorization` header, JSON bodies and the one error shape. It must never depend on the
//! console (`trove-ui`), the server (`trove-server`), the stores or the repository kinds: it
//! reaches everything through `trove-service`.
//!
//! Handlers contain no logic: parse the request, call one [`Service`] function, serialize the
//! result or the [`ServiceError`]. Every error has one JSON shape,
//! `{"error": {"code": "INVALID", "message": "...", "field": "name"}}`, also for bodies and
//! query strings actix refuses, unknown paths (404) and methods (405).
//!
//! Authentication: the `Authorization` header only (Basic with a local user, a Bearer token
//! from `/v2/token`, or an API token in any form), checked by a middleware before any extractor runs, so a request without
//! credentials is answered 401 before its body is read. No cookies (the console's sessions are
//! not accepted here), hence no CSRF tokens; bodies must be `application/json`, which a
//! cross-site form cannot send.
//!
//! Routes are one table ([`routes`]); a test checks it against the OpenAPI document both ways.

mod browse;
mod formats;
mod governance;
mod lifecycle;
#[cfg(test)]
mod openapi_tests;
mod repos;
mod rules;
mod security;
mod status;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::{self, Next};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, Route, web};
use serde::Serialize;
use trove_service::{Actor, FrontEnd, Service, ServiceError};

pub use status::OPENAPI;

/// Where the REST API lives; every table path under it is mounted in one scope.
const PREFIX: &str = "/service/rest";

/// Largest JSON body accepted.
pub const JSON_LIMIT: usize = 1 << 20;

/// One endpoint: method, full path (actix/OpenAPI `{param}` syntax) and its handler.
struct Endpoint {
    method: Method,
    path: &'static str,
    to: fn(Route) -> Route,
}

fn ep(method: Method, path: &'static str, to: fn(Route) -> Route) -> Endpoint {
    Endpoint { method, path, to }
}

/// Every endpoint, in registration order. A path without parameters that a parametric path
/// also matches (`routing-rules/preview` and `routing-rules/{name}`) comes first and passes
/// other methods on.
fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        ep(M::GET, "/metrics", |r| r.to(status::metrics)),
        ep(M::GET, "/service/rest/openapi.json", |r| {
            r.to(status::openapi)
        }),
        ep(M::GET, "/service/rest/v1/status", |r| r.to(status::status)),
        ep(M::GET, "/service/rest/v1/status/writable", |r| {
            r.to(status::writable)
        }),
        ep(M::GET, "/service/rest/v1/dashboard", |r| {
            r.to(status::dashboard)
        }),
        ep(M::GET, "/service/rest/v1/blobstores", |r| {
            r.to(status::blob_stores)
        }),
        ep(M::GET, "/service/rest/v1/formats", |r| r.to(formats::list)),
        // Repositories and their content.
        ep(M::GET, "/service/rest/v1/repositories", |r| {
            r.to(repos::list)
        }),
        ep(M::POST, "/service/rest/v1/repositories", |r| {
            r.to(repos::create)
        }),
        ep(M::GET, "/service/rest/v1/repositories/{name}", |r| {
            r.to(repos::get)
        }),
        ep(M::PUT, "/service/rest/v1/repositories/{name}", |r| {
            r.to(repos::update)
        }),
        ep(M::DELETE, "/service/rest/v1/repositories/{name}", |r| {
            r.to(repos::delete)
        }),
        ep(
            M::GET,
            "/service/rest/v1/repositories/{name}/components",
            |r| r.to(browse::components),
        ),
        ep(
            M::GET,
            "/service/rest/v1/repositories/{name}/components/assets",
            |r| r.to(browse::component),
        ),
        ep(M::GET, "/service/rest/v1/repositories/{name}/assets", |r| {
            r.to(browse::asset)
        }),
        ep(
            M::DELETE,
            "/service/rest/v1/repositories/{name}/assets",
            |r| r.to(browse::delete_asset),
        ),
        ep(
            M::POST,
            "/service/rest/v1/repositories/{name}/assets/actions",
            |r| r.to(browse::act_on_asset),
        ),
        // The same views under docker's words, as the API had them before other formats.
        ep(M::GET, "/service/rest/v1/repositories/{name}/images", |r| {
            r.to(browse::images)
        }),
        ep(
            M::GET,
            "/service/rest/v1/repositories/{name}/images/tags",
            |r| r.to(browse::image),
        ),
        ep(
            M::GET,
            "/service/rest/v1/repositories/{name}/manifests",
            |r| r.to(browse::manifest),
        ),
        ep(
            M::DELETE,
            "/service/rest/v1/repositories/{name}/manifests",
            |r| r.to(browse::delete_manifest),
        ),
        // Security.
        ep(M::PUT, "/service/rest/v1/security/users/me/password", |r| {
            r.to(security::change_own_password)
        }),
        ep(M::GET, "/service/rest/v1/security/users", |r| {
            r.to(security::users)
        }),
        ep(M::POST, "/service/rest/v1/security/users", |r| {
            r.to(security::create_user)
        }),
        ep(M::GET, "/service/rest/v1/security/users/{name}", |r| {
            r.to(security::user)
        }),
        ep(M::PUT, "/service/rest/v1/security/users/{name}", |r| {
            r.to(security::update_user)
        }),
        ep(M::DELETE, "/service/rest/v1/security/users/{name}", |r| {
            r.to(security::delete_user)
        }),
        ep(M::GET, "/service/rest/v1/security/roles", |r| {
            r.to(security::roles)
        }),
        ep(M::POST, "/service/rest/v1/security/roles", |r| {
            r.to(security::create_role)
        }),
        ep(M::GET, "/service/rest/v1/security/roles/{name}", |r| {
            r.to(security::role)
        }),
        ep(M::PUT, "/service/rest/v1/security/roles/{name}", |r| {
            r.to(security::update_role)
        }),
        ep(M::DELETE, "/service/rest/v1/security/roles/{name}", |r| {
            r.to(security::delete_role)
        }),
        ep(M::GET, "/service/rest/v1/security/privileges", |r| {
            r.to(security::privileges)
        }),
        ep(M::POST, "/service/rest/v1/security/privileges", |r| {
            r.to(security::create_privilege)
        }),
        ep(M::GET, "/service/rest/v1/security/privileges/{name}", |r| {
            r.to(security::privilege)
        }),
        ep(
            M::DELETE,
            "/service/rest/v1/security/privileges/{name}",
            |r| r.to(security::delete_privilege),
        ),
        ep(M::GET, "/service/rest/v1/security/anonymous", |r| {
            r.to(security::anonymous)
        }),
        ep(M::PUT, "/service/rest/v1/security/anonymous", |r| {
            r.to(security::set_anonymous)
        }),
        ep(M::GET, "/service/rest/v1/security/realms/active", |r| {
            r.to(security::realms)
        }),
        ep(M::PUT, "/service/rest/v1/security/realms/active", |r| {
            r.to(security::set_realms)
        }),
        // The LDAP realm (issue 16).
        ep(M::GET, "/service/rest/v1/security/ldap", |r| {
            r.to(security::ldap)
        }),
        ep(M::PUT, "/service/rest/v1/security/ldap", |r| {
            r.to(security::set_ldap)
        }),
        ep(M::POST, "/service/rest/v1/security/ldap/test", |r| {
            r.to(security::test_ldap)
        }),
        ep(M::GET, "/service/rest/v1/security/access/explain", |r| {
            r.to(security::explain)
        }),
        // API tokens and the audit log (issue 16).
        ep(M::GET, "/service/rest/v1/security/user-tokens", |r| {
            r.to(governance::tokens)
        }),
        ep(M::POST, "/service/rest/v1/security/user-tokens", |r| {
            r.to(governance::create_token)
        }),
        ep(
            M::DELETE,
            "/service/rest/v1/security/user-tokens/{name}",
            |r| r.to(governance::revoke_token),
        ),
        ep(M::GET, "/service/rest/v1/audit/export", |r| {
            r.to(governance::export)
        }),
        ep(M::GET, "/service/rest/v1/audit", |r| {
            r.to(governance::audit)
        }),
        // Routing rules.
        ep(M::POST, "/service/rest/v1/routing-rules/preview", |r| {
            r.to(rules::preview)
        }),
        ep(M::GET, "/service/rest/v1/routing-rules", |r| {
            r.to(rules::list)
        }),
        ep(M::POST, "/service/rest/v1/routing-rules", |r| {
            r.to(rules::create)
        }),
        ep(M::GET, "/service/rest/v1/routing-rules/{name}", |r| {
            r.to(rules::get)
        }),
        ep(M::PUT, "/service/rest/v1/routing-rules/{name}", |r| {
            r.to(rules::update)
        }),
        ep(M::DELETE, "/service/rest/v1/routing-rules/{name}", |r| {
            r.to(rules::delete)
        }),
        ep(M::GET, "/service/rest/v1/routing-rules/{name}/test", |r| {
            r.to(rules::test)
        }),
        // The storage lifecycle: tasks, cleanup policies, purging a repository.
        ep(M::GET, "/service/rest/v1/tasks", |r| r.to(lifecycle::tasks)),
        ep(M::GET, "/service/rest/v1/tasks/{id}", |r| {
            r.to(lifecycle::task)
        }),
        ep(M::POST, "/service/rest/v1/tasks/{id}/run", |r| {
            r.to(lifecycle::run)
        }),
        ep(M::GET, "/service/rest/v1/cleanup-policies", |r| {
            r.to(lifecycle::policies)
        }),
        ep(M::POST, "/service/rest/v1/cleanup-policies", |r| {
            r.to(lifecycle::create_policy)
        }),
        ep(M::GET, "/service/rest/v1/cleanup-policies/{name}", |r| {
            r.to(lifecycle::policy)
        }),
        ep(M::PUT, "/service/rest/v1/cleanup-policies/{name}", |r| {
            r.to(lifecycle::update_policy)
        }),
        ep(M::DELETE, "/service/rest/v1/cleanup-policies/{name}", |r| {
            r.to(lifecycle::delete_policy)
        }),
        ep(M::POST, "/service/rest/v1/repositories/{name}/purge", |r| {
            r.to(lifecycle::purge)
        }),
    ]
}

/// `(method, path)` of every endpoint this module mounts (for the OpenAPI drift test).
pub fn routes() -> Vec<(Method, &'static str)> {
    endpoints()
        .into_iter()
        .map(|e| (e.method, e.path))
        .collect()
}

/// Mounts the API; the app must have a `web::Data<Service>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let endpoints = endpoints();
    let mut paths: Vec<&'static str> = Vec::new();
    for e in &endpoints {
        if !paths.contains(&e.path) {
            paths.push(e.path);
        }
    }
    let mut scope = web::scope(PREFIX)
        .app_data(json_config())
        .app_data(query_config())
        .default_service(web::to(no_endpoint))
        .wrap(middleware::from_fn(authenticate));
    for path in &paths {
        let here: Vec<&Endpoint> = endpoints.iter().filter(|e| e.path == *path).collect();
        let allow = here
            .iter()
            .map(|e| e.method.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut resource = web::resource(path.strip_prefix(PREFIX).unwrap_or(path));
        if paths
            .iter()
            .any(|other| other != path && shadows(other, path))
        {
            let mut methods = here.iter().map(|e| e.method.clone());
            let first = actix_web::guard::Method(methods.next().expect("one endpoint"));
            resource = resource.guard(methods.fold(actix_web::guard::Any(first), |any, m| {
                any.or(actix_web::guard::Method(m))
            }));
        }
        for e in &here {
            resource = resource.route((e.to)(web::method(e.method.clone())));
        }
        resource = resource.default_service(web::to(move |req: HttpRequest| {
            let allow = allow.clone();
            async move { method_not_allowed(&req, &allow) }
        }));
        if path.starts_with(PREFIX) {
            scope = scope.service(resource);
        } else {
            cfg.service(resource.wrap(middleware::from_fn(authenticate)));
        }
    }
    cfg.service(scope);
}

/// Whether parametric path `pattern` also matches the literal `path` (segment by segment).
fn shadows(pattern: &str, path: &str) -> bool {
    let (a, b): (Vec<_>, Vec<_>) = (pattern.split('/').collect(), path.split('/').collect());
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(p, s)| p == s || (p.starts_with('{') && !s.starts_with('{')))
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(JSON_LIMIT)
        // `application/json` (or `application/<x>+json`) only, as the docs say: actix would
        // also take `text/json`, and a missing content type.
        .content_type_required(true)
        .content_type(|mime| {
            mime.type_() == "application"
                && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
        })
        .error_handler(|e, _| ApiError::from_json(e).into())
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|e, _| ApiError::from_query(e).into())
}

// ---- authentication -------------------------------------------------------------------------

/// What the middleware made of the `Authorization` header, for [`Caller`].
#[derive(Clone)]
struct Authenticated(Result<Actor, ServiceError>);

/// Authenticates before routing and extraction: a missing or bad `Authorization` header is
/// answered 401 by [`Caller`] before a body extractor can answer 400. Endpoints without a
/// `Caller` (status, the OpenAPI document) ignore the outcome.
async fn authenticate<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<B>>, actix_web::Error> {
    if let Some(service) = req.app_data::<web::Data<Service>>() {
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .collect();
        let ip = service.client_ip(
            req.peer_addr().map(|a| a.ip()),
            Some(forwarded.join(","))
                .as_deref()
                .filter(|f| !f.is_empty()),
        );
        let from = Actor::anonymous(FrontEnd::Rest, ip);
        let outcome = match req.headers().get(header::AUTHORIZATION).map(|v| v.to_str()) {
            None => service.identify(None, &from).await,
            Some(Ok(value)) => service.identify(Some(value), &from).await,
            Some(Err(_)) => Err(ServiceError::Unauthenticated {
                message: "the Authorization header is not valid text".into(),
            }),
        }
        .map(|identity| Actor::new(identity, FrontEnd::Rest, ip));
        let authenticated = outcome.is_ok();
        req.extensions_mut().insert(Authenticated(outcome));
        // actix's JSON extractor also reads `text/json`; the docs promise 415 for anything but
        // `application/json` (or `application/<x>+json`). After authentication: a caller
        // without credentials learns that first.
        if authenticated && !json_or_absent(&req) {
            let e = ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "INVALID",
                "send the body as JSON with Content-Type: application/json".into(),
                None,
            );
            return Ok(req.error_response(e).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Whether the request's `Content-Type` is absent or JSON.
fn json_or_absent(req: &ServiceRequest) -> bool {
    let Some(v) = req.headers().get(header::CONTENT_TYPE) else {
        return true;
    };
    use actix_web::mime;
    let Ok(mime) = v.to_str().unwrap_or_default().parse::<mime::Mime>() else {
        return false;
    };
    mime.type_() == mime::APPLICATION
        && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
}

/// The authenticated caller of a request (anonymous when there are no credentials and
/// anonymous access is on; a 401 otherwise), with its address and the API token it used.
pub(crate) struct Caller(Actor);

impl std::ops::Deref for Caller {
    type Target = Actor;
    fn deref(&self) -> &Actor {
        &self.0
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(match req.extensions().get::<Authenticated>() {
            Some(Authenticated(Ok(p))) => Ok(Caller(p.clone())),
            Some(Authenticated(Err(e))) => Err(e.clone().into()),
            None => Err(ServiceError::Internal {
                message: "the REST authentication middleware is not mounted".into(),
            }
            .into()),
        })
    }
}

// ---- responses and errors -------------------------------------------------------------------

/// 201 with the created entity.
fn created<T: Serialize>(view: T) -> HttpResponse {
    HttpResponse::Created().json(view)
}

/// 204 after a delete or a change without a body to return.
fn no_content(_: ()) -> HttpResponse {
    HttpResponse::NoContent().finish()
}

/// Every error answer: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    error: serde_json::Value,
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        ApiError {
            status: StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            error: serde_json::to_value(&e).unwrap_or_else(|_| serde_json::json!({})),
        }
    }
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: String, field: Option<String>) -> Self {
        let mut error = serde_json::json!({ "code": code, "message": message });
        if let Some(field) = field {
            error["field"] = field.into();
        }
        ApiError { status, error }
    }

    fn invalid(message: String, field: Option<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID", message, field)
    }

    /// A body actix could not read as the endpoint's input type.
    fn from_json(e: JsonPayloadError) -> Self {
        match e {
            JsonPayloadError::ContentType => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "INVALID",
                "send the body as JSON with Content-Type: application/json".into(),
                None,
            ),
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "INVALID",
                    format!("the body is larger than {JSON_LIMIT} bytes"),
                    None,
                )
            }
            JsonPayloadError::Deserialize(e) if e.is_data() => {
                let msg = e.to_string();
                ApiError::invalid(format!("body: {msg}"), field_named_in(&msg))
            }
            JsonPayloadError::Deserialize(e) => {
                ApiError::invalid(format!("the body is not valid JSON: {e}"), None)
            }
            other => ApiError::invalid(format!("body: {other}"), None),
        }
    }

    /// A query string actix could not read as the endpoint's parameters.
    fn from_query(e: QueryPayloadError) -> Self {
        match e {
            QueryPayloadError::Deserialize(e) => {
                let msg = e.to_string();
                ApiError::invalid(format!("query string: {msg}"), field_named_in(&msg))
            }
            other => ApiError::invalid(format!("query string: {other}"), None),
        }
    }
}

/// The field serde names in "missing field `x`" or "unknown field `x`, expected ...".
fn field_named_in(message: &str) -> Option<String> {
    ["missing field `", "unknown field `"].iter().find_map(|p| {
        let rest = &message[message.find(p)? + p.len()..];
        Some(rest[..rest.find('`')?].to_owned())
    })
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.error["message"].as_str().unwrap_or("error"))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"trove\""));
        }
        res.json(serde_json::json!({ "error": self.error }))
    }
}

async fn no_endpoint(req: HttpRequest) -> HttpResponse {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!(
            "no endpoint {} {}; see {PREFIX}/openapi.json",
            req.method(),
            req.path()
        ),
        None,
    )
    .error_response()
}

fn method_not_allowed(req: &HttpRequest, allow: &str) -> HttpResponse {
    let mut res = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!(
            "{} {} is not supported (allowed: {allow})",
            req.method(),
            req.path()
        ),
        None,
    )
    .error_response();
    if let Ok(v) = header::HeaderValue::from_str(allow) {
        res.headers_mut().insert(header::ALLOW, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadowing_and_field_names() {
        assert!(shadows("/a/{name}", "/a/preview"));
        assert!(!shadows("/a/{name}", "/a/me/password"));
        assert!(!shadows("/a/b", "/a/c"));
        assert_eq!(
            field_named_in("unknown field `nmae`, expected one of `name`").as_deref(),
            Some("nmae")
        );
        assert_eq!(
            field_named_in("missing field `image`").as_deref(),
            Some("image")
        );
        assert_eq!(field_named_in("invalid type: integer"), None);
    }

    /// A literal path a parametric one also matches must come first, or it is never reached.
    #[test]
    fn shadowed_paths_come_first() {
        let paths: Vec<&str> = endpoints().iter().map(|e| e.path).collect();
        for (i, pattern) in paths.iter().enumerate() {
            for (j, path) in paths.iter().enumerate() {
                if pattern != path && shadows(pattern, path) {
                    assert!(j < i, "{path} must be listed before {pattern}");
                }
            }
        }
    }
}
