//! Request bodies into the blob store, for every format: the body streams to an upload session
//! (no size limit, never whole in memory), is hashed as it passes, and becomes a blob only once
//! its digest is verified, against what the client announced when it did.

use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use sha2::Digest as _;
use trove_core::{Algorithm, BlobInfo, BlobStore, ByteStream, Digest, Error, ErrorKind, Result};

use super::checksums::{self, Checksums};

/// Stores `body` as a blob. With `expected`, the bytes must hash to it (`DigestMismatch`
/// otherwise, and nothing is kept); without, the blob is named by the SHA-256 computed while
/// the bytes passed. A failure leaves no upload behind.
pub async fn store(
    blobs: &dyn BlobStore,
    body: ByteStream,
    expected: Option<&Digest>,
) -> Result<BlobInfo> {
    match expected {
        None => stage(blobs, body).await?.commit(blobs).await,
        Some(d) => commit_stream(blobs, body, || d.clone()).await,
    }
}

/// A body in an upload session, hashed (SHA-256) but not yet a blob: the caller checks it
/// against what the client announced in ways the blob store does not know (PyPI's MD5 and
/// BLAKE2 digests, sent after the file), then commits or aborts it.
#[must_use = "commit or abort the staged upload"]
pub struct Staged {
    id: trove_core::UploadId,
    pub digest: Digest,
    pub size: u64,
}

/// Streams `body` into a new upload session, hashing it; a failure leaves nothing behind.
pub async fn stage(blobs: &dyn BlobStore, body: ByteStream) -> Result<Staged> {
    let id = blobs.begin_upload().await?;
    let hasher = Arc::new(Mutex::new(sha2::Sha256::new()));
    let tapped = tap(body, hasher.clone(), |h, c| h.update(c));
    match blobs.append(&id, 0, tapped).await {
        Ok(size) => {
            let h = std::mem::take(&mut *hasher.lock().expect("hasher lock"));
            Ok(Staged {
                id,
                digest: Digest::from_hex(Algorithm::Sha256, hex::encode(h.finalize())),
                size,
            })
        }
        Err(e) => {
            let _ = blobs.abort(&id).await;
            Err(e)
        }
    }
}

impl Staged {
    /// Makes it a blob (verified against the digest computed while it passed).
    pub async fn commit(self, blobs: &dyn BlobStore) -> Result<BlobInfo> {
        let result = blobs.commit(&self.id, &self.digest).await;
        if let Err(e) = &result
            && e.kind != ErrorKind::DigestMismatch
        {
            let _ = blobs.abort(&self.id).await;
        }
        result
    }

    /// Drops its bytes.
    pub async fn abort(self, blobs: &dyn BlobStore) {
        let _ = blobs.abort(&self.id).await;
    }
}

/// Stores `body` as a blob named by its SHA-256, with its MD5, SHA-1, SHA-256 and SHA-512
/// computed in the same pass (what Maven clients verify). A failure leaves no upload behind.
pub async fn store_checksummed(
    blobs: &dyn BlobStore,
    body: ByteStream,
) -> Result<(BlobInfo, Checksums)> {
    let hasher = Arc::new(Mutex::new(checksums::Hasher::default()));
    let tapped = tap(body, hasher.clone(), |h, c| h.update(c));
    let sums = Arc::new(Mutex::new(None));
    let blob = commit_stream(blobs, tapped, || {
        let h = std::mem::take(&mut *hasher.lock().expect("hasher lock"));
        let c = h.finish();
        let digest = Digest::from_hex(Algorithm::Sha256, c.sha256.clone());
        *sums.lock().expect("sums lock") = Some(c);
        digest
    })
    .await?;
    let c = sums
        .lock()
        .expect("sums lock")
        .take()
        .expect("computed before the commit");
    Ok((blob, c))
}

/// `body` with every chunk also fed to `state`.
fn tap<H: Send + 'static>(
    body: ByteStream,
    state: Arc<Mutex<H>>,
    feed: fn(&mut H, &[u8]),
) -> ByteStream {
    Box::pin(body.map(move |chunk| {
        if let Ok(c) = &chunk {
            feed(&mut state.lock().expect("hasher lock"), c);
        }
        chunk
    }))
}

/// Appends `body` to a new upload and commits it under the digest `digest` names once the
/// bytes are in; a failure leaves no upload behind.
async fn commit_stream(
    blobs: &dyn BlobStore,
    body: ByteStream,
    digest: impl FnOnce() -> Digest,
) -> Result<BlobInfo> {
    let id = blobs.begin_upload().await?;
    let result = async {
        blobs.append(&id, 0, body).await?;
        blobs.commit(&id, &digest()).await
    }
    .await;
    if let Err(e) = &result
        && e.kind != ErrorKind::DigestMismatch
    {
        // A mismatch already ended the session; anything else (client gone) must not leave
        // its bytes behind.
        let _ = blobs.abort(&id).await;
    }
    result
}

/// Stores a body that is already in memory (an npm tarball decoded from its publish document).
pub async fn store_bytes(
    blobs: &dyn BlobStore,
    bytes: bytes::Bytes,
    expected: Option<&Digest>,
) -> Result<BlobInfo> {
    let digest = match expected {
        Some(d) => d.clone(),
        None => Digest::of(Algorithm::Sha256, &bytes),
    };
    store(blobs, trove_core::documents::once(bytes), Some(&digest)).await
}

/// Whether an error means the client went away mid-body (an aborted upload), which is the
/// client's doing, not a server fault.
pub fn is_client_abort(e: &Error) -> bool {
    e.kind == ErrorKind::Internal && e.msg.contains(super::body::CLIENT_GONE)
}
