//! The Docker / OCI distribution API (https://github.com/opencontainers/distribution-spec).
//!
//! One actix handler dispatches every `/v2/...` request: the pure parser in [`route`] turns the
//! path into a [`route::Route`], then one function per resource does one domain call and maps
//! the result. Repositories are found through `RepoLookup`, so this module never knows whether
//! a repository is hosted, a proxy or a group.

pub mod errors;
pub mod route;

mod blobs;
mod body;
mod manifests;
mod referrers;
mod spec;
mod tags;
mod uploads;

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse, web};
use trove_core::{AssetPath, BlobStore, Ctx, RepoLookup, RepoName, Repository};
use trove_store::MetadataStore;

pub use errors::{OciCode, OciError};
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
}

impl Target {
    /// `<prefix><rest>`: a relative URL, resolved by clients against the URL they used, so a
    /// push behind a TLS-terminating proxy is never redirected to http (scenario S1).
    pub fn url(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }
}

/// Splits the request into the repository (with its URL prefix) and the `/v2` tail the route
/// parser reads. `None` for the repository means the bare `/v2/` of the main port.
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
    let Some((name, prefix)) = repo else {
        return if is_get {
            Ok(ping())
        } else {
            Err(unsupported(&req))
        };
    };
    let target = Target {
        repo: lookup(&api, &name)?,
        prefix,
        mount,
        ctx: Ctx::default(),
    };
    let route = route::parse(&tail)?;
    let head = req.method() == Method::HEAD;
    match (route, req.method().clone()) {
        (Route::Ping, Method::GET | Method::HEAD) => Ok(ping()),
        (Route::Tags { name }, Method::GET) => tags::list(&target, &req, &name).await,
        (Route::Catalog, Method::GET) => tags::catalog(&target, &req).await,
        (Route::Referrers { name, digest }, Method::GET) => {
            referrers::list(&target, &req, &name, &digest).await
        }
        (Route::Manifest { name, reference }, Method::DELETE) => {
            manifests::delete(&target, &name, &reference).await
        }
        (Route::Blob { name, digest }, Method::DELETE) => {
            blobs::delete(&target, &name, &digest).await
        }
        (Route::Manifest { name, reference }, Method::GET | Method::HEAD) => {
            manifests::get(&target, &name, &reference, head).await
        }
        (Route::Manifest { name, reference }, Method::PUT) => {
            manifests::put(&target, &api, &req, payload, &name, &reference).await
        }
        (Route::Blob { name, digest }, Method::GET | Method::HEAD) => {
            blobs::get(&target, &req, &name, &digest, head).await
        }
        (Route::UploadStart { name }, Method::POST) => {
            uploads::start(&target, &api, &req, payload, &name).await
        }
        (Route::Upload { name, id }, m) if m == Method::GET => {
            uploads::status(&target, &api, &name, &id).await
        }
        (Route::Upload { name, id }, m) if m == Method::PATCH => {
            uploads::patch(&target, &api, &req, payload, &name, &id).await
        }
        (Route::Upload { name, id }, Method::PUT) => {
            uploads::finish(&target, &api, &req, payload, &name, &id).await
        }
        (Route::Upload { name, id }, Method::DELETE) => {
            uploads::cancel(&target, &api, &name, &id).await
        }
        _ => Err(unsupported(&req)),
    }
}

/// `GET /v2/`: the API version check (end-1).
fn ping() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body("{}")
}

fn unsupported(req: &HttpRequest) -> OciError {
    OciError::new(
        OciCode::Unsupported,
        format!("{} is not supported on {}", req.method(), req.path()),
    )
}
