//! PyPI repositories for pip and twine: hosted (twine uploads with every digest checked, the
//! core metadata of each wheel kept and served, yanking), proxy (a pull-through cache of
//! pypi.org, devpi, pypiserver or any simple index, JSON or HTML) and group (merged index
//! pages, where a hosted project hides the same project in proxy members). The simple
//! repository API: PEP 503 HTML and PEP 691 JSON by `Accept`, PEP 629, PEP 700, PEP 658/714,
//! PEP 592. Errors are a status with the message as its reason phrase, which twine and pip
//! print. See `docs/formats/pypi.md` for every endpoint, PEP and its test.
//!
//! The whole format is this module plus one line in `FormatRegistry::builtin`.

mod browse;
mod errors;
mod index;
mod names;
mod spec;
mod upload;
mod wheel;

use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::http::{Method, StatusCode};
use async_trait::async_trait;
use serde_json::{Map, Value};
use trove_auth::Action;
use trove_core::{AssetPath, FormatSpec, RepoKind, RepositoryConfig};

pub use names::{Project, normalize};
pub use spec::{ID, PypiSpec};

use crate::OptionField;
use crate::kit::call::Call;
use crate::kit::errors::Failure;
use crate::kit::{request, response};
use crate::registry::{Format, FormatInfo, RepoRequest};
use index::{HTML, HTML_TYPE, JSON_TYPE, TEXT_HTML};
use names::Route;

/// The PyPI format.
pub struct Pypi;

pub use crate::option_fields::MERGE_HOSTED_WITH_PROXIED;

const OPTIONS: &[OptionField] = &[crate::option_fields::merge_hosted_with_proxied(
    "off (the default): a project in a hosted member hides the same project in proxy members, the guard against dependency confusion",
)];

#[async_trait(?Send)]
impl Format for Pypi {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            id: ID,
            label: "PyPI",
            kinds: &[RepoKind::Hosted, RepoKind::Proxy, RepoKind::Group],
            description: "Python packages for pip and twine: pip install --index-url http://<host>/repository/<name>/simple/, twine upload --repository-url http://<host>/repository/<name>/",
        }
    }

    fn check_options(&self, kind: RepoKind, options: &Map<String, Value>) -> Result<(), String> {
        crate::option_fields::check_flags("pypi", OPTIONS, kind, options)
    }

    fn option_fields(&self) -> &'static [OptionField] {
        OPTIONS
    }

    fn browse(&self) -> Option<&dyn crate::browse::Browse> {
        Some(&browse::PypiBrowse)
    }

    fn spec(&self, repo: &RepositoryConfig) -> trove_core::Result<Arc<dyn FormatSpec>> {
        let mix = repo
            .options
            .get(MERGE_HOSTED_WITH_PROXIED)
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(Arc::new(PypiSpec {
            kind: repo.kind(),
            hosted_hides_proxied: !mix,
        }))
    }

    async fn serve(&self, req: RepoRequest) -> HttpResponse {
        let http = req.http.clone();
        match serve(req).await {
            Ok(res) => res,
            Err(e) => {
                e.note(&http);
                errors::response(&e)
            }
        }
    }
}

type Answer = Result<HttpResponse, Failure>;

fn not_found(what: impl std::fmt::Display) -> Failure {
    Failure::new(StatusCode::NOT_FOUND, format!("{what} not found"))
}

/// What a route needs, checked before any body is read.
fn action_of(route: &Route, method: &Method) -> Result<Action, Failure> {
    let read = matches!(*method, Method::GET | Method::HEAD);
    Ok(match route {
        Route::Upload if *method == Method::POST => Action::Add,
        Route::Projects if read => Action::Browse,
        Route::Upload
        | Route::Redirect(_)
        | Route::Index(_)
        | Route::File(..)
        | Route::Metadata(..)
            if read =>
        {
            Action::Read
        }
        _ => {
            return Err(Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not supported here"),
            ));
        }
    })
}

/// The path a route's privileges are checked against (token scopes, routing rules).
fn resource_of(route: &Route) -> Option<String> {
    match route {
        Route::Index(p) => Some(p.index()),
        Route::File(p, f) => Some(p.file(f)),
        Route::Metadata(p, f) => Some(format!("{}.metadata", p.file(f))),
        _ => None,
    }
}

