//! Offline bundles (issue 23): what a Trove holds for a selection of repositories, images or
//! packages, written into one tar file that a person carries to an air-gapped Trove, which
//! imports it, verified, and serves it as if it had been pulled through.
//!
//! Format-neutral: every format's content is asset rows (a repository path → a blob) plus
//! blobs, so a bundle is
//!
//! - `trove-bundle.json` first: the bundle manifest ([`BundleManifest`]): every selected
//!   asset row of every repository, and the digest and size of every blob the file holds;
//! - then `blobs/sha256/<hex>` per blob, once even when several repositories share it.
//!
//! A format takes part only through [`FormatSpec`]: [`FormatSpec::component_of`] for
//! selections in its own terms (docker `library/*:1.*`, npm `@team/*`), and
//! [`FormatSpec::references`] for what selected content needs to be served (a manifest's
//! layers).
//!
//! Import verifies every blob against its digest before it is linked, commits each row only
//! once its blob is in, and is idempotent: what is in stays, so an import cut short (even by
//! `kill -9`) is finished by running it again. Owns: the file layout, selection and import
//! rules. Must never depend on a format or on the server.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;
use trove_core::{
    AssetMeta, AssetPath, BlobInfo, BlobStore, ByteStream, Digest, ErrorKind, FormatSpec, NewAsset,
    Page, RepoKind, RepositoryConfig,
};
use trove_store::{MetadataStore, PutOutcome};

/// The first entry of every bundle.
pub const MANIFEST_ENTRY: &str = "trove-bundle.json";
/// The layout this code writes and reads.
pub const BUNDLE_VERSION: u32 = 1;
/// The largest bundle manifest an import reads (rows of a few hundred thousand assets).
const MAX_MANIFEST: u64 = 512 << 20;
/// The largest document read to find what it refers to (a docker manifest is at most 4 MiB).
const MAX_REFERRING_DOC: u64 = 4 << 20;
/// How much of a blob an import hands the blob store at a time.
const CHUNK: usize = 1 << 20;
/// Chunks read ahead of a blob's upload.
const STREAM_CHUNKS: usize = 2;
/// Blobs an import stores at once (their commits' fsyncs overlap); with [`STREAM_CHUNKS`] and
/// [`CHUNK`], what bounds the import's buffers.
const IN_FLIGHT: usize = 4;

/// The bundle manifest: what the file holds and where it goes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundleManifest {
    pub trove_bundle: u32,
    /// Unix millis.
    pub created: i64,
    /// What was asked for, as given.
    pub selection: SelectionRecord,
    pub repositories: Vec<BundleRepo>,
    /// The blobs in this file, by digest (sorted). Rows may name blobs that are not here
    /// (`--against`): the importing Trove must have them already.
    pub blobs: Vec<BundleBlob>,
    /// The named versions that refer to other content (docker tags), by `component:version`:
    /// what an OCI image layout's `index.json` lists.
    #[serde(default)]
    pub refs: Vec<BundleRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundleRef {
    /// `library/alpine:3.20`.
    pub name: String,
    pub digest: String,
    pub size: u64,
    pub media_type: Option<String>,
}

/// The signature of the bundle manifest, right after it when the bundle is signed.
pub const SIGNATURE_ENTRY: &str = "trove-bundle.json.sig";

