use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use trove_core::{BlobInfo, BlobStore, ByteStream, Digest, Error, ErrorKind, Result, UploadId};

/// An in-memory `BlobStore` for tests. It obeys the same contract as `FsBlobStore` (both run
/// `testing::blob_store_conformance`), so tests of the layers above can use it.
#[derive(Default)]
pub struct MemBlobStore {
    blobs: Mutex<HashMap<Digest, Bytes>>,
    uploads: Mutex<HashMap<UploadId, Vec<u8>>>,
}

impl MemBlobStore {
    pub fn new() -> Self {
        Self::default()
    }
}

fn unknown_upload(id: &UploadId) -> Error {
    Error::not_found(format!("unknown upload {id}"))
}

#[async_trait]
impl BlobStore for MemBlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<BlobInfo>> {
        let blobs = self.blobs.lock().unwrap();
        Ok(blobs.get(digest).map(|b| BlobInfo {
            digest: digest.clone(),
            size: b.len() as u64,
        }))
    }

    async fn open(&self, digest: &Digest, range: Option<(u64, u64)>) -> Result<ByteStream> {
        let data = self.blobs.lock().unwrap().get(digest).cloned();
        let data = data.ok_or_else(|| Error::not_found(format!("blob {digest} not found")))?;
        let data = match range {
            Some((start, len)) => {
                let end = (start + len).min(data.len() as u64);
                data.slice(start.min(end) as usize..end as usize)
            }
            None => data,
        };
        Ok(Box::pin(futures_util::stream::iter([Ok(data)])))
    }

    async fn begin_upload(&self) -> Result<UploadId> {
        let id = UploadId::parse(&uuid::Uuid::new_v4().to_string())?;
        self.uploads.lock().unwrap().insert(id.clone(), Vec::new());
        Ok(id)
    }

    async fn upload_size(&self, id: &UploadId) -> Result<u64> {
        let uploads = self.uploads.lock().unwrap();
        uploads
            .get(id)
            .map(|b| b.len() as u64)
            .ok_or_else(|| unknown_upload(id))
    }

    async fn append(&self, id: &UploadId, offset: u64, mut body: ByteStream) -> Result<u64> {
        let current = self.upload_size(id).await?;
        if offset != current {
            return Err(Error::new(
                ErrorKind::RangeNotSatisfiable,
                format!(
                    "upload {id} has {current} bytes; a chunk at offset {offset} is out of order"
                ),
            ));
        }
        // Chunks are applied as they arrive, so a failed stream keeps what was received, like
        // the filesystem store.
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Error::io("reading upload body", e))?;
            let mut uploads = self.uploads.lock().unwrap();
            uploads
                .get_mut(id)
                .ok_or_else(|| unknown_upload(id))?
                .extend_from_slice(&chunk);
        }
        self.upload_size(id).await
    }

    async fn commit(&self, id: &UploadId, expected: &Digest) -> Result<BlobInfo> {
        let data = self
            .uploads
            .lock()
            .unwrap()
            .remove(id)
            .ok_or_else(|| unknown_upload(id))?;
        let actual = crate::digest_of(expected.algorithm(), &data);
        if &actual != expected {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!("content digest {actual} does not match {expected}"),
            ));
        }
        let size = data.len() as u64;
        self.blobs
            .lock()
            .unwrap()
            .entry(actual)
            .or_insert_with(|| Bytes::from(data));
        Ok(BlobInfo {
            digest: expected.clone(),
            size,
        })
    }

    async fn abort(&self, id: &UploadId) -> Result<()> {
        self.uploads
            .lock()
            .unwrap()
            .remove(id)
            .map(drop)
            .ok_or_else(|| unknown_upload(id))
    }

    async fn delete(&self, digest: &Digest) -> Result<()> {
        let removed = self.blobs.lock().unwrap().remove(digest);
        removed
            .map(drop)
            .ok_or_else(|| Error::not_found(format!("blob {digest} not found")))
    }
}
