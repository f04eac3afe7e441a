//! Raw files (Nexus "raw"): any file at any path, for curl, wget and build tools. Hosted, proxy
//! (a pull-through cache of any HTTP file server) and group (the first member that has the
//! path). `PUT` at any depth stores a file (201); `GET`/`HEAD` serve it with `Range`, `ETag`
//! and `Last-Modified` (and 304 for conditional requests); `DELETE` removes it; a path ending
//! in `/` lists the folder as HTML. The Content-Type is the upload's, or guessed from the
//! extension. `..` and percent-encoded dots, slashes and backslashes are refused. Errors are
//! plain text, which is what curl and wget print.
//!
//! The whole format is this module plus one line in `FormatRegistry::builtin`.

mod listing;
mod spec;

use std::sync::Arc;

use actix_web::http::header;
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use async_trait::async_trait;
use trove_auth::{Action, Identity};
use trove_core::{
    AssetMeta, AssetPath, Ctx, Digest, Error, ErrorKind, FormatSpec, NewAsset, Page, RepoKind,
    Repository, RepositoryConfig,
};

pub use spec::{ID, RawSpec};

use crate::kit::access::{self, Refusal};
use crate::kit::errors::Failure;
use crate::kit::{body, caller, errors, file, request, upload};
use crate::registry::{Format, FormatInfo, RepoRequest};

/// The raw format.
pub struct Raw;

/// Folder listings show at most this many entries of the folder's subtree.
const LISTING_LIMIT: u32 = 10_000;

#[async_trait(?Send)]
impl Format for Raw {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            id: ID,
            label: "Raw",
            kinds: &[RepoKind::Hosted, RepoKind::Proxy, RepoKind::Group],
            description: "plain files at any path, for curl, wget and build tools: /repository/<name>/<path>",
        }
    }

    fn spec(&self, _repo: &RepositoryConfig) -> trove_core::Result<Arc<dyn FormatSpec>> {
        Ok(Arc::new(RawSpec))
    }

    async fn serve(&self, req: RepoRequest) -> HttpResponse {
        let http = req.http.clone();
        match serve(req).await {
            Ok(res) => res,
            Err(e) => {
                e.answered.note(&http);
                e.response()
            }
        }
    }
}

/// A raw error: a status and a line of text, plus the log's reason.
struct RawError {
    answered: Failure,
    /// A redirect's target (a folder asked for without its `/`).
    location: Option<String>,
}

impl From<Failure> for RawError {
    fn from(answered: Failure) -> Self {
        RawError {
            answered,
            location: None,
        }
    }
}

impl RawError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Failure::new(status, message).into()
    }

    /// Internal causes are logged here and never sent.
    fn from_core(e: Error) -> Self {
        Failure::from_core_with(e, status_of).into()
    }

    fn refused(r: Refusal) -> Self {
        Failure::refused(r).into()
    }

    fn response(&self) -> HttpResponse {
        let a = &self.answered;
        let mut res = HttpResponse::build(a.status);
        if a.challenge {
            res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"trove\""));
        }
        if let Some(l) = &self.location {
            res.insert_header((header::LOCATION, l.as_str()));
        }
        res.content_type("text/plain; charset=utf-8").body(format!(
            "{} {}: {}\n",
            a.status.as_u16(),
            a.code(),
            a.message
        ))
    }
}

/// The one table from core error kinds to statuses.
fn status_of(kind: &ErrorKind) -> StatusCode {
    errors::status_of(kind)
}

type Answer = Result<HttpResponse, RawError>;

/// The file path of the request (see [`file::path_of`]).
fn file_path(req: &RepoRequest) -> Result<(String, bool), RawError> {
    file::path_of(&req.http, &req.tail).map_err(|why| RawError::new(StatusCode::BAD_REQUEST, why))
}

