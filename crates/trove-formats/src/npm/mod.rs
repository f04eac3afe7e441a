//! npm registries for the npm CLI: hosted (publish, unpublish, deprecate, dist-tags), proxy
//! (a pull-through cache of registry.npmjs.org or any registry) and group (merged packuments).
//! Errors are `{"error": "..."}`, which npm prints after the status line. See
//! `docs/formats/npm.md` for every endpoint, the npm command that uses it and its test.
//!
//! The whole format is this module plus one line in `FormatRegistry::builtin`.

/// The pure parsers of the module, reached by the fuzz targets in `fuzz/`; not an API for
/// anything else.
#[doc(hidden)]
pub mod fuzzing {
    pub use super::names::{PackageName, Route, Stored, route, stored, version_ok};
    pub use super::packument::sri_sha512;
    pub use super::publish::fuzz_attached;
}

mod account;
mod browse;
mod names;
mod packument;
mod publish;
mod spec;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex};

use actix_web::http::header;
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use async_trait::async_trait;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use trove_auth::Action;
use trove_core::{
    AssetMeta, AssetPath, Ctx, Error, ErrorKind, FormatSpec, RepoKind, Repository,
    RepositoryConfig, documents,
};

pub use names::PackageName;
pub use spec::{ID, NpmSpec};

use crate::OptionField;
use crate::kit::errors::Failure;
use crate::kit::{errors, request, response};
use crate::registry::{Format, FormatInfo, RepoRequest};
use names::Route;
use packument::{ABBREVIATED, ABBREVIATED_TYPE, MARKER};

/// The npm format.
pub struct Npm;

pub use crate::option_fields::MERGE_HOSTED_WITH_PROXIED;

const OPTIONS: &[OptionField] = &[crate::option_fields::merge_hosted_with_proxied(
    "off (the default): a package in a hosted member hides the same name in proxy members, the guard against dependency confusion",
)];

#[async_trait(?Send)]
impl Format for Npm {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            id: ID,
            label: "npm",
            kinds: &[RepoKind::Hosted, RepoKind::Proxy, RepoKind::Group],
            description: "npm packages for the npm CLI: registry=http://<host>/repository/<name>/",
        }
    }

    fn check_options(&self, kind: RepoKind, options: &Map<String, Value>) -> Result<(), String> {
        crate::option_fields::check_flags("npm", OPTIONS, kind, options)
    }

    fn option_fields(&self) -> &'static [OptionField] {
        OPTIONS
    }

    fn browse(&self) -> Option<&dyn crate::browse::Browse> {
        Some(&browse::NpmBrowse)
    }

    fn spec(&self, repo: &RepositoryConfig) -> trove_core::Result<Arc<dyn FormatSpec>> {
        let mix = repo
            .options
            .get(MERGE_HOSTED_WITH_PROXIED)
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(Arc::new(NpmSpec {
            kind: repo.kind(),
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

/// An npm error: a status and `{"error": message}`, plus the log's reason.
pub(crate) struct NpmError {
    status: StatusCode,
    message: String,
    reason: String,
    aborted: bool,
}

impl NpmError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let message = message.into();
        NpmError {
            status,
            reason: message.clone(),
            message,
            aborted: false,
        }
    }

    fn code(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("error")
    }

    /// The one table from core error kinds to statuses; internal causes are logged here and
    /// never sent.
    pub(crate) fn from_core(e: Error) -> Self {
        Failure::from_core_with(e, status_of).into()
    }

    fn response(&self) -> HttpResponse {
        HttpResponse::build(self.status)
            .content_type("application/json")
            .body(json!({ "error": self.message }).to_string())
    }
}

fn status_of(kind: &ErrorKind) -> StatusCode {
    errors::status_of(kind)
}

/// npm prints the body's `error` after the status line only when a 401 carries no
/// `WWW-Authenticate` (with one it prints "Unable to authenticate, need: ..."), so Trove's 401s
/// have none (a refusal's `challenge` is dropped): the message says what is wrong.
impl From<Failure> for NpmError {
    fn from(a: Failure) -> Self {
        NpmError {
            status: a.status,
            message: a.message,
            reason: a.reason,
            aborted: a.aborted,
        }
    }
}

pub(crate) type Answer = Result<HttpResponse, NpmError>;

pub(crate) fn not_found(what: impl std::fmt::Display) -> NpmError {
    NpmError::new(StatusCode::NOT_FOUND, format!("{what} not found"))
}

pub(crate) fn ok_json(status: StatusCode, body: Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body.to_string())
}

pub(crate) use crate::kit::call::Call;

/// What a route needs, checked before any body is read.
fn action_of(route: &Route, method: &Method) -> Result<Option<Action>, NpmError> {
    let read = matches!(*method, Method::GET | Method::HEAD);
    let bad = || {
        NpmError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not supported here"),
        )
    };
    Ok(Some(match route {
        Route::Packument(_) | Route::Tarball(..) if read => Action::Read,
        Route::Packument(_) if *method == Method::PUT => Action::Add,
        Route::PackumentRev(..) if *method == Method::PUT => Action::Edit,
        Route::PackumentRev(..) | Route::TarballRev(..) if *method == Method::DELETE => {
            Action::Delete
        }
        Route::DistTags(_, None) if read => Action::Read,
        Route::DistTags(_, Some(_)) if matches!(*method, Method::PUT | Method::DELETE) => {
            Action::Edit
        }
        Route::Search if read => Action::Browse,
        Route::Ping | Route::Whoami | Route::Audit | Route::WebLogin | Route::User(_) => {
            return Ok(None);
        }
        Route::Token(_) if *method == Method::DELETE => return Ok(None),
        _ => return Err(bad()),
    }))
}