/// An OCI image layout's marker file (image-spec `image-layout.md`).
pub const OCI_LAYOUT_ENTRY: &str = "oci-layout";
/// An OCI image layout's index of named manifests.
pub const OCI_INDEX_ENTRY: &str = "index.json";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SelectionRecord {
    pub repositories: Vec<String>,
    pub select: Vec<String>,
    pub since: Option<i64>,
    /// How many blobs the `--against` manifest said the importer has.
    pub against_blobs: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundleRepo {
    pub name: String,
    pub format: String,
    pub kind: String,
    pub assets: Vec<BundleAsset>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundleAsset {
    pub path: String,
    pub digest: String,
    pub size: u64,
    pub content_type: Option<String>,
    pub attrs: serde_json::Value,
    pub created: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct BundleBlob {
    pub digest: String,
    pub size: u64,
}

/// What an importing Trove already has (`trove bundle manifest`): an export `--against` it
/// leaves those blobs out.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Have {
    pub trove_have: u32,
    pub repositories: Vec<String>,
    pub blobs: Vec<String>,
}

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Repository names; at least one.
    pub repositories: Vec<String>,
    /// Patterns in the formats' terms: `component-glob[:version-glob]`; none: everything.
    pub select: Vec<String>,
    /// Unix millis: only content stored since (plus what it needs).
    pub since: Option<i64>,
    pub against: Option<Have>,
}

/// The format logic of a repository, for selections and references.
pub type SpecOf<'a> = &'a (dyn Fn(&RepositoryConfig) -> Option<Arc<dyn FormatSpec>> + Send + Sync);

struct Pattern {
    component: glob::Pattern,
    version: Option<glob::Pattern>,
}

fn patterns(select: &[String]) -> anyhow::Result<Vec<Pattern>> {
    select
        .iter()
        .map(|p| {
            let (c, v) = match p.split_once(':') {
                Some((c, v)) => (c, Some(v)),
                None => (p.as_str(), None),
            };
            ensure!(
                !c.is_empty(),
                "--select {p:?}: no component pattern before ':'"
            );
            Ok(Pattern {
                component: glob::Pattern::new(c)
                    .with_context(|| format!("--select {p:?} is not a valid pattern"))?,
                version: v
                    .map(glob::Pattern::new)
                    .transpose()
                    .with_context(|| format!("--select {p:?} is not a valid pattern"))?,
            })
        })
        .collect()
}

async fn repository(meta: &MetadataStore, name: &str) -> anyhow::Result<RepositoryConfig> {
    let records = meta.repos().records().await?;
    let Some(r) = records.into_iter().find(|r| r.config.name.as_str() == name) else {
        bail!("no repository named {name}");
    };
    Ok(r.config)
}

async fn all_assets(meta: &MetadataStore, repo_id: &str) -> anyhow::Result<Vec<AssetMeta>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = Page {
            after: after.clone(),
            limit: Some(1000),
        };
        let rows = meta.assets().list(repo_id, "/", &page).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.path.as_str().to_owned());
        let full = rows.len() == 1000;
        out.extend(rows);
        if !full {
            break;
        }
    }
    Ok(out)
}

async fn read_doc(blobs: &dyn BlobStore, digest: &Digest, size: u64) -> anyhow::Result<Bytes> {
    ensure!(
        size <= MAX_REFERRING_DOC,
        "{digest} is {size} bytes: too large to look into"
    );
    if let Ok(Some(b)) = blobs.read_small(digest).await {
        return Ok(b);
    }
    let mut s = blobs.open(digest, None).await?;
    let mut out = Vec::with_capacity(size as usize);
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(Bytes::from(out))
}

/// Which of `rows` a selection takes: those whose component (and version) a pattern matches,
/// stored since `since`, plus everything they refer to, transitively.
async fn select_rows(
    blobs: &dyn BlobStore,
    spec: Option<&dyn FormatSpec>,
    rows: Vec<AssetMeta>,
    patterns: &[Pattern],
    since: Option<i64>,
) -> anyhow::Result<Vec<AssetMeta>> {
    let by_path: HashMap<String, AssetMeta> = rows
        .into_iter()
        .map(|a| (a.path.as_str().to_owned(), a))
        .collect();
    let picked = |a: &AssetMeta| -> bool {
        if since.is_some_and(|s| a.created < s) {
            return false;
        }
        if patterns.is_empty() {
            return true;
        }
        let Some(spec) = spec else { return false };
        let Some((component, version)) = spec.component_of(&a.path) else {
            return false;
        };
        patterns.iter().any(|p| {
            p.component.matches(&component)
                && match (&p.version, &version) {
                    (None, _) => true,
                    (Some(want), Some(v)) => want.matches(v),
                    // Unversioned content of the component (npm's dist-tags) comes along, but
                    // not content that is reached through references (a docker manifest by
                    // digest: only those the selected tags name).
                    (Some(_), None) => !spec.refers(&a.path),
                }
        })
    };
    let mut chosen: BTreeSet<String> = by_path
        .values()
        .filter(|a| picked(a))
        .map(|a| a.path.as_str().to_owned())
        .collect();
    let mut todo: Vec<String> = chosen.iter().cloned().collect();
    if let Some(spec) = spec {
        while let Some(path) = todo.pop() {
            let a = &by_path[&path];
            if !spec.refers(&a.path) {
                continue;
            }
            let doc = read_doc(blobs, &a.blob.digest, a.blob.size).await?;
            for r in spec.references(&a.path, &doc) {
                if by_path.contains_key(r.as_str()) && chosen.insert(r.as_str().to_owned()) {
                    todo.push(r.as_str().to_owned());
                }
            }
        }
    }
    let mut by_path = by_path;
    Ok(chosen
        .into_iter()
        .filter_map(|p| by_path.remove(&p))
        .collect())
}

