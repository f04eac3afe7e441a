//! Storage for Trove: the metadata store (`MetadataStore`, the only place in the workspace
//! that writes SQL), the content-addressed blob stores (`FsBlobStore`, and `MemBlobStore` for
//! tests), and the modes of the files they keep ([`files`]: the user's alone).
//!
//! The metadata store is split by sub-API (`repos`, `assets`, `uploads`, `rules`, `sessions`,
//! `security/*`) over one backend module, `sqlite`, which alone knows SQLite's pragmas,
//! transaction syntax, error codes and dialect; its public API exposes no sqlx types, so a
//! PostgreSQL backend can arrive behind the same API (docs/decisions/0011). Both kinds of store
//! have a contract suite in [`testing`] that every backend must pass.
//!
//! What a name may be, how roles may nest and what a privilege means are `trove-auth`'s; the
//! store keeps its tables consistent (unique names, references that exist, an acyclic role
//! graph) and, for now, the reconcile rules of rows declared in trove.toml. It must never
//! depend on HTTP frameworks, on `trove-auth`, or on any format or repository kind.

mod assets;
pub mod files;
mod fs_blobs;
mod mem_blobs;
mod meta;
mod repos;
mod rules;
pub mod security;
mod sessions;
mod sqlite;
mod uploads;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use assets::{Assets, PutOutcome, RepoUsage};
pub use fs_blobs::FsBlobStore;
pub use mem_blobs::MemBlobStore;
pub use meta::MetadataStore;
pub use repos::{DeclaredRepo, ReconcileReport, RepoRecord, Repos};
pub use rules::{RuleRow, Rules};
pub use security::{
    ANONYMOUS_USER, DeclaredSecurity, DeclaredUser, KEY_ANONYMOUS, KEY_REALMS, PrivilegeDef,
    PrivilegeKind, PrivilegeRecord, RoleDef, RoleRecord, SIGNING_KEY_FILE, Security,
    SecurityReport, SecuritySnapshot, UserGrants, UserRow, UserStatus,
};
pub use sessions::{SessionRow, Sessions};
pub use uploads::{UploadRow, Uploads};

use sha2::Digest as _;
use trove_core::{Algorithm, Digest};
use trove_core::{
    Asset, AssetIndex, AssetMeta, AssetPath, BlobInfo, BlobStore, ByteRange, Error, ErrorKind,
    FormatSpec, Generated, Result, now_millis,
};

/// Hashes `data` with `algo` into a `Digest`.
pub fn digest_of(algo: Algorithm, data: &[u8]) -> Digest {
    let hex = match algo {
        Algorithm::Sha256 => hex::encode(sha2::Sha256::digest(data)),
        Algorithm::Sha512 => hex::encode(sha2::Sha512::digest(data)),
    };
    Digest::from_hex(algo, hex)
}

/// The metadata of a document a format generated at `path` (a docker tag list): its digest
/// and size are computed, it is never stored.
pub fn generated_asset(path: &AssetPath, generated: Generated) -> (AssetMeta, bytes::Bytes) {
    let Generated {
        bytes,
        content_type,
    } = generated;
    let meta = AssetMeta {
        path: path.clone(),
        blob: BlobInfo {
            digest: digest_of(Algorithm::Sha256, &bytes),
            size: bytes.len() as u64,
        },
        content_type: Some(content_type),
        created: now_millis(),
        last_downloaded: None,
        attrs: serde_json::Value::Null,
    };
    (meta, bytes)
}

/// The documents a repository generated (docker tag lists, catalogs), kept on this node with
/// the repository's content version they were computed from ([`MetadataStore`] keeps it in
/// the database, moved by every change to the asset rows). A cached document is served only
/// while the version is unchanged, so every node sees a push at once; a hit costs one indexed
/// read instead of a scan and a serialisation.
#[derive(Default)]
pub struct GeneratedCache {
    entries: std::sync::Mutex<GeneratedEntries>,
}

#[derive(Default)]
struct GeneratedEntries {
    docs: std::collections::HashMap<String, (i64, AssetMeta, bytes::Bytes)>,
    bytes: usize,
}

impl GeneratedCache {
    /// Past either bound the cache starts over: listings are cheap to recompute once, and
    /// the bound keeps a node's memory flat whatever clients ask for.
    const MAX_DOCS: usize = 256;
    const MAX_BYTES: usize = 32 << 20;

    /// The document `format` generates at `path` from the rows of repository `repo_id`
    /// (read through `index`): from the cache when its version is current, else generated
    /// and kept. `None` when `path` is not a generated document; paths the format says it
    /// never generates cost nothing (no version read).
    pub async fn get(
        &self,
        meta: &MetadataStore,
        repo_id: &str,
        format: &dyn FormatSpec,
        index: &dyn AssetIndex,
        path: &AssetPath,
    ) -> Result<Option<(AssetMeta, bytes::Bytes)>> {
        if !format.generates(path) {
            return Ok(None);
        }
        // Read the version before generating: a change in between makes the entry stale at
        // once (its version is older than the rows it was built from), never wrongly fresh.
        let version = meta.assets().content_version(repo_id).await?;
        if let Some((v, m, b)) = self
            .entries
            .lock()
            .expect("cache lock")
            .docs
            .get(path.as_str())
            && *v == version
        {
            return Ok(Some((m.clone(), b.clone())));
        }
        let Some(generated) = format.generate(path, index).await? else {
            return Ok(None);
        };
        let (m, b) = generated_asset(path, generated);
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.docs.len() >= Self::MAX_DOCS || entries.bytes + b.len() > Self::MAX_BYTES {
            entries.docs.clear();
            entries.bytes = 0;
        }
        if b.len() <= Self::MAX_BYTES {
            entries.bytes += b.len();
            if let Some((_, _, old)) = entries
                .docs
                .insert(path.as_str().to_owned(), (version, m.clone(), b.clone()))
            {
                entries.bytes -= old.len();
            }
        }
        Ok(Some((m, b)))
    }
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
    let missing = |e: Error| {
        if e.kind == ErrorKind::NotFound {
            Error::internal(format!(
                "{} is recorded but blob {} is missing",
                meta.path, meta.blob.digest
            ))
        } else {
            e
        }
    };
    if served.is_none()
        && meta.blob.size <= SMALL_BLOB
        && let Some(data) = blobs
            .read_small(&meta.blob.digest)
            .await
            .map_err(&missing)?
    {
        let body: trove_core::ByteStream =
            Box::pin(futures_util::stream::once(std::future::ready(Ok(data))));
        return Ok(Asset { meta, body, served });
    }
    let body = blobs
        .open(&meta.blob.digest, served)
        .await
        .map_err(missing)?;
    Ok(Asset { meta, body, served })
}

/// Blobs up to this size (manifests, configs, tag lists) are served from one read.
pub const SMALL_BLOB: u64 = 64 * 1024;