async fn serve(req: RepoRequest) -> Answer {
    let Some(route) = names::route(&req.tail) else {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            format!("{} is not a path of the PyPI simple API", req.http.path()),
        ));
    };
    let method = req.http.method().clone();
    let action = action_of(&route, &method)?;
    request::note(&req.http, |f| f.action = Some(action.as_str()));
    let mut call = Call::identify(req, ID).await?;
    call.allow(action, resource_of(&route).as_deref())?;
    match route {
        Route::Upload if method == Method::POST => upload::upload(&mut call).await,
        Route::Upload => redirect(&call, "/simple/"),
        Route::Redirect(to) => redirect(&call, &to),
        Route::Projects => get_index(&mut call, "/simple").await,
        Route::Index(p) => get_index(&mut call, &p.index()).await,
        Route::File(p, f) => get_file(&call, &p.file(&f), "application/octet-stream").await,
        Route::Metadata(p, f) => {
            get_file(
                &call,
                &format!("{}.metadata", p.file(&f)),
                "text/plain; charset=utf-8",
            )
            .await
        }
    }
}

/// A non-normalised name or a missing `/` (PEP 503): a permanent redirect to the right URL.
fn redirect(call: &Call, to: &str) -> Answer {
    let location = format!("{}{to}", call.base_url());
    Ok(HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, location))
        .finish())
}

fn asset_path(p: &str) -> Result<AssetPath, Failure> {
    AssetPath::parse(p).map_err(|e| Failure::new(StatusCode::BAD_REQUEST, e.msg))
}

/// What the client's `Accept` takes (PEP 691): the content type to answer with and the
/// variant it is. Explicit types win over wildcards; among equals JSON, then HTML; a client
/// that says nothing, or `*/*`, gets `text/html` (what every client reads). `None`: 406.
fn negotiate(accept: Option<&str>) -> Option<(&'static str, Option<&'static str>)> {
    const CANDIDATES: [(&str, Option<&str>); 3] = [
        (JSON_TYPE, None),
        (HTML_TYPE, Some(HTML)),
        (TEXT_HTML, Some(HTML)),
    ];
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some((TEXT_HTML, Some(HTML)));
    };
    // Per candidate: (q, explicit) from the most specific range that matches it.
    let mut best: Option<(f32, bool, usize)> = None;
    for (i, (ty, _)) in CANDIDATES.iter().enumerate() {
        let mut found: Option<(u8, f32)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let media = media.replace("vnd.pypi.simple.latest+", "vnd.pypi.simple.v1+");
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let (main, _) = ty.split_once('/').unwrap_or_default();
            let specificity = if media == *ty {
                3
            } else if media == format!("{main}/*") {
                2
            } else if media == "*/*" {
                1
            } else {
                continue;
            };
            if found.is_none_or(|(s, _)| specificity > s) {
                found = Some((specificity, q));
            }
        }
        let Some((specificity, q)) = found else {
            continue;
        };
        if q <= 0.0 {
            continue;
        }
        let explicit = specificity == 3;
        let better = match best {
            None => true,
            Some((bq, bexplicit, _)) => q > bq || (q == bq && explicit && !bexplicit),
        };
        if better {
            best = Some((q, explicit, i));
        }
    }
    let (_, explicit, i) = best?;
    // Wildcards alone: the HTML every client reads.
    let i = if explicit { i } else { 2 };
    Some(CANDIDATES[i])
}

async fn get_index(call: &mut Call, path: &str) -> Answer {
    let accept = call
        .http
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let Some((content_type, variant)) = negotiate(accept) else {
        return Err(Failure::new(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "none of the accepted types is served here: {JSON_TYPE}, {HTML_TYPE} or {TEXT_HTML}"
            ),
        ));
    };
    call.ctx.variant = variant;
    let path = asset_path(path)?;
    let repo = call.repo().clone();
    let asset = repo
        .get(&call.ctx, &path, None)
        .await
        .map_err(Failure::from_core)?
        .ok_or_else(|| match path.as_str() {
            "/simple" => not_found("the project list"),
            p => not_found(format!("project {}", p.trim_start_matches("/simple/"))),
        })?;
    let etag = format!("\"{}\"", &asset.meta.blob.digest.hex()[..40]);
    let mut res = HttpResponse::Ok();
    res.insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::VARY, "Accept"))
        .insert_header((
            header::CONTENT_TYPE,
            if content_type == TEXT_HTML {
                "text/html; charset=utf-8"
            } else {
                content_type
            },
        ));
    for h in response::upstream_headers(&asset.meta) {
        res.insert_header(h);
    }
    if response::if_none_match(&call.http, &etag) == Some(true) {
        return Ok(res.status(StatusCode::NOT_MODIFIED).finish());
    }
    if call.http.method() == Method::HEAD {
        return Ok(response::head_body(&mut res, asset.meta.blob.size));
    }
    Ok(res.no_chunking(asset.meta.blob.size).streaming(asset.body))
}

