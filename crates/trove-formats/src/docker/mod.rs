//! The Docker / OCI distribution API (https://github.com/opencontainers/distribution-spec).
//!
//! One actix handler dispatches every `/v2/...` request: the pure parser in [`route`] turns the
//! path into a [`route::Route`], then one function per resource does one domain call and maps
//! the result. Repositories are found through `RepoLookup`, so this module never knows whether
//! a repository is hosted, a proxy or a group.

pub mod browse;
pub mod errors;
pub mod route;

mod auth;
mod blobs;
mod body;
mod manifests;
mod referrers;
mod spec;
mod tags;
mod token;
mod uploads;

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse, web};
use trove_auth::Action;
use trove_core::{AssetPath, BlobStore, Ctx, RepoLookup, RepoName, Repository};
use trove_store::MetadataStore;

pub use errors::{OciCode, OciError};

/// The pure parsers inside the handler modules, reached by the fuzz targets in `fuzz/`; not an
/// API for anything else.
#[doc(hidden)]
pub mod fuzzing {
    pub use super::manifests::{Manifest, media_type_of};
    pub use super::token::parse_scopes;
    pub use super::uploads::content_range;
}
pub use spec::DockerFormat;

use errors::Subject;
use route::Route;

/// On every registry response, errors and 401s included: without it `docker login` calls the
/// endpoint invalid (scenario S1).
pub const API_VERSION: (&str, &str) = ("Docker-Distribution-Api-Version", "registry/2.0");
pub const CONTENT_DIGEST: &str = "Docker-Content-Digest";

/// What the docker handlers share: set once as app data on every server that mounts them.
pub struct DockerApi {
    pub repos: Arc<dyn RepoLookup>,
    pub auth: trove_auth::Auth,
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub blobs: Arc<dyn BlobStore>,
    pub meta: MetadataStore,
}

/// App data of a connector bound to one repository, which serves it at `/v2/`.
#[derive(Clone, Debug)]
pub struct ConnectorRepo(pub RepoName);

/// How a listener addresses repositories.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mount {
    /// `/repository/<repo>/v2/<image>/...` (main port; what a rewriting proxy forwards to).
    PathBased,
    /// `/v2/<repo>/<image>/...` (main port; reachable by stock docker clients without a proxy).
    ByName,
    /// `/v2/<image>/...` on a port bound to one repository.
    Connector,
}

/// Mounts the main port's two forms: `/repository/<repo>/v2/...` and `/v2/<repo>/<image>/...`.
pub fn configure_main(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/repository/{repo}/v2{tail:.*}")
            .wrap(DefaultHeaders::new().add(API_VERSION))
            .route(
                web::route().to(|req, payload, api| dispatch(req, payload, api, Mount::PathBased)),
            ),
    )
    .service(
        web::resource("/v2{tail:.*}")
            .wrap(DefaultHeaders::new().add(API_VERSION))
            .route(web::route().to(|req, payload, api| dispatch(req, payload, api, Mount::ByName))),
    );
}

/// Mounts `/v2/...` for the repository named by the app's `ConnectorRepo` (connector port).
pub fn configure_connector(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v2{tail:.*}")
            .wrap(DefaultHeaders::new().add(API_VERSION))
            .route(
                web::route().to(|req, payload, api| dispatch(req, payload, api, Mount::Connector)),
            ),
    );
}

/// The repository a request addresses and the URL prefix its API lives under, from which
/// relative `Location` headers are built.
pub(crate) struct Target {
    pub repo: Arc<dyn Repository>,
    /// Ends with `/`: `/v2/`, `/v2/<repo>/` or `/repository/<repo>/v2/`.
    pub prefix: String,
    pub mount: Mount,
    pub ctx: Ctx,
    pub caller: auth::Caller,
}

