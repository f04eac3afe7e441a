//! Cargo registries for the cargo CLI, as sparse indexes (RFC 2789): hosted (`cargo publish`,
//! yank, owners, search), proxy (a pull-through cache of index.crates.io or any sparse
//! registry, for `[source.crates-io] replace-with`) and group (merged index lines). Errors are
//! `{"errors":[{"detail": "..."}]}`, which cargo prints. See `docs/formats/cargo.md` for every
//! endpoint, the cargo command that uses it and its test.
//!
//! The whole format is this module plus one line in `FormatRegistry::builtin`.

mod browse;
mod index;
mod names;
mod publish;
mod spec;

use std::sync::Arc;

use actix_web::http::header;
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use async_trait::async_trait;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use trove_auth::{Action, Identity};
use trove_core::{
    AssetPath, Ctx, Error, ErrorKind, FormatSpec, KindConfig, RepoKind, Repository,
    RepositoryConfig, documents,
};

pub use names::CrateName;
pub use spec::{CargoSpec, ID};

use crate::OptionField;
use crate::kit::access::{self, Refusal};
use crate::kit::{Frontend, caller, errors, request, response, upload};
use crate::registry::{Format, FormatInfo, RepoRequest};
use names::Route;

/// The cargo format.
pub struct Cargo;

pub use crate::option_fields::MERGE_HOSTED_WITH_PROXIED;

const OPTIONS: &[OptionField] = &[crate::option_fields::merge_hosted_with_proxied(
    "off (the default): a crate in a hosted member hides the same name in proxy members, the guard against dependency confusion",
)];

#[async_trait(?Send)]
impl Format for Cargo {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            id: ID,
            label: "Cargo",
            kinds: &[RepoKind::Hosted, RepoKind::Proxy, RepoKind::Group],
            description: "Rust crates for cargo, as a sparse index: index = \"sparse+http://<host>/repository/<name>/\"",
        }
    }

    fn check_options(&self, kind: RepoKind, options: &Map<String, Value>) -> Result<(), String> {
        crate::option_fields::check_flags("cargo", OPTIONS, kind, options)
    }

    fn option_fields(&self) -> &'static [OptionField] {
        OPTIONS
    }

    fn browse(&self) -> Option<&dyn crate::browse::Browse> {
        Some(&browse::CargoBrowse)
    }

    fn spec(&self, repo: &RepositoryConfig) -> trove_core::Result<Arc<dyn FormatSpec>> {
        let mix = repo
            .options
            .get(MERGE_HOSTED_WITH_PROXIED)
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(Arc::new(CargoSpec {
            kind: repo.kind(),
            repo_id: repo.id.clone(),
            hosted_hides_proxied: !mix,
        }))
    }

    async fn serve(&self, req: RepoRequest) -> HttpResponse {
        let http = req.http.clone();
        match serve(req).await {
            Ok(res) => res,
            Err(e) => {
                errors::note(&http, e.code(), Some(&e.reason));
                if e.aborted {
                    request::note(&http, |f| f.aborted = true);
                }
                e.response()
            }
        }
    }
}

/// A cargo error: a status and `{"errors":[{"detail": message}]}`, plus the log's reason and,
/// for a 401, the challenge that tells cargo to send its token (`login_url` says where to get
/// one).
pub(crate) struct CargoError {
    status: StatusCode,
    detail: String,
    reason: String,
    aborted: bool,
    login_url: Option<String>,
}

impl CargoError {
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        CargoError {
            status,
            reason: detail.clone(),
            detail,
            aborted: false,
            login_url: None,
        }
    }

    fn code(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("error")
    }

    /// The one table from core error kinds to statuses; internal causes are logged here and
    /// never sent.
    pub(crate) fn from_core(e: Error) -> Self {
        if upload::is_client_abort(&e) {
            tracing::info!(error = %e.msg, "client aborted the request");
            let mut r = CargoError::new(StatusCode::BAD_REQUEST, e.msg);
            r.aborted = true;
            r.reason = "client aborted".into();
            return r;
        }
        let status = status_of(&e.kind);
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return CargoError::new(status, errors::internal(&e));
        }
        let mut r = CargoError::new(status, e.msg);
        if let ErrorKind::Blocked { rule } = &e.kind {
            r.reason = format!("routing rule {rule}");
        }
        r
    }

    pub(crate) fn refused(r: Refusal, login_url: &str) -> Self {
        let status = match &r {
            Refusal::Challenge(_) => StatusCode::UNAUTHORIZED,
            Refusal::Denied { .. } | Refusal::Hidden { .. } => StatusCode::FORBIDDEN,
            Refusal::Missing { .. } => StatusCode::NOT_FOUND,
        };
        let mut e = CargoError::new(status, r.message());
        e.reason = r.reason();
        if status == StatusCode::UNAUTHORIZED {
            e.login_url = Some(login_url.to_owned());
        }
        e
    }

    fn response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(url) = &self.login_url {
            // cargo asks for config.json without a token first; this 401 is how it learns the
            // registry needs one (and where a person gets it).
            res.insert_header((
                header::WWW_AUTHENTICATE,
                format!("Cargo login_url=\"{url}\""),
            ));
        }
        res.content_type("application/json")
            .body(json!({ "errors": [{ "detail": self.detail }] }).to_string())
    }
}