async fn serve(req: RepoRequest) -> Answer {
    let (path, folder) = file_path(&req)?;
    let method = req.http.method().clone();
    let action = match method {
        Method::GET | Method::HEAD if folder => Action::Browse,
        Method::GET | Method::HEAD => Action::Read,
        Method::PUT if !folder => Action::Add,
        Method::DELETE if !folder => Action::Delete,
        _ => {
            return Err(RawError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not supported on {}", req.http.path()),
            ));
        }
    };
    request::note(&req.http, |f| f.action = Some(action.as_str()));
    let front = &req.front;
    let identity = caller::identify(&front.auth, &req.http)
        .await
        .map_err(|e| match e.into_service_failure() {
            Ok(f) => RawError::from_core(f),
            Err(e) => RawError::refused(Refusal::Challenge(e.to_string())),
        })?;
    let allow = |action: Action| {
        access::check(
            &front.auth,
            &identity,
            &ID,
            &req.name,
            req.repo.as_deref().map(|r| r.config()),
            action,
            Some(&path),
        )
        .map_err(RawError::refused)
    };
    allow(action)?;
    let repo = req.repo.clone().expect("checked: the repository exists");
    let ctx = request::ctx(&req.http, &identity.principal);
    match method {
        Method::GET | Method::HEAD if folder => list(&req, repo.as_ref(), &ctx, &path).await,
        Method::GET | Method::HEAD => get(&req, repo.as_ref(), &ctx, &path).await,
        Method::PUT => put(req, repo, &ctx, &identity, &path).await,
        _ => {
            let answer = delete(repo.as_ref(), &ctx, &path).await;
            if answer.is_ok() {
                crate::kit::audit::content_deleted(front, &req.http, &identity, &req.name, &path)
                    .await;
            }
            answer
        }
    }
}

fn asset_path(path: &str) -> AssetPath {
    AssetPath::parse(path).expect("checked by file_path")
}

fn content_type(meta: &AssetMeta) -> String {
    meta.content_type
        .clone()
        .unwrap_or_else(|| guess(meta.path.as_str()))
}

fn guess(path: &str) -> String {
    mime_guess::from_path(path)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .to_owned()
}

async fn get(req: &RepoRequest, repo: &dyn Repository, ctx: &Ctx, path: &str) -> Answer {
    let head = req.http.method() == Method::HEAD;
    let path_ = asset_path(path);
    let range = file::range(&req.http);
    let meta = repo.head(ctx, &path_).await.map_err(RawError::from_core)?;
    let Some(meta) = meta else {
        return Err(not_found_or_folder(repo, ctx, path).await);
    };
    let res = file::ok(&meta, &content_type(&meta));
    if head || file::not_modified(&req.http, &meta) {
        return Ok(file::answer(&req.http, res, &meta, None));
    }
    let asset = repo
        .get(ctx, &path_, range)
        .await
        .map_err(|e| {
            if e.kind == ErrorKind::RangeNotSatisfiable {
                let mut r = RawError::from_core(e);
                r.answered.message = format!(
                    "{}; the file has {} bytes",
                    r.answered.message, meta.blob.size
                );
                r
            } else {
                RawError::from_core(e)
            }
        })?
        .ok_or_else(|| RawError::new(StatusCode::NOT_FOUND, format!("{path} was deleted")))?;
    Ok(file::answer(&req.http, res, &meta, Some(asset)))
}

/// A missing file; a folder asked for without its `/` is redirected to it.
async fn not_found_or_folder(repo: &dyn Repository, ctx: &Ctx, path: &str) -> RawError {
    let page = Page {
        after: None,
        limit: Some(1),
    };
    let prefix = format!("{path}/");
    if let Ok(children) = repo.list(ctx, &prefix, &page).await
        && !children.is_empty()
    {
        // Relative, so it works under whatever prefix the client sees.
        let name = path.rsplit('/').next().unwrap_or_default();
        let mut e = RawError::new(StatusCode::MOVED_PERMANENTLY, format!("{path} is a folder"));
        e.location = Some(format!("{name}/"));
        return e;
    }
    RawError::new(StatusCode::NOT_FOUND, format!("{path} not found"))
}

