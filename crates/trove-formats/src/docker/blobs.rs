//! Blob HEAD and GET (end-2, end-10 of the spec), with single byte ranges.

use actix_web::body::SizedStream;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use trove_core::{AssetMeta, ByteRange, Digest};

use super::errors::{OciCode, OciError, Subject};
use super::{CONTENT_DIGEST, Target, asset_path};

fn unknown(digest: &Digest) -> OciError {
    OciError::new(
        OciCode::BlobUnknown,
        format!("blob {digest} is not in this repository"),
    )
}

/// Headers shared by GET and HEAD of a blob or manifest.
pub(crate) fn content_headers(res: &mut HttpResponseBuilder, meta: &AssetMeta, content_type: &str) {
    let digest = meta.blob.digest.to_string();
    res.insert_header((header::ETAG, format!("\"{digest}\"")))
        .insert_header((CONTENT_DIGEST, digest))
        .content_type(content_type);
    // A proxy serving cached content while its upstream is down or rate-limiting says so.
    for header in super::spec::upstream_headers(meta) {
        res.insert_header(header);
    }
}

pub(crate) use crate::kit::response::head_body;

pub async fn get(
    t: &Target,
    req: &HttpRequest,
    name: &str,
    digest: &Digest,
    head: bool,
) -> Result<HttpResponse, OciError> {
    let path = asset_path(format!("/v2/{name}/blobs/{digest}"))?;
    let ctype = "application/octet-stream";
    if head {
        let meta = t
            .repo
            .head(&t.ctx, &path)
            .await
            .map_err(|e| OciError::from_core(e, Subject::Blob))?;
        let meta = meta.ok_or_else(|| unknown(digest))?;
        let mut res = HttpResponse::Ok();
        content_headers(&mut res, &meta, ctype);
        res.insert_header((header::ACCEPT_RANGES, "bytes"));
        return Ok(head_body(&mut res, meta.blob.size));
    }
    // An unparseable or multi-part Range is ignored and the whole blob sent (RFC 9110 §14.2).
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(ByteRange::parse_header);
    let asset = t.repo.get(&t.ctx, &path, range).await.map_err(|e| {
        let size_hint = e.kind == trove_core::ErrorKind::RangeNotSatisfiable;
        let err = OciError::from_core(e, Subject::Blob);
        if size_hint {
            err.header("Content-Range", "bytes */*".into())
        } else {
            err
        }
    })?;
    let asset = asset.ok_or_else(|| unknown(digest))?;
    let size = asset.meta.blob.size;
    let (mut res, len) = match asset.served {
        Some((start, len)) => {
            let mut res = HttpResponse::PartialContent();
            let end = start + len - 1;
            res.insert_header((header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}")));
            (res, len)
        }
        None => (HttpResponse::Ok(), size),
    };
    content_headers(&mut res, &asset.meta, ctype);
    res.insert_header((header::ACCEPT_RANGES, "bytes"));
    Ok(res.body(SizedStream::new(len, asset.body)))
}

/// `DELETE /v2/<name>/blobs/<digest>` (end-10): unlinks the blob from the repository (every
/// image name shares the link); the bytes stay until garbage collection.
pub async fn delete(t: &Target, name: &str, digest: &Digest) -> Result<HttpResponse, OciError> {
    let path = asset_path(format!("/v2/{name}/blobs/{digest}"))?;
    let removed = t
        .repo
        .delete(&t.ctx, &path)
        .await
        .map_err(|e| OciError::from_core(e, Subject::Blob))?;
    if !removed {
        return Err(unknown(digest));
    }
    Ok(HttpResponse::Accepted().finish())
}