async fn serve(req: RepoRequest) -> Answer {
    let Some(route) = names::route(&req.tail) else {
        return Err(NpmError::new(
            StatusCode::NOT_FOUND,
            format!("{} is not an npm registry path", req.http.path()),
        ));
    };
    if let Route::Token(_) = route {
        // The token is in the path; it must not reach the log.
        request::note(&req.http, |f| {
            f.path = Some(format!("{}/-/user/token/<redacted>", req.base))
        });
    }
    let method = req.http.method().clone();
    let action = action_of(&route, &method)?;
    if let Some(a) = action {
        request::note(&req.http, |f| f.action = Some(a.as_str()));
    }
    let mut call = Call::identify(req, ID).await?;
    match route {
        Route::Ping => return Ok(ok_json(StatusCode::OK, json!({}))),
        Route::Whoami => return account::whoami(&call),
        Route::WebLogin => return Err(account::no_web_login()),
        Route::Audit => return Err(account::no_audit()),
        Route::User(user) => return account::login(&mut call, &user).await,
        Route::Token(token) => return account::logout(&call, &token).await,
        _ => {}
    }
    let resource = resource_of(&route);
    call.allow(
        action.expect("every repository route needs an action"),
        resource.as_deref(),
    )?;
    match route {
        Route::Packument(name) if method == Method::PUT => {
            publish::put_package(&mut call, &name, None).await
        }
        Route::Packument(name) => get_packument(&mut call, &name).await,
        Route::PackumentRev(name, rev) if method == Method::PUT => {
            publish::put_package(&mut call, &name, Some(&rev)).await
        }
        Route::PackumentRev(name, rev) => publish::delete_package(&call, &name, &rev).await,
        Route::Tarball(name, file) => get_tarball(&call, &name, &file).await,
        Route::TarballRev(name, file, _) => publish::delete_tarball(&call, &name, &file).await,
        Route::DistTags(name, None) => publish::get_tags(&call, &name).await,
        Route::DistTags(name, Some(tag)) if method == Method::PUT => {
            publish::put_tag(&mut call, &name, &tag).await
        }
        Route::DistTags(name, Some(tag)) => publish::delete_tag(&call, &name, &tag).await,
        Route::Search => account::search(&call).await,
        _ => unreachable!("answered above"),
    }
}

/// The path a route's privileges are checked against (content selectors, routing rules).
fn resource_of(route: &Route) -> Option<String> {
    match route {
        Route::Packument(n) | Route::PackumentRev(n, _) | Route::DistTags(n, _) => {
            Some(n.packument())
        }
        Route::Tarball(n, f) | Route::TarballRev(n, f, _) => Some(format!("/{n}/-/{f}")),
        _ => None,
    }
}

fn asset_path(p: &str) -> Result<AssetPath, NpmError> {
    AssetPath::parse(p).map_err(|e| NpmError::new(StatusCode::BAD_REQUEST, e.msg))
}

