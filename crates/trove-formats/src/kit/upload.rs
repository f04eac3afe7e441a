//! Request bodies into the blob store, for every format: the body streams to an upload session
//! (no size limit, never whole in memory), is hashed as it passes, and becomes a blob only once
//! its digest is verified, against what the client announced when it did.

use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use sha2::Digest as _;
use trove_core::{Algorithm, BlobInfo, BlobStore, ByteStream, Digest, Error, ErrorKind, Result};

/// Stores `body` as a blob. With `expected`, the bytes must hash to it (`DigestMismatch`
/// otherwise, and nothing is kept); without, the blob is named by the SHA-256 computed while
/// the bytes passed. A failure leaves no upload behind.
pub async fn store(
    blobs: &dyn BlobStore,
    body: ByteStream,
    expected: Option<&Digest>,
) -> Result<BlobInfo> {
    let id = blobs.begin_upload().await?;
    let hasher = match expected {
        Some(_) => None,
        None => Some(Arc::new(Mutex::new(sha2::Sha256::new()))),
    };
    let tapped: ByteStream = match &hasher {
        None => body,
        Some(h) => {
            let h = h.clone();
            Box::pin(body.map(move |chunk| {
                if let Ok(c) = &chunk {
                    h.lock().expect("hasher lock").update(c);
                }
                chunk
            }))
        }
    };
    let result = async {
        blobs.append(&id, 0, tapped).await?;
        let digest = match (expected, &hasher) {
            (Some(d), _) => d.clone(),
            (None, Some(h)) => {
                let h = std::mem::take(&mut *h.lock().expect("hasher lock"));
                Digest::from_hex(Algorithm::Sha256, hex::encode(h.finalize()))
            }
            (None, None) => unreachable!("a hasher when no digest is expected"),
        };
        blobs.commit(&id, &digest).await
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
