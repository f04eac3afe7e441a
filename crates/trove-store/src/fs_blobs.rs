use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures_util::StreamExt;
use sha2::Digest as _;
use trove_core::{
    Algorithm, BlobInfo, BlobStore, ByteStream, Digest, Error, ErrorKind, Result, StoredBlob,
    UploadId,
};

use crate::files;

/// Reads and writes are batched to this size: large enough that a 1 GiB push costs a few
/// thousand `write` calls, small enough to stay cache friendly.
const IO_CHUNK: usize = 256 * 1024;

/// Content-addressed blobs on a local filesystem:
/// `<root>/blobs/<algo>/<first two hex>/<hex>` for committed blobs, `<root>/uploads/<id>` for
/// sessions in progress.
///
/// An upload is hashed while its bytes arrive (SHA-256, the only algorithm clients use in
/// practice); the hasher lives in memory keyed by upload id. When it is missing (after a
/// restart, or on another node sharing the directory) or does not match the file, the prefix is
/// re-hashed from disk, so the in-memory state is a cache, never the truth.
pub struct FsBlobStore {
    root: PathBuf,
    sessions: Mutex<HashMap<UploadId, Arc<tokio::sync::Mutex<Session>>>>,
    /// [`HASHER_IDLE`]; shorter in tests.
    hasher_idle: std::time::Duration,
}

/// What is known of an upload's hash; `None`: nothing (re-hash the file when needed).
#[derive(Default)]
struct Session {
    hashed: Option<Hashing>,
}

/// SHA-256 of an upload's first bytes and the count of those bytes.
type HashState = (sha2::Sha256, u64);

enum Hashing {
    /// At rest.
    Idle(HashState),
    /// A hasher thread that has been sent `sent` bytes in all and goes on hashing them after
    /// the request that sent them was answered, so the next chunk of a chunked push does not
    /// wait for it. Closing `tx` ends it with the state; so does [`HASHER_IDLE`] without input.
    Running {
        tx: tokio::sync::mpsc::Sender<Batch>,
        done: tokio::task::JoinHandle<HashState>,
        sent: u64,
    },
}

impl Hashing {
    /// The state once every byte sent is hashed (`None` if the thread failed).
    async fn settle(self) -> Option<HashState> {
        match self {
            Hashing::Idle(state) => Some(state),
            Hashing::Running { tx, done, .. } => {
                drop(tx);
                done.await.ok()
            }
        }
    }
}

impl FsBlobStore {
    /// Opens (creating if needed) a store rooted at `root`. Everything it creates is its
    /// user's alone (directories 0700, files 0600); its `blobs` and `uploads` directories are
    /// tightened if an earlier version left them open, and a root open to others is warned
    /// about (see [`crate::files`]).
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let dirs = root.clone();
        blocking("creating the blob store", move || {
            files::create_private_dir(&dirs)?;
            for dir in ["blobs", "uploads"] {
                let dir = dirs.join(dir);
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(files::PRIVATE_DIR)
                    .create(&dir)?;
                files::make_private(&dir)?;
            }
            Ok(())
        })
        .await?;
        Ok(FsBlobStore {
            root,
            sessions: Mutex::default(),
            hasher_idle: HASHER_IDLE,
        })
    }

    fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(d.algorithm().as_str())
            .join(&d.hex()[..2])
            .join(d.hex())
    }

    fn upload_path(&self, id: &UploadId) -> PathBuf {
        self.root.join("uploads").join(id.as_str())
    }

    fn session(&self, id: &UploadId) -> Arc<tokio::sync::Mutex<Session>> {
        self.sessions
            .lock()
            .unwrap()
            .entry(id.clone())
            .or_default()
            .clone()
    }

    fn forget(&self, id: &UploadId) {
        self.sessions.lock().unwrap().remove(id);
    }

    async fn upload_len(&self, id: &UploadId) -> Result<u64> {
        match tokio::fs::metadata(self.upload_path(id)).await {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(Error::not_found(format!("unknown upload {id}")))
            }
            Err(e) => Err(Error::io("reading upload", e)),
        }
    }
}

