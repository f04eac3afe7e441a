//! Request bodies as `Send` streams. actix's `Payload` is not `Send`, while `BlobStore`
//! futures are (so proxies can run them on spawned tasks); a small bounded channel bridges the
//! two on the handler's own task, with backpressure and no copy.
//!
//! A body must keep moving: one that sends less than `min_bytes` in any `window` (a client
//! trickling a byte every few seconds to hold a connection) is cut off with an error, while a
//! slow but steady upload of any size goes through.

use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::time::Instant;
use trove_core::ByteStream;

/// Marks errors that mean the client stopped sending (gone, or too slow): a client event,
/// logged as such and not counted as a server error (see `upload::is_client_abort`).
pub const CLIENT_GONE: &str = "the client stopped sending the body";

/// How fast a body must arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub window: Duration,
    pub min_bytes: u64,
}

impl Progress {
    /// The error of a body that sent less than `min_bytes` in a window.
    fn too_slow(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "{CLIENT_GONE}: less than {} bytes in {}s",
                self.min_bytes,
                self.window.as_secs()
            ),
        )
    }
}

impl Default for Progress {
    /// 16 KiB per 30 s: about 0.5 KiB/s, far below any real client, far above a trickle.
    fn default() -> Self {
        Progress {
            window: Duration::from_secs(30),
            min_bytes: 16 * 1024,
        }
    }
}

/// Returns the pump (poll it alongside the consumer, e.g. with `join!`) and the `Send` stream it
/// feeds. A payload error (client gone, truncated body, too slow) reaches the consumer as an
/// `Err` item whose message contains [`CLIENT_GONE`].
pub fn bridge(
    mut payload: actix_web::web::Payload,
    progress: Progress,
) -> (impl Future<Output = ()>, ByteStream) {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(8);
    let pump = async move {
        let mut window_end = Instant::now() + progress.window;
        let mut window_bytes = 0u64;
        loop {
            let item = match tokio::time::timeout_at(window_end, payload.next()).await {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(_) if window_bytes < progress.min_bytes => {
                    let _ = tx.send(Err(progress.too_slow())).await;
                    break;
                }
                Err(_) => {
                    window_end = Instant::now() + progress.window;
                    window_bytes = 0;
                    continue;
                }
            };
            let item = item.map_err(|e| {
                io::Error::new(io::ErrorKind::UnexpectedEof, format!("{CLIENT_GONE}: {e}"))
            });
            let failed = item.is_err();
            if let Ok(b) = &item {
                window_bytes += b.len() as u64;
                if Instant::now() >= window_end {
                    if window_bytes < progress.min_bytes {
                        let _ = tx.send(Err(progress.too_slow())).await;
                        break;
                    }
                    window_end = Instant::now() + progress.window;
                    window_bytes = 0;
                }
            }
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    };
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (pump, Box::pin(stream))
}

/// Reads a whole (small) body into memory, refusing more than `limit` bytes: for documents
/// (a manifest, an npm publish), never for blobs.
pub async fn read_limited(
    mut payload: actix_web::web::Payload,
    limit: usize,
    progress: Progress,
) -> Result<Bytes, ReadError> {
    let mut buf = bytes::BytesMut::new();
    let mut window_end = Instant::now() + progress.window;
    let mut window_bytes = 0u64;
    loop {
        let chunk = match tokio::time::timeout_at(window_end, payload.next()).await {
            Ok(Some(Ok(c))) => c,
            Ok(Some(Err(e))) => return Err(ReadError::Gone(e.to_string())),
            Ok(None) => break,
            Err(_) if window_bytes < progress.min_bytes => {
                return Err(ReadError::Gone(progress.too_slow().to_string()));
            }
            Err(_) => {
                window_end = Instant::now() + progress.window;
                window_bytes = 0;
                continue;
            }
        };
        window_bytes += chunk.len() as u64;
        if buf.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Why a whole body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Over the limit (bytes).
    TooLarge(usize),
    /// The client went away or sent too slowly.
    Gone(String),
}