fn status_of(kind: &ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists => StatusCode::CONFLICT,
        ErrorKind::Invalid | ErrorKind::DigestMismatch => StatusCode::BAD_REQUEST,
        ErrorKind::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden | ErrorKind::Blocked { .. } => StatusCode::FORBIDDEN,
        ErrorKind::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
    }
}

pub(crate) type Answer = Result<HttpResponse, CargoError>;

pub(crate) fn bad(msg: impl Into<String>) -> CargoError {
    CargoError::new(StatusCode::BAD_REQUEST, msg)
}

pub(crate) fn not_found(what: impl std::fmt::Display) -> CargoError {
    CargoError::new(StatusCode::NOT_FOUND, format!("{what} not found"))
}

pub(crate) fn ok_json(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.to_string())
}

/// One request, with who is calling.
pub(crate) struct Call {
    pub http: HttpRequest,
    pub front: web::Data<Frontend>,
    /// The repository name as addressed.
    pub name: String,
    pub repo: Option<Arc<dyn Repository>>,
    /// Where the repository is mounted on this listener.
    pub base: String,
    pub identity: Identity,
    pub ctx: Ctx,
    /// The request body, until a handler takes it.
    pub payload: Option<web::Payload>,
}

impl Call {
    /// Where a person gets a token: the console's token page.
    fn login_url(&self) -> String {
        self.front.external(&self.http).url("/admin/tokens")
    }

    /// May `who` do `action` (on `resource`, a path)?
    fn check(&self, who: &Identity, action: Action, resource: Option<&str>) -> Result<(), Refusal> {
        access::check(
            &self.front.auth,
            who,
            &ID,
            &self.name,
            self.repo.as_deref().map(|r| r.config()),
            action,
            resource,
        )
    }

    /// May the caller do `action` (on `resource`, a path)?
    pub fn allow(&self, action: Action, resource: Option<&str>) -> Result<(), CargoError> {
        self.check(&self.identity, action, resource)
            .map_err(|r| CargoError::refused(r, &self.login_url()))
    }

    /// Whether cargo must send a token to read: anonymous callers may not.
    fn auth_required(&self) -> bool {
        self.check(&caller::nobody(), Action::Read, None).is_err()
    }

    pub fn front(&self) -> &Frontend {
        &self.front
    }

    pub fn repo(&self) -> &Arc<dyn Repository> {
        self.repo.as_ref().expect("checked: the repository exists")
    }

    /// The external URL of this repository's root, as the client addressed it.
    pub fn base_url(&self) -> String {
        self.front.external(&self.http).url(&self.base)
    }
}

/// What a route needs, checked before any body is read.
fn action_of(route: &Route, method: &Method) -> Result<Action, CargoError> {
    let read = matches!(*method, Method::GET | Method::HEAD);
    Ok(match route {
        Route::Config | Route::Index(_) | Route::Download(..) | Route::ApiDownload(..) if read => {
            Action::Read
        }
        Route::Publish if *method == Method::PUT => Action::Add,
        Route::Yank(..) if *method == Method::DELETE => Action::Edit,
        Route::Unyank(..) if *method == Method::PUT => Action::Edit,
        Route::Owners(_) if read => Action::Browse,
        Route::Owners(_) if matches!(*method, Method::PUT | Method::DELETE) => Action::Edit,
        Route::Search if read => Action::Browse,
        _ => {
            return Err(CargoError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not supported here"),
            ));
        }
    })
}

/// The path a route's privileges and routing rules are checked against.
fn resource_of(route: &Route) -> Option<String> {
    match route {
        Route::Index(n) => Some(n.index_path()),
        Route::Download(n, v, sum) => Some(n.download_path(v, sum)),
        Route::ApiDownload(n, _) | Route::Yank(n, _) | Route::Unyank(n, _) | Route::Owners(n) => {
            Some(n.index_path())
        }
        _ => None,
    }
}

