//! Content generation (deterministic random bytes, tar layers, OCI manifests) and the registry
//! API operations the cases use: monolithic and chunked blob pushes, cross-repository mounts,
//! manifest pushes, image pulls.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest as _, Sha256};

use crate::http::{Body, Client, location_path, with_query};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Uncompressed tar: random bytes do not compress, and the layer digest is its diff id.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

pub const MIB: usize = 1 << 20;

/// Deterministic pseudo-random bytes (xorshift64*), fast enough to fill a GiB in well under a
/// second; the same seed gives the same bytes on every machine.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in out.chunks_mut(8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    out
}

pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A blob and its digest.
pub struct Blob {
    pub digest: String,
    pub data: Vec<u8>,
}

impl Blob {
    pub fn new(data: Vec<u8>) -> Blob {
        Blob {
            digest: sha256_digest(&data),
            data,
        }
    }

    /// Makes the content unique for iteration `n` (first 8 bytes) and recomputes the digest, so
    /// every timed push uploads a blob the registry has never seen.
    pub fn remix(&mut self, n: u64) {
        let k = self.data.len().min(8);
        self.data[..k].copy_from_slice(&n.to_le_bytes()[..k]);
        self.digest = sha256_digest(&self.data);
    }
}

/// A single-file ustar archive holding `content` at `name` (what a real image layer is).
pub fn tar_layer(name: &str, content: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let mut field = |off: usize, s: &str| h[off..off + s.len()].copy_from_slice(s.as_bytes());
    field(100, "0000644\0");
    field(108, "0000000\0");
    field(116, "0000000\0");
    field(124, &format!("{:011o}\0", content.len()));
    field(136, &format!("{:011o}\0", 1_700_000_000u64));
    field(148, "        ");
    field(156, "0");
    field(257, "ustar\0");
    field(263, "00");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let ck = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(ck.as_bytes());
    let mut out = Vec::with_capacity(content.len() + 2048);
    out.extend_from_slice(&h);
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.resize(out.len() + 1024, 0);
    out
}

/// An image: config, layers and the OCI manifest that binds them.
pub struct Image {
    pub config: Blob,
    pub layers: Vec<Blob>,
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
}

impl Image {
    /// `layer_sizes` random tar layers (each a single file of that many random bytes).
    pub fn new(seed: u64, layer_sizes: &[usize]) -> Image {
        let layers: Vec<Blob> = layer_sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| {
                let content = random_bytes(seed.wrapping_add(i as u64 * 7919), size);
                Blob::new(tar_layer(&format!("bench/layer-{i}.bin"), &content))
            })
            .collect();
        let diff_ids: Vec<serde_json::Value> = layers
            .iter()
            .map(|l| serde_json::Value::from(l.digest.clone()))
            .collect();
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": { "Cmd": ["/bin/true"] },
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
            "history": layers.iter().map(|_| serde_json::json!({"created_by": format!("trove-bench seed {seed}")})).collect::<Vec<_>>(),
        });
        let config = Blob::new(serde_json::to_vec(&config).expect("json"));
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": OCI_CONFIG, "digest": config.digest, "size": config.data.len() },
            "layers": layers.iter().map(|l| serde_json::json!({
                "mediaType": OCI_LAYER_TAR, "digest": l.digest, "size": l.data.len()
            })).collect::<Vec<_>>(),
        });
        let manifest = serde_json::to_vec(&manifest).expect("json");
        Image {
            manifest_digest: sha256_digest(&manifest),
            config,
            layers,
            manifest,
        }
    }

    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(self.layers.iter())
    }

    pub fn total_bytes(&self) -> u64 {
        self.blobs().map(|b| b.data.len() as u64).sum::<u64>() + self.manifest.len() as u64
    }
}

