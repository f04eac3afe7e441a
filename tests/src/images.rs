//! Offline, deterministic image generation: a `docker save` archive (`docker-archive`) and an
//! OCI image layout holding a two-platform image index. The same seed always gives the same
//! bytes, so digests can be asserted; different seeds, layers and platforms give distinct files.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

use crate::util::{sha256_digest, sha256_hex};

/// OCI media types used by the generated layout.
pub mod media {
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
}

/// The annotation that names a tag in an OCI layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A fixed timestamp for tar headers and image configs (determinism).
const EPOCH: u64 = 1_700_000_000;
const CREATED: &str = "2023-11-14T22:13:20Z";

/// What to generate. `seed` drives every byte; `os`/`architecture` also feed the content.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    pub seed: u64,
    pub layers: usize,
    pub files_per_layer: usize,
    /// Bytes of pseudo-random payload per file (incompressible).
    pub file_size: usize,
    pub os: String,
    pub architecture: String,
}

impl ImageSpec {
    /// `layers` layers of 3 files of 4 KiB each, linux/amd64.
    pub fn new(seed: u64, layers: usize) -> ImageSpec {
        ImageSpec {
            seed,
            layers,
            files_per_layer: 3,
            file_size: 4096,
            os: "linux".into(),
            architecture: "amd64".into(),
        }
    }

    /// Sets the payload size of each file (use it to make big layers).
    pub fn file_size(mut self, bytes: usize) -> ImageSpec {
        self.file_size = bytes;
        self
    }

    /// Sets the platform written to the config (and mixed into the content).
    pub fn platform(mut self, os: &str, architecture: &str) -> ImageSpec {
        self.os = os.into();
        self.architecture = architecture.into();
        self
    }

    /// The uncompressed tar of layer `index` (0-based).
    pub fn layer_tar(&self, index: usize) -> Vec<u8> {
        let mut rng = SplitMix64::new(
            self.seed
                ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ fnv1a(self.os.as_bytes())
                ^ fnv1a(self.architecture.as_bytes()).rotate_left(17),
        );
        let mut b = tar::Builder::new(Vec::new());
        let dir = format!("trove-e2e/layer-{index}");
        for d in ["trove-e2e".to_owned(), dir.clone()] {
            let mut h = header(tar::EntryType::Directory, 0o755, 0);
            h.set_path(format!("{d}/")).expect("dir path");
            h.set_cksum();
            b.append(&h, std::io::empty()).expect("append dir");
        }
        let readme = format!(
            "trove e2e image: seed {} layer {index} platform {}/{}\n",
            self.seed, self.os, self.architecture
        );
        append_file(&mut b, &format!("{dir}/README"), readme.as_bytes());
        for j in 0..self.files_per_layer {
            let mut data = Vec::with_capacity(self.file_size);
            while data.len() < self.file_size {
                data.extend_from_slice(&rng.next().to_le_bytes());
            }
            data.truncate(self.file_size);
            append_file(&mut b, &format!("{dir}/file-{j}.bin"), &data);
        }
        b.into_inner().expect("finish layer tar")
    }

    /// Every layer tar, in order.
    pub fn layer_tars(&self) -> Vec<Vec<u8>> {
        (0..self.layers).map(|i| self.layer_tar(i)).collect()
    }

    /// The image config JSON for the given diff ids.
    pub fn config_json(&self, diff_ids: &[String]) -> Vec<u8> {
        let history: Vec<Value> = (0..diff_ids.len())
            .map(|i| json!({"created": CREATED, "created_by": format!("trove-e2e layer {i}")}))
            .collect();
        let config = json!({
            "architecture": self.architecture,
            "os": self.os,
            "created": CREATED,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        });
        serde_json::to_vec(&config).expect("config json")
    }
}

/// A generated `docker save` archive.
#[derive(Clone, Debug)]
pub struct DockerArchive {
    pub path: PathBuf,
    /// `sha256:` of the config JSON: the docker/podman image id.
    pub config_digest: String,
    pub config: Vec<u8>,
    /// `sha256:` of each uncompressed layer tar, in order.
    pub diff_ids: Vec<String>,
    /// The `RepoTags` entry, if one was written.
    pub repo_tag: Option<String>,
}

