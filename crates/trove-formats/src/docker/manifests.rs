//! Manifests: GET/HEAD (end-3, end-4) and PUT (end-7), for OCI image manifests and indexes and
//! Docker schema 2 manifests and manifest lists. Bytes are stored exactly as received (the
//! digest covers the bytes) and validated before they become visible.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use trove_core::{Algorithm, AssetMeta, Digest, NewAsset};

use super::blobs::{content_headers, head_body};
use super::errors::{OciCode, OciError, Subject};
use super::route::Reference;
use super::{CONTENT_DIGEST, Target, asset_path};
use crate::kit::Frontend;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_V1: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// The spec lets registries cap manifest size; 4 MiB is what distribution and most registries
/// accept, and far above any real manifest.
pub const MAX_MANIFEST: usize = 4 * 1024 * 1024;

fn unknown(name: &str, reference: &Reference) -> OciError {
    OciError::new(
        OciCode::ManifestUnknown,
        format!(
            "manifest {} of {name} is not in this repository",
            reference.as_string()
        ),
    )
}

pub async fn get(
    t: &Target,
    name: &str,
    reference: &Reference,
    head: bool,
) -> Result<HttpResponse, OciError> {
    let path = asset_path(format!("/v2/{name}/manifests/{}", reference.as_string()))?;
    let ctype = |m: &AssetMeta| {
        m.content_type
            .clone()
            .unwrap_or_else(|| OCI_MANIFEST.to_owned())
    };
    if head {
        let meta = t
            .repo
            .head(&t.ctx, &path)
            .await
            .map_err(|e| OciError::from_core(e, Subject::Manifest))?;
        let meta = meta.ok_or_else(|| unknown(name, reference))?;
        let mut res = HttpResponse::Ok();
        content_headers(&mut res, &meta, &ctype(&meta));
        return Ok(head_body(&mut res, meta.blob.size));
    }
    let asset = t
        .repo
        .get(&t.ctx, &path, None)
        .await
        .map_err(|e| OciError::from_core(e, Subject::Manifest))?;
    let asset = asset.ok_or_else(|| unknown(name, reference))?;
    let mut res = HttpResponse::Ok();
    content_headers(&mut res, &asset.meta, &ctype(&asset.meta));
    Ok(res.body(actix_web::body::SizedStream::new(
        asset.meta.blob.size,
        asset.body,
    )))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    urls: Vec<String>,
}

fn invalid(msg: impl Into<String>) -> OciError {
    OciError::new(OciCode::ManifestInvalid, msg)
}

async fn read_limited(payload: web::Payload) -> Result<Bytes, OciError> {
    let mut payload = payload;
    let mut buf = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| invalid(format!("reading manifest body: {e}")))?;
        if buf.len() + chunk.len() > MAX_MANIFEST {
            return Err(OciError::new(
                OciCode::SizeInvalid,
                format!("manifest is larger than the {MAX_MANIFEST}-byte limit"),
            )
            .status(413));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

pub fn media_type_of(req: &HttpRequest, m: &Manifest) -> Result<String, OciError> {
    let header = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_owned())
        .filter(|v| !v.is_empty());
    // Clients send the type in Content-Type; if they don't, the document's own `mediaType`
    // decides, and failing that its shape (an OCI manifest may omit `mediaType`).
    let ctype = match (&header, &m.media_type) {
        (Some(h), _) => h.clone(),
        (None, Some(b)) => b.clone(),
        (None, None) if m.manifests.is_some() => OCI_INDEX.to_owned(),
        (None, None) => OCI_MANIFEST.to_owned(),
    };
    if DOCKER_V1.contains(&ctype.as_str()) || m.schema_version == Some(1) {
        return Err(invalid(
            "Docker schema 1 manifests are not supported; push with a current client (schema 2 or OCI)",
        ));
    }
    if m.schema_version != Some(2) {
        return Err(invalid("schemaVersion must be 2"));
    }
    if ![OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].contains(&ctype.as_str()) {
        return Err(invalid(format!(
            "unsupported manifest media type {ctype:?}"
        )));
    }
    if let Some(body) = &m.media_type
        && *body != ctype
    {
        return Err(invalid(format!(
            "Content-Type {ctype:?} does not match the manifest's mediaType {body:?}"
        )));
    }
    Ok(ctype)
}

