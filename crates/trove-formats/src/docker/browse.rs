//! What the console and the REST API show of a docker repository's own content: images, tags,
//! manifests with their layers and referrers, as docker's [`Browse`] views ([`DockerBrowse`]). Read from the repository's rows (never from an
//! upstream: browsing a proxy shows what it has cached) and, for manifests, from the blob
//! store. Deletion goes through the same repository calls as the registry API.

use async_trait::async_trait;
use serde::Serialize;
use trove_core::{AssetMeta, AssetPath, BlobStore, Ctx, Error, Page, Repository, Result};

use super::route::{self, Reference};
use crate::browse::{
    Browse, Cell, Column, Deletion, Detail, Document, Entry, Field, Link, Listing, Nouns, Scope,
    Section,
};

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
    let tags: Vec<&AssetPath> = rows
        .iter()
        .filter(|r| r.blob.digest == *digest && r.path != path)
        .filter(|r| !r.path.as_str()[prefix.len()..].contains('/'))
        .map(|r| &r.path)
        .collect();
    // All or nothing: an immutable tag among them refuses the whole delete before any row goes.
    for tag in &tags {
        repo.check_delete(ctx, tag)?;
    }
    repo.check_delete(ctx, &path)?;
    for tag in tags {
        repo.delete(ctx, tag).await?;
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

// ---- the format-neutral views ---------------------------------------------------------------

/// Docker's browse views: images, an image's tags and manifests, one manifest.
pub struct DockerBrowse;

const NOUNS: Nouns = Nouns {
    component: "image",
    components: "images",
    asset: "manifest",
    assets: "manifests",
};

fn facts(v: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn media_type(t: &Option<String>) -> Cell {
    match t {
        Some(t) => Cell::code(t),
        None => Cell::muted("unknown"),
    }
}

fn to_manifest(image: &str, digest: &str) -> Link {
    Link::Asset {
        component: image.to_owned(),
        reference: digest.to_owned(),
    }
}

/// The rows of an image page: tag (or none), digest, size, media type, created, last pull.
fn reference_rows(image: &str, refs: &[ManifestRef]) -> Listing {
    Listing {
        caption: Some("Tags first, then manifests stored by digest only".into()),
        columns: vec![
            Column::text("Tag"),
            Column::text("Digest"),
            Column::number("Size"),
            Column::text("Media type"),
            Column::text("Created"),
            Column::text("Last downloaded"),
        ],
        entries: refs
            .iter()
            .map(|m| Entry {
                key: m.tag.clone().unwrap_or_else(|| m.digest.clone()),
                cells: vec![
                    match &m.tag {
                        Some(t) => Cell::text(t).link(to_manifest(image, t)),
                        None => Cell::muted("(digest only)"),
                    },
                    Cell::Digest(m.digest.clone()).link(to_manifest(image, &m.digest)),
                    Cell::Bytes(m.size),
                    media_type(&m.media_type),
                    Cell::Time(m.created),
                    Cell::LastTime(m.last_downloaded),
                ],
                facts: facts(m),
                delete: Some(match &m.tag {
                    Some(t) => format!("Delete tag {t}"),
                    None => "Delete manifest".into(),
                }),
            })
            .collect(),
    }
}

fn descriptor_rows(
    columns: Vec<Column>,
    list: &[Descriptor],
    row: impl Fn(usize, &Descriptor) -> Vec<Cell>,
) -> Listing {
    Listing {
        caption: None,
        columns,
        entries: list
            .iter()
            .enumerate()
            .map(|(i, d)| Entry {
                key: d.digest.clone(),
                cells: row(i, d),
                facts: facts(d),
                delete: None,
            })
            .collect(),
    }
}

/// A manifest's page: summary fields, config, layers, index children, referrers, document.
fn detail(m: ManifestDetail) -> Detail {
    let image = m.image.as_str();
    let mut fields = vec![
        Field {
            label: "Digest",
            values: vec![Cell::code(&m.digest)],
        },
        Field {
            label: "Tags",
            values: vec![Cell::Badges(m.tags.clone())],
        },
        Field {
            label: "Media type",
            values: vec![media_type(&m.media_type)],
        },
        Field {
            label: "Manifest size",
            values: vec![Cell::Bytes(m.size)],
        },
    ];
    if !m.layers.is_empty() {
        fields.push(Field {
            label: "Layers",
            values: vec![
                Cell::text(format!("{},", m.layers.len())),
                Cell::Bytes(m.layers_size),
                Cell::text(format!("in total ({} bytes, compressed)", m.layers_size)),
            ],
        });
    }
    fields.push(Field {
        label: "Created",
        values: vec![Cell::Time(m.created)],
    });
    fields.push(Field {
        label: "Last downloaded",
        values: vec![Cell::LastTime(m.last_downloaded)],
    });
    let mut sections = Vec::new();
    if let Some(c) = &m.config {
        sections.push(Section {
            id: "config",
            heading: "Config",
            listing: descriptor_rows(
                vec![
                    Column::text("Digest"),
                    Column::text("Media type"),
                    Column::number("Size"),
                ],
                std::slice::from_ref(c),
                |_, d| {
                    vec![
                        Cell::code(&d.digest),
                        Cell::code(&d.media_type),
                        Cell::Bytes(d.size),
                    ]
                },
            ),
            total: None,
            empty: None,
        });
    }
    if !m.layers.is_empty() {
        sections.push(Section {
            id: "layers",
            heading: "Layers",
            listing: descriptor_rows(
                vec![
                    Column::number("#"),
                    Column::text("Digest"),
                    Column::text("Media type"),
                    Column::number("Size"),
                ],
                &m.layers,
                |i, d| {
                    vec![
                        Cell::Count(i as u64 + 1),
                        Cell::code(&d.digest),
                        Cell::code(&d.media_type),
                        Cell::Bytes(d.size),
                    ]
                },
            ),
            total: Some(Cell::Bytes(m.layers_size)),
            empty: None,
        });
    }
    if !m.manifests.is_empty() {
        sections.push(Section {
            id: "children",
            heading: "Platforms (index children)",
            listing: descriptor_rows(
                vec![
                    Column::text("Platform"),
                    Column::text("Digest"),
                    Column::text("Media type"),
                    Column::number("Size"),
                ],
                &m.manifests,
                |_, d| {
                    vec![
                        match &d.platform {
                            Some(p) => Cell::text(p),
                            None => Cell::muted("unknown"),
                        },
                        Cell::code(&d.digest).link(to_manifest(image, &d.digest)),
                        Cell::code(&d.media_type),
                        Cell::Bytes(d.size),
                    ]
                },
            ),
            total: None,
            empty: None,
        });
    }
    sections.push(Section {
        id: "referrers",
        heading: "Referrers",
        listing: Listing {
            caption: None,
            columns: vec![
                Column::text("Digest"),
                Column::text("Media type"),
                Column::number("Size"),
                Column::text("Created"),
            ],
            entries: m
                .referrers
                .iter()
                .map(|r| Entry {
                    key: r.digest.clone(),
                    cells: vec![
                        Cell::code(&r.digest).link(to_manifest(image, &r.digest)),
                        match &r.media_type {
                            Some(t) => Cell::code(t),
                            None => Cell::text(""),
                        },
                        Cell::Bytes(r.size),
                        Cell::Time(r.created),
                    ],
                    facts: facts(r),
                    delete: None,
                })
                .collect(),
        },
        total: None,
        empty: Some("No signatures, SBOMs or other manifests refer to this one."),
    });
    Detail {
        title: format!("Manifest of {image}"),
        label: Cell::Digest(m.digest.clone()),
        fields,
        sections,
        document: Some(Document {
            heading: "Manifest document",
            text: m.pretty.clone(),
        }),
        delete: Some(Deletion {
            reference: m.digest.clone(),
            label: "Delete this manifest and its tags".into(),
        }),
        facts: facts(&m),
        actions: Vec::new(),
    }
}

#[async_trait]
impl Browse for DockerBrowse {
    fn nouns(&self) -> Nouns {
        NOUNS
    }

    async fn components(&self, at: &Scope<'_>) -> Result<Listing> {
        let images = images(at.repo, at.ctx).await?;
        Ok(Listing {
            caption: None,
            columns: vec![
                Column::text("Image"),
                Column::number("Tags"),
                Column::number("Manifests by digest only"),
            ],
            entries: images
                .iter()
                .map(|i| Entry {
                    key: i.name.clone(),
                    cells: vec![
                        Cell::text(&i.name).link(Link::Component {
                            component: i.name.clone(),
                        }),
                        Cell::Count(i.tags as u64),
                        Cell::Count(i.manifests as u64),
                    ],
                    facts: facts(i),
                    delete: None,
                })
                .collect(),
        })
    }

    async fn component(&self, at: &Scope<'_>, name: &str) -> Result<Option<Listing>> {
        let refs = manifests(at.repo, at.ctx, name).await?;
        Ok((!refs.is_empty()).then(|| reference_rows(name, &refs)))
    }

    async fn asset(
        &self,
        at: &Scope<'_>,
        component: &str,
        reference: &str,
    ) -> Result<Option<Detail>> {
        Ok(manifest(at.repo, at.blobs, at.ctx, component, reference)
            .await?
            .map(detail))
    }

    async fn delete(&self, at: &Scope<'_>, component: &str, reference: &str) -> Result<bool> {
        delete_reference(at.repo, at.ctx, component, reference).await
    }
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
