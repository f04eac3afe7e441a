//! Storage for Trove: the SQLite metadata store (`MetadataStore`, the only place in the
//! workspace that writes SQL) and the content-addressed blob stores (`FsBlobStore`, and
//! `MemBlobStore` for tests), which share one conformance suite in [`testing`].
//!
//! Its public API exposes no sqlx types, so a PostgreSQL backend can arrive behind the same API.
//! It must never depend on HTTP frameworks or on any format or repository kind.

mod fs_blobs;
mod mem_blobs;
mod meta;
mod rules;
pub mod security;
mod sessions;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use fs_blobs::FsBlobStore;
pub use mem_blobs::MemBlobStore;
pub use meta::{
    DeclaredRepo, MetadataStore, PutOutcome, ReconcileReport, RepoRecord, RepoUsage, UploadRow,
    UserRow,
};
pub use rules::{RuleRow, Rules};
pub use security::{
    ANONYMOUS_USER, DeclaredSecurity, DeclaredUser, KEY_ANONYMOUS, KEY_REALMS, PrivilegeDef,
    PrivilegeKind, PrivilegeRecord, RoleDef, RoleRecord, Security, SecurityReport,
    SecuritySnapshot, UserGrants, UserStatus,
};
pub use sessions::{SessionRow, Sessions};

use sha2::Digest as _;
use trove_core::{Algorithm, Digest};
use trove_core::{
    Asset, AssetMeta, AssetPath, BlobInfo, BlobStore, ByteRange, Error, ErrorKind, Generated,
    Result, now_millis,
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
