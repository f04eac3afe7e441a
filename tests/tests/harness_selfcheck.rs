//! The same client flows as `hosted_docker.rs`, against Debian's `docker-registry` (CNCF
//! distribution 2.8). They prove the harness (image generation, private dockerd, skopeo and podman
//! flags) independently of Trove: when a Trove test fails and this passes, look at the server.

use trove_tests::{Dockerd, ImageSpec, Upstream, flows};

#[test]
fn selfcheck_docker() {
    let upstream = Upstream::start();
    let docker = Dockerd::start();
    flows::docker_push_pull(&docker, &upstream.host(), &ImageSpec::new(101, 3));
}

#[test]
fn selfcheck_skopeo() {
    let upstream = Upstream::start();
    flows::skopeo_roundtrip(&upstream.host(), &ImageSpec::new(102, 2));
}

#[test]
fn selfcheck_multiarch() {
    let upstream = Upstream::start();
    flows::multiarch_roundtrip(&upstream.host(), 103);
}

#[test]
fn selfcheck_podman() {
    let upstream = Upstream::start();
    flows::podman_roundtrip(&upstream.host(), &ImageSpec::new(104, 2));
}