impl Target {
    /// `<prefix><rest>`: a relative URL, resolved by clients against the URL they used, so a
    /// push behind a TLS-terminating proxy is never redirected to http (scenario S1).
    pub fn url(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// Checks that the caller may do `action` on `image` of this repository: 401 with a
    /// challenge for anonymous callers, 403 `DENIED` saying what is missing for users.
    pub fn authorize(&self, action: Action, image: &str) -> Result<(), OciError> {
        self.authorize_on(self.repo.as_ref(), action, image)
    }

    /// The same on another repository (the source of a cross-repository mount).
    pub fn authorize_on(
        &self,
        repo: &dyn Repository,
        action: Action,
        image: &str,
    ) -> Result<(), OciError> {
        let c = &self.caller;
        // "Force basic authentication": anonymous callers (no credentials, or an anonymous
        // token) must log in here, whatever the anonymous role would allow.
        if repo.config().force_basic_auth && c.identity.principal.is_anonymous() {
            let scope = match action {
                Action::Browse | Action::Read => "pull",
                _ => "pull,push",
            };
            let message = format!(
                "authentication required: repository {} does not allow anonymous access",
                repo.config().name
            );
            return Err(c.challenge(message, Some((image, scope))));
        }
        let Err(d) = c
            .auth
            .authorize(&c.identity, action, repo.config(), Some(image))
        else {
            return Ok(());
        };
        // A token that lacks the scope while the role would allow it: challenge for the wider
        // scope (docker then fetches a new token), as distribution does, instead of a final 403.
        if c.identity.token.is_some()
            && c.auth
                .authorizer
                .check(&c.identity.principal, action, repo.config())
                .is_ok()
        {
            let scope = if matches!(action, Action::Browse | Action::Read) {
                "pull"
            } else {
                "pull,push"
            };
            let scope = if action == Action::Delete {
                "delete"
            } else {
                scope
            };
            return Err(c.challenge(
                format!("insufficient scope: {}", d.reason),
                Some((image, scope)),
            ));
        }
        Err(c.denied(d, image))
    }
}

/// Splits the request into the repository (with its URL prefix) and the `/v2` tail the route
/// parser reads. `None` for the repository means the main port's own `/v2/` or `/v2/token`.
fn locate(req: &HttpRequest, mount: Mount) -> Result<(Option<(String, String)>, String), OciError> {
    let tail = req.match_info().get("tail").unwrap_or("");
    match mount {
        Mount::PathBased => {
            let name = req.match_info().get("repo").unwrap_or_default().to_owned();
            let prefix = format!("/repository/{name}/v2/");
            Ok((Some((name, prefix)), tail.to_owned()))
        }
        Mount::Connector => {
            let c = req
                .app_data::<ConnectorRepo>()
                .expect("connector apps carry ConnectorRepo");
            Ok((Some((c.0.to_string(), "/v2/".to_owned())), tail.to_owned()))
        }
        Mount::ByName => match tail.strip_prefix('/').filter(|t| !t.is_empty()) {
            None => Ok((None, tail.to_owned())),
            Some("token") => Ok((None, "/token".to_owned())),
            Some("_catalog") => Ok((None, "/_catalog".to_owned())),
            Some(rest) => {
                let (name, rest) = rest.split_once('/').unwrap_or((rest, ""));
                Ok((
                    Some((name.to_owned(), format!("/v2/{name}/"))),
                    format!("/{rest}"),
                ))
            }
        },
    }
}

fn lookup(api: &DockerApi, name: &str) -> Result<Arc<dyn Repository>, OciError> {
    api.repos.get(name).ok_or_else(|| {
        OciError::new(
            OciCode::NameUnknown,
            format!("repository {name:?} does not exist or is offline"),
        )
    })
}

pub(crate) fn asset_path(s: String) -> Result<AssetPath, OciError> {
    AssetPath::parse(&s).map_err(|e| OciError::from_core(e, Subject::Repository))
}

async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    api: web::Data<DockerApi>,
    mount: Mount,
) -> Result<HttpResponse, OciError> {
    let is_get = matches!(*req.method(), Method::GET | Method::HEAD);
    let (repo, tail) = locate(&req, mount)?;
    let external = auth::External::of(&req, &api.trusted_proxies);
    let origin = external.origin.clone();
    // Behind a proxy that maps a host onto one repository (`https://hub/` → `/repository/x/`),
    // URLs sent back must use the client's path, which the proxy states in X-Forwarded-Prefix.
    let repo = repo.map(|(name, prefix)| {
        let prefix = match &external.prefix {
            Some(p) if mount == Mount::ByName => format!("{p}/v2/{name}/"),
            Some(p) => format!("{p}/v2/"),
            None => prefix,
        };
        (name, prefix)
    });
    let (repo, prefix, token_url, scope_prefix) = match repo {
        Some((name, prefix)) => {
            let repo = lookup(&api, &name)?;
            let (token_url, scope_prefix) = match mount {
                Mount::ByName => (format!("{origin}/v2/token"), format!("{name}/")),
                _ => (format!("{origin}{prefix}token"), String::new()),
            };
            (Some(repo), prefix, token_url, scope_prefix)
        }
        None => {
            let base = external.prefix.clone().unwrap_or_default();
            (
                None,
                format!("{base}/v2/"),
                format!("{origin}{base}/v2/token"),
                String::new(),
            )
        }
    };
    if tail == "/token" {
        return if is_get {
            token::issue(&api, &req, repo).await
        } else {
            Err(unsupported(&req))
        };
    }
    let challenge_caller = |identity| auth::Caller {
        identity,
        auth: api.auth.clone(),
        token_url: token_url.clone(),
        scope_prefix: scope_prefix.clone(),
    };
    // The route is parsed before authentication (it is pure and reveals nothing) so that a
    // challenge can name the scope the client needs.
    let route = if repo.is_some() {
        Some(route::parse(&tail)?)
    } else {
        None
    };
    let scope = route
        .as_ref()
        .and_then(|r| Some((r.name()?.to_owned(), scope_actions(req.method()))));
    let unauthenticated = trove_auth::Identity {
        principal: trove_auth::Principal::Anonymous,
        token: None,
    };
    let identity = auth::identify(&api.auth, &req, |msg| {
        let scope = scope
            .as_ref()
            .map(|(name, actions)| (name.as_str(), *actions));
        challenge_caller(unauthenticated.clone()).challenge(msg, scope)
    })
    .await?;
    let caller = challenge_caller(identity);
    if repo.is_none() && tail == "/_catalog" && is_get {
        return tags::registry_catalog(&api, &caller, &req).await;
    }
    let (Some(repo), Some(route)) = (repo, route) else {
        return if is_get {
            ping(&caller, &req)
        } else {
            Err(unsupported(&req))
        };
    };
    let target = Target {
        repo,
        prefix,
        mount,
        ctx: Ctx::default(),
        caller,
    };
    let head = req.method() == Method::HEAD;
    match (route, req.method().clone()) {
        (Route::Ping, Method::GET | Method::HEAD) => ping(&target.caller, &req),
        (Route::Tags { name }, Method::GET) => {
            target.authorize(Action::Browse, &name)?;
            tags::list(&target, &req, &name).await
        }
        (Route::Catalog, Method::GET) => {
            let c = &target.caller;
            if target.repo.config().force_basic_auth && c.identity.principal.is_anonymous() {
                return Err(c.challenge("authentication required".into(), None));
            }
            c.auth
                .authorize(&c.identity, Action::Browse, target.repo.config(), None)
                .map_err(|d| c.denied(d, "*"))?;
            tags::catalog(&target, &req).await
        }
        (Route::Referrers { name, digest }, Method::GET) => {
            target.authorize(Action::Read, &name)?;
            referrers::list(&target, &req, &name, &digest).await
        }
        (Route::Manifest { name, reference }, Method::DELETE) => {
            target.authorize(Action::Delete, &name)?;
            manifests::delete(&target, &name, &reference).await
        }
        (Route::Blob { name, digest }, Method::DELETE) => {
            target.authorize(Action::Delete, &name)?;
            blobs::delete(&target, &name, &digest).await
        }
        (Route::Manifest { name, reference }, Method::GET | Method::HEAD) => {
            target.authorize(Action::Read, &name)?;
            manifests::get(&target, &name, &reference, head).await
        }
        (Route::Manifest { name, reference }, Method::PUT) => {
            // Add here; moving an existing tag also needs Edit, checked in `put`.
            target.authorize(Action::Add, &name)?;
            manifests::put(&target, &api, &req, payload, &name, &reference).await
        }
        (Route::Blob { name, digest }, Method::GET | Method::HEAD) => {
            target.authorize(Action::Read, &name)?;
            blobs::get(&target, &req, &name, &digest, head).await
        }
        (Route::UploadStart { name }, Method::POST) => {
            target.authorize(Action::Add, &name)?;
            uploads::start(&target, &api, &req, payload, &name).await
        }
        (Route::Upload { name, id }, m) if m == Method::GET => {
            target.authorize(Action::Add, &name)?;
            uploads::status(&target, &api, &name, &id).await
        }
        (Route::Upload { name, id }, m) if m == Method::PATCH => {
            target.authorize(Action::Add, &name)?;
            uploads::patch(&target, &api, &req, payload, &name, &id).await
        }
        (Route::Upload { name, id }, Method::PUT) => {
            target.authorize(Action::Add, &name)?;
            uploads::finish(&target, &api, &req, payload, &name, &id).await
        }
        (Route::Upload { name, id }, Method::DELETE) => {
            target.authorize(Action::Add, &name)?;
            uploads::cancel(&target, &api, &name, &id).await
        }
        _ => Err(unsupported(&req)),
    }
}

/// `GET /v2/` (end-1). Without credentials it always answers 401 with a challenge, even when
/// anonymous access is on: `docker login` pings first and, on a 200, reports success without
/// ever checking the password. Anonymous pulls still work: clients go on without credentials
/// (Basic realm) or fetch an anonymous token (Bearer realm).
fn ping(caller: &auth::Caller, req: &HttpRequest) -> Result<HttpResponse, OciError> {
    if auth::authorization(req).is_none() {
        return Err(caller.challenge("authentication required".into(), None));
    }
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body("{}"))
}

/// The docker actions a request needs, for challenges (the token scope clients ask for).
fn scope_actions(method: &Method) -> &'static str {
    match *method {
        Method::GET | Method::HEAD => "pull",
        Method::DELETE => "delete",
        _ => "pull,push",
    }
}

fn unsupported(req: &HttpRequest) -> OciError {
    OciError::new(
        OciCode::Unsupported,
        format!("{} is not supported on {}", req.method(), req.path()),
    )
}
