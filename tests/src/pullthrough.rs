//! Helpers for the proxy-repository (pull-through cache) tests: the `[[repository]]` block of a
//! docker proxy, filling an upstream with a generated image, and checking that Trove's blob store
//! holds nothing but verified blobs.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use crate::images::{DockerArchive, ImageSpec, write_docker_archive};
use crate::tools::Skopeo;
use crate::util::sha256_hex;

/// A docker proxy repository `name` of `remote` with its own HTTP connector; `extra` adds keys
/// (`metadata_max_age = 2`, ...).
pub fn proxy_docker_toml(name: &str, remote: &str, extra: &str) -> String {
    format!(
        "[[repository]]\nname = \"{name}\"\nformat = \"docker\"\nkind = \"proxy\"\n\
         remote = \"{remote}\"\nconnector = {{ http = 0 }}\n{extra}\n"
    )
}

/// Generates the image `spec` and copies it to `docker://{registry}/{reference}` with skopeo
/// (`creds` = `user:password` for a registry that needs them). Returns the archive (ids, diff
/// ids) and the pushed manifest digest.
pub fn push_generated(
    registry: &str,
    reference: &str,
    spec: &ImageSpec,
    creds: Option<&str>,
) -> (DockerArchive, String) {
    let work = tempfile::Builder::new()
        .prefix("e2e.")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let img = write_docker_archive(
        &work.path().join("img.tar"),
        spec,
        Some(&format!("trove-e2e/gen:{}", spec.seed)),
    );
    let skopeo = Skopeo::new();
    let dest = format!("docker://{registry}/{reference}");
    let mut extra = vec![];
    let c;
    if let Some(creds) = creds {
        c = format!("--dest-creds={creds}");
        extra.push(c.as_str());
    }
    let digest = skopeo.copy_digest(&img.transport_ref(), &dest, &extra);
    // The archive file goes with the tempdir; callers only need its ids.
    (img, digest)
}

/// `skopeo copy docker://SRC dir:` into a fresh directory; returns the verified blob digests and
/// the seconds it took, or skopeo's stderr when it failed.
pub fn skopeo_pull(src: &str) -> Result<(BTreeSet<String>, f64), String> {
    let work = tempfile::Builder::new()
        .prefix("e2e.")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let out = work.path().join("dir");
    let skopeo = Skopeo::new();
    let started = Instant::now();
    let res = skopeo.try_run(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{src}"),
        &format!("dir:{}", out.display()),
    ]);
    let secs = started.elapsed().as_secs_f64();
    if !res.status.success() {
        return Err(String::from_utf8_lossy(&res.stderr).into_owned());
    }
    Ok((crate::images::dir_transport_blobs(&out), secs))
}

/// What Trove's blob store holds: every committed blob is checked to hash to its name (a
/// mismatch panics), and upload files still present are listed.
#[derive(Debug, Default)]
pub struct StoreReport {
    pub blobs: BTreeSet<String>,
    pub uploads: Vec<String>,
}

pub fn check_blob_store(data_dir: &Path) -> StoreReport {
    let mut report = StoreReport::default();
    let root = data_dir.join("blobs");
    if let Ok(prefixes) = std::fs::read_dir(root.join("blobs/sha256")) {
        for prefix in prefixes.flatten() {
            for f in std::fs::read_dir(prefix.path())
                .expect("blob dir")
                .flatten()
            {
                let name = f.file_name().to_string_lossy().into_owned();
                let bytes = std::fs::read(f.path()).expect("read blob");
                assert_eq!(
                    sha256_hex(&bytes),
                    name,
                    "corrupt cache entry {}",
                    f.path().display()
                );
                report.blobs.insert(format!("sha256:{name}"));
            }
        }
    }
    if let Ok(uploads) = std::fs::read_dir(root.join("uploads")) {
        report.uploads = uploads
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
    }
    report
}