fn descriptor_digest(d: &Descriptor) -> Result<Digest, OciError> {
    Digest::parse(&d.digest).map_err(|e| invalid(format!("descriptor digest: {}", e.msg)))
}

/// Every referenced blob (or, for an index, child manifest) must be in the repository already:
/// a manifest never becomes visible with something it points to missing.
async fn check_references(
    t: &Target,
    name: &str,
    ctype: &str,
    m: &Manifest,
) -> Result<(), OciError> {
    let missing = |kind: &str, d: &Digest| {
        OciError::new(
            OciCode::ManifestBlobUnknown,
            format!("{kind} {d} is not in this repository; push it first"),
        )
        .detail(json!({ "digest": d.to_string() }))
    };
    if ctype == OCI_INDEX || ctype == DOCKER_LIST {
        let children = m
            .manifests
            .as_ref()
            .ok_or_else(|| invalid("an index needs a \"manifests\" array"))?;
        for child in children {
            let d = descriptor_digest(child)?;
            let path = asset_path(format!("/v2/{name}/manifests/{d}"))?;
            let found = t
                .repo
                .head(&t.ctx, &path)
                .await
                .map_err(|e| OciError::from_core(e, Subject::Manifest))?;
            match found {
                None => return Err(missing("manifest", &d)),
                // The size is part of the descriptor: a client trusts it to fetch the child.
                Some(meta) if meta.blob.size != child.size => {
                    return Err(invalid(format!(
                        "manifest {d} has {} bytes; the index says {}",
                        meta.blob.size, child.size
                    )));
                }
                Some(_) => {}
            }
        }
        return Ok(());
    }
    let config = m
        .config
        .as_ref()
        .ok_or_else(|| invalid("an image manifest needs a \"config\" descriptor"))?;
    if ctype == DOCKER_MANIFEST && m.layers.is_none() {
        return Err(invalid("a Docker image manifest needs a \"layers\" array"));
    }
    let layers = m.layers.iter().flatten();
    for d in std::iter::once(config).chain(layers) {
        let digest = descriptor_digest(d)?;
        // Foreign layers (Windows base images) live at their `urls`, not in registries.
        if !d.urls.is_empty() {
            continue;
        }
        let path = asset_path(format!("/v2/{name}/blobs/{digest}"))?;
        let found = t
            .repo
            .head(&t.ctx, &path)
            .await
            .map_err(|e| OciError::from_core(e, Subject::Blob))?;
        match found {
            None => return Err(missing("blob", &digest)),
            Some(meta) if meta.blob.size != d.size => {
                return Err(invalid(format!(
                    "blob {digest} has {} bytes; the manifest says {}",
                    meta.blob.size, d.size
                )));
            }
            // Through a group, the blob may live in another member (a proxy's cache): link it
            // into the member the manifest goes to, so that repository is complete on its own.
            Some(meta) if t.repo.config().kind() == trove_core::RepoKind::Group => {
                let asset = NewAsset {
                    blob: meta.blob,
                    content_type: None,
                    attrs: json!({}),
                };
                t.repo
                    .put(&t.ctx, &path, asset)
                    .await
                    .map_err(|e| OciError::from_core(e, Subject::Blob))?;
            }
            Some(_) => {}
        }
    }
    Ok(())
}