/// What a selection would put into a bundle: the manifest an export writes first.
pub async fn plan(
    meta: &MetadataStore,
    blobs: &dyn BlobStore,
    spec_of: SpecOf<'_>,
    sel: &Selection,
) -> anyhow::Result<BundleManifest> {
    ensure!(
        !sel.repositories.is_empty(),
        "name at least one repository (--repository)"
    );
    let patterns = patterns(&sel.select)?;
    let have: BTreeSet<&str> = sel
        .against
        .iter()
        .flat_map(|h| h.blobs.iter().map(String::as_str))
        .collect();
    let mut repositories = Vec::new();
    let mut refs = Vec::new();
    let mut in_file: BTreeMap<String, u64> = BTreeMap::new();
    for name in &sel.repositories {
        let repo = repository(meta, name).await?;
        ensure!(
            repo.kind() != RepoKind::Group,
            "{name} is a group, which stores nothing itself: export its members"
        );
        let spec = spec_of(&repo);
        let rows = all_assets(meta, &repo.id).await?;
        let rows = select_rows(blobs, spec.as_deref(), rows, &patterns, sel.since).await?;
        let mut assets = Vec::with_capacity(rows.len());
        for a in rows {
            let digest = a.blob.digest.to_string();
            if let Some(spec) = spec.as_deref()
                && spec.refers(&a.path)
                && let Some((component, Some(version))) = spec.component_of(&a.path)
            {
                refs.push(BundleRef {
                    name: format!("{component}:{version}"),
                    digest: digest.clone(),
                    size: a.blob.size,
                    media_type: a.content_type.clone(),
                });
            }
            if !have.contains(digest.as_str()) {
                in_file.insert(digest.clone(), a.blob.size);
            }
            assets.push(BundleAsset {
                path: a.path.as_str().to_owned(),
                digest,
                size: a.blob.size,
                content_type: a.content_type,
                attrs: a.attrs,
                created: a.created,
            });
        }
        repositories.push(BundleRepo {
            name: repo.name.as_str().to_owned(),
            format: repo.format.to_string(),
            kind: repo.kind().as_str().to_owned(),
            assets,
        });
    }
    Ok(BundleManifest {
        trove_bundle: BUNDLE_VERSION,
        created: trove_core::now_millis(),
        selection: SelectionRecord {
            repositories: sel.repositories.clone(),
            select: sel.select.clone(),
            since: sel.since,
            against_blobs: sel.against.as_ref().map(|h| h.blobs.len()),
        },
        repositories,
        blobs: in_file
            .into_iter()
            .map(|(digest, size)| BundleBlob { digest, size })
            .collect(),
        refs,
    })
}

/// What `repositories` hold, for an export `--against` it elsewhere.
pub async fn have(meta: &MetadataStore, repositories: &[String]) -> anyhow::Result<Have> {
    let mut blobs = BTreeSet::new();
    let names = if repositories.is_empty() {
        meta.repos()
            .records()
            .await?
            .into_iter()
            .map(|r| r.config.name.as_str().to_owned())
            .collect()
    } else {
        repositories.to_vec()
    };
    for name in &names {
        let repo = repository(meta, name).await?;
        for a in all_assets(meta, &repo.id).await? {
            blobs.insert(a.blob.digest.to_string());
        }
    }
    Ok(Have {
        trove_have: BUNDLE_VERSION,
        repositories: names,
        blobs: blobs.into_iter().collect(),
    })
}

/// A blob's bytes as `Read`, for the tar writer (which is synchronous: this runs on a
/// blocking thread and waits for each chunk).
struct BlobReader {
    handle: Handle,
    stream: ByteStream,
    buf: Bytes,
    read: u64,
}

impl Read for BlobReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() {
            match self.handle.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(chunk) => self.buf = chunk?,
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf.advance(n);
        self.read += n as u64;
        Ok(n)
    }
}

