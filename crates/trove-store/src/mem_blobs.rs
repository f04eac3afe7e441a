use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use trove_core::{
    BlobInfo, BlobStore, ByteStream, Digest, Error, ErrorKind, Result, StoredBlob, UploadId,
    now_millis,
};

/// An in-memory `BlobStore` for tests. It obeys the same contract as `FsBlobStore` (both run
/// `testing::blob_store_conformance`), so tests of the layers above can use it.
#[derive(Default)]
pub struct MemBlobStore {
    /// By the digest's string form (the order `list` walks), with when each was committed.
    blobs: Mutex<std::collections::BTreeMap<String, (Digest, Bytes, i64)>>,
    /// With when each last received bytes.
    uploads: Mutex<HashMap<UploadId, (Vec<u8>, i64)>>,
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
        Ok(blobs.get(&digest.to_string()).map(|(_, b, _)| BlobInfo {
            digest: digest.clone(),
            size: b.len() as u64,
        }))
    }

    async fn open(&self, digest: &Digest, range: Option<(u64, u64)>) -> Result<ByteStream> {
        let data = self
            .blobs
            .lock()
            .unwrap()
            .get(&digest.to_string())
            .map(|(_, b, _)| b.clone());
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
        self.uploads
            .lock()
            .unwrap()
            .insert(id.clone(), (Vec::new(), now_millis()));
        Ok(id)
    }

    async fn upload_size(&self, id: &UploadId) -> Result<u64> {
        let uploads = self.uploads.lock().unwrap();
        uploads
            .get(id)
            .map(|(b, _)| b.len() as u64)
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
            let upload = uploads.get_mut(id).ok_or_else(|| unknown_upload(id))?;
            upload.0.extend_from_slice(&chunk);
            upload.1 = now_millis();
        }
        self.upload_size(id).await
    }

    async fn commit(&self, id: &UploadId, expected: &Digest) -> Result<BlobInfo> {
        let (data, _) = self
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
        // Committing content that exists makes it young again, as on disk.
        let now = now_millis();
        self.blobs
            .lock()
            .unwrap()
            .entry(actual.to_string())
            .and_modify(|b| b.2 = now)
            .or_insert_with(|| (actual.clone(), Bytes::from(data), now));
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
        let removed = self.blobs.lock().unwrap().remove(&digest.to_string());
        removed
            .map(drop)
            .ok_or_else(|| Error::not_found(format!("blob {digest} not found")))
    }

    async fn stored(&self, digest: &Digest) -> Result<Option<StoredBlob>> {
        let blobs = self.blobs.lock().unwrap();
        Ok(blobs
            .get(&digest.to_string())
            .map(|(d, b, modified)| StoredBlob {
                digest: d.clone(),
                size: b.len() as u64,
                modified: *modified,
            }))
    }

    async fn list(&self, after: Option<&Digest>, limit: usize) -> Result<Vec<StoredBlob>> {
        use std::ops::Bound;
        let blobs = self.blobs.lock().unwrap();
        let from = match after {
            Some(d) => Bound::Excluded(d.to_string()),
            None => Bound::Unbounded,
        };
        Ok(blobs
            .range((from, Bound::Unbounded))
            .take(limit)
            .map(|(_, (d, b, modified))| StoredBlob {
                digest: d.clone(),
                size: b.len() as u64,
                modified: *modified,
            })
            .collect())
    }

    async fn list_uploads(&self) -> Result<Vec<(UploadId, i64)>> {
        let uploads = self.uploads.lock().unwrap();
        Ok(uploads
            .iter()
            .map(|(id, (_, t))| (id.clone(), *t))
            .collect())
    }
}
