//! What every repository kind does with documents: serve a stored asset's blob (or a range of
//! it), and keep the documents a format generates or renders (docker tag lists, an npm
//! packument, its abbreviated variant) next to the stamp they were computed at, so a hit costs
//! one comparison instead of a scan and a serialisation. Shared by the kinds; no I/O of its
//! own beyond the `BlobStore` it is handed.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use bytes::Bytes;

use crate::{
    Algorithm, Asset, AssetIndex, AssetMeta, AssetPath, BlobInfo, BlobStore, ByteRange, Digest,
    Error, ErrorKind, FormatSpec, Generated, Result, now_millis,
};

/// Blobs up to this size (manifests, configs, tag lists) are served from one read.
pub const SMALL_BLOB: u64 = 64 * 1024;

/// Documents a repository reads whole (to render a variant, to merge): bigger ones are refused
/// rather than held in memory.
pub const MAX_DOCUMENT: u64 = 64 << 20;

/// The metadata of a document a format generated at `path` (a docker tag list): its digest
/// and size are computed, it is never stored.
pub fn generated_asset(path: &AssetPath, generated: Generated) -> (AssetMeta, Bytes) {
    let Generated {
        bytes,
        content_type,
    } = generated;
    let meta = AssetMeta {
        path: path.clone(),
        blob: BlobInfo {
            digest: Digest::of(Algorithm::Sha256, &bytes),
            size: bytes.len() as u64,
        },
        content_type: Some(content_type),
        created: now_millis(),
        last_downloaded: None,
        attrs: serde_json::Value::Null,
    };
    (meta, bytes)
}

/// Opens the stored blob of `meta`, or the requested range of it: what every kind serves a
/// GET with. A row whose blob is missing breaks the write-order invariant (blob first, then
/// row) and is reported as an internal error, never hidden as a 404.
pub async fn open_asset(
    blobs: &dyn BlobStore,
    meta: AssetMeta,
    range: Option<ByteRange>,
) -> Result<Asset> {
    let served = match range {
        None => None,
        Some(r) => Some(r.resolve(meta.blob.size).ok_or_else(|| {
            Error::new(
                ErrorKind::RangeNotSatisfiable,
                format!("range not satisfiable for {} bytes", meta.blob.size),
            )
        })?),
    };
    let missing = |e: Error| missing_blob(&meta, e);
    if served.is_none()
        && meta.blob.size <= SMALL_BLOB
        && let Some(data) = blobs
            .read_small(&meta.blob.digest)
            .await
            .map_err(&missing)?
    {
        return Ok(Asset {
            meta,
            body: once(data),
            served,
        });
    }
    let body = blobs
        .open(&meta.blob.digest, served)
        .await
        .map_err(missing)?;
    Ok(Asset { meta, body, served })
}

fn missing_blob(meta: &AssetMeta, e: Error) -> Error {
    if e.kind == ErrorKind::NotFound {
        Error::internal(format!(
            "{} is recorded but blob {} is missing",
            meta.path, meta.blob.digest
        ))
    } else {
        e
    }
}

/// The whole stored body of `meta`, for documents (at most [`MAX_DOCUMENT`] bytes).
pub async fn read_document(blobs: &dyn BlobStore, meta: &AssetMeta) -> Result<Bytes> {
    if meta.blob.size > MAX_DOCUMENT {
        return Err(Error::invalid(format!(
            "{} is {} bytes; documents over {MAX_DOCUMENT} bytes are not read whole",
            meta.path, meta.blob.size
        )));
    }
    if meta.blob.size <= SMALL_BLOB
        && let Some(data) = blobs
            .read_small(&meta.blob.digest)
            .await
            .map_err(|e| missing_blob(meta, e))?
    {
        return Ok(data);
    }
    let body = blobs
        .open(&meta.blob.digest, None)
        .await
        .map_err(|e| missing_blob(meta, e))?;
    collect(body, meta.blob.size).await
}