async fn serve(req: RepoRequest) -> Answer {
    let Some(route) = names::route(&req.tail) else {
        return Err(CargoError::new(
            StatusCode::NOT_FOUND,
            format!("{} is not a cargo registry path", req.http.path()),
        ));
    };
    let method = req.http.method().clone();
    let action = action_of(&route, &method)?;
    request::note(&req.http, |f| f.action = Some(action.as_str()));
    let RepoRequest {
        http,
        payload,
        front,
        name: repo_name,
        repo,
        base,
        tail: _,
    } = req;
    let login_url = front.external(&http).url("/admin/tokens");
    let identity = caller::identify(&front.auth, &http)
        .await
        .map_err(|e| match e {
            trove_auth::AuthError::Internal(e) => CargoError::from_core(e),
            // A token cargo sent that is not (or no longer) valid: 401, so cargo says
            // "token rejected" and how to log in again.
            e => CargoError::refused(Refusal::Challenge(e.to_string()), &login_url),
        })?;
    let ctx = request::ctx(&http, &identity.principal);
    let mut call = Call {
        http,
        front,
        name: repo_name,
        repo,
        base,
        identity,
        ctx,
        payload: Some(payload),
    };
    call.allow(action, resource_of(&route).as_deref())?;
    match route {
        Route::Config => config_json(&call),
        Route::Index(name) => get_index(&call, &name).await,
        Route::Download(name, version, sum) => get_crate(&call, &name, &version, &sum).await,
        Route::ApiDownload(name, version) => api_download(&call, &name, &version).await,
        Route::Publish => publish::publish(&mut call).await,
        Route::Yank(name, version) => publish::set_yanked(&call, &name, &version, true).await,
        Route::Unyank(name, version) => publish::set_yanked(&call, &name, &version, false).await,
        Route::Owners(name) if method == Method::GET => publish::list_owners(&call, &name).await,
        Route::Owners(name) => {
            publish::change_owners(&mut call, &name, method == Method::PUT).await
        }
        Route::Search => publish::search(&call).await,
    }
}

fn asset_path(p: &str) -> Result<AssetPath, CargoError> {
    AssetPath::parse(p).map_err(|e| bad(e.msg))
}

/// `config.json`, made for the caller's URL: downloads at `/crates/{crate}/{version}/{cksum}`
/// (the checksum in the path lets every kind check the bytes), the web API at the base.
fn config_json(call: &Call) -> Answer {
    let base = call.base_url();
    let body = json!({
        "dl": format!("{base}/crates/{{crate}}/{{version}}/{{sha256-checksum}}"),
        "api": base,
        "auth-required": call.auth_required(),
    });
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body.to_string()))
}

/// A crate's index file as this repository serves it (generated, cached from upstream or
/// merged); `None` when it has no version.
async fn read_index(call: &Call, name: &CrateName) -> Result<Option<Bytes>, CargoError> {
    let path = asset_path(&name.index_path())?;
    let Some(asset) = call
        .repo()
        .get(&call.ctx, &path, None)
        .await
        .map_err(CargoError::from_core)?
    else {
        return Ok(None);
    };
    let bytes = documents::collect(asset.body, asset.meta.blob.size)
        .await
        .map_err(CargoError::from_core)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    Ok(Some(bytes))
}

/// An index file, with an ETag for cargo's conditional requests (it revalidates every file
/// it uses on each run, and polls after a publish until the new version shows).
async fn get_index(call: &Call, name: &CrateName) -> Answer {
    let path = asset_path(&name.index_path())?;
    let Some(asset) = call
        .repo()
        .get(&call.ctx, &path, None)
        .await
        .map_err(CargoError::from_core)?
    else {
        return Err(not_found(format!("crate {name}")));
    };
    let meta = asset.meta;
    if meta.blob.size == 0 {
        // A group whose members have no line for the name merges to nothing.
        return Err(not_found(format!("crate {name}")));
    }
    let etag = format!("\"{}\"", meta.blob.digest.hex());
    let mut res = HttpResponse::Ok();
    res.insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CONTENT_TYPE, spec::INDEX_TYPE))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    for h in response::upstream_headers(&meta) {
        res.insert_header(h);
    }
    if response::if_none_match(&call.http, &etag) == Some(true) {
        return Ok(res.status(StatusCode::NOT_MODIFIED).finish());
    }
    if call.http.method() == Method::HEAD {
        return Ok(response::head_body(&mut res, meta.blob.size));
    }
    Ok(res.no_chunking(meta.blob.size).streaming(asset.body))
}