fn blob_entry(digest: &str) -> anyhow::Result<String> {
    let hex = digest
        .strip_prefix("sha256:")
        .with_context(|| format!("{digest}: only sha256 blobs go into bundles"))?;
    Ok(format!("blobs/sha256/{hex}"))
}

/// What an export wrote.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ExportReport {
    pub repositories: usize,
    pub assets: usize,
    pub blobs: usize,
    pub bytes: u64,
}

/// Writes the bundle `manifest` describes to `out`, streaming each blob from the store
/// (nothing is staged). Runs on a blocking thread of `handle`'s runtime.
///
/// With `oci_layout`, the file is also an OCI image layout archive (`oci-layout`,
/// `index.json` naming each tag as `org.opencontainers.image.ref.name`, and the blobs where
/// the layout has them): `skopeo copy oci-archive:BUNDLE:library/alpine:3.20 ...` reads it.
/// That needs every blob in the file (no `--against`).
pub fn write_bundle<W: Write>(
    handle: &Handle,
    blobs: Arc<dyn BlobStore>,
    manifest: &BundleManifest,
    out: W,
    oci_layout: bool,
    key: Option<&SigningKey>,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<ExportReport> {
    let mut tar = tar::Builder::new(out);
    let mtime = (manifest.created / 1000).max(0) as u64;
    let small = |tar: &mut tar::Builder<W>, name: &str, doc: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_ustar();
        header.set_size(doc.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, doc)
    };
    let doc = serde_json::to_vec_pretty(manifest)?;
    small(&mut tar, MANIFEST_ENTRY, &doc)?;
    if let Some(key) = key {
        let sig = serde_json::to_vec_pretty(&key.sign(&doc))?;
        small(&mut tar, SIGNATURE_ENTRY, &sig)?;
    }
    if oci_layout {
        ensure!(
            manifest.selection.against_blobs.is_none(),
            "an OCI image layout holds every blob: export it without --against"
        );
        ensure!(
            !manifest.refs.is_empty(),
            "nothing to name in an OCI image layout: the selection has no tagged manifests"
        );
        small(
            &mut tar,
            OCI_LAYOUT_ENTRY,
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        let manifests: Vec<serde_json::Value> = manifest
            .refs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "mediaType": r.media_type.as_deref()
                        .unwrap_or("application/vnd.oci.image.manifest.v1+json"),
                    "digest": r.digest,
                    "size": r.size,
                    "annotations": { "org.opencontainers.image.ref.name": r.name },
                })
            })
            .collect();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        small(
            &mut tar,
            OCI_INDEX_ENTRY,
            &serde_json::to_vec_pretty(&index)?,
        )?;
    }
    let mut bytes = 0u64;
    for b in &manifest.blobs {
        let digest = Digest::parse(&b.digest)?;
        let stream = handle.block_on(blobs.open(&digest, None))?;
        let mut reader = BlobReader {
            handle: handle.clone(),
            stream,
            buf: Bytes::new(),
            read: 0,
        };
        let mut header = tar::Header::new_ustar();
        header.set_size(b.size);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        let mut limited = (&mut reader).take(b.size);
        tar.append_data(&mut header, blob_entry(&b.digest)?, &mut limited)?;
        ensure!(
            reader.read == b.size,
            "blob {} has {} bytes in the store, its row says {}: the bundle would be corrupt",
            b.digest,
            reader.read,
            b.size
        );
        bytes += b.size;
        progress(bytes);
    }
    tar.into_inner()?.flush()?;
    Ok(ExportReport {
        repositories: manifest.repositories.len(),
        assets: manifest.repositories.iter().map(|r| r.assets.len()).sum(),
        blobs: manifest.blobs.len(),
        bytes,
    })
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ImportReport {
    /// Blobs verified and stored.
    pub blobs_added: usize,
    /// Blobs this Trove already had (their bytes were skipped).
    pub blobs_existing: usize,
    /// Blobs refused: `(digest, why)`.
    pub blobs_refused: Vec<(String, String)>,
    pub bytes_added: u64,
    /// Rows linked, by outcome.
    pub assets_added: usize,
    pub assets_replaced: usize,
    pub assets_unchanged: usize,
    /// Rows not linked: `(repository, path, why)`.
    pub assets_refused: Vec<(String, String, String)>,
    /// Whether the bundle carried a signature, and whose key it was checked with (`--verify`).
    pub signed: bool,
    pub signed_by: Option<String>,
}

