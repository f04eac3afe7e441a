//! Test kit for Trove's stores, for this crate's tests and (feature `testing`) other crates':
//! - [`blob_store_conformance`], the contract every `BlobStore` must keep, run against each
//!   implementation (as distribution runs one test suite per storage driver);
//! - [`metadata_store_conformance`] (and one suite per sub-API in [`metadata`]), the contract
//!   every metadata backend must keep;
//! - [`SmallFs`], a small real filesystem to fill up, for disk-full tests;
//! - [`body`] and [`read_all`], byte streams from and to literals.

pub mod metadata;
mod small_fs;

pub use metadata::metadata_store_conformance;
pub use small_fs::SmallFs;

use std::io;

use bytes::Bytes;
use futures_util::StreamExt;
use trove_core::{Algorithm, BlobStore, ByteStream, ErrorKind, UploadId};

use crate::digest_of;

/// A body from literal chunks.
pub fn body(chunks: &[&[u8]]) -> ByteStream {
    let chunks: Vec<io::Result<Bytes>> = chunks
        .iter()
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures_util::stream::iter(chunks))
}

/// Collects a stream into one buffer.
pub async fn read_all(mut s: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(c) = s.next().await {
        out.extend_from_slice(&c.expect("stream chunk"));
    }
    out
}

async fn upload(store: &dyn BlobStore, data: &[u8]) -> UploadId {
    let id = store.begin_upload().await.unwrap();
    store.append(&id, 0, body(&[data])).await.unwrap();
    id
}

