//! S1-style end-to-end tests of a hosted docker repository: real docker, skopeo and podman push
//! to an in-process Trove and pull back. One Trove (and one dockerd where needed) per test.
//! The flows themselves live in `trove_tests::flows`; `harness_selfcheck.rs` runs them against
//! `docker-registry` to tell harness problems from server problems.

use trove_tests::trove::hosted_docker_toml;
use trove_tests::{Dockerd, ImageSpec, PrefixProxy, TroveInstance, blocking, flows};

const REPO: &str = "docker-hosted";
/// Files of 1 MiB make multi-MiB layers: uploads span many reads and chunks, as real ones do.
const MIB: usize = 1 << 20;

async fn trove() -> TroveInstance {
    TroveInstance::start(&hosted_docker_toml(REPO)).await
}

/// docker load → tag → push to the connector → rmi → pull: same image id, 3 layers, and the
/// same image is then visible by name on the main port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_push_rmi_pull_same_image() {
    let trove = trove().await;
    let host = trove.registry_host(REPO);
    let by_name = trove.by_name_host(REPO);
    blocking(move || {
        let docker = Dockerd::start();
        let id = flows::docker_push_pull(&docker, &host, &ImageSpec::new(1, 3).file_size(MIB));
        let main_ref = format!("{by_name}/e2e/app:1");
        docker.pull(&main_ref);
        assert_eq!(
            docker.image_id(&main_ref),
            id,
            "the main port serves another image"
        );
    })
    .await;
    trove.stop().await;
}

/// skopeo through a rewriting proxy, so Trove sees path-based access
/// `/repository/docker-hosted/v2/...` for every request (uploads' `Location`s included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_path_based_roundtrip() {
    let trove = trove().await;
    let main = trove.main_addr();
    blocking(move || {
        let proxy = PrefixProxy::start(main, &format!("/repository/{REPO}"));
        let blobs = flows::skopeo_roundtrip(&proxy.host(), &ImageSpec::new(2, 2).file_size(MIB));
        let seen = proxy.exchanges();
        let prefix = format!("/repository/{REPO}/v2");
        let stray: Vec<_> = seen
            .iter()
            .filter(|e| !e.upstream_path.starts_with(&prefix))
            .collect();
        assert!(
            stray.is_empty(),
            "requests that left path-based access: {stray:#?}"
        );
        // Every blob upload was finished through the proxy, so the upload `Location`s Trove
        // handed out kept the client on path-based access.
        for d in &blobs {
            let q = [
                format!("digest={d}"),
                format!("digest={}", d.replace(':', "%3A")),
            ];
            let finished = seen.iter().any(|e| {
                e.method == "PUT"
                    && e.upstream_path.contains("/blobs/uploads/")
                    && q.iter().any(|q| e.upstream_path.contains(q.as_str()))
            });
            assert!(
                finished,
                "no upload of {d} finished through the proxy: {seen:#?}"
            );
        }
        let put_manifest = seen
            .iter()
            .any(|e| e.method == "PUT" && e.upstream_path.contains("/e2e/sk/manifests/"));
        assert!(
            put_manifest,
            "no manifest PUT went through the proxy: {seen:#?}"
        );
    })
    .await;
    trove.stop().await;
}

/// skopeo against the main port with the repository as the first name component
/// (`/v2/docker-hosted/e2e/sk/...`), no proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_main_port_by_name_roundtrip() {
    let trove = trove().await;
    let prefix = trove.by_name_host(REPO);
    blocking(move || flows::skopeo_roundtrip(&prefix, &ImageSpec::new(5, 2))).await;
    trove.stop().await;
}

/// skopeo --all with an OCI image index (linux/amd64 + linux/arm64): index bytes and every blob
/// round-trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_multiarch_index_roundtrip() {
    let trove = trove().await;
    let host = trove.registry_host(REPO);
    blocking(move || flows::multiarch_roundtrip(&host, 3)).await;
    trove.stop().await;
}

/// podman load → push → rmi → pull: same image id, digest and layers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn podman_push_rmi_pull_same_image() {
    let trove = trove().await;
    let host = trove.registry_host(REPO);
    blocking(move || flows::podman_roundtrip(&host, &ImageSpec::new(4, 2).file_size(MIB))).await;
    trove.stop().await;
}
