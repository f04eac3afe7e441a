//! A wheel's core metadata (`<name>-<version>.dist-info/METADATA`), read from the stored wheel
//! through the blob store's ranged reads: only the zip's directory and that one entry are
//! read, so a wheel of any size costs a few small reads (PEP 658 serves the file on its own).

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use bytes::Bytes;
use trove_core::{BlobInfo, BlobStore};

/// The largest METADATA taken (PyPI's largest are a few hundred KiB: a long description).
pub const MAX_METADATA: u64 = 16 << 20;

/// How much one read of the blob fetches.
const CHUNK: u64 = 64 << 10;

/// A stored blob as `Read + Seek` for the zip reader, on a blocking thread: each read that
/// misses the buffered chunk asks the blob store for the next `CHUNK` bytes.
struct BlobReader {
    blobs: Arc<dyn BlobStore>,
    blob: BlobInfo,
    rt: tokio::runtime::Handle,
    pos: u64,
    buf: Bytes,
    buf_at: u64,
}

impl BlobReader {
    fn fill(&mut self) -> io::Result<()> {
        let len = CHUNK.min(self.blob.size - self.pos);
        let (blobs, digest, at) = (self.blobs.clone(), self.blob.digest.clone(), self.pos);
        let bytes = self.rt.block_on(async move {
            let body = blobs.open(&digest, Some((at, len))).await?;
            trove_core::documents::collect(body, len).await
        });
        self.buf = bytes.map_err(|e| io::Error::other(e.msg))?;
        self.buf_at = at;
        Ok(())
    }
}

impl Read for BlobReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.blob.size || out.is_empty() {
            return Ok(0);
        }
        let end = self.buf_at + self.buf.len() as u64;
        if self.pos < self.buf_at || self.pos >= end {
            self.fill()?;
        }
        let from = (self.pos - self.buf_at) as usize;
        let n = out.len().min(self.buf.len() - from);
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the blob ended early",
            ));
        }
        out[..n].copy_from_slice(&self.buf[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for BlobReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let size = self.blob.size as i128;
        let at = match to {
            SeekFrom::Start(n) => n as i128,
            SeekFrom::End(d) => size + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if at < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start",
            ));
        }
        self.pos = at as u64;
        Ok(self.pos)
    }
}

/// The METADATA of a wheel named `filename`, stored as `blob`; an error says what is wrong
/// with the wheel.
pub async fn core_metadata(
    blobs: Arc<dyn BlobStore>,
    blob: BlobInfo,
    filename: &str,
) -> Result<Bytes, String> {
    let stem = filename.strip_suffix(".whl").unwrap_or(filename);
    let mut parts = stem.split('-');
    let wanted = match (parts.next(), parts.next()) {
        (Some(n), Some(v)) => format!("{n}-{v}.dist-info/METADATA"),
        _ => return Err(format!("{filename} is not a wheel file name")),
    };
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let reader = BlobReader {
            blobs,
            blob,
            rt,
            pos: 0,
            buf: Bytes::new(),
            buf_at: 0,
        };
        read_metadata(reader, &wanted)
    })
    .await
    .map_err(|e| format!("reading the wheel failed: {e}"))?
}

fn read_metadata<R: Read + Seek>(reader: R, wanted: &str) -> Result<Bytes, String> {
    let mut zip =
        zip::ZipArchive::new(reader).map_err(|e| format!("the wheel is not a zip file: {e}"))?;
    // The name PEP 427 gives it; otherwise the one top-level `*.dist-info/METADATA` (older
    // tools spelt the name differently).
    let name = if zip.index_for_name(wanted).is_some() {
        wanted.to_owned()
    } else {
        let found: Vec<String> = zip
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .filter(|n| {
                n.strip_suffix("/METADATA")
                    .is_some_and(|d| d.ends_with(".dist-info") && !d.contains('/'))
            })
            .collect();
        match found.as_slice() {
            [one] => one.clone(),
            [] => return Err(format!("the wheel has no {wanted}")),
            _ => return Err("the wheel has more than one .dist-info/METADATA".into()),
        }
    };
    let entry = zip
        .by_name(&name)
        .map_err(|e| format!("cannot read {name} in the wheel: {e}"))?;
    if entry.size() > MAX_METADATA {
        return Err(format!("{name} in the wheel is over {MAX_METADATA} bytes"));
    }
    let mut out = Vec::with_capacity(entry.size() as usize);
    entry
        .take(MAX_METADATA + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot read {name} in the wheel: {e}"))?;
    if out.len() as u64 > MAX_METADATA {
        return Err(format!("{name} in the wheel is over {MAX_METADATA} bytes"));
    }
    Ok(Bytes::from(out))
}

/// The first value of header `key` of core metadata (RFC 822 style: `Key: value` lines up to
/// the first empty line).
pub fn header<'a>(metadata: &'a str, key: &str) -> Option<&'a str> {
    metadata
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn wheel(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, body) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(body.as_bytes()).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn metadata_is_found_by_name_or_as_the_only_dist_info() {
        let md = "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\nlong text: here\n";
        let w = wheel(&[
            ("demo/__init__.py", ""),
            ("demo-1.0.dist-info/METADATA", md),
        ]);
        let got = read_metadata(Cursor::new(&w), "demo-1.0.dist-info/METADATA").unwrap();
        assert_eq!(got, md.as_bytes());
        let got = read_metadata(Cursor::new(&w), "Demo-1.0.dist-info/METADATA").unwrap();
        assert_eq!(got, md.as_bytes(), "the only dist-info");
        assert_eq!(header(md, "name"), Some("demo"));
        assert_eq!(header(md, "long text"), None, "the body is not headers");
        let none = wheel(&[("demo/__init__.py", "")]);
        assert!(
            read_metadata(Cursor::new(&none), "demo-1.0.dist-info/METADATA")
                .unwrap_err()
                .contains("has no")
        );
        assert!(
            read_metadata(Cursor::new(b"not a zip".to_vec()), "x")
                .unwrap_err()
                .contains("not a zip")
        );
    }
}