/// Runs the whole contract against `store`. Panics on the first violation.
pub async fn blob_store_conformance(store: &dyn BlobStore) {
    let hello = digest_of(Algorithm::Sha256, b"hello world");

    // Chunked upload, then full and ranged reads.
    let id = store.begin_upload().await.unwrap();
    assert_eq!(store.upload_size(&id).await.unwrap(), 0);
    assert_eq!(
        store.append(&id, 0, body(&[b"hel", b"lo "])).await.unwrap(),
        6
    );
    assert_eq!(store.append(&id, 6, body(&[b"world"])).await.unwrap(), 11);
    assert_eq!(store.upload_size(&id).await.unwrap(), 11);
    assert_eq!(
        store.stat(&hello).await.unwrap(),
        None,
        "invisible before commit"
    );
    let info = store.commit(&id, &hello).await.unwrap();
    assert_eq!((info.digest.clone(), info.size), (hello.clone(), 11));
    assert_eq!(store.stat(&hello).await.unwrap(), Some(info));
    assert_eq!(
        read_all(store.open(&hello, None).await.unwrap()).await,
        b"hello world"
    );
    assert_eq!(
        read_all(store.open(&hello, Some((6, 5))).await.unwrap()).await,
        b"world"
    );
    // The small-blob fast path, where a store has one: exactly the bytes, or "use open".
    if let Some(all) = store.read_small(&hello).await.unwrap() {
        assert_eq!(&all[..], b"hello world");
    }
    assert_eq!(
        read_all(store.open(&hello, Some((0, 1))).await.unwrap()).await,
        b"h"
    );
    assert_eq!(
        store.upload_size(&id).await.unwrap_err().kind,
        ErrorKind::NotFound,
        "session ended"
    );

    // Out-of-order chunks are refused and change nothing.
    let id = upload(store, b"abc").await;
    for offset in [0, 2, 4] {
        let err = store.append(&id, offset, body(&[b"x"])).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::RangeNotSatisfiable, "offset {offset}");
    }
    assert_eq!(store.upload_size(&id).await.unwrap(), 3);

    // A wrong digest is refused, nothing becomes visible, and the session ends.
    let wrong = digest_of(Algorithm::Sha256, b"something else");
    let err = store.commit(&id, &wrong).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::DigestMismatch);
    assert_eq!(store.stat(&wrong).await.unwrap(), None);
    assert_eq!(
        store
            .stat(&digest_of(Algorithm::Sha256, b"abc"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.upload_size(&id).await.unwrap_err().kind,
        ErrorKind::NotFound
    );

    // Committing content that already exists is idempotent.
    let again = upload(store, b"hello world").await;
    assert_eq!(store.commit(&again, &hello).await.unwrap().size, 11);
    assert_eq!(
        read_all(store.open(&hello, None).await.unwrap()).await,
        b"hello world"
    );

    // The empty blob.
    let empty = digest_of(Algorithm::Sha256, b"");
    let id = store.begin_upload().await.unwrap();
    assert_eq!(store.commit(&id, &empty).await.unwrap().size, 0);
    assert!(
        read_all(store.open(&empty, None).await.unwrap())
            .await
            .is_empty()
    );

    // Many small chunks hash as one stream.
    let chunk = [7u8; 1000];
    let chunks: Vec<&[u8]> = (0..600).map(|_| &chunk[..]).collect();
    let id = store.begin_upload().await.unwrap();
    assert_eq!(store.append(&id, 0, body(&chunks)).await.unwrap(), 600_000);
    let big = digest_of(Algorithm::Sha256, &[7u8; 600_000]);
    assert_eq!(store.commit(&id, &big).await.unwrap().size, 600_000);
    let tail = read_all(store.open(&big, Some((599_990, 10))).await.unwrap()).await;
    assert_eq!(tail, [7u8; 10]);

    // sha512 digests are verified too.
    let d512 = digest_of(Algorithm::Sha512, b"sha512 content");
    let id = upload(store, b"sha512 content").await;
    assert_eq!(store.commit(&id, &d512).await.unwrap().size, 14);
    assert_eq!(
        read_all(store.open(&d512, None).await.unwrap()).await,
        b"sha512 content"
    );

    // A body that fails midway keeps what arrived before the failure, and the upload resumes.
    let id = store.begin_upload().await.unwrap();
    let failing: ByteStream = Box::pin(futures_util::stream::iter(vec![
        Ok(Bytes::from_static(b"part one,")),
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    ]));
    assert!(store.append(&id, 0, failing).await.is_err());
    let have = store.upload_size(&id).await.unwrap();
    assert_eq!(have, 9);
    store
        .append(&id, have, body(&[b" part two"]))
        .await
        .unwrap();
    let whole = digest_of(Algorithm::Sha256, b"part one, part two");
    assert_eq!(store.commit(&id, &whole).await.unwrap().size, 18);

    // Unknown uploads and blobs answer NotFound.
    let nothing = digest_of(Algorithm::Sha256, b"never stored");
    if let Err(e) = store.read_small(&nothing).await {
        assert_eq!(e.kind, ErrorKind::NotFound);
    }
    let ghost = UploadId::parse("00000000-0000-4000-8000-000000000000").unwrap();
    assert_eq!(
        store.upload_size(&ghost).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        store
            .append(&ghost, 0, body(&[b"x"]))
            .await
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        store.commit(&ghost, &hello).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        store.abort(&ghost).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    let missing = digest_of(Algorithm::Sha256, b"never stored");
    assert_eq!(
        store.open(&missing, None).await.err().unwrap().kind,
        ErrorKind::NotFound
    );

    // What garbage collection reads: each blob with its age, the whole store in digest order
    // and in pages, and the upload sessions in progress.
    let stored = store.stored(&hello).await.unwrap().expect("stored");
    assert_eq!((stored.digest.clone(), stored.size), (hello.clone(), 11));
    assert_eq!(store.stored(&missing).await.unwrap(), None);
    let all = store.list(None, 1000).await.unwrap();
    let names: Vec<String> = all.iter().map(|b| b.digest.to_string()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "digest order");
    for d in [&hello, &empty, &big, &d512, &whole] {
        assert!(all.iter().any(|b| &b.digest == d), "{d} listed");
    }
    assert_eq!(
        all.len(),
        5,
        "nothing else: no upload, no aborted or refused content"
    );
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.list(after.as_ref(), 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.digest.clone());
        paged.extend(page);
    }
    assert_eq!(paged, all, "pages walk the same blobs once");
    let open = upload(store, b"in progress").await;
    let uploads = store.list_uploads().await.unwrap();
    assert_eq!(
        uploads.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        vec![open.clone()],
        "only the open session"
    );
    assert!(uploads[0].1 > 0, "with its last activity");
    store.abort(&open).await.unwrap();
    assert!(store.list_uploads().await.unwrap().is_empty());
    // Committing existing content again makes it young: an upload about to be linked always
    // is, whatever the first commit's age.
    let before = store.stored(&big).await.unwrap().unwrap().modified;
    std::thread::sleep(std::time::Duration::from_millis(120));
    let id = store.begin_upload().await.unwrap();
    store.append(&id, 0, body(&chunks)).await.unwrap();
    store.commit(&id, &big).await.unwrap();
    let after_commit = store.stored(&big).await.unwrap().unwrap().modified;
    assert!(
        after_commit >= before + 60,
        "a second commit refreshes the age ({before} -> {after_commit})"
    );
    // A blob deleted after a commit found it (garbage collection racing a push) is
    // committed anew from the upload.
    let id = upload(store, b"hello world").await;
    store.delete(&hello).await.unwrap();
    store.commit(&id, &hello).await.unwrap();
    assert_eq!(
        read_all(store.open(&hello, None).await.unwrap()).await,
        b"hello world"
    );

    // Abort ends a session; delete removes a blob.
    let id = upload(store, b"to be aborted").await;
    store.abort(&id).await.unwrap();
    assert_eq!(
        store.upload_size(&id).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    store.delete(&hello).await.unwrap();
    assert_eq!(store.stat(&hello).await.unwrap(), None);
    assert_eq!(
        store.delete(&hello).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn mem_store_conformance() {
        super::blob_store_conformance(&crate::MemBlobStore::new()).await;
    }
}