impl ImportReport {
    pub fn is_clean(&self) -> bool {
        self.blobs_refused.is_empty() && self.assets_refused.is_empty()
    }
}

/// Where an import goes and what it must be signed by.
#[derive(Default, Clone, Copy)]
pub struct ImportOptions<'a> {
    /// Everything into this repository (default: the repositories of the bundle's names).
    pub into: Option<&'a str>,
    /// Refuse the bundle unless it is signed by this key's private key.
    pub verify: Option<&'a VerifyingKey>,
}

struct Target {
    name: String,
    config: RepositoryConfig,
    spec: Option<Arc<dyn FormatSpec>>,
}

/// Imports the bundle read from `input` into the repositories of the same names, or all of it
/// into `into`. Every target must exist with the bundle repository's format; groups cannot
/// take content. Runs on a blocking thread of `handle`'s runtime.
pub fn import_bundle<R: Read>(
    handle: &Handle,
    meta: &MetadataStore,
    blobs: Arc<dyn BlobStore>,
    spec_of: SpecOf<'_>,
    input: R,
    opts: ImportOptions<'_>,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<ImportReport> {
    let ImportOptions { into, verify } = opts;
    let mut archive = tar::Archive::new(input);
    let mut entries = archive.entries()?;
    let first = entries
        .next()
        .context("an empty file: not a Trove bundle")??;
    ensure!(
        first.path()?.to_str() == Some(MANIFEST_ENTRY),
        "not a Trove bundle: the first entry is {:?}, not {MANIFEST_ENTRY}",
        first.path()?
    );
    ensure!(
        first.header().size()? <= MAX_MANIFEST,
        "the bundle manifest is over {MAX_MANIFEST} bytes"
    );
    let mut doc = Vec::new();
    first.take(MAX_MANIFEST).read_to_end(&mut doc)?;
    let mut entries = entries.peekable();
    // The signature, when there is one, comes right after the manifest.
    let signature = match entries.peek() {
        Some(Ok(e))
            if e.path()
                .ok()
                .and_then(|p| p.to_str().map(|p| p == SIGNATURE_ENTRY))
                == Some(true) =>
        {
            let mut e = entries.next().expect("peeked")?;
            let mut raw = Vec::new();
            (&mut e).take(64 << 10).read_to_end(&mut raw)?;
            Some(
                serde_json::from_slice::<Signature>(&raw)
                    .context("the signature does not parse")?,
            )
        }
        _ => None,
    };
    let signed_by = match (verify, &signature) {
        (Some(key), Some(sig)) => {
            key.verify(&doc, sig)?;
            Some(sig.key_id.clone())
        }
        (Some(_), None) => bail!("the bundle is not signed, and --verify asks for a signature"),
        (None, _) => None,
    };
    let manifest: BundleManifest =
        serde_json::from_slice(&doc).context("the bundle manifest does not parse")?;
    ensure!(
        manifest.trove_bundle == BUNDLE_VERSION,
        "a bundle of layout {} (this Trove reads {BUNDLE_VERSION})",
        manifest.trove_bundle
    );

    // Where each bundle repository goes, checked before anything is written.
    let mut targets: HashMap<String, Target> = HashMap::new();
    for r in &manifest.repositories {
        let name = into.unwrap_or(&r.name).to_owned();
        if targets.contains_key(&r.name) {
            continue;
        }
        let config = handle
            .block_on(repository(meta, &name))
            .with_context(|| format!("the bundle's repository {} goes into {name}", r.name))?;
        ensure!(
            config.format.to_string() == r.format,
            "{name} is a {} repository; the bundle's {} holds {} content",
            config.format,
            r.name,
            r.format
        );
        ensure!(
            config.kind() != RepoKind::Group,
            "{name} is a group, which stores nothing itself: import into a member"
        );
        let spec = spec_of(&config);
        targets.insert(r.name.clone(), Target { name, config, spec });
    }
    let sizes: HashMap<&str, u64> = manifest
        .blobs
        .iter()
        .map(|b| (b.digest.as_str(), b.size))
        .collect();
    // The rows waiting for each blob.
    let mut waiting: HashMap<&str, Vec<(&str, &BundleAsset)>> = HashMap::new();
    for r in &manifest.repositories {
        for a in &r.assets {
            waiting
                .entry(a.digest.as_str())
                .or_default()
                .push((r.name.as_str(), a));
        }
    }
    let mut report = ImportReport {
        signed_by,
        signed: signature.is_some(),
        ..Default::default()
    };
    let mut read_bytes = 0u64;
    let link = |report: &mut ImportReport, repo: &str, a: &BundleAsset| {
        let t = &targets[repo];
        let outcome = (|| -> trove_core::Result<PutOutcome> {
            let path = AssetPath::parse(&a.path)?;
            let overwrite = t.spec.as_ref().is_some_and(|s| s.is_mutable(&path));
            let asset = NewAsset {
                blob: BlobInfo {
                    digest: Digest::parse(&a.digest)?,
                    size: a.size,
                },
                content_type: a.content_type.clone(),
                attrs: a.attrs.clone(),
            };
            // As the kinds write rows: with the role and references garbage collection reads,
            // and checking in the row's transaction that the blob is still stored (a
            // collection may run during the import: docs/storage.md).
            let (role, refs) = match &t.spec {
                Some(spec) => handle.block_on(trove_core::lifecycle::describe(
                    spec.as_ref(),
                    blobs.as_ref(),
                    &path,
                    &asset.blob,
                ))?,
                None => (trove_core::AssetRole::Root, Vec::new()),
            };
            let link = trove_store::Link {
                overwrite,
                role,
                refs: &refs,
                blobs: Some(blobs.as_ref()),
                ..Default::default()
            };
            let (_, outcome) =
                handle.block_on(meta.assets().link(&t.config.id, &path, &asset, &link))?;
            Ok(outcome)
        })();
        match outcome {
            Ok(PutOutcome::Created) => report.assets_added += 1,
            Ok(PutOutcome::Replaced) => report.assets_replaced += 1,
            Ok(PutOutcome::Unchanged) => report.assets_unchanged += 1,
            Err(e) => report
                .assets_refused
                .push((t.name.clone(), a.path.clone(), e.msg)),
        }
    };
    // Blobs on their way into the store, oldest first. Each is linked once its commit (digest
    // verified, fsynced) is done; meanwhile the next entries are read and stored, so the
    // syncs of several blobs overlap instead of queueing one after another.
    let mut pending: std::collections::VecDeque<(
        String,
        u64,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    )> = Default::default();
    let finish = |report: &mut ImportReport,
                  waiting: &mut HashMap<&str, Vec<(&str, &BundleAsset)>>,
                  digest_s: String,
                  size: u64,
                  stored: anyhow::Result<()>| {
        let rows = waiting.remove(digest_s.as_str()).unwrap_or_default();
        match stored {
            Ok(()) => {
                report.blobs_added += 1;
                report.bytes_added += size;
                for (repo, a) in rows {
                    link(report, repo, a);
                }
            }
            Err(e) => {
                for (repo, a) in rows {
                    report.assets_refused.push((
                        targets[repo].name.clone(),
                        a.path.clone(),
                        format!("its blob {digest_s} was refused"),
                    ));
                }
                report.blobs_refused.push((digest_s, format!("{e:#}")));
            }
        }
    };
    let join = |task: tokio::task::JoinHandle<anyhow::Result<()>>| {
        handle
            .block_on(task)
            .unwrap_or_else(|e| Err(anyhow::anyhow!("storing the blob failed: {e}")))
    };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for entry in entries {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        if name == OCI_LAYOUT_ENTRY || name == OCI_INDEX_ENTRY {
            // The OCI image layout's own files: what they say is in the bundle manifest.
            continue;
        }
        let Some(hex) = name.strip_prefix("blobs/sha256/") else {
            bail!("unexpected entry {name:?} in the bundle");
        };
        let digest_s = format!("sha256:{hex}");
        let Some(&size) = sizes.get(digest_s.as_str()) else {
            bail!("the bundle holds {name:?}, which its manifest does not list");
        };
        let digest = Digest::parse(&digest_s)?;
        if !seen.insert(digest_s.clone()) {
            // Written once by every export; a second copy adds nothing.
            continue;
        }
        let length = entry.header().size()?;
        if length != size {
            report.blobs_refused.push((
                digest_s.clone(),
                format!("{length} bytes in the file, {size} in the manifest"),
            ));
            for (repo, a) in waiting.remove(digest_s.as_str()).unwrap_or_default() {
                report.assets_refused.push((
                    targets[repo].name.clone(),
                    a.path.clone(),
                    format!("its blob {digest_s} was refused"),
                ));
            }
            continue;
        }
        read_bytes += size;
        match handle.block_on(blobs.stat(&digest))? {
            Some(info) if info.size == size => {
                report.blobs_existing += 1;
                for (repo, a) in waiting.remove(digest_s.as_str()).unwrap_or_default() {
                    link(&mut report, repo, a);
                }
            }
            _ => {
                if pending.len() >= IN_FLIGHT {
                    let (d, s, task) = pending.pop_front().expect("non-empty");
                    let stored = join(task);
                    finish(&mut report, &mut waiting, d, s, stored);
                }
                let task = store_blob(handle, blobs.clone(), digest, &mut entry);
                pending.push_back((digest_s, size, task));
            }
        }
        progress(read_bytes);
    }
    while let Some((d, s, task)) = pending.pop_front() {
        let stored = join(task);
        finish(&mut report, &mut waiting, d, s, stored);
    }
    for b in &manifest.blobs {
        if !seen.contains(&b.digest) {
            report.blobs_refused.push((
                b.digest.clone(),
                "listed in the manifest but not in the file (cut short?)".into(),
            ));
        }
    }
    // Rows whose blobs the bundle left out (`--against`): this Trove must have them.
    let mut rest: Vec<(&str, Vec<(&str, &BundleAsset)>)> = waiting.into_iter().collect();
    rest.sort_by_key(|(d, _)| *d);
    for (digest, rows) in rest {
        let why = if sizes.contains_key(digest) {
            Some(format!("its blob {digest} was not in the file"))
        } else {
            let here = Digest::parse(digest)
                .ok()
                .and_then(|d| handle.block_on(blobs.stat(&d)).ok().flatten());
            match here {
                Some(_) => None,
                None => Some(format!(
                    "its blob {digest} is neither in the bundle nor here"
                )),
            }
        };
        for (repo, a) in rows {
            match &why {
                None => link(&mut report, repo, a),
                Some(why) => report.assets_refused.push((
                    targets[repo].name.clone(),
                    a.path.clone(),
                    why.clone(),
                )),
            }
        }
    }
    Ok(report)
}