impl DockerArchive {
    /// The image id docker and podman report for this image (`sha256:…` of the config).
    pub fn image_id(&self) -> &str {
        &self.config_digest
    }

    /// `docker-archive:PATH`, the skopeo/podman transport reference.
    pub fn transport_ref(&self) -> String {
        format!("docker-archive:{}", self.path.display())
    }
}

/// Writes a `docker save`-format tarball at `path`: `manifest.json`, `<config hex>.json` and one
/// `<diff id hex>/layer.tar` per layer (uncompressed). `repo_tag` (e.g. `e2e/gen:1`) goes into
/// `RepoTags`, so `docker load` tags the image.
pub fn write_docker_archive(
    path: &Path,
    spec: &ImageSpec,
    repo_tag: Option<&str>,
) -> DockerArchive {
    write_docker_archive_of(path, spec, spec.layer_tars(), repo_tag)
}

/// [`write_docker_archive`] with the layer tars given (images that share layers: take some
/// from another spec's [`ImageSpec::layer_tar`]); the config is `spec`'s over them.
pub fn write_docker_archive_of(
    path: &Path,
    spec: &ImageSpec,
    layers: Vec<Vec<u8>>,
    repo_tag: Option<&str>,
) -> DockerArchive {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256_digest(l)).collect();
    let config = spec.config_json(&diff_ids);
    let config_hex = sha256_hex(&config);
    let layer_paths: Vec<String> = diff_ids
        .iter()
        .map(|d| format!("{}/layer.tar", d.trim_start_matches("sha256:")))
        .collect();
    let manifest = json!([{
        "Config": format!("{config_hex}.json"),
        "RepoTags": repo_tag.map(|t| vec![t]),
        "Layers": layer_paths,
    }]);
    let file = File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let mut b = tar::Builder::new(std::io::BufWriter::new(file));
    for (layer, p) in layers.iter().zip(&layer_paths) {
        let dir = p.trim_end_matches("/layer.tar");
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        h.set_path(format!("{dir}/")).expect("dir path");
        h.set_cksum();
        b.append(&h, std::io::empty()).expect("append dir");
        append_file(&mut b, &format!("{dir}/VERSION"), b"1.0");
        append_file(&mut b, p, layer);
    }
    append_file(&mut b, &format!("{config_hex}.json"), &config);
    append_file(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&manifest).expect("manifest"),
    );
    b.into_inner()
        .expect("finish archive")
        .flush()
        .expect("flush archive");
    DockerArchive {
        path: path.to_owned(),
        config_digest: format!("sha256:{config_hex}"),
        config,
        diff_ids,
        repo_tag: repo_tag.map(str::to_owned),
    }
}

/// One platform image inside a generated OCI index.
#[derive(Clone, Debug)]
pub struct PlatformImage {
    pub os: String,
    pub architecture: String,
    pub manifest_digest: String,
    pub manifest: Vec<u8>,
    pub config_digest: String,
    /// Digests of the gzip-compressed layer blobs, in order.
    pub layer_digests: Vec<String>,
    /// Digests of the uncompressed layer tars, in order.
    pub diff_ids: Vec<String>,
}

/// A generated OCI image layout with one tagged image index.
#[derive(Clone, Debug)]
pub struct OciLayout {
    pub dir: PathBuf,
    pub tag: String,
    pub index_digest: String,
    /// The exact bytes of the image index blob.
    pub index: Vec<u8>,
    pub platforms: Vec<PlatformImage>,
}

impl OciLayout {
    /// `oci:DIR:TAG`, the skopeo transport reference.
    pub fn transport_ref(&self) -> String {
        format!("oci:{}:{}", self.dir.display(), self.tag)
    }

    /// Every blob digest of the image: index, manifests, configs and layers.
    pub fn all_digests(&self) -> BTreeSet<String> {
        let mut s = BTreeSet::from([self.index_digest.clone()]);
        for p in &self.platforms {
            s.insert(p.manifest_digest.clone());
            s.insert(p.config_digest.clone());
            s.extend(p.layer_digests.iter().cloned());
        }
        s
    }
}

