//! The Docker / OCI distribution API (https://github.com/opencontainers/distribution-spec), as
//! the `docker` format of the registry.
//!
//! One handler dispatches every `/v2/...` request: the pure parser in [`route`] turns the path
//! into a [`route::Route`], [`scope`] says what the call needs, then one function per resource
//! does one domain call and maps the result. Repositories are found through `RepoLookup`, so
//! this module never knows whether a repository is hosted, a proxy or a group.
//!
//! A docker repository answers the registry API three ways: under `/repository/<name>/v2/` on
//! the main port (what a reverse proxy that maps a host onto one repository forwards to), at
//! `/v2/` on its own connector port, and as `/v2/<name>/<image>/...` on the main port (what
//! stock clients address without any proxy).

pub mod browse;
pub mod errors;
pub mod route;
pub mod scope;

mod auth;
mod blobs;
mod manifests;
mod referrers;
mod spec;
mod tags;
mod token;
mod uploads;

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use async_trait::async_trait;
use serde_json::{Map, Value};
use trove_auth::Action;
use trove_core::{AssetPath, Ctx, FormatSpec, RepoKind, Repository, RepositoryConfig};

pub use errors::{OciCode, OciError};
pub use spec::{DockerSpec, ID};

/// The pure parsers inside the handler modules, reached by the fuzz targets in `fuzz/`; not an
/// API for anything else.
#[doc(hidden)]
pub mod fuzzing {
    pub use super::manifests::{Manifest, media_type_of};
    pub use super::token::parse_scopes;
    pub use super::uploads::content_range;
}

use crate::kit::{Frontend, caller, request};
use crate::registry::{Format, FormatInfo, RepoRequest};
use crate::{OptionField, OptionInput};
use auth::Scope;
use errors::Subject;
use route::Route;

/// On every registry response, errors and 401s included: without it `docker login` calls the
/// endpoint invalid (scenario S1).
pub const API_VERSION: (&str, &str) = ("Docker-Distribution-Api-Version", "registry/2.0");
pub const CONTENT_DIGEST: &str = "Docker-Content-Digest";

/// The docker format.
pub struct Docker;

/// The docker options of a repository (`[repository.docker]`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// Proxy only: Docker Hub naming, `alpine` means `library/alpine` upstream.
    #[serde(default)]
    hub_index: bool,
    /// The untagged rule: manifests nothing references (no tag, no index, not a referrer of a
    /// kept manifest) are deleted by garbage collection once neither pushed nor pulled for
    /// this many days. Absent: kept.
    #[serde(default)]
    delete_untagged_after_days: Option<u32>,
}

fn options(map: &Map<String, Value>) -> Result<Options, String> {
    serde_json::from_value(Value::Object(map.clone())).map_err(|e| format!("docker options: {e}"))
}

