//! Blob uploads (end-4a/4b, end-5, end-6, end-13): POST to start (or monolithic with
//! `?digest=`), PATCH chunks, PUT `?digest=` to finish, GET for status, DELETE to cancel.
//!
//! The bytes go to the blob store as they arrive, with no size limit; the session row in the
//! metadata store says which repository and image name own the upload. A blob becomes visible
//! only after the store verified its digest, and only then is it linked into the repository.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use serde::Deserialize;
use trove_core::{
    BlobInfo, ByteStream, Digest, ErrorKind, NewAsset, Result as CoreResult, UploadId, now_millis,
};
use trove_store::UploadRow;

use super::errors::{OciCode, OciError, Subject};
use super::{CONTENT_DIGEST, Mount, Target, asset_path, route};
use crate::kit::Frontend;
use crate::kit::body::bridge;

#[derive(Deserialize)]
struct Query {
    digest: Option<String>,
    mount: Option<String>,
    from: Option<String>,
}

/// The source a `POST ...?mount=<digest>&from=<name>` mounts from.
pub(crate) fn mount_from(req: &HttpRequest) -> Option<String> {
    let q = query(req).ok()?;
    q.mount.and(q.from)
}

fn query(req: &HttpRequest) -> Result<Query, OciError> {
    web::Query::<Query>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| OciError::new(OciCode::BlobUploadInvalid, format!("bad query string: {e}")))
}

fn upload_err(e: trove_core::Error) -> OciError {
    OciError::from_core(e, Subject::Upload)
}

fn unknown(id: &UploadId) -> OciError {
    OciError::new(
        OciCode::BlobUploadUnknown,
        format!("upload {id} is unknown or has ended"),
    )
}

/// The `Range` header of upload responses: the inclusive range received so far. Docker reads
/// `0-0` for an empty upload, as distribution sends it.
fn range_header(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn in_progress(res: &mut HttpResponseBuilder, t: &Target, name: &str, id: &UploadId, size: u64) {
    res.insert_header((
        header::LOCATION,
        t.url(&format!("{name}/blobs/uploads/{id}")),
    ))
    .insert_header(("Range", range_header(size)))
    .insert_header(("Docker-Upload-UUID", id.to_string()));
}

/// Streams `payload` into upload `id` at `offset`.
async fn append(
    api: &Frontend,
    id: &UploadId,
    offset: u64,
    payload: web::Payload,
) -> CoreResult<u64> {
    let (pump, body): (_, ByteStream) = bridge(payload, api.progress);
    let (_, appended) = futures_util::join!(pump, api.blobs.append(id, offset, body));
    appended
}

/// Verifies and commits upload `id`, ends its session and links the blob into the repository.
async fn complete(
    t: &Target,
    api: &Frontend,
    name: &str,
    id: &UploadId,
    digest: &Digest,
) -> Result<HttpResponse, OciError> {
    let committed = api.blobs.commit(id, digest).await;
    // The blob store ends the session on success and on a digest mismatch alike.
    if !matches!(&committed, Err(e) if e.kind != ErrorKind::DigestMismatch) {
        api.meta
            .uploads()
            .delete(id.as_str())
            .await
            .map_err(upload_err)?;
    }
    let blob: BlobInfo = committed.map_err(upload_err)?;
    link(t, name, blob).await
}

async fn link(t: &Target, name: &str, blob: BlobInfo) -> Result<HttpResponse, OciError> {
    let digest = blob.digest.to_string();
    let path = asset_path(format!("/v2/{name}/blobs/{digest}"))?;
    let asset = NewAsset {
        blob,
        content_type: None,
        attrs: serde_json::json!({}),
    };
    t.repo
        .put(&t.ctx, &path, asset)
        .await
        .map_err(|e| OciError::from_core(e, Subject::Blob))?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, t.url(&format!("{name}/blobs/{digest}"))))
        .insert_header((CONTENT_DIGEST, digest))
        .finish())
}

