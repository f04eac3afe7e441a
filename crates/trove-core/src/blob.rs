use std::fmt;

use async_trait::async_trait;

use crate::{ByteStream, Digest, Error, Result};

/// A stored blob: the digest it is known by and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub digest: Digest,
    pub size: u64,
}

/// A blob as the store holds it, with when it was last committed (unix millis): the age
/// garbage collection's grace window is measured from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub digest: Digest,
    pub size: u64,
    /// When the blob was committed, or last committed again (a second upload of the same
    /// content, a mount's commit): an upload about to be linked is always young.
    pub modified: i64,
}

/// An upload session id: a UUID in its hyphenated lowercase form. It arrives in client URLs, so it
/// is validated before it ever names a file.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    pub fn parse(s: &str) -> Result<Self> {
        let ok = s.len() == 36
            && s.bytes().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
            });
        if ok {
            Ok(UploadId(s.to_owned()))
        } else {
            Err(Error::not_found(format!("unknown upload {s:?}")))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Content-addressed blob storage, shaped like distribution's storage driver. Object safe, so
/// the server holds an `Arc<dyn BlobStore>` and later backends (S3) slot in.
///
/// Contract (checked for every implementation by `trove_store::testing::blob_store_conformance`):
/// - an upload is invisible until `commit` verifies its digest; a mismatch removes the upload and
///   answers `DigestMismatch`;
/// - `append` at an offset other than the current length answers `RangeNotSatisfiable`;
/// - `commit` of content that already exists is idempotent;
/// - unknown blobs and uploads answer `NotFound`;
/// - `commit` of content that already exists makes it young again (`StoredBlob::modified`);
/// - `list` walks every committed blob in digest order, `list_uploads` every upload session.
#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn stat(&self, digest: &Digest) -> Result<Option<BlobInfo>>;
    /// Streams the blob, or `(start, len)` of it.
    async fn open(&self, digest: &Digest, range: Option<(u64, u64)>) -> Result<ByteStream>;
    /// The whole of a small blob (a manifest), read the cheapest way the store knows. The
    /// caller knows the size from its row and only asks for small ones; `None` means "use
    /// `open`" (the default, for stores without a cheaper path).
    async fn read_small(&self, _digest: &Digest) -> Result<Option<bytes::Bytes>> {
        Ok(None)
    }
    async fn begin_upload(&self) -> Result<UploadId>;
    /// Bytes received so far.
    async fn upload_size(&self, id: &UploadId) -> Result<u64>;
    /// Appends `body` at `offset`, which must equal the current length; returns the new length.
    async fn append(&self, id: &UploadId, offset: u64, body: ByteStream) -> Result<u64>;
    /// Verifies the upload against `expected`, makes it durable and visible, ends the session.
    async fn commit(&self, id: &UploadId, expected: &Digest) -> Result<BlobInfo>;
    async fn abort(&self, id: &UploadId) -> Result<()>;
    async fn delete(&self, digest: &Digest) -> Result<()>;

    // What garbage collection asks.

    /// The stored blob `digest` with its age, or `None`.
    async fn stored(&self, digest: &Digest) -> Result<Option<StoredBlob>>;
    /// Committed blobs in digest order (by their string form), strictly after `after`, at most
    /// `limit` of them: a walk of the whole store in bounded pages.
    async fn list(&self, after: Option<&Digest>, limit: usize) -> Result<Vec<StoredBlob>>;
    /// Upload sessions in progress, with when each last received bytes (unix millis).
    async fn list_uploads(&self) -> Result<Vec<(UploadId, i64)>>;
    /// Free bytes where the store writes new blobs (`[storage] min_free_bytes` is checked
    /// against it); `None` when the store cannot tell (memory, object storage).
    async fn free_space(&self) -> Result<Option<u64>> {
        Ok(None)
    }
}