/// Makes sure every proxy this repository reads through knows its upstream's `dl` (from the
/// `config.json` it cached, fetching it if it has none), so a `.crate` it lacks can be found.
async fn learn_upstreams(call: &Call) {
    let mut todo: Vec<Arc<dyn Repository>> = vec![call.repo().clone()];
    let mut seen = 0;
    while let Some(repo) = todo.pop() {
        seen += 1;
        if seen > 64 {
            break;
        }
        match &repo.config().kind {
            KindConfig::Proxy(_) if !spec::knows_upstream(&repo.config().id) => {
                let Ok(path) = AssetPath::parse("/config.json") else {
                    continue;
                };
                match repo.get(&call.ctx, &path, None).await {
                    Ok(Some(a)) => match documents::collect(a.body, a.meta.blob.size).await {
                        Ok(bytes) => {
                            spec::learn_upstream(&repo.config().id, &bytes);
                        }
                        Err(e) => {
                            tracing::warn!(repository = %repo.config().name, error = %e.msg, "reading the upstream's config.json")
                        }
                    },
                    Ok(None) => {
                        tracing::warn!(repository = %repo.config().name, "the upstream has no config.json")
                    }
                    Err(e) => {
                        tracing::warn!(repository = %repo.config().name, error = %e.msg, "fetching the upstream's config.json")
                    }
                }
            }
            KindConfig::Group { members, .. } => {
                for m in members {
                    if let Some(r) = call.front().repos.get(m) {
                        todo.push(r);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A `.crate`, which must hash to the checksum its path names (the index line's `cksum`).
async fn get_crate(call: &Call, name: &CrateName, version: &str, sum: &str) -> Answer {
    let path = asset_path(&name.download_path(version, sum))?;
    if call.repo().config().kind() != RepoKind::Hosted {
        learn_upstreams(call).await;
    }
    let missing = || not_found(format!("crate {name} {version} with checksum {sum}"));
    let repo = call.repo();
    if call.http.method() == Method::HEAD {
        let meta = repo
            .head(&call.ctx, &path)
            .await
            .map_err(CargoError::from_core)?
            .filter(|m| m.blob.digest.hex() == sum)
            .ok_or_else(missing)?;
        let mut res = HttpResponse::Ok();
        res.content_type("application/gzip");
        return Ok(response::head_body(&mut res, meta.blob.size));
    }
    let asset = repo
        .get(&call.ctx, &path, None)
        .await
        .map_err(CargoError::from_core)?
        .ok_or_else(missing)?;
    if asset.meta.blob.digest.hex() != sum {
        // Another version's bytes under this name and version (a hosted copy that is not the
        // one the index named): not what cargo asked for.
        return Err(missing());
    }
    let mut res = HttpResponse::Ok();
    res.content_type("application/gzip")
        .insert_header((header::ETAG, format!("\"{sum}\"")));
    for h in response::upstream_headers(&asset.meta) {
        res.insert_header(h);
    }
    Ok(res.no_chunking(asset.meta.blob.size).streaming(asset.body))
}

/// `/api/v1/crates/{name}/{version}/download`, the conventional path: the checksum comes from
/// the index line.
async fn api_download(call: &Call, name: &CrateName, version: &str) -> Answer {
    let Some(file) = read_index(call, name).await? else {
        return Err(not_found(format!("crate {name}")));
    };
    let sum = index::lines_of(&file)
        .into_iter()
        .find(|l| l.get("vers").and_then(Value::as_str) == Some(version))
        .and_then(|l| l.get("cksum").and_then(Value::as_str).map(str::to_owned))
        .ok_or_else(|| not_found(format!("crate {name} {version}")))?;
    get_crate(call, name, version, &sum).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_table() {
        errors::check_table(|k| status_of(k).as_u16());
    }

    #[test]
    fn options() {
        let m = |v: Value| v.as_object().unwrap().clone();
        let opt = json!({ MERGE_HOSTED_WITH_PROXIED: true });
        assert!(
            Cargo
                .check_options(RepoKind::Group, &m(opt.clone()))
                .is_ok()
        );
        assert!(Cargo.check_options(RepoKind::Hosted, &m(opt)).is_err());
        assert!(
            Cargo
                .check_options(RepoKind::Proxy, &m(json!({"x": 1})))
                .is_err()
        );
    }
}