#[async_trait(?Send)]
impl Format for Docker {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            id: ID,
            label: "Docker / OCI",
            kinds: &[RepoKind::Hosted, RepoKind::Proxy, RepoKind::Group],
            description: "container images for docker, podman, skopeo: /v2/ on a connector port, /v2/<repository>/ on the main port",
        }
    }

    fn option_fields(&self) -> &'static [OptionField] {
        &[
            OptionField {
                key: "hub_index",
                label: "Docker Hub naming",
                help: "Single-segment image names mean library/<name> upstream.",
                kinds: &[RepoKind::Proxy],
                input: OptionInput::Checkbox,
            },
            OptionField {
                key: "delete_untagged_after_days",
                label: "Delete untagged manifests after (days)",
                help: "Garbage collection deletes manifests no tag, index or kept subject references once neither pushed nor pulled for this many days. Empty: keep them.",
                kinds: &[RepoKind::Hosted, RepoKind::Proxy],
                input: OptionInput::Number,
            },
        ]
    }

    fn has_tags(&self) -> bool {
        true
    }

    fn browse(&self) -> Option<&dyn crate::browse::Browse> {
        Some(&browse::DockerBrowse)
    }

    fn check_options(&self, kind: RepoKind, map: &Map<String, Value>) -> Result<(), String> {
        let o = options(map)?;
        if o.hub_index && kind != RepoKind::Proxy {
            return Err("docker.hub_index is a proxy setting".into());
        }
        if o.delete_untagged_after_days.is_some() && kind == RepoKind::Group {
            return Err(
                "docker.delete_untagged_after_days is a hosted and proxy setting; a group has no content of its own"
                    .into(),
            );
        }
        Ok(())
    }

    fn spec(&self, repo: &RepositoryConfig) -> trove_core::Result<Arc<dyn FormatSpec>> {
        let o = options(&repo.options).map_err(trove_core::Error::invalid)?;
        let immutable =
            crate::patterns::compile_all(&repo.lifecycle.immutable_tags).map_err(|e| {
                trove_core::Error::invalid(format!("repository {}: immutable_tags: {e}", repo.name))
            })?;
        Ok(Arc::new(DockerSpec {
            hub_index: o.hub_index,
            immutable_tags: immutable,
            untagged_after_days: o.delete_untagged_after_days,
        }))
    }

    async fn serve(&self, req: RepoRequest) -> HttpResponse {
        let RepoRequest {
            http,
            payload,
            front,
            name,
            repo,
            tail,
            base,
        } = req;
        let mount = if base.is_empty() {
            Mount::Connector
        } else {
            Mount::PathBased
        };
        let answer = match tail.strip_prefix("/v2") {
            Some(tail) if tail.is_empty() || tail.starts_with('/') => {
                let located = Located::repository(&http, &front, mount, name, repo, tail);
                dispatch(&http, payload, &front, located).await
            }
            _ => Err(OciError::new(
                OciCode::Unsupported,
                format!(
                    "{} is not a registry API path (they start with /v2/)",
                    http.path()
                ),
            )
            .status(404)),
        };
        respond(&http, answer)
    }

    fn claims(&self, tail: &str) -> bool {
        tail == "/v2" || tail.starts_with("/v2/")
    }

    fn main_routes(&self, cfg: &mut web::ServiceConfig) {
        cfg.service(
            web::resource("/v2{tail:.*}")
                .wrap(DefaultHeaders::new().add(API_VERSION))
                .route(web::route().to(by_name)),
        );
    }
}

/// Every answer carries the API version header; refusals note their code and reason for the
/// request's log line.
fn respond(http: &HttpRequest, answer: Result<HttpResponse, OciError>) -> HttpResponse {
    match answer {
        Ok(mut res) => {
            res.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("docker-distribution-api-version"),
                actix_web::http::header::HeaderValue::from_static(API_VERSION.1),
            );
            res
        }
        Err(e) => {
            crate::kit::errors::note(http, e.code.as_str(), e.reason.as_deref());
            if e.reason.as_deref() == Some("client aborted") {
                request::note(http, |f| f.aborted = true);
            }
            e.error_response()
        }
    }
}

/// `/v2/...` on the main port: `/v2/`, `/v2/token`, `/v2/_catalog`, `/v2/<repository>/...`.
async fn by_name(
    http: HttpRequest,
    payload: web::Payload,
    front: web::Data<Frontend>,
) -> HttpResponse {
    let tail = http.match_info().get("tail").unwrap_or("").to_owned();
    let located = Located::by_name(&http, &front, &tail);
    if let Some(name) = &located.name {
        request::note(&http, |f| {
            f.repository = Some(name.clone());
            f.format = Some(ID.to_string());
        });
    }
    let answer = dispatch(&http, payload, &front, located).await;
    respond(&http, answer)
}

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

/// The repository a request addresses, as far as the URL tells.
struct Located {
    mount: Mount,
    /// The repository name; `None` for the main port's own `/v2/`, `/v2/token`,
    /// `/v2/_catalog`.
    name: Option<String>,
    repo: Option<Arc<dyn Repository>>,
    /// The path after `/v2` (for `/v2/<repo>/...`: after `/v2/<repo>`).
    tail: String,
    /// What `Location`s are built from: ends with `/`.
    prefix: String,
    token_url: String,
    scope_prefix: String,
}