/// Writes an OCI image layout at `dir` (`oci-layout`, `index.json`, `blobs/sha256/…`) holding an
/// image index with linux/amd64 and linux/arm64 manifests, each with `layers` gzip layers of its
/// own and its own config. The index is tagged `tag` through the `org.opencontainers.image.ref.name`
/// annotation, for `skopeo copy --all oci:DIR:TAG …`.
pub fn write_oci_multiarch(dir: &Path, seed: u64, layers: usize, tag: &str) -> OciLayout {
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).expect("blobs dir");
    let put = |bytes: &[u8]| -> String {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).expect("write blob");
        format!("sha256:{hex}")
    };
    let mut platforms = Vec::new();
    let mut descriptors = Vec::new();
    for arch in ["amd64", "arm64"] {
        let spec = ImageSpec::new(seed, layers).platform("linux", arch);
        let tars = spec.layer_tars();
        let diff_ids: Vec<String> = tars.iter().map(|t| sha256_digest(t)).collect();
        let mut layer_descs = Vec::new();
        let mut layer_digests = Vec::new();
        for t in &tars {
            let gz = gzip(t);
            let d = put(&gz);
            layer_descs
                .push(json!({"mediaType": media::OCI_LAYER_GZIP, "digest": d, "size": gz.len()}));
            layer_digests.push(d);
        }
        let config = spec.config_json(&diff_ids);
        let config_digest = put(&config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": media::OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": layer_descs,
        }))
        .expect("manifest json");
        let manifest_digest = put(&manifest);
        descriptors.push(json!({
            "mediaType": media::OCI_MANIFEST,
            "digest": manifest_digest,
            "size": manifest.len(),
            "platform": {"architecture": arch, "os": "linux"},
        }));
        platforms.push(PlatformImage {
            os: "linux".into(),
            architecture: arch.into(),
            manifest_digest,
            manifest,
            config_digest,
            layer_digests,
            diff_ids,
        });
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": descriptors,
    }))
    .expect("index json");
    let index_digest = put(&index);
    let top = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": media::OCI_INDEX,
            "digest": index_digest,
            "size": index.len(),
            "annotations": {REF_NAME: tag},
        }],
    });
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("oci-layout");
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&top).expect("index.json"),
    )
    .expect("write index.json");
    OciLayout {
        dir: dir.to_owned(),
        tag: tag.to_owned(),
        index_digest,
        index,
        platforms,
    }
}

/// The descriptor tagged `tag` in the `index.json` of the OCI layout at `dir`.
pub fn oci_layout_descriptor(dir: &Path, tag: &str) -> Value {
    let text = std::fs::read(dir.join("index.json")).expect("read index.json");
    let top: Value = serde_json::from_slice(&text).expect("index.json is JSON");
    top["manifests"]
        .as_array()
        .expect("index.json manifests")
        .iter()
        .find(|d| d["annotations"][REF_NAME] == tag)
        .cloned()
        .unwrap_or_else(|| panic!("no {tag:?} in {}", String::from_utf8_lossy(&text)))
}

/// Reads a blob of the OCI layout at `dir`.
pub fn oci_blob(dir: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    std::fs::read(dir.join("blobs/sha256").join(hex))
        .unwrap_or_else(|e| panic!("blob {digest} in {}: {e}", dir.display()))
}

/// Every blob digest in an OCI layout (`blobs/sha256/*`), after checking that each file's content
/// hashes to its name.
pub fn oci_layout_blobs(dir: &Path) -> BTreeSet<String> {
    verified_blobs(&dir.join("blobs/sha256"), |_| true)
}

/// Every blob digest in a skopeo `dir:` directory (files named by hex digest), after checking
/// that each file's content hashes to its name. `manifest.json` and `version` are not blobs.
pub fn dir_transport_blobs(dir: &Path) -> BTreeSet<String> {
    verified_blobs(dir, |name| {
        name.len() == 64 && name.bytes().all(|c| c.is_ascii_hexdigit())
    })
}

fn verified_blobs(dir: &Path, keep: impl Fn(&str) -> bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let e = e.expect("dir entry");
        let name = e.file_name().to_string_lossy().into_owned();
        if !keep(&name) {
            continue;
        }
        let bytes = std::fs::read(e.path()).expect("read blob");
        let actual = sha256_hex(&bytes);
        assert_eq!(
            actual,
            name,
            "blob {} has content digest sha256:{actual}",
            e.path().display()
        );
        out.insert(format!("sha256:{name}"));
    }
    out
}