/// Starts an upload session; returns the `Location` path.
fn begin_upload(c: &mut Client, image: &str) -> Result<String> {
    let r = c
        .request(
            "POST",
            &format!("/v2/{image}/blobs/uploads/"),
            &[],
            &[],
            Body::Collect,
        )?
        .expect(202, "POST blobs/uploads/")?;
    let loc = r
        .header("location")
        .context("upload session without Location")?;
    Ok(location_path(loc))
}

/// Monolithic upload: `POST` a session, `PUT ?digest=` with the whole body.
pub fn push_blob_monolithic(c: &mut Client, image: &str, blob: &Blob) -> Result<()> {
    let loc = begin_upload(c, image)?;
    c.request(
        "PUT",
        &with_query(&loc, &format!("digest={}", blob.digest)),
        &[("Content-Type", "application/octet-stream")],
        &blob.data,
        Body::Collect,
    )?
    .expect(201, "PUT upload (monolithic)")?;
    Ok(())
}

/// Chunked upload: `POST`, one `PATCH` per `chunk` bytes with `Content-Range`, `PUT ?digest=`.
pub fn push_blob_chunked(c: &mut Client, image: &str, blob: &Blob, chunk: usize) -> Result<()> {
    let mut loc = begin_upload(c, image)?;
    let mut off = 0usize;
    for part in blob.data.chunks(chunk) {
        let range = format!("{}-{}", off, off + part.len() - 1);
        let r = c
            .request(
                "PATCH",
                &loc,
                &[
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Range", &range),
                ],
                part,
                Body::Collect,
            )?
            .expect(202, "PATCH upload chunk")?;
        if let Some(l) = r.header("location") {
            loc = location_path(l);
        }
        off += part.len();
    }
    c.request(
        "PUT",
        &with_query(&loc, &format!("digest={}", blob.digest)),
        &[],
        &[],
        Body::Collect,
    )?
    .expect(201, "PUT upload (close chunked)")?;
    Ok(())
}

/// Whether `image` has the blob (`HEAD` 200).
pub fn has_blob(c: &mut Client, image: &str, digest: &str) -> Result<bool> {
    let r = c.request(
        "HEAD",
        &format!("/v2/{image}/blobs/{digest}"),
        &[],
        &[],
        Body::Collect,
    )?;
    match r.status {
        200 => Ok(true),
        404 => Ok(false),
        s => bail!("HEAD blob {digest}: unexpected HTTP {s}"),
    }
}

/// Links a blob already pushed under `from` into `image` (mount, 201); if the registry starts an
/// upload instead (202), uploads it.
pub fn mount_blob(c: &mut Client, image: &str, from: &str, blob: &Blob) -> Result<()> {
    let r = c.request(
        "POST",
        &format!(
            "/v2/{image}/blobs/uploads/?mount={}&from={from}",
            blob.digest
        ),
        &[],
        &[],
        Body::Collect,
    )?;
    match r.status {
        201 => Ok(()),
        202 => {
            let loc = location_path(r.header("location").context("202 without Location")?);
            c.request(
                "PUT",
                &with_query(&loc, &format!("digest={}", blob.digest)),
                &[("Content-Type", "application/octet-stream")],
                &blob.data,
                Body::Collect,
            )?
            .expect(201, "PUT upload after refused mount")?;
            Ok(())
        }
        s => bail!("mount {}: HTTP {s}: {}", blob.digest, r.text()),
    }
}

pub fn put_manifest(c: &mut Client, image: &str, reference: &str, manifest: &[u8]) -> Result<()> {
    c.request(
        "PUT",
        &format!("/v2/{image}/manifests/{reference}"),
        &[("Content-Type", OCI_MANIFEST)],
        manifest,
        Body::Collect,
    )?
    .expect(201, "PUT manifest")?;
    Ok(())
}

/// Pushes every blob `image` lacks (monolithic), then the manifest under `tag`.
pub fn push_image(c: &mut Client, name: &str, tag: &str, img: &Image) -> Result<()> {
    for b in img.blobs() {
        if !has_blob(c, name, &b.digest)? {
            push_blob_monolithic(c, name, b)?;
        }
    }
    put_manifest(c, name, tag, &img.manifest)
}