async fn list(req: &RepoRequest, repo: &dyn Repository, ctx: &Ctx, folder: &str) -> Answer {
    let page = Page {
        after: None,
        limit: Some(LISTING_LIMIT),
    };
    let assets = repo
        .list(ctx, folder, &page)
        .await
        .map_err(RawError::from_core)?;
    if assets.is_empty() && folder != "/" {
        return Err(RawError::new(
            StatusCode::NOT_FOUND,
            format!("folder {folder} is empty or does not exist"),
        ));
    }
    let entries = listing::entries(folder, &assets);
    let page = listing::html(
        &req.name,
        folder,
        &entries,
        assets.len() >= LISTING_LIMIT as usize,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page))
}

/// An optional `X-Checksum-Sha256` (as Artifactory and Nexus clients send it) the upload must
/// match.
fn announced_sha256(req: &HttpRequest) -> Result<Option<Digest>, RawError> {
    let Some(v) = req.headers().get("x-checksum-sha256") else {
        return Ok(None);
    };
    let v = v.to_str().unwrap_or_default().trim().to_ascii_lowercase();
    Digest::parse(&format!("sha256:{v}"))
        .map(Some)
        .map_err(|_| {
            RawError::new(
                StatusCode::BAD_REQUEST,
                "X-Checksum-Sha256 must be 64 hex digits",
            )
        })
}

async fn put(
    req: RepoRequest,
    repo: Arc<dyn Repository>,
    ctx: &Ctx,
    identity: &Identity,
    path: &str,
) -> Answer {
    let p = asset_path(path);
    repo.check_writable().map_err(RawError::from_core)?;
    // A routing rule refuses before any byte is streamed.
    repo.check_path(&p).map_err(RawError::from_core)?;
    // So do a quota that is reached and a blob store below its free-space floor (507).
    repo.check_upload(ctx).await.map_err(RawError::from_core)?;
    let existing = repo.head(ctx, &p).await.map_err(RawError::from_core)?;
    if existing.is_some() {
        access::check(
            &req.front.auth,
            identity,
            &ID,
            &req.name,
            Some(repo.config()),
            Action::Edit,
            Some(path),
        )
        .map_err(RawError::refused)?;
    }
    let expected = announced_sha256(&req.http)?;
    let uploaded = req
        .http
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        // curl -d labels any body a form; that says nothing about the file.
        .filter(|t| !t.starts_with("application/x-www-form-urlencoded"));
    let (pump, body) = body::bridge(req.payload, req.front.progress);
    let (_, stored) = futures_util::join!(
        pump,
        upload::store(req.front.blobs.as_ref(), body, expected.as_ref())
    );
    let blob = stored.map_err(|e| {
        if e.kind == ErrorKind::DigestMismatch {
            RawError::new(
                StatusCode::BAD_REQUEST,
                format!("the body does not match X-Checksum-Sha256: {}", e.msg),
            )
        } else {
            RawError::from_core(e)
        }
    })?;
    let asset = NewAsset {
        content_type: Some(uploaded.unwrap_or_else(|| guess(path))),
        blob,
        attrs: serde_json::json!({}),
    };
    let meta = repo
        .put(ctx, &p, asset)
        .await
        .map_err(RawError::from_core)?;
    Ok(HttpResponse::Created()
        .insert_header((header::ETAG, file::etag(&meta)))
        .insert_header((header::LOCATION, req.http.path().to_owned()))
        .finish())
}

async fn delete(repo: &dyn Repository, ctx: &Ctx, path: &str) -> Answer {
    if repo
        .delete(ctx, &asset_path(path))
        .await
        .map_err(RawError::from_core)?
    {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(RawError::new(
            StatusCode::NOT_FOUND,
            format!("{path} not found"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_table() {
        errors::check_table(|k| status_of(k).as_u16());
        assert_eq!(status_of(&ErrorKind::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(
            status_of(&ErrorKind::Blocked { rule: "r".into() }),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status_of(&ErrorKind::AlreadyExists),
            StatusCode::CONFLICT,
            "allow_once refuses a second upload"
        );
    }

    #[test]
    fn guesses() {
        assert_eq!(guess("/a/b.txt"), "text/plain");
        assert_eq!(guess("/a/b.tar.gz"), "application/gzip");
        assert_eq!(guess("/a/noext"), "application/octet-stream");
    }
}