/// Feeds a whole file through a fresh hasher; runs on a blocking thread.
fn hash_file_with<H: sha2::Digest + Send + 'static>(path: &Path) -> io::Result<(H, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = H::new();
    let mut buf = vec![0u8; IO_CHUNK];
    let mut n = 0u64;
    loop {
        let r = f.read(&mut buf)?;
        if r == 0 {
            return Ok((h, n));
        }
        h.update(&buf[..r]);
        n += r as u64;
    }
}

async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("{what}: task failed: {e}")))?
        .map_err(|e| Error::io(what, e))
}

/// The digest of a whole upload file with an algorithm other than the streamed SHA-256.
async fn digest_file(path: PathBuf, algo: Algorithm) -> Result<Digest> {
    let hex = match algo {
        Algorithm::Sha256 => hex::encode(
            blocking("hashing upload", move || {
                hash_file_with::<sha2::Sha256>(&path)
            })
            .await?
            .0
            .finalize(),
        ),
        Algorithm::Sha512 => hex::encode(
            blocking("hashing upload", move || {
                hash_file_with::<sha2::Sha512>(&path)
            })
            .await?
            .0
            .finalize(),
        ),
    };
    Ok(Digest::from_hex(algo, hex))
}

/// The hash of the upload's `len` bytes: the session's own, or the file re-hashed when the
/// session has none that covers exactly those bytes.
async fn hash_of(hashing: Option<Hashing>, path: &Path, len: u64) -> Result<HashState> {
    let settled = match hashing {
        Some(h) => h.settle().await,
        None => None,
    };
    match settled {
        Some(state) if state.1 == len => Ok(state),
        _ => {
            let path = path.to_owned();
            blocking("re-hashing upload", move || {
                hash_file_with::<sha2::Sha256>(&path)
            })
            .await
        }
    }
}

/// A running hasher that has seen exactly the upload's `len` bytes: the one the session has if
/// it is still running and up to date, else a new thread from the settled or re-hashed state.
async fn running_hasher(
    hashing: Option<Hashing>,
    path: &Path,
    len: u64,
    idle: std::time::Duration,
) -> Result<(
    tokio::sync::mpsc::Sender<Batch>,
    tokio::task::JoinHandle<HashState>,
)> {
    let hashing = match hashing {
        Some(Hashing::Running { tx, done, sent }) if sent == len && !tx.is_closed() => {
            return Ok((tx, done));
        }
        other => other,
    };
    let state = hash_of(hashing, path, len).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Batch>(WRITER_QUEUE);
    let rt = tokio::runtime::Handle::current();
    let done = tokio::task::spawn_blocking(move || hash_chunks(state, rx, rt, idle));
    Ok((tx, done))
}

/// Batches an upload's writer and hasher threads may hold before the receiving side waits.
const WRITER_QUEUE: usize = 4;

/// At most this many received chunks go to the threads as one batch.
const BATCH_CHUNKS: usize = 32;

/// Chunks of an upload on their way to the writer and the hasher (both see the same bytes).
type Batch = Arc<[bytes::Bytes]>;

/// Writeback of an upload is started every this many bytes, so the fsync at commit finds
/// little left to write.
const WRITEBACK_EVERY: u64 = 16 << 20;

/// The writer thread of [`FsBlobStore::append`]: appends each chunk to `file` (which holds
/// `len` bytes) and starts writeback as it goes. Chunks already queued when the receiving side
/// goes away are still written.
fn write_chunks(
    mut file: std::fs::File,
    len: u64,
    mut chunks: tokio::sync::mpsc::Receiver<Batch>,
) -> io::Result<()> {
    use std::io::Write;
    let syncing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut synced = len;
    let mut end = len;
    while let Some(batch) = chunks.blocking_recv() {
        for chunk in batch.iter() {
            file.write_all(chunk)?;
            end += chunk.len() as u64;
        }
        if end - synced >= WRITEBACK_EVERY {
            start_writeback(&file, &syncing);
            synced = end;
        }
    }
    Ok(())
}

