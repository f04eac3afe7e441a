//! Tag listing (end-8a/8b): `GET /v2/<name>/tags/list[?n=<int>&last=<tag>]`, paginated with a
//! `Link` header as the spec describes.

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;

use super::errors::{OciCode, OciError, Subject};
use super::{Target, asset_path};

#[derive(Deserialize)]
struct Query {
    n: Option<usize>,
    last: Option<String>,
}

#[derive(Deserialize, serde::Serialize)]
struct TagList {
    name: String,
    tags: Vec<String>,
}

pub async fn list(t: &Target, req: &HttpRequest, name: &str) -> Result<HttpResponse, OciError> {
    let q = web::Query::<Query>::from_query(req.query_string())
        .map_err(|e| OciError::new(OciCode::Unsupported, format!("bad query: {e}")).status(400))?;
    let path = asset_path(format!("/v2/{name}/tags/list"))?;
    let asset = t
        .repo
        .get(&t.ctx, &path, None)
        .await
        .map_err(|e| OciError::from_core(e, Subject::Repository))?;
    let asset = asset.ok_or_else(|| {
        OciError::new(
            OciCode::NameUnknown,
            format!("repository name {name:?} is not known"),
        )
    })?;
    let mut doc = Vec::new();
    let mut body = asset.body;
    while let Some(chunk) = body.next().await {
        doc.extend_from_slice(&chunk.map_err(|e| {
            OciError::from_core(trove_core::Error::io("tag list", e), Subject::Repository)
        })?);
    }
    let mut list: TagList = serde_json::from_slice(&doc).map_err(|e| {
        OciError::from_core(
            trove_core::Error::internal(format!("tag list document: {e}")),
            Subject::Repository,
        )
    })?;
    if let Some(last) = &q.last {
        list.tags.retain(|t| t.as_str() > last.as_str());
    }
    let mut res = HttpResponse::Ok();
    if let Some(n) = q.n {
        if list.tags.len() > n {
            list.tags.truncate(n);
            if let Some(last) = list.tags.last() {
                let next = t.url(&format!("{name}/tags/list?n={n}&last={last}"));
                res.insert_header(("Link", format!("<{next}>; rel=\"next\"")));
            }
        }
    }
    Ok(res.json(list))
}
