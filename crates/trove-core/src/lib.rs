//! The vocabulary and seams of Trove: validated names, digests, the error type every layer
//! funnels into, and the traits that separate wire formats from repository kinds from storage
//! (`Repository`, `FormatSpec`, `BlobStore`, `RepoLookup`).
//!
//! This crate is pure: it must never depend on actix, sqlx, reqwest or `tokio::fs`, so that every
//! other crate (and every future format or storage backend) can build on it.

mod asset;
mod blob;
mod digest;
pub mod documents;
mod error;
mod format;
pub mod lifecycle;
mod names;
mod repository;

pub use asset::{Asset, AssetMeta, ByteRange, ByteStream, NewAsset, Page};
pub use blob::{BlobInfo, BlobStore, StoredBlob, UploadId};
pub use digest::{Algorithm, Digest};
pub use documents::{GeneratedCache, open_asset};
pub use error::{Error, ErrorKind, Result};
pub use format::{
    ATTR_UPSTREAM_STALE, AssetClass, AssetIndex, Fetched, FormatId, FormatSpec, Generated, Link,
    MergePart, Rewritten, UpstreamHeaders, UpstreamRequest,
};
pub use lifecycle::{AssetRef, AssetRole, RefKind, RepoLifecycle, StorageLimits, VersionOf};
pub use names::{AssetPath, RepoName};
pub use repository::{
    ConnectorSpec, Ctx, KindConfig, ProxyConfig, RepoKind, RepoLookup, Repository,
    RepositoryConfig, WritePolicy,
};

/// Milliseconds since the Unix epoch: the one time representation stored anywhere.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