/// A hasher thread with nothing to do for this long ends (an abandoned upload must not keep
/// a blocking thread); the next chunk starts another from its state.
const HASHER_IDLE: std::time::Duration = std::time::Duration::from_secs(5);

/// The hasher thread of an upload session: feeds every chunk it is sent to the hash, until its
/// channel closes or it idles for [`HASHER_IDLE`]; then hands back the state. Whatever was
/// queued before it stopped is hashed too, so the state covers every byte sent successfully.
fn hash_chunks(
    mut state: HashState,
    mut chunks: tokio::sync::mpsc::Receiver<Batch>,
    rt: tokio::runtime::Handle,
    idle: std::time::Duration,
) -> HashState {
    let mut feed = |batch: Batch| {
        for chunk in batch.iter() {
            state.0.update(chunk);
            state.1 += chunk.len() as u64;
        }
    };
    loop {
        match rt.block_on(tokio::time::timeout(idle, chunks.recv())) {
            Ok(Some(batch)) => feed(batch),
            Ok(None) => break,
            Err(_idle) => {
                chunks.close();
                while let Ok(batch) = chunks.try_recv() {
                    feed(batch);
                }
                break;
            }
        }
    }
    state
}

/// Starts an `fdatasync` of `file` on another blocking thread, unless one is still running:
/// the disk writes while the writer goes on receiving and hashing. Only a head start: the
/// fsync at commit is what makes the blob durable.
fn start_writeback(file: &std::fs::File, busy: &Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::Ordering;
    if busy.swap(true, Ordering::AcqRel) {
        return;
    }
    let Ok(file) = file.try_clone() else {
        busy.store(false, Ordering::Release);
        return;
    };
    let busy = busy.clone();
    tokio::task::spawn_blocking(move || {
        // An error here shows again, and fails the upload, in the fsync at commit.
        let _ = file.sync_data();
        busy.store(false, Ordering::Release);
    });
}

/// Chunks a download's reader thread reads ahead of the connection.
const READ_AHEAD: usize = 2;

/// Up to `len` bytes of `file` as a stream, read on a blocking thread into fresh buffers of
/// [`IO_CHUNK`] (the only copy on our side; the connection's writer takes them as they are)
/// while the connection sends the previous ones. The thread stops when the stream is dropped.
fn read_ahead(mut file: std::fs::File, len: u64) -> ByteStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<bytes::Bytes>>(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut left = len;
        while left > 0 {
            let want = IO_CHUNK.min(usize::try_from(left).unwrap_or(usize::MAX));
            // `read_to_end` fills spare capacity without zeroing it first.
            let mut buf = Vec::with_capacity(want);
            let read = match (&mut file).take(want as u64).read_to_end(&mut buf) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            left -= read as u64;
            if tx.blocking_send(Ok(bytes::Bytes::from(buf))).is_err() {
                return;
            }
        }
    });
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// Sets the mtime of the blob at `path` to now; `false` if there is no such blob.
async fn touch(path: &Path) -> Result<bool> {
    let path = path.to_owned();
    blocking("touching blob", move || {
        match std::fs::OpenOptions::new().write(true).open(&path) {
            Ok(f) => {
                f.set_modified(std::time::SystemTime::now())?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    })
    .await
}

/// Unix millis of a file's mtime.
fn modified_millis(m: &std::fs::Metadata) -> i64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64)
}