/// `POST /v2/<name>/blobs/uploads/[?digest=]`
pub async fn start(
    t: &Target,
    api: &Frontend,
    req: &HttpRequest,
    payload: web::Payload,
    name: &str,
) -> Result<HttpResponse, OciError> {
    t.repo.check_writable().map_err(upload_err)?;
    // A routing rule refuses the push before any byte is streamed, not at the final PUT.
    t.repo
        .check_path(&asset_path(format!("/v2/{name}/blobs/uploads"))?)
        .map_err(upload_err)?;
    let q = query(req)?;
    let digest = q.digest.as_deref().map(route::parse_digest).transpose()?;
    if let Some(mount) = &q.mount
        && let Some(res) = try_mount(t, api, name, mount, q.from.as_deref()).await?
    {
        return Ok(res);
    }
    // A reached quota, or a blob store below `[storage] min_free_bytes` (507), refuses the
    // upload before a byte moves (a mount above moves none).
    t.repo.check_upload(&t.ctx).await.map_err(upload_err)?;
    let id = api.blobs.begin_upload().await.map_err(upload_err)?;
    if let Some(digest) = digest {
        // Monolithic upload: the whole blob in this request (end-4b).
        append(api, &id, 0, payload).await.map_err(upload_err)?;
        let blob = api.blobs.commit(&id, &digest).await.map_err(upload_err)?;
        return link(t, name, blob).await;
    }
    if let Err(e) = api
        .meta
        .uploads()
        .create(id.as_str(), &t.repo.config().id, name)
        .await
    {
        let _ = api.blobs.abort(&id).await;
        return Err(upload_err(e));
    }
    let mut res = HttpResponse::Accepted();
    in_progress(&mut res, t, name, &id, 0);
    Ok(res.finish())
}

/// Cross-repository mount (end-11): links a blob the registry already holds into this
/// repository without a byte moving. `from` names an image of the same repository, or, on the
/// main port's `/v2/<repository>/...` form, `<repository>/<image>` of another one. `None` means
/// the blob is not reachable there: the caller falls back to a normal upload session (202).
async fn try_mount(
    t: &Target,
    api: &Frontend,
    name: &str,
    mount: &str,
    from: Option<&str>,
) -> Result<Option<HttpResponse>, OciError> {
    let digest = route::parse_digest(mount)?;
    let (source, source_image) = match (t.mount, from.and_then(|f| f.split_once('/'))) {
        (Mount::ByName, Some((repo, image))) => match api.repos.get(repo) {
            Some(r) => (r, image),
            None => return Ok(None),
        },
        _ => (t.repo.clone(), from.unwrap_or(name)),
    };
    // The caller must be allowed to read the source; otherwise nothing is revealed and the
    // client uploads the blob itself.
    if t.authorize_on(source.as_ref(), trove_auth::Action::Read, source_image)
        .is_err()
    {
        return Ok(None);
    }
    let path = asset_path(format!("/v2/{source_image}/blobs/{digest}"))?;
    let err = |e| OciError::from_core(e, Subject::Blob);
    let Some(meta) = source.head(&t.ctx, &path).await.map_err(err)? else {
        return Ok(None);
    };
    // A row never points at a blob that is not stored: what the source only knows of (a
    // proxy's upstream answered a HEAD) is fetched first, through its own single flight.
    if api
        .blobs
        .stat(&meta.blob.digest)
        .await
        .map_err(err)?
        .is_none()
    {
        let Some(asset) = source.get(&t.ctx, &path, None).await.map_err(err)? else {
            return Ok(None);
        };
        let mut body = asset.body;
        while let Some(chunk) = futures_util::StreamExt::next(&mut body).await {
            if chunk.is_err() {
                return Ok(None);
            }
        }
        if api
            .blobs
            .stat(&meta.blob.digest)
            .await
            .map_err(err)?
            .is_none()
        {
            return Ok(None);
        }
    }
    link(t, name, meta.blob).await.map(Some)
}

/// Finds the session and checks that it belongs to this repository and image name.
async fn session(
    t: &Target,
    api: &Frontend,
    name: &str,
    id: &UploadId,
) -> Result<UploadRow, OciError> {
    let row = api
        .meta
        .uploads()
        .get(id.as_str())
        .await
        .map_err(upload_err)?;
    match row {
        Some(r) if r.repo_id == t.repo.config().id && r.scope == name => Ok(r),
        _ => Err(unknown(id)),
    }
}

/// A session's activity time is written at most this often (expiry counts in hours; a synced
/// write per 8 MiB chunk cost a chunked push a fifth of its time).
const TOUCH_EVERY_MS: i64 = 60_000;