/// Streams one blob from the bundle into the store: reads it here, in [`CHUNK`]s, into an
/// upload running as a task of its own, which commits (verifies the digest, fsyncs) after the
/// last chunk; nothing is visible unless every byte matches. Returns once every byte is read
/// (or the upload gave up); the task's result says whether the blob is in. Memory per blob in
/// flight is bounded by the channel: [`STREAM_CHUNKS`] chunks plus the store's own queue.
fn store_blob(
    handle: &Handle,
    blobs: Arc<dyn BlobStore>,
    digest: Digest,
    entry: &mut impl Read,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(STREAM_CHUNKS);
    let task = handle.spawn(async move {
        let id = blobs.begin_upload().await?;
        let body: ByteStream = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        }));
        let result = async {
            blobs.append(&id, 0, body).await?;
            match blobs.commit(&id, &digest).await {
                Ok(_) => Ok(()),
                Err(e) if matches!(e.kind, ErrorKind::DigestMismatch) => {
                    bail!("its bytes do not hash to {digest}: {}", e.msg)
                }
                Err(e) => Err(e.into()),
            }
        }
        .await;
        if result.is_err() {
            let _ = blobs.abort(&id).await;
        }
        result
    });
    loop {
        // `read_to_end` fills spare capacity without zeroing it first.
        let mut chunk = Vec::with_capacity(CHUNK);
        let read = match (&mut *entry).take(CHUNK as u64).read_to_end(&mut chunk) {
            Ok(n) => n,
            Err(e) => {
                // The upload fails with it and is removed; the entry's rest is skipped.
                let _ = tx.blocking_send(Err(e));
                break;
            }
        };
        if read == 0 {
            break;
        }
        // A closed channel: the upload failed already (its task says why).
        if tx.blocking_send(Ok(Bytes::from(chunk))).is_err() || read < CHUNK {
            break;
        }
    }
    task
}