impl Located {
    fn repository(
        http: &HttpRequest,
        front: &Frontend,
        mount: Mount,
        name: String,
        repo: Option<Arc<dyn Repository>>,
        tail: &str,
    ) -> Located {
        let external = front.external(http);
        let origin = &external.origin;
        let (prefix, token_url) = match (&external.prefix, mount) {
            // A trusted proxy said where the client sees this repository's API.
            (Some(p), _) => (format!("{p}/v2/"), format!("{origin}{p}/v2/token")),
            (None, Mount::Connector) => ("/v2/".to_owned(), format!("{origin}/v2/token")),
            // Path-based access is what a proxy that maps a host onto the repository forwards,
            // as the block users publish does without saying so (no X-Forwarded-Prefix): the
            // client sees the registry at its host's root. So the realm is that root's
            // `/v2/token` (the proxy maps it here; without a proxy the main port's own token
            // endpoint answers it, for this repository by the query), and `Location`s are
            // relative to the request, right through any such rewrite.
            (None, _) => {
                let depth = tail.trim_start_matches('/').matches('/').count();
                (
                    "../".repeat(depth),
                    format!("{origin}/v2/token?repository={name}"),
                )
            }
        };
        Located {
            mount,
            name: Some(name),
            repo,
            tail: tail.to_owned(),
            prefix,
            token_url,
            scope_prefix: String::new(),
        }
    }

    fn by_name(http: &HttpRequest, front: &Frontend, tail: &str) -> Located {
        let external = front.external(http);
        let base = external.prefix.clone().unwrap_or_default();
        let token_url = format!("{}{base}/v2/token", external.origin);
        let global = |tail: &str| Located {
            mount: Mount::ByName,
            name: None,
            repo: None,
            tail: tail.to_owned(),
            prefix: format!("{base}/v2/"),
            token_url: token_url.clone(),
            scope_prefix: String::new(),
        };
        match tail.strip_prefix('/').filter(|t| !t.is_empty()) {
            None => global(tail),
            Some("token") => global("/token"),
            Some("_catalog") => global("/_catalog"),
            Some(rest) => {
                let (name, rest) = rest.split_once('/').unwrap_or((rest, ""));
                Located {
                    mount: Mount::ByName,
                    name: Some(name.to_owned()),
                    repo: front.repos.get(name),
                    tail: format!("/{rest}"),
                    prefix: format!("{base}/v2/{name}/"),
                    token_url: token_url.clone(),
                    scope_prefix: format!("{name}/"),
                }
            }
        }
    }
}

/// The repository a request addresses and the URL prefix its API lives under, from which
/// `Location` headers are built.
pub(crate) struct Target {
    pub repo: Arc<dyn Repository>,
    /// Ends with `/`: `/v2/`, `/v2/<repo>/`, `<prefix>/v2/`, or `../` steps back to the `/v2/`
    /// of the request's own URL.
    pub prefix: String,
    pub mount: Mount,
    pub ctx: Ctx,
    pub caller: auth::Caller,
    /// What a challenge for this request names (the same whether the repository exists).
    pub scopes: Vec<Scope>,
}

impl Target {
    /// `<prefix><rest>`: a URL clients resolve against the one they used, so a push behind a
    /// TLS-terminating or path-rewriting proxy keeps its scheme, host and path (S1, S3).
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
            let message = format!(
                "authentication required: repository {} does not allow anonymous access",
                repo.config().name
            );
            return Err(c.challenge(message, &[Scope::of(image, action)]));
        }
        let Err(d) = c
            .auth
            .authorize(&c.identity, action, repo.config(), Some(image))
        else {
            return Ok(());
        };
        let roles = c.auth.authorize_rights(&c.identity, action, repo.config());
        // A token that lacks the scope while the role would allow it: challenge for the scope
        // the call needs (docker then fetches a new token), as distribution does, instead of a
        // final 403.
        if c.identity.token.is_some() && roles.is_ok() {
            return Err(c.challenge(
                format!("insufficient scope: {}", d.reason),
                &[Scope::of(image, action)],
            ));
        }
        let visible = c
            .auth
            .authorize_rights(&c.identity, Action::Browse, repo.config())
            .is_ok();
        if d.kind() == trove_core::ErrorKind::Unauthenticated && !self.scopes.is_empty() {
            return Err(c.challenge(d.to_string(), &self.scopes));
        }
        Err(c.denied(d, image, visible))
    }
}