/// Collects a body into one buffer (`size` is the expected length, a capacity hint).
pub async fn collect(mut body: crate::ByteStream, size: u64) -> Result<Bytes> {
    use futures_util::StreamExt;
    let mut buf = Vec::with_capacity(size.min(MAX_DOCUMENT) as usize);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Error::io("reading a document", e))?;
        if (buf.len() + chunk.len()) as u64 > MAX_DOCUMENT {
            return Err(Error::invalid(format!(
                "document over {MAX_DOCUMENT} bytes; not read whole"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// A body of one chunk.
pub fn once(bytes: Bytes) -> crate::ByteStream {
    Box::pin(futures_util::stream::once(std::future::ready(Ok(bytes))))
}

/// A stamp for content named by `digest`: documents rendered from it stay valid while it is.
pub fn stamp_of(digest: &Digest) -> i64 {
    i64::from_str_radix(&digest.hex()[..15], 16).unwrap_or(0)
}

/// Documents a repository computed (generated from its rows, or rendered as a variant of a
/// stored or merged document), kept on this node with the stamp they were computed at: a
/// repository's content version (a row moved by every change to its assets, so every node sees
/// a push at once) or the digest of the document a variant was rendered from. A cached copy
/// is served only while the stamp is unchanged.
#[derive(Default)]
pub struct GeneratedCache {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    /// Path → its forms (canonical `""` and variants), each with its stamp.
    docs: HashMap<String, Vec<Entry>>,
    count: usize,
    bytes: usize,
}

struct Entry {
    variant: String,
    stamp: i64,
    meta: AssetMeta,
    bytes: Bytes,
}

impl GeneratedCache {
    /// Past either bound the cache starts over: documents are cheap to recompute once, and
    /// the bound keeps a node's memory flat whatever clients ask for.
    const MAX_DOCS: usize = 4096;
    const MAX_BYTES: usize = 32 << 20;

    /// The document `format` generates at `path` from the rows it reads through `index`, in
    /// the caller's `variant`: from the cache when `version` (the repository's content
    /// version, asked only for paths the format generates) still has the value it was
    /// computed at, else generated (and rendered) and kept. `None` when `path` is not a
    /// generated document.
    pub async fn generated<V>(
        &self,
        version: V,
        format: &dyn FormatSpec,
        index: &dyn AssetIndex,
        path: &AssetPath,
        variant: Option<&'static str>,
    ) -> Result<Option<(AssetMeta, Bytes)>>
    where
        V: Future<Output = Result<i64>>,
    {
        if !format.generates(path) {
            return Ok(None);
        }
        // Read the version before generating: a change in between makes the entry stale at
        // once (its version is older than the rows it was built from), never wrongly fresh.
        let version = version.await?;
        if let Some(hit) = self.lookup(path, variant.unwrap_or(""), version) {
            return Ok(Some(hit));
        }
        let canonical = match self.lookup(path, "", version) {
            Some(hit) => hit,
            None => {
                let Some(generated) = format.generate(path, index).await? else {
                    return Ok(None);
                };
                let (m, b) = generated_asset(path, generated);
                self.insert(path, "", version, &m, &b);
                (m, b)
            }
        };
        match variant {
            None => Ok(Some(canonical)),
            Some(v) => Ok(Some(self.render(format, path, v, version, canonical)?)),
        }
    }

    /// `variant` of a document the repository stores or merged (`meta`, `bytes`), rendered by
    /// the format, cached against the document's digest. The document itself when the format
    /// has no such variant.
    pub fn rendered(
        &self,
        format: &dyn FormatSpec,
        path: &AssetPath,
        variant: &'static str,
        meta: AssetMeta,
        bytes: Bytes,
    ) -> Result<(AssetMeta, Bytes)> {
        let stamp = stamp_of(&meta.blob.digest);
        if let Some(hit) = self.lookup(path, variant, stamp) {
            return Ok(hit);
        }
        self.render(format, path, variant, stamp, (meta, bytes))
    }

    fn render(
        &self,
        format: &dyn FormatSpec,
        path: &AssetPath,
        variant: &'static str,
        stamp: i64,
        (meta, bytes): (AssetMeta, Bytes),
    ) -> Result<(AssetMeta, Bytes)> {
        let doc = Generated {
            bytes,
            content_type: meta
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into()),
        };
        let Some(rendered) = format.render(path, variant, &doc)? else {
            return Ok((meta, doc.bytes));
        };
        let (mut m, b) = generated_asset(path, rendered);
        // A variant carries what is known of its source (a proxy's stale mark, times).
        m.attrs = meta.attrs;
        m.created = meta.created;
        self.insert(path, variant, stamp, &m, &b);
        Ok((m, b))
    }

    /// A document kept under `slot` (a name of the caller's, like a variant) at `stamp`.
    pub fn lookup_stamped(
        &self,
        path: &AssetPath,
        slot: &str,
        stamp: i64,
    ) -> Option<(AssetMeta, Bytes)> {
        self.lookup(path, slot, stamp)
    }

    /// Keeps a document under `slot` at `stamp` (see [`Self::lookup_stamped`]).
    pub fn insert_stamped(
        &self,
        path: &AssetPath,
        slot: &str,
        stamp: i64,
        m: &AssetMeta,
        b: &Bytes,
    ) {
        self.insert(path, slot, stamp, m, b)
    }

    fn lookup(&self, path: &AssetPath, variant: &str, stamp: i64) -> Option<(AssetMeta, Bytes)> {
        let entries = self.entries.lock().expect("cache lock");
        let e = entries
            .docs
            .get(path.as_str())?
            .iter()
            .find(|e| e.variant == variant && e.stamp == stamp)?;
        Some((e.meta.clone(), e.bytes.clone()))
    }

    fn insert(&self, path: &AssetPath, variant: &str, stamp: i64, m: &AssetMeta, b: &Bytes) {
        if b.len() > Self::MAX_BYTES {
            return;
        }
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.count >= Self::MAX_DOCS || entries.bytes + b.len() > Self::MAX_BYTES {
            entries.docs.clear();
            entries.count = 0;
            entries.bytes = 0;
        }
        let forms = entries.docs.entry(path.as_str().to_owned()).or_default();
        let old = forms
            .iter()
            .position(|e| e.variant == variant)
            .map(|i| forms.swap_remove(i));
        forms.push(Entry {
            variant: variant.to_owned(),
            stamp,
            meta: m.clone(),
            bytes: b.clone(),
        });
        match old {
            Some(old) => entries.bytes -= old.bytes.len(),
            None => entries.count += 1,
        }
        entries.bytes += b.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keeps_forms_per_stamp_and_stays_bounded() {
        let c = GeneratedCache::default();
        let p = AssetPath::parse("/a").unwrap();
        let (m, b) = generated_asset(
            &p,
            Generated {
                bytes: Bytes::from_static(b"doc"),
                content_type: "text/plain".into(),
            },
        );
        c.insert(&p, "", 1, &m, &b);
        c.insert(&p, "short", 1, &m, &Bytes::from_static(b"d"));
        assert_eq!(c.lookup(&p, "", 1).unwrap().1, b);
        assert_eq!(
            c.lookup(&p, "short", 1).unwrap().1,
            Bytes::from_static(b"d")
        );
        assert!(c.lookup(&p, "", 2).is_none(), "another stamp is a miss");
        c.insert(&p, "", 2, &m, &b);
        assert!(c.lookup(&p, "", 1).is_none(), "replaced");
        for i in 0..(GeneratedCache::MAX_DOCS + 10) {
            let q = AssetPath::parse(&format!("/p{i}")).unwrap();
            c.insert(&q, "", 1, &m, &b);
        }
        let e = c.entries.lock().unwrap();
        assert!(e.count <= GeneratedCache::MAX_DOCS, "{}", e.count);
        assert_eq!(e.docs.values().map(Vec::len).sum::<usize>(), e.count);
    }
}