/// Reads a `Have` file.
pub fn read_have(path: &Path) -> anyhow::Result<Have> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let h: Have = serde_json::from_reader(std::io::BufReader::new(f)).with_context(|| {
        format!(
            "{} is not a Trove bundle manifest of what is here",
            path.display()
        )
    })?;
    ensure!(
        h.trove_have == BUNDLE_VERSION,
        "{}: layout {} (this Trove reads {BUNDLE_VERSION})",
        path.display(),
        h.trove_have
    );
    Ok(h)
}

// ---- signatures ------------------------------------------------------------------------------

/// The signature entry: Ed25519 over the exact bytes of `trove-bundle.json`, which lists every
/// blob's digest, so a valid signature vouches for every byte an import accepts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Signature {
    pub algorithm: String,
    /// The first 16 hex digits of the SHA-256 of the public key, to tell keys apart.
    pub key_id: String,
    /// Base64.
    pub signature: String,
}

/// A signing key: an Ed25519 key pair as PKCS#8, base64 in a file of its own (mode 0600).
pub struct SigningKey(aws_lc_rs::signature::Ed25519KeyPair);

fn key_id(public: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        public,
    ))[..16]
        .to_owned()
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Makes a key pair: the private key (PKCS#8, base64) into `private`, created 0600 and never
/// overwritten, the public key (raw Ed25519, base64) into `public`, for the importing sites.
pub fn generate_key(private: &Path, public: &Path) -> anyhow::Result<String> {
    use aws_lc_rs::signature::KeyPair;
    use base64::Engine;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| anyhow::anyhow!("could not make a key pair"))?;
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| anyhow::anyhow!("could not read the key pair just made"))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(private)
        .with_context(|| format!("creating {} (it must not exist yet)", private.display()))?;
    f.write_all(b64().encode(pkcs8.as_ref()).as_bytes())?;
    f.sync_all()?;
    let pubkey = pair.public_key().as_ref().to_vec();
    std::fs::write(public, b64().encode(&pubkey))
        .with_context(|| format!("writing {}", public.display()))?;
    Ok(key_id(&pubkey))
}

