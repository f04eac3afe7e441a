//! What the console and the REST API show of a docker repository's own content: images, tags,
//! manifests with their layers and referrers. Read from the repository's rows (never from an
//! upstream: browsing a proxy shows what it has cached) and, for manifests, from the blob
//! store. Deletion goes through the same repository calls as the registry API.

use serde::Serialize;
use trove_core::{AssetMeta, AssetPath, BlobStore, Ctx, Error, Page, Repository, Result};

use super::route::{self, Reference};

/// An image (repository name in docker's words) and how many tags it has.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ImageSummary {
    pub name: String,
    pub tags: usize,
    pub manifests: usize,
}

/// A tag or a manifest by digest.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ManifestRef {
    /// The tag, or `None` for a manifest stored only by digest.
    pub tag: Option<String>,
    pub digest: String,
    pub size: u64,
    pub media_type: Option<String>,
    /// Unix millis.
    pub created: i64,
    pub last_downloaded: Option<i64>,
}

/// A descriptor inside a manifest: a layer, the config, or a child manifest of an index.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Descriptor {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    /// For an index child: `os/architecture[/variant]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

/// A manifest with what it references, ready to show.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestDetail {
    pub image: String,
    pub digest: String,
    pub media_type: Option<String>,
    pub size: u64,
    /// Tags of this image pointing at this digest.
    pub tags: Vec<String>,
    pub config: Option<Descriptor>,
    pub layers: Vec<Descriptor>,
    /// Child manifests of an index / manifest list.
    pub manifests: Vec<Descriptor>,
    /// Sum of the layer sizes (compressed, as stored).
    pub layers_size: u64,
    /// Manifests whose `subject` is this one (signatures, SBOMs, ...).
    pub referrers: Vec<ManifestRef>,
    /// The exact stored bytes, pretty-printed when they are JSON.
    pub pretty: String,
    pub created: i64,
    pub last_downloaded: Option<i64>,
}

fn manifest_rows_prefix(image: &str) -> String {
    format!("/v2/{image}/manifests/")
}

/// `(image, reference)` of a stored manifest path `/v2/<image>/manifests/<reference>`.
fn split_manifest_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v2/")?;
    let at = rest.rfind("/manifests/")?;
    let (image, reference) = (&rest[..at], &rest[at + "/manifests/".len()..]);
    (!image.is_empty() && !reference.contains('/')).then_some((image, reference))
}

fn manifest_ref(meta: &AssetMeta, reference: &str) -> ManifestRef {
    ManifestRef {
        tag: (!reference.contains(':')).then(|| reference.to_owned()),
        digest: meta.blob.digest.to_string(),
        size: meta.blob.size,
        media_type: meta.content_type.clone(),
        created: meta.created,
        last_downloaded: meta.last_downloaded,
    }
}

/// Every image of the repository with its tag and manifest counts, by name.
pub async fn images(repo: &dyn Repository, ctx: &Ctx) -> Result<Vec<ImageSummary>> {
    let rows = repo.list(ctx, "/v2/", &Page::default()).await?;
    let mut out: Vec<ImageSummary> = Vec::new();
    for row in &rows {
        let Some((image, reference)) = split_manifest_path(row.path.as_str()) else {
            continue;
        };
        if out.last().is_none_or(|l| l.name != image) {
            out.push(ImageSummary {
                name: image.to_owned(),
                tags: 0,
                manifests: 0,
            });
        }
        let last = out.last_mut().expect("pushed");
        if reference.contains(':') {
            last.manifests += 1;
        } else {
            last.tags += 1;
        }
    }
    Ok(out)
}

/// The tags and digests stored for `image`, tags first (by name), then digests.
pub async fn manifests(repo: &dyn Repository, ctx: &Ctx, image: &str) -> Result<Vec<ManifestRef>> {
    let prefix = manifest_rows_prefix(image);
    let rows = repo.list(ctx, &prefix, &Page::default()).await?;
    let mut out: Vec<ManifestRef> = rows
        .iter()
        .filter_map(|r| {
            let reference = &r.path.as_str()[prefix.len()..];
            (!reference.contains('/')).then(|| manifest_ref(r, reference))
        })
        .collect();
    out.sort_by(|a, b| (a.tag.is_none(), &a.tag).cmp(&(b.tag.is_none(), &b.tag)));
    Ok(out)
}

fn descriptor(v: &serde_json::Value) -> Option<Descriptor> {
    let platform = v.get("platform").map(|p| {
        let part = |k: &str| p.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
        let mut s = format!("{}/{}", part("os"), part("architecture"));
        if !part("variant").is_empty() {
            s = format!("{s}/{}", part("variant"));
        }
        s
    });
    Some(Descriptor {
        digest: v.get("digest")?.as_str()?.to_owned(),
        size: v.get("size").and_then(|s| s.as_u64()).unwrap_or(0),
        media_type: v
            .get("mediaType")
            .and_then(|m| m.as_str())
            .unwrap_or("")
            .to_owned(),
        platform,
    })
}