pub async fn put(
    t: &Target,
    api: &Frontend,
    req: &HttpRequest,
    payload: web::Payload,
    name: &str,
    reference: &Reference,
) -> Result<HttpResponse, OciError> {
    t.repo
        .check_writable()
        .map_err(|e| OciError::from_core(e, Subject::Manifest))?;
    let bytes = read_limited(payload).await?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| invalid(format!("manifest is not valid JSON of a manifest: {e}")))?;
    let ctype = media_type_of(req, &manifest)?;
    check_references(t, name, &ctype, &manifest).await?;

    let algo = match reference {
        Reference::Digest(d) => d.algorithm(),
        Reference::Tag(_) => Algorithm::Sha256,
    };
    let digest = trove_store::digest_of(algo, &bytes);
    if let Reference::Digest(d) = reference
        && *d != digest
    {
        return Err(OciError::new(
            OciCode::DigestInvalid,
            format!("manifest content has digest {digest}, not {d}"),
        ));
    }
    let subject = manifest
        .subject
        .as_ref()
        .map(descriptor_digest)
        .transpose()?;
    let artifact_type = manifest
        .artifact_type
        .clone()
        .or_else(|| manifest.config.as_ref().map(|c| c.media_type.clone()));
    let mut attrs = json!({});
    if let Some(s) = &subject {
        attrs["subject"] = json!(s.to_string());
    }
    if let Some(a) = artifact_type {
        attrs["artifactType"] = json!(a);
    }
    if let Some(a) = manifest.annotations.filter(|a| a.is_object()) {
        attrs["annotations"] = a;
    }

    if let Reference::Tag(tag) = reference {
        // Moving an existing tag is an edit (Nexus' distinction); a new tag only needs add.
        let by_tag = asset_path(format!("/v2/{name}/manifests/{tag}"))?;
        let current = t
            .repo
            .head(&t.ctx, &by_tag)
            .await
            .map_err(|e| OciError::from_core(e, Subject::Manifest))?;
        if current.is_some_and(|m| m.blob.digest != digest) {
            t.authorize(trove_auth::Action::Edit, name)?;
        }
    }
    let blob = store_bytes(api, bytes, &digest).await?;
    let asset = NewAsset {
        blob,
        content_type: Some(ctype),
        attrs,
    };
    let by_digest = asset_path(format!("/v2/{name}/manifests/{digest}"))?;
    let err = |e| OciError::from_core(e, Subject::Manifest);
    t.repo
        .put(&t.ctx, &by_digest, asset.clone())
        .await
        .map_err(err)?;
    if let Reference::Tag(tag) = reference {
        let by_tag = asset_path(format!("/v2/{name}/manifests/{tag}"))?;
        t.repo.put(&t.ctx, &by_tag, asset).await.map_err(err)?;
    }

    let mut res = HttpResponse::Created();
    res.insert_header((
        header::LOCATION,
        t.url(&format!("{name}/manifests/{digest}")),
    ))
    .insert_header((CONTENT_DIGEST, digest.to_string()));
    if let Some(s) = subject {
        // Tells clients this registry handles referrers itself (spec: pushing manifests with subject).
        res.insert_header(("OCI-Subject", s.to_string()));
    }
    Ok(res.finish())
}

/// Writes a small in-memory document (a manifest) through the blob store, verified like any
/// upload.
async fn store_bytes(
    api: &Frontend,
    bytes: Bytes,
    digest: &Digest,
) -> Result<trove_core::BlobInfo, OciError> {
    let err = |e| OciError::from_core(e, Subject::Manifest);
    let id = api.blobs.begin_upload().await.map_err(err)?;
    let body = Box::pin(futures_util::stream::iter([Ok(bytes)]));
    api.blobs.append(&id, 0, body).await.map_err(err)?;
    api.blobs.commit(&id, digest).await.map_err(err)
}

/// `DELETE /v2/<name>/manifests/<reference>` (end-9). By tag: removes the tag only. By digest:
/// removes the manifest and every tag of this image that points at it (the spec: a deleted
/// manifest must not stay reachable by tag). Referrers lists are computed, so a deleted
/// referrer disappears from them at once; referrers of a deleted subject stay listed.
pub async fn delete(
    t: &Target,
    name: &str,
    reference: &Reference,
) -> Result<HttpResponse, OciError> {
    let err = |e| OciError::from_core(e, Subject::Manifest);
    match super::browse::delete_manifest(t.repo.as_ref(), &t.ctx, name, reference)
        .await
        .map_err(err)?
    {
        true => Ok(HttpResponse::Accepted().finish()),
        false => Err(unknown(name, reference)),
    }
}

/// What a stored manifest points at, for selections that must carry it whole (bundles):
/// `(true, digest)` for an index's child manifests, `(false, digest)` for an image's config
/// and layers (foreign layers, which live at their `urls`, excluded). Empty when `doc` does not
/// parse.
pub(crate) fn referenced(doc: &[u8]) -> Vec<(bool, Digest)> {
    let Ok(m) = serde_json::from_slice::<Manifest>(doc) else {
        return Vec::new();
    };
    let children = m
        .manifests
        .iter()
        .flatten()
        .filter_map(|d| Digest::parse(&d.digest).ok().map(|d| (true, d)));
    let blobs = m
        .config
        .iter()
        .chain(m.layers.iter().flatten())
        .filter(|d| d.urls.is_empty())
        .filter_map(|d| Digest::parse(&d.digest).ok().map(|d| (false, d)));
    children.chain(blobs).collect()
}
