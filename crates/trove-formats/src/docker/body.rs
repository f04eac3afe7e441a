//! Request bodies into the blob store. actix's `Payload` is not `Send`, while `BlobStore`
//! futures are (so proxies can later run them on spawned tasks); a small bounded channel
//! bridges the two on the handler's own task, with backpressure and no copy.

use std::future::Future;
use std::io;

use bytes::Bytes;
use futures_util::StreamExt;
use trove_core::ByteStream;

/// Returns the pump (poll it alongside the consumer, e.g. with `join!`) and the `Send` stream it
/// feeds. A payload error (client gone, truncated body) reaches the consumer as an `Err` item.
pub fn bridge(mut payload: actix_web::web::Payload) -> (impl Future<Output = ()>, ByteStream) {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(8);
    let pump = async move {
        while let Some(item) = payload.next().await {
            let item =
                item.map_err(|e| io::Error::new(io::ErrorKind::UnexpectedEof, e.to_string()));
            let failed = item.is_err();
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