/// A delete that succeeded goes into the audit log (issue 16).
async fn deleted(
    front: &crate::kit::Frontend,
    req: &HttpRequest,
    target: &Target,
    what: &str,
    answer: Result<HttpResponse, OciError>,
) -> Result<HttpResponse, OciError> {
    if answer.is_ok() {
        crate::kit::audit::content_deleted(
            front,
            req,
            &target.caller.identity,
            target.repo.config().name.as_str(),
            what,
        )
        .await;
    }
    answer
}

pub(crate) fn asset_path(s: String) -> Result<AssetPath, OciError> {
    AssetPath::parse(&s).map_err(|e| OciError::from_core(e, Subject::Repository))
}

/// The scopes a challenge for `route` names: the action's, and for a cross-repository mount a
/// pull of the source too.
fn challenge_scopes(
    route: &Route,
    req: &HttpRequest,
    mount: Mount,
    mount_from: &Option<String>,
) -> Vec<Scope> {
    let (Some(name), Some(action)) = (route.name(), scope::action_of(route, req.method())) else {
        return Vec::new();
    };
    let mut scopes = vec![Scope::of(name, action)];
    if let Some(from) = mount_from {
        // On `/v2/<repo>/...` a source in another repository is named `<repo>/<image>`, which
        // the challenge's own prefix would double.
        let from = match mount {
            Mount::ByName => from.split_once('/').map_or(from.as_str(), |(_, i)| i),
            _ => from.as_str(),
        };
        if from != name {
            scopes.push(Scope::of(from, Action::Read));
        }
    }
    scopes
}