/// One manifest of `image` by tag or digest, parsed for display (this is the console, not the
/// pull path: parsing here costs nothing anyone waits for). `None` when not stored.
pub async fn manifest(
    repo: &dyn Repository,
    blobs: &dyn BlobStore,
    ctx: &Ctx,
    image: &str,
    reference: &str,
) -> Result<Option<ManifestDetail>> {
    check_image(image)?;
    let reference = parse_reference(reference)?;
    let prefix = manifest_rows_prefix(image);
    let path = AssetPath::parse(&format!("{prefix}{}", reference.as_string()))?;
    let Some(meta) = repo.head(ctx, &path).await? else {
        return Ok(None);
    };
    let asset = trove_core::open_asset(blobs, meta, None).await?;
    let bytes = body_bytes(asset.body).await?;
    let meta = asset.meta;
    let json: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
    let pretty = match &json {
        Some(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
        None => String::from_utf8_lossy(&bytes).into_owned(),
    };
    let list = |key: &str| -> Vec<Descriptor> {
        json.as_ref()
            .and_then(|j| j.get(key))
            .and_then(|l| l.as_array())
            .map(|a| a.iter().filter_map(descriptor).collect())
            .unwrap_or_default()
    };
    let layers = list("layers");
    let digest = meta.blob.digest.to_string();
    let rows = repo.list(ctx, &prefix, &Page::default()).await?;
    let mut tags = Vec::new();
    let mut referrers = Vec::new();
    for r in &rows {
        let reference = &r.path.as_str()[prefix.len()..];
        if reference.contains('/') {
            continue;
        }
        if r.blob.digest.to_string() == digest && !reference.contains(':') {
            tags.push(reference.to_owned());
        }
        let subject = r
            .attrs
            .get("subject")
            .and_then(|s| s.as_str())
            .map(str::to_owned);
        if reference.contains(':') && subject.as_deref() == Some(digest.as_str()) {
            referrers.push(manifest_ref(r, reference));
        }
    }
    Ok(Some(ManifestDetail {
        image: image.to_owned(),
        layers_size: layers.iter().map(|l| l.size).sum(),
        config: json
            .as_ref()
            .and_then(|j| j.get("config"))
            .and_then(descriptor),
        manifests: list("manifests"),
        layers,
        media_type: meta.content_type.clone(),
        size: meta.blob.size,
        digest,
        tags,
        referrers,
        pretty,
        created: meta.created,
        last_downloaded: meta.last_downloaded,
    }))
}

async fn body_bytes(mut body: trove_core::ByteStream) -> Result<Vec<u8>> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(
            &chunk.map_err(|e| Error::internal(format!("reading a manifest: {e}")))?,
        );
    }
    Ok(out)
}

fn check_image(image: &str) -> Result<()> {
    if route::is_name(image) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{image:?} is not a valid image name"
        )))
    }
}

fn parse_reference(s: &str) -> Result<Reference> {
    if s.contains(':') {
        route::parse_digest(s)
            .map(Reference::Digest)
            .map_err(|_| Error::invalid(format!("{s:?} is not a valid digest")))
    } else if route::is_tag(s) {
        Ok(Reference::Tag(s.to_owned()))
    } else {
        Err(Error::invalid(format!(
            "{s:?} is not a valid tag or digest"
        )))
    }
}

/// Deletes a tag (the manifest stays), or a manifest by digest with every tag pointing at it
/// (tags first, so a failure midway never leaves a tag without its manifest): what the
/// registry's `DELETE /v2/<name>/manifests/<reference>` does. `false` when not stored.
pub async fn delete_manifest(
    repo: &dyn Repository,
    ctx: &Ctx,
    image: &str,
    reference: &Reference,
) -> Result<bool> {
    let prefix = manifest_rows_prefix(image);
    let path = AssetPath::parse(&format!("{prefix}{}", reference.as_string()))?;
    let Reference::Digest(digest) = reference else {
        return repo.delete(ctx, &path).await;
    };
    if repo.head(ctx, &path).await?.is_none() {
        return Ok(false);
    }
    let rows = repo.list(ctx, &prefix, &Page::default()).await?;
    for row in rows
        .iter()
        .filter(|r| r.blob.digest == *digest && r.path != path)
    {
        if !row.path.as_str()[prefix.len()..].contains('/') {
            repo.delete(ctx, &row.path).await?;
        }
    }
    repo.delete(ctx, &path).await
}

/// [`delete_manifest`] with the reference as text (a tag or a digest).
pub async fn delete_reference(
    repo: &dyn Repository,
    ctx: &Ctx,
    image: &str,
    reference: &str,
) -> Result<bool> {
    check_image(image)?;
    delete_manifest(repo, ctx, image, &parse_reference(reference)?).await
}

#[cfg(test)]
mod tests {
    use super::split_manifest_path;

    #[test]
    fn manifest_paths_split() {
        assert_eq!(
            split_manifest_path("/v2/a/b/manifests/1.0"),
            Some(("a/b", "1.0"))
        );
        assert_eq!(
            split_manifest_path("/v2/a/manifests/sha256:ab"),
            Some(("a", "sha256:ab"))
        );
        assert_eq!(split_manifest_path("/v2/-/blobs/sha256:ab"), None);
        assert_eq!(split_manifest_path("/v2/a/tags/list"), None);
        assert_eq!(split_manifest_path("/v2/manifests/x"), None);
    }
}