/// `GET /v2/<name>/blobs/uploads/<id>`: progress (end-13).
pub async fn status(
    t: &Target,
    api: &Frontend,
    name: &str,
    id: &UploadId,
) -> Result<HttpResponse, OciError> {
    session(t, api, name, id).await?;
    let size = api.blobs.upload_size(id).await.map_err(upload_err)?;
    let mut res = HttpResponse::NoContent();
    in_progress(&mut res, t, name, id, size);
    Ok(res.finish())
}

/// Parses `Content-Range: <start>-<end>` (docker sends it without the `bytes ` unit).
pub fn content_range(req: &HttpRequest) -> Result<Option<(u64, u64)>, OciError> {
    let Some(v) = req.headers().get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let bad = || {
        OciError::new(
            OciCode::BlobUploadInvalid,
            "Content-Range must be <start>-<end>",
        )
        .status(416)
    };
    let s = v.to_str().map_err(|_| bad())?.trim();
    let s = s.strip_prefix("bytes ").unwrap_or(s);
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (a, b) = (
        a.trim().parse::<u64>().map_err(|_| bad())?,
        b.trim().parse::<u64>().map_err(|_| bad())?,
    );
    if b < a {
        return Err(bad());
    }
    Ok(Some((a, b)))
}

/// `PATCH /v2/<name>/blobs/uploads/<id>`: one chunk (end-5). A chunk that does not start where
/// the upload ends answers 416 with the current `Range`, as the spec asks.
pub async fn patch(
    t: &Target,
    api: &Frontend,
    req: &HttpRequest,
    payload: web::Payload,
    name: &str,
    id: &UploadId,
) -> Result<HttpResponse, OciError> {
    let row = session(t, api, name, id).await?;
    let size = api.blobs.upload_size(id).await.map_err(upload_err)?;
    let offset = match content_range(req)? {
        Some((start, _)) if start != size => {
            return Err(OciError::new(
                OciCode::BlobUploadInvalid,
                format!("chunk starts at {start} but the upload has {size} bytes"),
            )
            .status(416)
            .header("Range", range_header(size))
            .header("Location", t.url(&format!("{name}/blobs/uploads/{id}")))
            .header("Docker-Upload-UUID", id.to_string()));
        }
        Some((start, _)) => start,
        None => size,
    };
    let appended = append(api, id, offset, payload).await;
    if now_millis() - row.updated >= TOUCH_EVERY_MS {
        api.meta
            .uploads()
            .touch(id.as_str())
            .await
            .map_err(upload_err)?;
    }
    let size = appended.map_err(upload_err)?;
    let mut res = HttpResponse::Accepted();
    in_progress(&mut res, t, name, id, size);
    Ok(res.finish())
}

/// `PUT /v2/<name>/blobs/uploads/<id>?digest=<digest>`: the last chunk, if any, and the
/// verified commit (end-6).
pub async fn finish(
    t: &Target,
    api: &Frontend,
    req: &HttpRequest,
    payload: web::Payload,
    name: &str,
    id: &UploadId,
) -> Result<HttpResponse, OciError> {
    session(t, api, name, id).await?;
    let q = query(req)?;
    let digest = q.digest.as_deref().ok_or_else(|| {
        OciError::new(
            OciCode::DigestInvalid,
            "completing an upload needs ?digest=<digest>",
        )
    })?;
    let digest = route::parse_digest(digest)?;
    let size = api.blobs.upload_size(id).await.map_err(upload_err)?;
    if let Some((start, _)) = content_range(req)?
        && start != size
    {
        return Err(OciError::new(
            OciCode::BlobUploadInvalid,
            format!("final chunk starts at {start} but the upload has {size} bytes"),
        )
        .status(416)
        .header("Range", range_header(size)));
    }
    append(api, id, size, payload).await.map_err(upload_err)?;
    complete(t, api, name, id, &digest).await
}

/// `DELETE /v2/<name>/blobs/uploads/<id>`: cancel.
pub async fn cancel(
    t: &Target,
    api: &Frontend,
    name: &str,
    id: &UploadId,
) -> Result<HttpResponse, OciError> {
    session(t, api, name, id).await?;
    match api.blobs.abort(id).await {
        Ok(()) => {}
        Err(e) if e.kind == ErrorKind::NotFound => {}
        Err(e) => return Err(upload_err(e)),
    }
    api.meta
        .uploads()
        .delete(id.as_str())
        .await
        .map_err(upload_err)?;
    Ok(HttpResponse::NoContent().finish())
}
