//! The client round trips the e2e tests run, written once against a registry *prefix*:
//! `127.0.0.1:PORT` (a connector, or docker-registry) or `127.0.0.1:PORT/repository/NAME`
//! (path-based access). Each flow generates its own image from an [`ImageSpec`] (or a seed), pushes it with one client,
//! pulls it back and asserts that ids, digests and bytes survived. Every check panics on mismatch.

use std::collections::BTreeSet;
use std::path::Path;

use crate::dockerd::Dockerd;
use crate::images::{
    DockerArchive, ImageSpec, diff_id_of, dir_transport_blobs, index_entries, manifest_digests,
    oci_layout_blobs, oci_layout_descriptor, write_docker_archive, write_oci_multiarch,
};
use crate::tools::{Podman, Skopeo};
use crate::util::sha256_digest;

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("e2e.")
        .tempdir_in("/tmp")
        .expect("tempdir")
}

fn archive(work: &Path, spec: &ImageSpec) -> DockerArchive {
    let seed = spec.seed;
    let tag = format!("trove-e2e/gen:{seed}");
    write_docker_archive(&work.join(format!("img-{seed}.tar")), spec, Some(&tag))
}

/// docker: load a generated image, tag it `PREFIX/e2e/app:1`, push, remove every local
/// copy, pull by tag and by digest, and check the image id, layers and repo digest. Returns the
/// image id.
pub fn docker_push_pull(docker: &Dockerd, prefix: &str, spec: &ImageSpec) -> String {
    let work = scratch();
    let img = archive(work.path(), spec);
    let local = img.repo_tag.clone().expect("repo tag");
    let loaded = docker.load(&img.path);
    assert!(
        loaded.contains(&local),
        "docker load reported {loaded:?}, expected {local}"
    );
    let id = docker.image_id(&local);
    assert_eq!(
        id,
        img.image_id(),
        "docker computed another image id than the config digest"
    );

    let target = format!("{prefix}/e2e/app:1");
    docker.docker(&["tag", &local, &target]);
    let pushed = docker.push(&target);
    assert!(
        pushed.starts_with("sha256:") && pushed.len() == 71,
        "bad pushed digest {pushed:?}"
    );

    docker.rmi_all(&id);
    assert!(
        !docker.has_image(&target),
        "{target} still present after rmi"
    );

    docker.pull(&target);
    assert_eq!(
        docker.image_id(&target),
        img.image_id(),
        "pulled image id differs from pushed"
    );
    let layers = docker.image_layers(&target);
    assert_eq!(
        layers.len(),
        spec.layers,
        "pulled image has {} layers: {layers:?}",
        layers.len()
    );
    assert_eq!(layers, img.diff_ids, "pulled layer diff ids differ");
    let repo = format!("{prefix}/e2e/app");
    let expected = format!("{repo}@{pushed}");
    let digests = docker.repo_digests(&target);
    assert!(
        digests.contains(&expected),
        "RepoDigests {digests:?} lack {expected}"
    );

    // Pull by digest too (GET /v2/<name>/manifests/<digest>).
    docker.rmi_all(&id);
    docker.pull(&expected);
    assert_eq!(
        docker.image_id(&expected),
        img.image_id(),
        "image pulled by digest differs"
    );
    id
}

/// skopeo: copy a generated docker-archive to `PREFIX/e2e/sk:1`, read the manifest twice (it must
/// be byte-identical and hash to the digest skopeo pushed), read the config, fetch by digest, then
/// copy back to a `dir:` directory and check every blob and every layer's diff id. Returns the
/// image's blob digests (config and layers).
pub fn skopeo_roundtrip(prefix: &str, spec: &ImageSpec) -> BTreeSet<String> {
    let work = scratch();
    let skopeo = Skopeo::new();
    let img = archive(work.path(), spec);
    let target = format!("docker://{prefix}/e2e/sk:1");
    let pushed = skopeo.copy_digest(&img.transport_ref(), &target, &[]);

    let raw = skopeo.inspect_raw(&target);
    let again = skopeo.inspect_raw(&target);
    assert_eq!(raw, again, "manifest bytes differ between two GETs");
    assert_eq!(
        sha256_digest(&raw),
        pushed,
        "served manifest does not hash to the pushed digest"
    );
    let (config, layers) = manifest_digests(&raw);
    assert_eq!(
        config, img.config_digest,
        "config digest changed in the registry"
    );
    assert_eq!(layers.len(), img.diff_ids.len());
    assert_eq!(
        skopeo.inspect_config_raw(&target),
        img.config,
        "config blob bytes differ"
    );

    let by_digest = format!("docker://{prefix}/e2e/sk@{pushed}");
    assert_eq!(
        skopeo.inspect_raw(&by_digest),
        raw,
        "manifest by digest differs from by tag"
    );
    let tags = skopeo.list_tags(&format!("docker://{prefix}/e2e/sk"));
    assert_eq!(tags, ["1"], "tags/list of e2e/sk");

    let out = work.path().join("dir");
    let copied = skopeo.copy_digest(&target, &format!("dir:{}", out.display()), &[]);
    assert_eq!(copied, pushed, "digest of the manifest copied back");
    let stored = std::fs::read(out.join("manifest.json")).expect("dir manifest");
    assert_eq!(
        stored, raw,
        "manifest copied to dir: differs from the served one"
    );
    let blobs = dir_transport_blobs(&out);
    let mut expected: BTreeSet<String> = layers.iter().cloned().collect();
    expected.insert(config);
    assert_eq!(
        blobs, expected,
        "blobs copied back differ from the manifest's"
    );
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| diff_id_of(&std::fs::read(out.join(&l["sha256:".len()..])).expect("layer")))
        .collect();
    assert_eq!(
        diff_ids, img.diff_ids,
        "layer content changed on the round trip"
    );
    blobs
}