async fn dispatch(
    req: &HttpRequest,
    payload: web::Payload,
    front: &web::Data<Frontend>,
    located: Located,
) -> Result<HttpResponse, OciError> {
    let is_get = matches!(*req.method(), Method::GET | Method::HEAD);
    let Located {
        mount,
        name,
        repo,
        tail,
        prefix,
        token_url,
        scope_prefix,
    } = located;
    if tail == "/token" {
        if !is_get {
            return Err(unsupported(req));
        }
        let fixed = match (&name, mount) {
            (Some(_), _) => token::Fixed::Repository(repo),
            // `/v2/token?repository=<name>`: the realm of path-based access.
            (None, _) => match token::repository_param(req.query_string()) {
                Some(n) => token::Fixed::Repository(front.repos.get(&n)),
                None => token::Fixed::Shared,
            },
        };
        return token::issue(front, req, fixed).await;
    }
    let make_caller = |identity| auth::Caller {
        identity,
        auth: front.auth.clone(),
        token_url: token_url.clone(),
        scope_prefix: scope_prefix.clone(),
    };
    // The route is parsed before authentication (it is pure and reveals nothing) so that a
    // challenge can name the scope the client needs.
    let route = match &name {
        Some(_) => Some(route::parse(&tail)?),
        None => None,
    };
    let mount_from = match &route {
        Some(Route::UploadStart { .. }) => uploads::mount_from(req),
        _ => None,
    };
    let scopes = route
        .as_ref()
        .map(|r| challenge_scopes(r, req, mount, &mount_from))
        .unwrap_or_default();
    let identity = auth::identify(&front.auth, req, |msg| {
        make_caller(caller::nobody()).challenge(msg, &scopes)
    })
    .await?;
    let c = make_caller(identity);
    if name.is_none() && tail == "/_catalog" && is_get {
        return tags::registry_catalog(front, &c, req).await;
    }
    let (Some(name), Some(route)) = (name, route) else {
        return if is_get {
            ping(&c, req)
        } else {
            Err(unsupported(req))
        };
    };
    if let Some(action) = scope::action_of(&route, req.method()) {
        request::note(req, |f| f.action = Some(action.as_str()));
    }
    let Some(repo) = repo else {
        return Err(missing(&c, &name, &scopes));
    };
    let target = Target {
        ctx: request::ctx(req, &c.identity.principal),
        repo,
        prefix,
        mount,
        caller: c,
        scopes,
    };
    let head = req.method() == Method::HEAD;
    let action = scope::action_of(&route, req.method());
    match (route, action) {
        (Route::Ping, _) if is_get => ping(&target.caller, req),
        (Route::Catalog, Some(action)) => {
            let c = &target.caller;
            if target.repo.config().force_basic_auth && c.identity.principal.is_anonymous() {
                return Err(c.challenge("authentication required".into(), &[]));
            }
            if let Err(d) = c
                .auth
                .authorize(&c.identity, action, target.repo.config(), None)
            {
                return Err(c.denied(d, "*", false));
            }
            tags::catalog(&target, req).await
        }
        (route, Some(action)) => {
            let image = route.name().expect("repository routes name an image");
            target.authorize(action, image)?;
            match (route, req.method().clone()) {
                (Route::Tags { name }, _) => tags::list(&target, req, &name).await,
                (Route::Referrers { name, digest }, _) => {
                    referrers::list(&target, req, &name, &digest).await
                }
                (Route::Manifest { name, reference }, Method::DELETE) => {
                    let answer = manifests::delete(&target, &name, &reference).await;
                    let what = format!("/v2/{name}/manifests/{}", reference.as_string());
                    deleted(front, req, &target, &what, answer).await
                }
                (Route::Blob { name, digest }, Method::DELETE) => {
                    let answer = blobs::delete(&target, &name, &digest).await;
                    deleted(
                        front,
                        req,
                        &target,
                        &format!("/v2/{name}/blobs/{digest}"),
                        answer,
                    )
                    .await
                }
                (Route::Manifest { name, reference }, Method::PUT) => {
                    // Moving an existing tag also needs edit, checked in `put`.
                    manifests::put(&target, front, req, payload, &name, &reference).await
                }
                (Route::Manifest { name, reference }, _) => {
                    manifests::get(&target, &name, &reference, head).await
                }
                (Route::Blob { name, digest }, _) => {
                    blobs::get(&target, req, &name, &digest, head).await
                }
                (Route::UploadStart { name }, _) => {
                    uploads::start(&target, front, req, payload, &name).await
                }
                (Route::Upload { name, id }, Method::GET) => {
                    uploads::status(&target, front, &name, &id).await
                }
                (Route::Upload { name, id }, Method::PATCH) => {
                    uploads::patch(&target, front, req, payload, &name, &id).await
                }
                (Route::Upload { name, id }, Method::PUT) => {
                    uploads::finish(&target, front, req, payload, &name, &id).await
                }
                (Route::Upload { name, id }, _) => {
                    uploads::cancel(&target, front, &name, &id).await
                }
                _ => Err(unsupported(req)),
            }
        }
        _ => Err(unsupported(req)),
    }
}

/// The answer for a repository that does not exist. A caller whose privileges would let them
/// browse a docker repository of that name learns it is missing (404 `NAME_UNKNOWN`); anyone
/// else gets exactly what a repository they may not see answers: a challenge when anonymous,
/// the same 403 otherwise, so existence never leaks.
fn missing(c: &auth::Caller, name: &str, scopes: &[Scope]) -> OciError {
    let would_see = crate::kit::access::would_see(&c.auth, &c.identity, &ID, name);
    if would_see {
        return OciError::new(
            OciCode::NameUnknown,
            format!("repository {name:?} does not exist or is offline"),
        )
        .reason("no such repository");
    }
    if c.identity.principal.is_anonymous() {
        return c.challenge("authentication required".into(), scopes);
    }
    auth::hidden(name).reason("no such repository")
}

/// `GET /v2/` (end-1). Without credentials it always answers 401 with a challenge, even when
/// anonymous access is on: `docker login` pings first and, on a 200, reports success without
/// ever checking the password. Anonymous pulls still work: clients go on without credentials
/// (Basic realm) or fetch an anonymous token (Bearer realm).
fn ping(caller: &auth::Caller, req: &HttpRequest) -> Result<HttpResponse, OciError> {
    if caller::authorization(req).is_none() {
        return Err(caller.challenge("authentication required".into(), &[]));
    }
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body("{}"))
}

fn unsupported(req: &HttpRequest) -> OciError {
    OciError::new(
        OciCode::Unsupported,
        format!("{} is not supported on {}", req.method(), req.path()),
    )
}
