//! Response pieces every format needs: a HEAD that announces a length without a body, and the
//! warning a client gets when a proxy serves a copy it could not revalidate.

use actix_web::body::BodyStream;
use actix_web::{HttpResponse, HttpResponseBuilder};
use trove_core::{ATTR_UPSTREAM_STALE, AssetMeta};

/// A HEAD answer that announces `len` bytes and sends none.
pub fn head_body(res: &mut HttpResponseBuilder, len: u64) -> HttpResponse {
    // A streaming body with `no_chunking` keeps our Content-Length; a sized empty body would
    // make actix write `content-length: 0` (docker reads the size from HEAD, curl -I shows it).
    res.no_chunking(len)
        .body(BodyStream::new(futures_util::stream::empty::<
            Result<bytes::Bytes, std::io::Error>,
        >()))
}

/// `Warning` and `X-Trove-Upstream` for a copy served stale (its upstream down or
/// rate-limiting), none otherwise.
pub fn upstream_headers(meta: &AssetMeta) -> Vec<(&'static str, String)> {
    let Some(why) = meta.attrs.get(ATTR_UPSTREAM_STALE).and_then(|v| v.as_str()) else {
        return vec![];
    };
    // Header values must be visible ASCII; the reason is ours, but may quote an upstream.
    let why: String = why
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .filter(|c| *c != '"')
        .take(200)
        .collect();
    vec![
        ("Warning", format!("110 trove \"Response is stale: {why}\"")),
        ("X-Trove-Upstream", format!("stale; {why}")),
    ]
}

/// Whether the request's `If-None-Match` names `etag` (or `*`), weak tags matching too
/// (RFC 9110 §13.1.2); `None` when the request has no `If-None-Match`.
pub fn if_none_match(req: &actix_web::HttpRequest, etag: &str) -> Option<bool> {
    let v = req
        .headers()
        .get(actix_web::http::header::IF_NONE_MATCH)?
        .to_str()
        .ok()?;
    Some(
        v.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag),
    )
}