/// Parses a manifest (OCI or docker v2 schema 2) into its config digest and layer digests.
pub fn manifest_digests(manifest: &[u8]) -> (String, Vec<String>) {
    let m: Value = serde_json::from_slice(manifest).unwrap_or_else(|e| {
        panic!(
            "manifest is not JSON ({e}): {}",
            String::from_utf8_lossy(manifest)
        )
    });
    let config = m["config"]["digest"]
        .as_str()
        .expect("config digest")
        .to_owned();
    let layers = m["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["digest"].as_str().expect("layer digest").to_owned())
        .collect();
    (config, layers)
}

/// Manifest digests of an image index / manifest list, with their platforms (`os/arch`).
pub fn index_entries(index: &[u8]) -> BTreeMap<String, String> {
    let v: Value = serde_json::from_slice(index).expect("index is JSON");
    v["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|d| {
            let p = &d["platform"];
            let platform = format!(
                "{}/{}",
                p["os"].as_str().unwrap_or("?"),
                p["architecture"].as_str().unwrap_or("?")
            );
            (d["digest"].as_str().expect("digest").to_owned(), platform)
        })
        .collect()
}

/// `sha256:` of a layer's uncompressed tar (its diff id), gunzipping when the blob is gzip.
pub fn diff_id_of(blob: &[u8]) -> String {
    if blob.starts_with(&[0x1f, 0x8b]) {
        let mut raw = Vec::new();
        GzDecoder::new(blob)
            .read_to_end(&mut raw)
            .expect("gunzip layer");
        sha256_digest(&raw)
    } else {
        sha256_digest(blob)
    }
}

/// Deterministic gzip (no name, mtime 0).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip finish")
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(EPOCH);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append_file<W: Write>(b: &mut tar::Builder<W>, path: &str, data: &[u8]) {
    let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
    h.set_path(path).expect("file path");
    h.set_cksum();
    b.append(&h, data).expect("append file");
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// splitmix64: tiny, fast, deterministic; enough for incompressible test payloads.
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_distinct() {
        let a = ImageSpec::new(1, 2);
        assert_eq!(a.layer_tar(0), ImageSpec::new(1, 2).layer_tar(0));
        assert_ne!(a.layer_tar(0), a.layer_tar(1));
        assert_ne!(a.layer_tar(0), ImageSpec::new(2, 2).layer_tar(0));
        assert_ne!(
            a.layer_tar(0),
            ImageSpec::new(1, 2).platform("linux", "arm64").layer_tar(0)
        );
        assert_eq!(gzip(&a.layer_tar(0)), gzip(&a.layer_tar(0)));
    }

    #[test]
    fn archive_and_layout_are_self_consistent() {
        let d = tempfile::tempdir().unwrap();
        let arch = write_docker_archive(
            &d.path().join("a.tar"),
            &ImageSpec::new(7, 3),
            Some("e2e/x:1"),
        );
        assert_eq!(arch.diff_ids.len(), 3);
        assert_eq!(arch.config_digest, sha256_digest(&arch.config));
        let again = write_docker_archive(
            &d.path().join("b.tar"),
            &ImageSpec::new(7, 3),
            Some("e2e/x:1"),
        );
        assert_eq!(
            std::fs::read(&arch.path).unwrap(),
            std::fs::read(&again.path).unwrap()
        );

        let layout = write_oci_multiarch(&d.path().join("oci"), 7, 2, "multi");
        assert_eq!(oci_layout_blobs(&layout.dir), layout.all_digests());
        assert_eq!(
            oci_layout_descriptor(&layout.dir, "multi")["digest"],
            layout.index_digest.as_str()
        );
        assert_eq!(index_entries(&layout.index).len(), 2);
        for p in &layout.platforms {
            let (config, layers) = manifest_digests(&p.manifest);
            assert_eq!(config, p.config_digest);
            assert_eq!(layers, p.layer_digests);
            let diffs: Vec<String> = layers
                .iter()
                .map(|l| diff_id_of(&oci_blob(&layout.dir, l)))
                .collect();
            assert_eq!(diffs, p.diff_ids);
        }
    }
}
