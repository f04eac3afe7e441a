use std::io;
use std::pin::Pin;

use bytes::Bytes;
use futures_core::Stream;

use crate::{AssetPath, BlobInfo};

/// A body streamed in chunks; never a whole object in memory.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// What a repository knows about one stored asset.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetMeta {
    pub path: AssetPath,
    pub blob: BlobInfo,
    pub content_type: Option<String>,
    /// Unix millis.
    pub created: i64,
    pub last_downloaded: Option<i64>,
    /// Format-specific facts computed at write time (docker: a manifest's `subject`,
    /// `artifactType`), so reads never parse content.
    pub attrs: serde_json::Value,
}

/// An asset with its body. `served` is the byte range the body covers when a range was asked
/// for: `(start, len)`.
pub struct Asset {
    pub meta: AssetMeta,
    pub body: ByteStream,
    pub served: Option<(u64, u64)>,
}

/// What a front-end hands a repository to store: the blob is already committed to the blob
/// store, so a row never points at a missing blob.
#[derive(Debug, Clone)]
pub struct NewAsset {
    pub blob: BlobInfo,
    pub content_type: Option<String>,
    pub attrs: serde_json::Value,
}

/// A request for part of a body (RFC 9110 `Range: bytes=...`, one range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `start-` or `start-end` (inclusive).
    From { start: u64, end: Option<u64> },
    /// `-n`: the last n bytes.
    Suffix(u64),
}

impl ByteRange {
    /// Parses a `Range` header value; `None` for anything but one byte range.
    pub fn parse_header(v: &str) -> Option<ByteRange> {
        let spec = v.trim().strip_prefix("bytes=")?;
        if spec.contains(',') {
            return None;
        }
        let (a, b) = spec.split_once('-')?;
        if a.is_empty() {
            return Some(ByteRange::Suffix(b.parse().ok()?));
        }
        let start = a.parse().ok()?;
        let end = if b.is_empty() {
            None
        } else {
            Some(b.parse().ok()?)
        };
        if end.is_some_and(|e| e < start) {
            return None;
        }
        Some(ByteRange::From { start, end })
    }

    /// Resolves against an object of `size` bytes: `(start, len)`, or `None` when the range
    /// cannot be satisfied (RFC 9110 §14.1.2).
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        match self {
            ByteRange::From { start, end } => {
                if start >= size {
                    return None;
                }
                let last = end.map_or(size - 1, |e| e.min(size - 1));
                Some((start, last - start + 1))
            }
            ByteRange::Suffix(0) => None,
            ByteRange::Suffix(n) => {
                if size == 0 {
                    return None;
                }
                let n = n.min(size);
                Some((size - n, n))
            }
        }
    }
}

/// Keyset pagination: entries strictly after `after`, at most `limit` of them.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub after: Option<String>,
    pub limit: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = |s| ByteRange::parse_header(s);
        assert_eq!(r("bytes=0-9").unwrap().resolve(100), Some((0, 10)));
        assert_eq!(r("bytes=90-").unwrap().resolve(100), Some((90, 10)));
        assert_eq!(r("bytes=90-200").unwrap().resolve(100), Some((90, 10)));
        assert_eq!(r("bytes=-10").unwrap().resolve(100), Some((90, 10)));
        assert_eq!(r("bytes=-1000").unwrap().resolve(100), Some((0, 100)));
        assert_eq!(r("bytes=100-").unwrap().resolve(100), None);
        assert_eq!(r("bytes=0-").unwrap().resolve(0), None);
        for bad in [
            "bytes=5-1",
            "bytes=a-b",
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=-",
            "",
        ] {
            assert_eq!(r(bad), None, "{bad}");
        }
    }
}
