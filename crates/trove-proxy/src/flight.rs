//! Single flight: one upstream fetch per missing (or stale) asset, however many clients ask for
//! it at once. The fetch runs in a task spawned on the server's runtime and owned by the
//! repository's flight map, so it finishes (and fills the cache) even when every client that
//! asked has gone away: actix drops a handler's future when its client disconnects.
//!
//! While the fetch streams into the blob store, its bytes are also kept in a bounded window in
//! memory and every waiting client reads them from there as they arrive. A client that falls
//! more than the window behind, or joins late, continues from the blob store once the fetch has
//! committed (`BlobStore::open` with a range). The last bytes of a body are held back until the
//! fetch has verified the digest and committed: a client never receives a complete body that
//! failed verification, it sees the transfer break instead (and retries).

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::watch;
use trove_core::{AssetMeta, BlobStore, ByteStream, Digest, Error, ErrorKind, Result};

/// Bytes of a fetch in progress kept in memory for the clients reading along.
pub(crate) const WINDOW: u64 = 32 * 1024 * 1024;

/// How a fetch ended: the cached asset, `None` for "not found upstream", or an error (kept as
/// kind and message, since `Error` is not `Clone`).
pub(crate) type Outcome = std::result::Result<Option<AssetMeta>, (ErrorKind, String)>;

pub(crate) fn outcome_of(r: Result<Option<AssetMeta>>) -> Outcome {
    r.map_err(|e| (e.kind, e.msg))
}

pub(crate) fn error_of(e: &(ErrorKind, String)) -> Error {
    Error::new(e.0.clone(), e.1.clone())
}

#[derive(Default)]
pub(crate) struct FlightState {
    /// Set when clients may start reading the body before the fetch ends: the size and digest
    /// are known from the upstream's answer (content addressed by digest, with a length).
    early: Option<AssetMeta>,
    /// `(offset, bytes)` of the window, contiguous.
    chunks: VecDeque<(u64, Bytes)>,
    held: u64,
    received: u64,
    done: Option<Outcome>,
}

impl FlightState {
    fn base(&self) -> u64 {
        self.chunks.front().map_or(self.received, |(o, _)| *o)
    }
}

pub(crate) struct Flight {
    tx: watch::Sender<FlightState>,
}

/// What a waiting client gets first.
pub(crate) enum Waited {
    /// Stream the body along with the fetch.
    Early(AssetMeta),
    Done(Outcome),
}

impl Flight {
    pub fn new() -> Arc<Flight> {
        Arc::new(Flight {
            tx: watch::Sender::new(FlightState::default()),
        })
    }

    pub fn set_early(&self, meta: AssetMeta) {
        self.tx.send_modify(|s| s.early = Some(meta));
    }

    pub fn push(&self, chunk: Bytes) {
        self.tx.send_modify(|s| {
            let len = chunk.len() as u64;
            s.chunks.push_back((s.received, chunk));
            s.received += len;
            s.held += len;
            while s.held > WINDOW && s.chunks.len() > 1 {
                let (_, old) = s.chunks.pop_front().expect("non-empty");
                s.held -= old.len() as u64;
            }
        });
    }

    pub fn received(&self) -> u64 {
        self.tx.borrow().received
    }

    pub fn finish(&self, outcome: Outcome) {
        self.tx.send_modify(|s| {
            s.done = Some(outcome);
            s.chunks.clear();
            s.held = 0;
        });
    }

    pub fn is_done(&self) -> bool {
        self.tx.borrow().done.is_some()
    }

    /// The early meta, if the fetch has got that far.
    pub fn early(&self) -> Option<AssetMeta> {
        self.tx.borrow().early.clone()
    }

    /// Waits until the body can be streamed (`stream`) or the fetch has ended.
    pub async fn wait(&self, stream: bool) -> Result<Waited> {
        let mut rx = self.tx.subscribe();
        loop {
            {
                let s = rx.borrow_and_update();
                if let Some(done) = &s.done {
                    return Ok(Waited::Done(done.clone()));
                }
                if stream && let Some(m) = &s.early {
                    return Ok(Waited::Early(m.clone()));
                }
            }
            if rx.changed().await.is_err() {
                return Err(Error::internal("the upstream fetch ended without a result"));
            }
        }
    }

    /// The body of the asset, read along with the fetch (see the module docs).
    pub fn body(
        self: &Arc<Self>,
        size: u64,
        digest: Digest,
        blobs: Arc<dyn BlobStore>,
    ) -> ByteStream {
        let reader = Reader {
            rx: self.tx.subscribe(),
            pos: 0,
            size,
            digest,
            blobs,
            fallback: None,
            ended: false,
        };
        Box::pin(futures_util::stream::unfold(reader, |mut r| async move {
            let item = r.next().await?;
            Some((item, r))
        }))
    }
}

struct Reader {
    rx: watch::Receiver<FlightState>,
    pos: u64,
    size: u64,
    digest: Digest,
    blobs: Arc<dyn BlobStore>,
    fallback: Option<ByteStream>,
    ended: bool,
}

enum Step {
    Chunk(Bytes),
    FromStore,
    Fail(String),
    End,
    Wait,
}

impl Reader {
    async fn next(&mut self) -> Option<io::Result<Bytes>> {
        if self.ended {
            return None;
        }
        loop {
            if let Some(fb) = &mut self.fallback {
                let item = fb.next().await;
                if !matches!(item, Some(Ok(_))) {
                    self.ended = true;
                }
                return item;
            }
            let step = {
                let s = self.rx.borrow_and_update();
                match &s.done {
                    Some(Ok(Some(_))) if self.pos >= self.size => Step::End,
                    Some(Ok(Some(_))) => Step::FromStore,
                    Some(Ok(None)) => Step::Fail("the upstream no longer has this content".into()),
                    Some(Err((_, msg))) => Step::Fail(msg.clone()),
                    None if self.pos < s.base() => Step::Wait, // fell behind: the store serves it
                    None if self.pos < s.received => {
                        let i = s.chunks.partition_point(|(o, _)| *o <= self.pos) - 1;
                        let (start, bytes) = &s.chunks[i];
                        let chunk = bytes.slice((self.pos - start) as usize..);
                        if self.pos + chunk.len() as u64 >= self.size {
                            // The last bytes wait for verification (module docs).
                            Step::Wait
                        } else {
                            Step::Chunk(chunk)
                        }
                    }
                    None => Step::Wait,
                }
            };
            match step {
                Step::Chunk(b) => {
                    self.pos += b.len() as u64;
                    return Some(Ok(b));
                }
                Step::End => {
                    self.ended = true;
                    return None;
                }
                Step::Fail(msg) => {
                    self.ended = true;
                    return Some(Err(io::Error::other(msg)));
                }
                Step::FromStore => {
                    let range = (self.pos, self.size - self.pos);
                    match self.blobs.open(&self.digest, Some(range)).await {
                        Ok(s) => self.fallback = Some(s),
                        Err(e) => {
                            self.ended = true;
                            return Some(Err(io::Error::other(e.msg)));
                        }
                    }
                }
                Step::Wait => {
                    if self.rx.changed().await.is_err() {
                        self.ended = true;
                        return Some(Err(io::Error::other("the upstream fetch was interrupted")));
                    }
                }
            }
        }
    }
}