/// Whether the caller asked for the abbreviated document (npm install does; npm view does
/// not).
fn wants_abbreviated(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(ABBREVIATED_TYPE))
}

fn write_mode(req: &HttpRequest) -> bool {
    req.query_string().split('&').any(|kv| kv == "write=true")
}

/// A packument, as stored or generated (`variant`), with the repository's whole canonical
/// document's digest for `_rev`.
pub(crate) async fn read_packument(
    repo: &dyn Repository,
    ctx: &Ctx,
    name: &PackageName,
) -> Result<Option<(AssetMeta, Bytes)>, NpmError> {
    let path = asset_path(&name.packument())?;
    let Some(asset) = repo
        .get(ctx, &path, None)
        .await
        .map_err(NpmError::from_core)?
    else {
        return Ok(None);
    };
    let size = asset.meta.blob.size;
    let bytes = documents::collect(asset.body, size)
        .await
        .map_err(NpmError::from_core)?;
    Ok(Some((asset.meta, bytes)))
}

/// The canonical (full) packument, parsed, with its revision.
pub(crate) async fn packument_value(
    call: &Call,
    name: &PackageName,
) -> Result<Option<(String, Value)>, NpmError> {
    let ctx = call.ctx.canonical();
    let Some((meta, bytes)) = read_packument(call.repo().as_ref(), &ctx, name).await? else {
        return Ok(None);
    };
    let v = serde_json::from_slice(&bytes)
        .map_err(|e| NpmError::from_core(Error::internal(format!("packument of {name}: {e}"))))?;
    Ok(Some((packument::rev_of(&meta.blob.digest), v)))
}

async fn get_packument(call: &mut Call, name: &PackageName) -> Answer {
    let http = &call.http;
    let write = write_mode(http);
    if !write && wants_abbreviated(http) {
        call.ctx.variant = Some(ABBREVIATED);
    }
    let Some((meta, bytes)) = read_packument(call.repo().as_ref(), &call.ctx, name).await? else {
        return Err(not_found(format!("package {name}")));
    };
    let base = call.base_url();
    let (etag, body) = SERVED.get(&meta, &bytes, &base, write)?;
    let mut res = HttpResponse::Ok();
    res.insert_header((header::ETAG, etag.as_str()))
        .insert_header((
            header::CONTENT_TYPE,
            meta.content_type.as_deref().unwrap_or(packument::FULL_TYPE),
        ))
        .insert_header((header::VARY, "Accept"));
    for h in response::upstream_headers(&meta) {
        res.insert_header(h);
    }
    if response::if_none_match(http, &etag) == Some(true) {
        return Ok(res.status(StatusCode::NOT_MODIFIED).finish());
    }
    if http.method() == Method::HEAD {
        return Ok(response::head_body(&mut res, body.len() as u64));
    }
    Ok(res.body(body))
}

async fn get_tarball(call: &Call, name: &PackageName, file: &str) -> Answer {
    let path = asset_path(&format!("/{name}/-/{file}"))?;
    let repo = call.repo();
    let http = &call.http;
    let etag = |m: &AssetMeta| format!("\"{}\"", m.blob.digest.hex());
    if http.method() == Method::HEAD {
        let meta = repo
            .head(&call.ctx, &path)
            .await
            .map_err(NpmError::from_core)?
            .ok_or_else(|| not_found(format!("tarball {file} of {name}")))?;
        let mut res = HttpResponse::Ok();
        res.insert_header((header::ETAG, etag(&meta)))
            .content_type("application/octet-stream");
        return Ok(response::head_body(&mut res, meta.blob.size));
    }
    let asset = repo
        .get(&call.ctx, &path, None)
        .await
        .map_err(NpmError::from_core)?
        .ok_or_else(|| not_found(format!("tarball {file} of {name}")))?;
    let tag = etag(&asset.meta);
    let mut res = HttpResponse::Ok();
    res.insert_header((header::ETAG, tag.as_str()))
        .content_type("application/octet-stream");
    for h in response::upstream_headers(&asset.meta) {
        res.insert_header(h);
    }
    if response::if_none_match(http, &tag) == Some(true) {
        return Ok(res.status(StatusCode::NOT_MODIFIED).finish());
    }
    Ok(res.no_chunking(asset.meta.blob.size).streaming(asset.body))
}