/// What one client pull of an image transferred.
#[derive(Default, Debug, Clone, Copy)]
pub struct Pulled {
    pub bytes: u64,
    pub blobs: usize,
}

/// Pulls `name:reference` like a client: the manifest, then config and layers over `parallel`
/// connections. With `verify` every blob's SHA-256 is checked (costs CPU); otherwise sizes are.
pub fn pull_image(
    addr: SocketAddr,
    auth: Option<&str>,
    name: &str,
    reference: &str,
    parallel: usize,
    verify: bool,
) -> Result<Pulled> {
    let mut c = Client::new(addr, auth.map(str::to_owned));
    let r = c
        .request(
            "GET",
            &format!("/v2/{name}/manifests/{reference}"),
            &[("Accept", ACCEPT_MANIFESTS)],
            &[],
            Body::Collect,
        )?
        .expect(200, "GET manifest")?;
    let doc: serde_json::Value = serde_json::from_slice(&r.body).context("manifest JSON")?;
    let mut want: Vec<(String, u64)> = Vec::new();
    for d in std::iter::once(&doc["config"]).chain(
        doc["layers"]
            .as_array()
            .map(|a| a.iter().collect::<Vec<_>>())
            .unwrap_or_default(),
    ) {
        let digest = d["digest"].as_str().context("descriptor digest")?;
        let size = d["size"].as_u64().context("descriptor size")?;
        want.push((digest.to_owned(), size));
    }
    let mut total = Pulled {
        bytes: r.body_len,
        blobs: 0,
    };
    let chunks: Vec<Vec<(String, u64)>> = (0..parallel.max(1))
        .map(|i| {
            want.iter()
                .skip(i)
                .step_by(parallel.max(1))
                .cloned()
                .collect()
        })
        .collect();
    let results: Vec<Result<Pulled>> = std::thread::scope(|s| {
        let hs: Vec<_> = chunks
            .into_iter()
            .map(|list| {
                let auth = auth.map(str::to_owned);
                let name = name.to_owned();
                s.spawn(move || -> Result<Pulled> {
                    let mut c = Client::new(addr, auth);
                    let mut p = Pulled::default();
                    for (digest, size) in list {
                        let mode = if verify { Body::Hash } else { Body::Discard };
                        let r = c
                            .request("GET", &format!("/v2/{name}/blobs/{digest}"), &[], &[], mode)?
                            .expect(200, "GET blob")?;
                        ensure!(
                            r.body_len == size,
                            "blob {digest}: got {} bytes, want {size}",
                            r.body_len
                        );
                        if verify {
                            ensure!(
                                r.sha256.as_deref() == Some(digest.as_str()),
                                "blob {digest}: body hashes to {:?}",
                                r.sha256
                            );
                        }
                        p.bytes += r.body_len;
                        p.blobs += 1;
                    }
                    Ok(p)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("pull thread panicked"))
            .collect()
    });
    for r in results {
        let p = r?;
        total.bytes += p.bytes;
        total.blobs += p.blobs;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_are_deterministic_and_not_constant() {
        let a = random_bytes(1, 1000);
        assert_eq!(a, random_bytes(1, 1000));
        assert_ne!(a, random_bytes(2, 1000));
        assert!(a.iter().filter(|&&b| b == 0).count() < 50);
    }

    #[test]
    fn tar_layer_is_block_aligned_with_valid_checksum() {
        let t = tar_layer("a/b.bin", &[7u8; 1000]);
        assert_eq!(t.len() % 512, 0);
        assert_eq!(t.len(), 512 + 1024 + 1024);
        let mut h = t[..512].to_vec();
        let stored = u32::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
        h[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, h.iter().map(|&b| u32::from(b)).sum::<u32>());
    }
}
