//! Serving a stored file, for the formats whose clients fetch plain files (raw, Maven): an
//! `ETag` (the content digest), `Last-Modified` (the upload), `Range` for one byte range
//! (`206` with `Content-Range`), and `304` for a current `If-None-Match` or
//! `If-Modified-Since`.

use std::time::{Duration, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HttpDate};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use trove_core::{Asset, AssetMeta, AssetPath, ByteRange};

use super::response;

/// The file path of a request whose path below the repository is `tail`: `/` for the root
/// folder, `/dir/` for a folder, and whether it is a folder. Refuses what could name anything
/// outside the repository: `..`, `.`, empty segments, and percent-encoded dots, slashes,
/// backslashes and NULs (which an upstream might decode); the error says why.
pub fn path_of(req: &HttpRequest, tail: &str) -> Result<(String, bool), String> {
    let bad = |why: &str| format!("invalid path: {why}");
    let raw = req.uri().path().to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%00"].iter().any(|e| raw.contains(e)) {
        return Err(bad(
            "percent-encoded dots, slashes, backslashes and NULs are refused",
        ));
    }
    let tail = if tail.is_empty() { "/" } else { tail };
    if tail.contains('\\') || tail.bytes().any(|b| b.is_ascii_control()) {
        return Err(bad("backslashes and control characters are refused"));
    }
    let folder = tail.ends_with('/');
    let trimmed = tail.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(("/".into(), true));
    }
    AssetPath::parse(trimmed).map_err(|_| bad("empty, `.` and `..` segments are refused"))?;
    Ok((
        if folder {
            format!("{trimmed}/")
        } else {
            trimmed.into()
        },
        folder,
    ))
}

pub fn http_date(millis: i64) -> HttpDate {
    HttpDate::from(UNIX_EPOCH + Duration::from_millis(millis.max(0) as u64))
}

/// The file's strong ETag: its digest.
pub fn etag(meta: &AssetMeta) -> String {
    format!("\"{}\"", meta.blob.digest.hex())
}

/// The one byte range the request asks for; several ranges are ignored, as RFC 9110 §14.2
/// allows a server that does not support them.
pub fn range(req: &HttpRequest) -> Option<ByteRange> {
    req.headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(ByteRange::parse_header)
}

/// Whether the client's copy is current (RFC 9110 §13.1.2, §13.1.3).
pub fn not_modified(req: &HttpRequest, meta: &AssetMeta) -> bool {
    if let Some(matched) = response::if_none_match(req, &etag(meta)) {
        return matched;
    }
    let since = req
        .headers()
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<HttpDate>().ok());
    match since {
        // HTTP dates have whole seconds.
        Some(since) => {
            let modified = std::time::SystemTime::from(http_date(meta.created / 1000 * 1000));
            modified <= std::time::SystemTime::from(since)
        }
        None => false,
    }
}

/// A `200` carrying `meta`'s validators and `content_type` (and the warning of a stale
/// proxied copy), for [`answer`] to finish.
pub fn ok(meta: &AssetMeta, content_type: &str) -> HttpResponseBuilder {
    let mut res = HttpResponse::Ok();
    res.insert_header((header::ETAG, etag(meta)))
        .insert_header((header::LAST_MODIFIED, http_date(meta.created)))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CONTENT_TYPE, content_type));
    for h in response::upstream_headers(meta) {
        res.insert_header(h);
    }
    res
}

/// `res` ([`ok`]) finished for a request: `304` when the client's copy is current, the length
/// without a body for `HEAD` (`asset` is `None`), else the body (or the range it covers).
pub fn answer(
    req: &HttpRequest,
    mut res: HttpResponseBuilder,
    meta: &AssetMeta,
    asset: Option<Asset>,
) -> HttpResponse {
    if not_modified(req, meta) {
        return res.status(StatusCode::NOT_MODIFIED).finish();
    }
    let Some(asset) = asset else {
        return response::head_body(&mut res, meta.blob.size);
    };
    let size = asset.meta.blob.size;
    match asset.served {
        Some((start, len)) => res
            .status(StatusCode::PARTIAL_CONTENT)
            .insert_header((
                header::CONTENT_RANGE,
                format!("bytes {start}-{}/{size}", start + len - 1),
            ))
            .no_chunking(len)
            .streaming(asset.body),
        None => res.no_chunking(size).streaming(asset.body),
    }
}

/// What a path segment keeps encoded in an upstream URL (RFC 3986 `pchar` minus what is safe).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Where a proxy of plain files fetches `path`: `<remote>/<path>`, segments percent-encoded;
/// a remote with a path prefix and a trailing slash keeps its prefix.
pub fn upstream_url(remote: &str, path: &AssetPath) -> String {
    let encoded: Vec<String> = path.as_str()[1..]
        .split('/')
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect();
    format!("{}/{}", remote.trim_end_matches('/'), encoded.join("/"))
}