/// skopeo `--all`: push an OCI image index (linux/amd64 + linux/arm64) to `PREFIX/e2e/multi:1`,
/// check the served index bytes and each platform manifest, copy everything back to another OCI
/// layout and check every blob digest round-trips.
pub fn multiarch_roundtrip(prefix: &str, seed: u64) {
    let work = scratch();
    let skopeo = Skopeo::new();
    let layout = write_oci_multiarch(&work.path().join("src"), seed, 2, "multi");
    let target = format!("docker://{prefix}/e2e/multi:1");
    let pushed = skopeo.copy_digest(&layout.transport_ref(), &target, &["--all"]);
    assert_eq!(
        pushed, layout.index_digest,
        "skopeo pushed another index digest"
    );

    let raw = skopeo.inspect_raw(&target);
    assert_eq!(
        raw,
        layout.index,
        "served index differs:\n{}\nexpected:\n{}",
        String::from_utf8_lossy(&raw),
        String::from_utf8_lossy(&layout.index)
    );
    let entries = index_entries(&raw);
    assert_eq!(
        entries.values().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from(["linux/amd64".to_owned(), "linux/arm64".to_owned()])
    );
    for p in &layout.platforms {
        let r = format!("docker://{prefix}/e2e/multi@{}", p.manifest_digest);
        assert_eq!(
            skopeo.inspect_raw(&r),
            p.manifest,
            "{}/{} manifest bytes",
            p.os,
            p.architecture
        );
        let cfg = skopeo
            .run(&[
                "--override-arch",
                &p.architecture,
                "inspect",
                "--tls-verify=false",
                "--config",
                "--raw",
                &target,
            ])
            .stdout;
        assert_eq!(
            sha256_digest(&cfg),
            p.config_digest,
            "{} config via the index",
            p.architecture
        );
    }

    let back = work.path().join("back");
    let copied = skopeo.copy_digest(
        &target,
        &format!("oci:{}:multi", back.display()),
        &["--all"],
    );
    assert_eq!(
        copied, layout.index_digest,
        "digest of the index copied back"
    );
    assert_eq!(
        oci_layout_descriptor(&back, "multi")["digest"],
        layout.index_digest.as_str(),
        "index.json of the copy does not point at the original index"
    );
    assert_eq!(
        oci_layout_blobs(&back),
        layout.all_digests(),
        "blob set after the round trip"
    );
}

/// podman: load a generated image, push it to `PREFIX/e2e/pod:1`, remove it, pull it back and
/// check the image id, the digest and the layers.
pub fn podman_roundtrip(prefix: &str, spec: &ImageSpec) {
    let work = scratch();
    let podman = Podman::new();
    let img = archive(work.path(), spec);
    let id_hex = img.image_id().trim_start_matches("sha256:").to_owned();
    podman.load(&img.path);
    assert_eq!(
        podman.inspect_format(&id_hex, "{{.Id}}"),
        id_hex,
        "podman image id after load"
    );

    let target = format!("{prefix}/e2e/pod:1");
    let pushed = podman.push(&id_hex, &format!("docker://{target}"));
    assert!(
        pushed.starts_with("sha256:") && pushed.len() == 71,
        "bad pushed digest {pushed:?}"
    );

    podman.run(&["rmi", "--force", &id_hex]);
    assert!(!podman.has_image(&id_hex), "image still present after rmi");

    let pulled = podman.pull(&target);
    assert_eq!(pulled, id_hex, "podman pull printed another image id");
    assert_eq!(
        podman.inspect_format(&target, "{{.Id}}"),
        id_hex,
        "pulled image id"
    );
    assert_eq!(
        podman.inspect_format(&target, "{{.Digest}}"),
        pushed,
        "pulled manifest digest"
    );
    let layers = podman.inspect_format(&target, "{{json .RootFS.Layers}}");
    let layers: Vec<String> = serde_json::from_str(&layers).expect("RootFS.Layers");
    assert_eq!(layers, img.diff_ids, "pulled layer diff ids");
}