/// Up to `limit` blobs under `root/blobs` in digest order, strictly after `after`; runs on a
/// blocking thread. Directories are read one shard at a time and sorted, so a page costs the
/// shards it spans, and names that are not digests (a stray file) are skipped.
fn list_blobs(root: &Path, after: Option<&Digest>, limit: usize) -> io::Result<Vec<StoredBlob>> {
    let mut out = Vec::new();
    let after = after.map(|d| (d.algorithm().as_str(), d.hex().to_owned()));
    let sorted = |dir: &Path| -> io::Result<Vec<String>> {
        let mut names: Vec<String> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        names.sort_unstable();
        Ok(names)
    };
    for algo in [Algorithm::Sha256, Algorithm::Sha512] {
        let name = algo.as_str();
        if let Some((a, _)) = &after
            && name < *a
        {
            continue;
        }
        let start = match &after {
            Some((a, hex)) if *a == name => Some(hex.as_str()),
            _ => None,
        };
        let dir = root.join("blobs").join(name);
        for shard in sorted(&dir)? {
            if let Some(h) = start
                && shard.as_str() < &h[..2.min(h.len())]
            {
                continue;
            }
            for hex in sorted(&dir.join(&shard))? {
                if start.is_some_and(|h| hex.as_str() <= h) {
                    continue;
                }
                let Ok(digest) = Digest::parse(&format!("{name}:{hex}")) else {
                    continue;
                };
                let meta = match std::fs::metadata(dir.join(&shard).join(&hex)) {
                    Ok(m) => m,
                    // Collected between the listing and now.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                out.push(StoredBlob {
                    digest,
                    size: meta.len(),
                    modified: modified_millis(&meta),
                });
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}

/// fsyncs a directory so a rename into it survives a crash.
async fn sync_dir(dir: &Path) -> Result<()> {
    let dir = dir.to_owned();
    blocking("fsync of blob directory", move || {
        std::fs::File::open(&dir)?.sync_all()
    })
    .await
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<BlobInfo>> {
        match tokio::fs::metadata(self.blob_path(digest)).await {
            Ok(m) => Ok(Some(BlobInfo {
                digest: digest.clone(),
                size: m.len(),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("stat of blob", e)),
        }
    }

    /// A plain blocking `read` on the calling worker: for a file of a few KiB in the page cache
    /// that costs microseconds, where `tokio::fs` hands open, read and EOF to the blocking pool
    /// (three thread round trips, which dominated manifest GETs under load on 2 cores).
    async fn read_small(&self, digest: &Digest) -> Result<Option<bytes::Bytes>> {
        match std::fs::read(self.blob_path(digest)) {
            Ok(data) => Ok(Some(bytes::Bytes::from(data))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(Error::not_found(format!("blob {digest} not found")))
            }
            Err(e) => Err(Error::io("reading blob", e)),
        }
    }

    async fn open(&self, digest: &Digest, range: Option<(u64, u64)>) -> Result<ByteStream> {
        let path = self.blob_path(digest);
        let (start, len) = range.unwrap_or((0, u64::MAX));
        let file = blocking("opening blob", move || match std::fs::File::open(path) {
            Ok(mut file) => {
                if start > 0 {
                    io::Seek::seek(&mut file, io::SeekFrom::Start(start))?;
                }
                Ok(Some(file))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await?
        .ok_or_else(|| Error::not_found(format!("blob {digest} not found")))?;
        Ok(read_ahead(file, len))
    }

    async fn begin_upload(&self) -> Result<UploadId> {
        let id = UploadId::parse(&uuid::Uuid::new_v4().to_string())?;
        tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(files::PRIVATE_FILE)
            .open(self.upload_path(&id))
            .await
            .map_err(|e| Error::io("creating upload", e))?;
        *self.session(&id).lock().await = Session {
            hashed: Some(Hashing::Idle((sha2::Sha256::new(), 0))),
        };
        Ok(id)
    }

    async fn upload_size(&self, id: &UploadId) -> Result<u64> {
        self.upload_len(id).await
    }

    /// The request's task only receives: each chunk goes, uncopied, to two blocking threads,
    /// one that writes it and one that hashes it, so receiving, writing and hashing overlap
    /// (on 2 cores, SHA-256 alone is the limit). The answer waits for the writer only: the
    /// session's hasher thread goes on into the next chunk. A spawned task holds the session's
    /// lock until the writer is done, so a client that goes away mid-upload cannot race the
    /// next request for the same session.
    async fn append(&self, id: &UploadId, offset: u64, mut body: ByteStream) -> Result<u64> {
        // One writer per upload: concurrent PATCHes to the same session queue here.
        let mut session = self.session(id).lock_owned().await;
        let path = self.upload_path(id);
        let len = self.upload_len(id).await?;
        if offset != len {
            return Err(Error::new(
                ErrorKind::RangeNotSatisfiable,
                format!("upload {id} has {len} bytes; a chunk at offset {offset} is out of order"),
            ));
        }
        let (to_hasher, hasher) =
            running_hasher(session.hashed.take(), &path, len, self.hasher_idle).await?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("opening upload", e))?;

        let (to_writer, chunks) = tokio::sync::mpsc::channel::<Batch>(WRITER_QUEUE);
        let writer = tokio::task::spawn_blocking(move || write_chunks(file, len, chunks));
        let (sent_tx, sent_rx) = tokio::sync::oneshot::channel::<Option<(_, u64)>>();
        let done = tokio::spawn(async move {
            let written = writer.await;
            // The hasher is kept only if it was sent every byte and all of them are in the
            // file; otherwise the next use re-hashes the file (`hash_of`).
            session.hashed = match (&written, sent_rx.await) {
                (Ok(Ok(())), Ok(Some((tx, sent)))) => Some(Hashing::Running {
                    tx,
                    done: hasher,
                    sent,
                }),
                _ => None,
            };
            match written {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(Error::io("writing upload", e)),
                Err(e) => Err(Error::internal(format!("upload writer failed: {e}"))),
            }
        });

        // Whatever chunks are ready go as one batch: one hand-over per batch, not per chunk.
        let mut batches = (&mut body).ready_chunks(BATCH_CHUNKS);
        let mut failure = None;
        let mut to_hasher = Some(to_hasher);
        let mut sent = len;
        'receive: while let Some(ready) = batches.next().await {
            let mut batch = Vec::with_capacity(ready.len());
            for next in ready {
                match next {
                    Ok(chunk) => batch.push(chunk),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            let batch: Batch = batch.into();
            let bytes: u64 = batch.iter().map(|c| c.len() as u64).sum();
            // The hasher stops only when idle (a body stalled for seconds): the upload goes on
            // and is re-hashed from the file when it completes.
            if let Some(tx) = &to_hasher
                && tx.send(batch.clone()).await.is_err()
            {
                to_hasher = None;
            }
            // The writer stops early only on a failed write, which `done` reports.
            if to_writer.send(batch).await.is_err() {
                break 'receive;
            }
            sent += bytes;
            if failure.is_some() {
                break 'receive;
            }
        }
        drop(to_writer);
        let _ = sent_tx.send(to_hasher.map(|tx| (tx, sent)));
        done.await
            .map_err(|e| Error::internal(format!("upload writer failed: {e}")))??;
        if let Some(e) = failure {
            return Err(Error::io("reading upload body", e));
        }
        self.upload_len(id).await
    }

    async fn commit(&self, id: &UploadId, expected: &Digest) -> Result<BlobInfo> {
        let session = self.session(id);
        let mut session = session.lock().await;
        let path = self.upload_path(id);
        let len = self.upload_len(id).await?;
        let actual = match expected.algorithm() {
            Algorithm::Sha256 => {
                let (h, _) = hash_of(session.hashed.take(), &path, len).await?;
                Digest::from_hex(Algorithm::Sha256, hex::encode(h.finalize()))
            }
            algo => digest_file(path.clone(), algo).await?,
        };
        self.forget(id);
        if &actual != expected {
            // The session ends either way: a client that sent wrong bytes starts over.
            let _ = tokio::fs::remove_file(&path).await;
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!("content digest {actual} does not match {expected}"),
            ));
        }
        let target = self.blob_path(expected);
        let info = BlobInfo {
            digest: expected.clone(),
            size: len,
        };
        // Content that exists already is made young again (its mtime is the age garbage
        // collection's grace window reads), so it survives until the row that links it is
        // written. If it vanished meanwhile (collected), the upload is renamed into place.
        if touch(&target).await? {
            let _ = tokio::fs::remove_file(&path).await;
            return Ok(info);
        }
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| Error::io("opening upload", e))?;
        file.sync_all()
            .await
            .map_err(|e| Error::io("fsync of upload", e))?;
        drop(file);
        let dir = target.parent().expect("blob path has a parent");
        let created_dir = tokio::fs::metadata(dir).await.is_err();
        tokio::fs::DirBuilder::new()
            .recursive(true)
            .mode(files::PRIVATE_DIR)
            .create(dir)
            .await
            .map_err(|e| Error::io("creating blob dir", e))?;
        tokio::fs::rename(&path, &target)
            .await
            .map_err(|e| Error::io("renaming blob", e))?;
        sync_dir(dir).await?;
        if created_dir {
            sync_dir(dir.parent().expect("algorithm dir")).await?;
        }
        Ok(info)
    }

    async fn abort(&self, id: &UploadId) -> Result<()> {
        self.forget(id);
        match tokio::fs::remove_file(self.upload_path(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(Error::not_found(format!("unknown upload {id}")))
            }
            Err(e) => Err(Error::io("removing upload", e)),
        }
    }

    async fn delete(&self, digest: &Digest) -> Result<()> {
        match tokio::fs::remove_file(self.blob_path(digest)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(Error::not_found(format!("blob {digest} not found")))
            }
            Err(e) => Err(Error::io("removing blob", e)),
        }
    }

    async fn stored(&self, digest: &Digest) -> Result<Option<StoredBlob>> {
        match tokio::fs::metadata(self.blob_path(digest)).await {
            Ok(m) => Ok(Some(StoredBlob {
                digest: digest.clone(),
                size: m.len(),
                modified: modified_millis(&m),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("stat of blob", e)),
        }
    }

    async fn list(&self, after: Option<&Digest>, limit: usize) -> Result<Vec<StoredBlob>> {
        let root = self.root.clone();
        let after = after.cloned();
        blocking("listing blobs", move || {
            list_blobs(&root, after.as_ref(), limit)
        })
        .await
    }

    async fn list_uploads(&self) -> Result<Vec<(UploadId, i64)>> {
        let dir = self.root.join("uploads");
        blocking("listing uploads", move || {
            let mut out = Vec::new();
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let Some(id) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| UploadId::parse(n).ok())
                else {
                    continue;
                };
                match entry.metadata() {
                    Ok(m) => out.push((id, modified_millis(&m))),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        })
        .await
    }

    /// Blocks available to an unprivileged user (`df`'s "Avail") on the store's filesystem.
    async fn free_space(&self) -> Result<Option<u64>> {
        let root = self.root.clone();
        blocking("statvfs of the blob store", move || {
            let st = rustix::fs::statvfs(&root)?;
            Ok(Some(st.f_bavail.saturating_mul(st.f_frsize)))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).await.unwrap();
        crate::testing::blob_store_conformance(&store).await;
    }

    /// The hasher thread outlives the request that fed it (a chunked push's next PATCH does not
    /// wait for it), and one that idled out hands its state to the next chunk's thread.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_hasher_carries_over_between_chunks_and_after_idling_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FsBlobStore::open(dir.path()).await.unwrap();
        store.hasher_idle = std::time::Duration::from_millis(50);
        let running = |store: &FsBlobStore, id: &UploadId| {
            let session = store.session(id);
            let s = session.try_lock().expect("no request in flight");
            match &s.hashed {
                Some(Hashing::Running { tx, sent, .. }) => Some((!tx.is_closed(), *sent)),
                _ => None,
            }
        };
        let id = store.begin_upload().await.unwrap();
        store
            .append(&id, 0, crate::testing::body(&[b"hello "]))
            .await
            .unwrap();
        // The request's spawned task hands the session back right after the writer is done.
        let mut state = None;
        for _ in 0..100 {
            state = running(&store, &id);
            if state.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        assert_eq!(
            state,
            Some((true, 6)),
            "still running, with every byte sent"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(running(&store, &id), Some((false, 6)), "idled out");
        store
            .append(&id, 6, crate::testing::body(&[b"wor", b"ld"]))
            .await
            .unwrap();
        let d = crate::digest_of(Algorithm::Sha256, b"hello world");
        assert_eq!(store.commit(&id, &d).await.unwrap().size, 11);
    }

    /// A request dropped mid-upload (the client went away while its body was still coming):
    /// what arrived is written and hashed before the next request for the session may go on,
    /// and the upload resumes from there to the right digest.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_upload_dropped_mid_body_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).await.unwrap();
        let id = store.begin_upload().await.unwrap();
        let first = vec![5u8; 3 << 20];
        let stalled: ByteStream = Box::pin(
            futures_util::stream::iter(vec![Ok(bytes::Bytes::from(first.clone()))])
                .chain(futures_util::stream::pending()),
        );
        let gone = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            store.append(&id, 0, stalled),
        )
        .await;
        assert!(gone.is_err(), "the append waits for the rest of the body");
        let have = store.upload_size(&id).await.unwrap();
        assert_eq!(have, first.len() as u64);
        let rest: ByteStream = Box::pin(futures_util::stream::iter(vec![Ok(
            bytes::Bytes::from_static(b"the rest"),
        )]));
        store.append(&id, have, rest).await.unwrap();
        let mut whole = first;
        whole.extend_from_slice(b"the rest");
        let digest = crate::digest_of(Algorithm::Sha256, &whole);
        assert_eq!(
            store.commit(&id, &digest).await.unwrap().size,
            whole.len() as u64
        );
    }

    /// Issue 14: blobs are private images. Everything the store creates is its user's alone
    /// (whatever the umask), and directories an earlier version left open are tightened.
    #[tokio::test]
    async fn files_and_directories_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| {
            format!(
                "{:o}",
                std::fs::metadata(p).unwrap().permissions().mode() & 0o777
            )
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let store = FsBlobStore::open(&root).await.unwrap();
        let id = store.begin_upload().await.unwrap();
        assert_eq!(mode(&store.upload_path(&id)), "600", "an upload");
        store
            .append(&id, 0, crate::testing::body(&[b"private"]))
            .await
            .unwrap();
        let d = crate::digest_of(Algorithm::Sha256, b"private");
        store.commit(&id, &d).await.unwrap();
        let blob = store.blob_path(&d);
        assert_eq!(mode(&blob), "600", "a blob");
        let shard = blob.parent().unwrap();
        for dir in [
            &root,
            &root.join("blobs"),
            &root.join("uploads"),
            &shard.to_path_buf(),
            &shard.parent().unwrap().to_path_buf(),
        ] {
            assert_eq!(mode(dir), "700", "{}", dir.display());
        }
        drop(store);
        let loose = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(root.join("blobs"), loose.clone()).unwrap();
        std::fs::set_permissions(root.join("uploads"), loose).unwrap();
        FsBlobStore::open(&root).await.unwrap();
        assert_eq!(mode(&root.join("blobs")), "700", "tightened at open");
        assert_eq!(mode(&root.join("uploads")), "700");
    }

    /// A restart loses the in-memory hasher; the next append and the commit re-hash the prefix.
    #[tokio::test]
    async fn upload_survives_restart() {
        let dir = tempfile::tempdir().unwrap();
        let first = FsBlobStore::open(dir.path()).await.unwrap();
        let id = first.begin_upload().await.unwrap();
        first
            .append(&id, 0, crate::testing::body(&[b"hello "]))
            .await
            .unwrap();
        drop(first);
        let second = FsBlobStore::open(dir.path()).await.unwrap();
        assert_eq!(second.upload_size(&id).await.unwrap(), 6);
        second
            .append(&id, 6, crate::testing::body(&[b"world"]))
            .await
            .unwrap();
        let d = crate::digest_of(Algorithm::Sha256, b"hello world");
        let info = second.commit(&id, &d).await.unwrap();
        assert_eq!(info.size, 11);
        let path = dir
            .path()
            .join("blobs/sha256")
            .join(&d.hex()[..2])
            .join(d.hex());
        assert_eq!(std::fs::read(path).unwrap(), b"hello world");
        assert_eq!(
            std::fs::read_dir(dir.path().join("uploads"))
                .unwrap()
                .count(),
            0
        );
    }
}