/// Documents as served: tarball markers replaced by the caller's base URL (and `_rev` added
/// for `?write=true`), with their ETag, kept per (document, base) so a hot packument costs a
/// map lookup. Bounded; past a bound it starts over.
struct Served {
    entries: Mutex<ServedEntries>,
}

#[derive(Default)]
struct ServedEntries {
    map: HashMap<(String, String, bool), (String, Bytes)>,
    order: VecDeque<(String, String, bool)>,
    bytes: usize,
}

static SERVED: LazyLock<Served> = LazyLock::new(|| Served {
    entries: Mutex::new(ServedEntries::default()),
});

impl Served {
    const MAX_ENTRIES: usize = 4096;
    const MAX_BYTES: usize = 32 << 20;

    fn get(
        &self,
        meta: &AssetMeta,
        bytes: &Bytes,
        base: &str,
        write: bool,
    ) -> Result<(String, Bytes), NpmError> {
        let key = (meta.blob.digest.hex().to_owned(), base.to_owned(), write);
        if let Some(hit) = self.entries.lock().expect("served lock").map.get(&key) {
            return Ok(hit.clone());
        }
        let mut source = bytes.clone();
        if write {
            let mut v: Value = serde_json::from_slice(bytes)
                .map_err(|e| NpmError::from_core(Error::internal(format!("packument: {e}"))))?;
            if let Some(o) = v.as_object_mut() {
                o.insert("_rev".into(), json!(packument::rev_of(&meta.blob.digest)));
            }
            source = Bytes::from(v.to_string());
        }
        let body = with_base(&source, base);
        let mut h = sha2::Sha256::new();
        sha2::Digest::update(&mut h, meta.blob.digest.hex().as_bytes());
        sha2::Digest::update(&mut h, base.as_bytes());
        sha2::Digest::update(&mut h, [u8::from(write)]);
        let etag = format!("\"{}\"", &hex::encode(sha2::Digest::finalize(h))[..40]);
        let mut e = self.entries.lock().expect("served lock");
        if e.map.len() >= Self::MAX_ENTRIES || e.bytes + body.len() > Self::MAX_BYTES {
            while let Some(old) = e.order.pop_front() {
                if let Some((_, b)) = e.map.remove(&old) {
                    e.bytes -= b.len();
                }
                if e.map.len() < Self::MAX_ENTRIES / 2
                    && e.bytes + body.len() <= Self::MAX_BYTES / 2
                {
                    break;
                }
            }
        }
        e.bytes += body.len();
        e.order.push_back(key.clone());
        e.map.insert(key, (etag.clone(), body.clone()));
        Ok((etag, body))
    }
}

use sha2::Digest as _;

/// `doc` with every tarball marker replaced by `base`.
fn with_base(doc: &[u8], base: &str) -> Bytes {
    let finder = memchr::memmem::Finder::new(MARKER.as_bytes());
    let mut out = Vec::with_capacity(doc.len() + 64 * 64);
    let mut at = 0;
    for i in finder.find_iter(doc) {
        out.extend_from_slice(&doc[at..i]);
        out.extend_from_slice(base.as_bytes());
        at = i + MARKER.len();
    }
    out.extend_from_slice(&doc[at..]);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_table() {
        errors::check_table(|k| status_of(k).as_u16());
    }

    #[test]
    fn markers_become_the_base_url() {
        let doc = br#"{"a":"trove+base:/x/-/x-1.tgz","b":"trove+base:/y"}"#;
        assert_eq!(
            &with_base(doc, "http://h/repository/n")[..],
            br#"{"a":"http://h/repository/n/x/-/x-1.tgz","b":"http://h/repository/n/y"}"#
        );
        assert_eq!(&with_base(b"none", "http://h")[..], b"none");
    }

    #[test]
    fn options() {
        let m = |v: Value| v.as_object().unwrap().clone();
        let opt = json!({ MERGE_HOSTED_WITH_PROXIED: true });
        assert!(Npm.check_options(RepoKind::Group, &m(opt.clone())).is_ok());
        assert!(Npm.check_options(RepoKind::Hosted, &m(opt)).is_err());
        assert!(
            Npm.check_options(RepoKind::Group, &m(json!({ MERGE_HOSTED_WITH_PROXIED: 1 })))
                .is_err()
        );
        assert!(
            Npm.check_options(RepoKind::Proxy, &m(json!({"x": 1})))
                .is_err()
        );
    }
}