impl SigningKey {
    pub fn load(path: &Path) -> anyhow::Result<SigningKey> {
        use base64::Engine;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the signing key {}", path.display()))?;
        let der = b64()
            .decode(text.trim())
            .with_context(|| format!("{} is not a base64 key", path.display()))?;
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(&der)
            .map_err(|_| anyhow::anyhow!("{} is not an Ed25519 key (PKCS#8)", path.display()))?;
        Ok(SigningKey(pair))
    }

    fn sign(&self, doc: &[u8]) -> Signature {
        use aws_lc_rs::signature::KeyPair;
        use base64::Engine;
        Signature {
            algorithm: "ed25519".into(),
            key_id: key_id(self.0.public_key().as_ref()),
            signature: b64().encode(self.0.sign(doc).as_ref()),
        }
    }
}

/// A public key the import checks signatures with.
pub struct VerifyingKey(Vec<u8>);

impl VerifyingKey {
    pub fn load(path: &Path) -> anyhow::Result<VerifyingKey> {
        use base64::Engine;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the public key {}", path.display()))?;
        let raw = b64()
            .decode(text.trim())
            .with_context(|| format!("{} is not a base64 key", path.display()))?;
        ensure!(
            raw.len() == 32,
            "{} is not an Ed25519 public key (32 bytes)",
            path.display()
        );
        Ok(VerifyingKey(raw))
    }

    fn verify(&self, doc: &[u8], sig: &Signature) -> anyhow::Result<()> {
        use base64::Engine;
        ensure!(
            sig.algorithm == "ed25519",
            "the bundle is signed with {}, not ed25519",
            sig.algorithm
        );
        ensure!(
            sig.key_id == key_id(&self.0),
            "the bundle is signed by key {}, not by the key given ({})",
            sig.key_id,
            key_id(&self.0)
        );
        let raw = b64()
            .decode(&sig.signature)
            .context("the signature is not base64")?;
        aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, &self.0)
            .verify(doc, &raw)
            .map_err(|_| {
                anyhow::anyhow!(
                    "the bundle's signature does not match its manifest: it was changed after it was signed"
                )
            })
    }
}