async fn get_file(call: &Call, path: &str, content_type: &str) -> Answer {
    let path = asset_path(path)?;
    let repo = call.repo();
    let missing = || {
        not_found(format!(
            "file {}",
            path.as_str().rsplit('/').next().unwrap_or("")
        ))
    };
    let etag = |d: &trove_core::Digest| format!("\"{}\"", d.hex());
    if call.http.method() == Method::HEAD {
        let meta = repo
            .head(&call.ctx, &path)
            .await
            .map_err(Failure::from_core)?
            .ok_or_else(missing)?;
        let mut res = HttpResponse::Ok();
        res.insert_header((header::ETAG, etag(&meta.blob.digest)))
            .content_type(content_type);
        return Ok(response::head_body(&mut res, meta.blob.size));
    }
    let asset = repo
        .get(&call.ctx, &path, None)
        .await
        .map_err(Failure::from_core)?
        .ok_or_else(missing)?;
    let tag = etag(&asset.meta.blob.digest);
    let mut res = HttpResponse::Ok();
    res.insert_header((header::ETAG, tag.as_str()))
        .insert_header((header::CACHE_CONTROL, "max-age=31536000, immutable"))
        .content_type(content_type);
    for h in response::upstream_headers(&asset.meta) {
        res.insert_header(h);
    }
    if response::if_none_match(&call.http, &tag) == Some(true) {
        return Ok(res.status(StatusCode::NOT_MODIFIED).finish());
    }
    Ok(res.no_chunking(asset.meta.blob.size).streaming(asset.body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accept_headers_choose_json_or_html() {
        let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
        assert_eq!(negotiate(Some(pip)), Some((JSON_TYPE, None)));
        assert_eq!(negotiate(None), Some((TEXT_HTML, Some(HTML))));
        assert_eq!(negotiate(Some("*/*")), Some((TEXT_HTML, Some(HTML))));
        assert_eq!(negotiate(Some("text/html")), Some((TEXT_HTML, Some(HTML))));
        assert_eq!(
            negotiate(Some("application/vnd.pypi.simple.v1+html")),
            Some((HTML_TYPE, Some(HTML)))
        );
        assert_eq!(
            negotiate(Some("application/vnd.pypi.simple.latest+json")),
            Some((JSON_TYPE, None))
        );
        assert_eq!(
            negotiate(Some(
                "text/html;q=0.5, application/vnd.pypi.simple.v1+json;q=0.4"
            )),
            Some((TEXT_HTML, Some(HTML)))
        );
        assert_eq!(
            negotiate(Some("application/vnd.pypi.simple.v1+json;q=0, */*;q=0.1")),
            Some((TEXT_HTML, Some(HTML)))
        );
        assert_eq!(negotiate(Some("application/json")), None);
        assert_eq!(negotiate(Some("image/png, text/plain")), None);
    }

    #[test]
    fn options() {
        let m = |v: Value| v.as_object().unwrap().clone();
        let opt = json!({ MERGE_HOSTED_WITH_PROXIED: true });
        assert!(Pypi.check_options(RepoKind::Group, &m(opt.clone())).is_ok());
        assert!(Pypi.check_options(RepoKind::Hosted, &m(opt)).is_err());
        assert!(
            Pypi.check_options(
                RepoKind::Group,
                &m(json!({ MERGE_HOSTED_WITH_PROXIED: "yes" }))
            )
            .is_err()
        );
        assert!(
            Pypi.check_options(RepoKind::Proxy, &m(json!({"x": 1})))
                .is_err()
        );
    }
}
