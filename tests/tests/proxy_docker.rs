//! S2 end to end: docker proxy repositories (pull-through caches) in front of a real upstream,
//! Debian's `docker-registry`, on loopback only. A [`FaultProxy`] sits between Trove and the
//! upstream: it counts every upstream request and injects failures (500, a connection cut in the
//! middle of a blob, wrong bytes, a slow answer).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use trove_tests::images::manifest_digests;
use trove_tests::pullthrough::{check_blob_store, proxy_docker_toml, push_generated, skopeo_pull};
use trove_tests::{
    Dockerd, Fault, FaultProxy, ImageSpec, Skopeo, TroveInstance, Upstream, blocking,
};

const REPO: &str = "docker-proxy";
const MIB: usize = 1 << 20;

/// An upstream, the counting proxy in front of it, and a Trove proxying it with `extra` keys.
async fn setup(extra: &str) -> (Upstream, FaultProxy, TroveInstance) {
    let upstream = blocking(Upstream::start).await;
    let faults = FaultProxy::start(upstream.addr());
    let trove = TroveInstance::start(&proxy_docker_toml(REPO, &faults.url(), extra)).await;
    (upstream, faults, trove)
}

/// The config and layer digests of the manifest at `docker://REF`.
fn blobs_of(reference: &str) -> Vec<String> {
    let raw = Skopeo::new().inspect_raw(&format!("docker://{reference}"));
    let (config, layers) = manifest_digests(&raw);
    std::iter::once(config).chain(layers).collect()
}

fn manifest_digest(reference: &str) -> String {
    trove_tests::sha256_digest(&Skopeo::new().inspect_raw(&format!("docker://{reference}")))
}

/// docker pulls an image that exists only upstream through the proxy (each blob fetched once);
/// then the upstream goes away, the tag's max-age passes, and after `docker rmi` the same image
/// pulls again, by tag and by digest, from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_docker_pull_then_pull_from_cache_with_upstream_gone() {
    let (upstream, faults, trove) = setup("metadata_max_age = 1").await;
    let host = trove.registry_host(REPO);
    blocking(move || {
        let spec = ImageSpec::new(21, 3).file_size(MIB);
        let (img, digest) = push_generated(&upstream.host(), "e2e/app:1", &spec, None);
        let blobs = blobs_of(&format!("{}/e2e/app:1", upstream.host()));
        let docker = Dockerd::start();
        let reference = format!("{host}/e2e/app:1");
        docker.pull(&reference);
        assert_eq!(docker.image_id(&reference), img.image_id());
        assert_eq!(docker.image_layers(&reference), img.diff_ids);
        for d in &blobs {
            assert_eq!(
                faults.count("GET", &format!("/blobs/{d}")),
                1,
                "GETs of {d}"
            );
        }

        drop(upstream);
        drop(faults);
        std::thread::sleep(Duration::from_millis(1500));
        docker.rmi_all(img.image_id());
        // Past the max-age: the revalidation fails, the cached tag is served (marked stale).
        docker.pull(&reference);
        assert_eq!(docker.image_id(&reference), img.image_id());
        docker.rmi_all(img.image_id());
        let by_digest = format!("{host}/e2e/app@{digest}");
        docker.pull(&by_digest);
        assert_eq!(docker.image_id(&by_digest), img.image_id());
    })
    .await;
    let store = check_blob_store(&trove.data_dir());
    assert!(
        store.uploads.is_empty(),
        "leftover uploads {:?}",
        store.uploads
    );
    trove.stop().await;
}

/// S2's mirror setup: dockerd with `--registry-mirror` pointing at a proxy with the Docker Hub
/// index option pulls `e2ehub:1` (docker asks the mirror for `library/e2ehub`), and a client
/// addressing the proxy directly may say `e2ehub` for `library/e2ehub`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_docker_hub_index_as_registry_mirror() {
    let (upstream, faults, trove) = setup("options = { hub_index = true }").await;
    let host = trove.registry_host(REPO);
    blocking(move || {
        let spec = ImageSpec::new(22, 2);
        let (img, digest) = push_generated(&upstream.host(), "library/e2ehub:1", &spec, None);
        let docker = Dockerd::start_with(&["--registry-mirror", &format!("http://{host}")]);
        docker.pull("e2ehub:1");
        assert_eq!(docker.image_id("e2ehub:1"), img.image_id());
        assert_eq!(manifest_digest(&format!("{host}/e2ehub:1")), digest);
        let tags = Skopeo::new().list_tags(&format!("docker://{host}/e2ehub"));
        assert_eq!(tags, ["1"], "tags/list through the proxy");
        let asked: BTreeSet<String> = faults.exchanges().into_iter().map(|e| e.path).collect();
        assert!(
            asked
                .iter()
                .all(|p| p == "/v2/" || p.starts_with("/v2/library/e2ehub/")),
            "upstream paths: {asked:#?}"
        );
    })
    .await;
    trove.stop().await;
}

/// A tag moved upstream is served as cached until the metadata max-age has passed, then the new
/// manifest is fetched; once it is cached, a revalidation of the unchanged tag is one HEAD.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_tag_change_is_picked_up_after_max_age_and_not_before() {
    const MAX_AGE: u64 = 5;
    let (upstream, faults, trove) = setup(&format!("metadata_max_age = {MAX_AGE}")).await;
    let host = trove.registry_host(REPO);
    blocking(move || {
        let up = upstream.host();
        let (_, d1) = push_generated(&up, "e2e/moving:1", &ImageSpec::new(31, 1), None);
        let proxied = format!("{host}/e2e/moving:1");
        assert_eq!(manifest_digest(&proxied), d1);
        let fetched = Instant::now();
        let tag = "/v2/e2e/moving/manifests/1";
        assert_eq!(
            (faults.count("GET", tag), faults.count("HEAD", tag)),
            (1, 0)
        );

        let (_, d2) = push_generated(&up, "e2e/moving:1", &ImageSpec::new(32, 1), None);
        assert_ne!(d1, d2);
        assert_eq!(manifest_digest(&proxied), d1, "changed before the max-age");
        assert!(
            fetched.elapsed() < Duration::from_secs(MAX_AGE),
            "the machine is too slow for this max-age"
        );
        assert_eq!(
            (faults.count("GET", tag), faults.count("HEAD", tag)),
            (1, 0)
        );

        std::thread::sleep(Duration::from_secs(MAX_AGE) + Duration::from_millis(500));
        assert_eq!(
            manifest_digest(&proxied),
            d2,
            "not picked up after the max-age"
        );
        assert_eq!(
            (faults.count("GET", tag), faults.count("HEAD", tag)),
            (2, 1)
        );

        std::thread::sleep(Duration::from_secs(MAX_AGE) + Duration::from_millis(500));
        assert_eq!(manifest_digest(&proxied), d2);
        assert_eq!(
            (faults.count("GET", tag), faults.count("HEAD", tag)),
            (2, 2),
            "an unchanged tag costs one HEAD and no download"
        );
    })
    .await;
    trove.stop().await;
}

/// A private upstream (docker-registry with htpasswd) answers only with the stored credentials;
/// without them, or with wrong ones, clients get a clear 502 that names the problem, never the
/// upstream's 401 as if it were Trove's own challenge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_private_upstream_needs_the_stored_credentials() {
    let hash = bcrypt::hash_with_result("s3cret", 4)
        .expect("bcrypt")
        .format_for_version(bcrypt::Version::TwoY);
    let upstream =
        blocking(move || Upstream::start_with_htpasswd(&format!("alice:{hash}\n"))).await;
    let secrets = tempfile::tempdir().unwrap();
    let (good, bad) = (secrets.path().join("good"), secrets.path().join("bad"));
    std::fs::write(&good, "s3cret\n").unwrap();
    std::fs::write(&bad, "wrong").unwrap();
    let url = upstream.url();
    let toml = [
        proxy_docker_toml("anon", &url, ""),
        proxy_docker_toml(
            "private",
            &url,
            &format!(
                "upstream_username = \"alice\"\nupstream_password_file = \"{}\"",
                good.display()
            ),
        ),
        proxy_docker_toml(
            "wrongpw",
            &url,
            &format!(
                "upstream_username = \"alice\"\nupstream_password_file = \"{}\"",
                bad.display()
            ),
        ),
    ]
    .concat();
    let trove = TroveInstance::start(&toml).await;
    let up = upstream.host();
    let spec = ImageSpec::new(23, 2);
    let (_, digest) =
        blocking(move || push_generated(&up, "e2e/secret:1", &spec, Some("alice:s3cret"))).await;

    let http = reqwest::Client::new();
    for (repo, want) in [
        ("anon", "requires credentials"),
        ("wrongpw", "refused the credentials"),
    ] {
        let url = format!(
            "http://{}/v2/e2e/secret/manifests/1",
            trove.registry_host(repo)
        );
        let res = http.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 502, "{repo}");
        assert!(res.headers().get("www-authenticate").is_none(), "{repo}");
        let body = res.text().await.unwrap();
        assert!(body.contains(want), "{repo}: {body}");
    }
    // Pushing to a proxy is refused, saying where to push instead.
    let res = http
        .post(format!(
            "http://{}/v2/e2e/secret/blobs/uploads/",
            trove.registry_host("private")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("UNSUPPORTED")
            && body.contains(&format!("is a proxy of {url}; push to a hosted repository")),
        "{body}"
    );
    let (anon, private) = (trove.registry_host("anon"), trove.registry_host("private"));
    blocking(move || {
        let err = skopeo_pull(&format!("{anon}/e2e/secret:1")).unwrap_err();
        assert!(
            err.contains("502") || err.contains("requires credentials"),
            "{err}"
        );
        let (blobs, _) = skopeo_pull(&format!("{private}/e2e/secret:1")).unwrap();
        assert_eq!(blobs.len(), 3, "config and two layers: {blobs:?}");
        assert_eq!(manifest_digest(&format!("{private}/e2e/secret:1")), digest);
    })
    .await;
    drop(upstream);
    trove.stop().await;
}

/// Eight clients pull the same 5-layer image at once through a cold proxy: every blob and the
/// manifest are fetched from the upstream exactly once, every client gets verified bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_eight_concurrent_cold_pulls_fetch_each_blob_once() {
    let (upstream, faults, trove) = setup("").await;
    let host = trove.registry_host(REPO);
    blocking(move || {
        let spec = ImageSpec::new(41, 5).file_size(MIB);
        push_generated(&upstream.host(), "e2e/five:1", &spec, None);
        let blobs = blobs_of(&format!("{}/e2e/five:1", upstream.host()));
        assert_eq!(blobs.len(), 6);
        faults.reset_log();

        let pull_all = |label: &str| {
            let started = Instant::now();
            let clients: Vec<_> = (0..8)
                .map(|_| {
                    let src = format!("{host}/e2e/five:1");
                    std::thread::spawn(move || skopeo_pull(&src))
                })
                .collect();
            let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
            let secs = started.elapsed().as_secs_f64();
            for r in &results {
                let (got, _) = r
                    .as_ref()
                    .unwrap_or_else(|e| panic!("{label} pull failed: {e}"));
                assert_eq!(*got, blobs.iter().cloned().collect::<BTreeSet<_>>());
            }
            eprintln!("[e2e] 8 concurrent {label} pulls: {secs:.2}s");
        };
        pull_all("cold");
        for d in &blobs {
            assert_eq!(
                faults.count("GET", &format!("/blobs/{d}")),
                1,
                "GETs of {d}"
            );
        }
        assert_eq!(
            faults.count("GET", "/manifests/"),
            1,
            "{:#?}",
            faults.exchanges()
        );
        let fetched: u64 = faults
            .exchanges()
            .iter()
            .filter(|e| e.path.contains("/blobs/"))
            .map(|e| e.body_bytes)
            .sum();
        let requests = faults.exchanges().len();
        eprintln!("[e2e] cold: {requests} upstream requests, {fetched} blob bytes");

        faults.reset_log();
        pull_all("warm");
        assert_eq!(
            faults.exchanges().len(),
            0,
            "a warm pull asks nothing upstream"
        );
    })
    .await;
    let store = check_blob_store(&trove.data_dir());
    assert!(store.uploads.is_empty());
    trove.stop().await;
}

/// Runs one fault against the first layer of a fresh image: the direct request fails in the
/// way `check` expects, nothing is cached for that blob, and once the upstream is healthy a
/// full pull succeeds with verified bytes.
async fn fault_then_recovery(
    seed: u64,
    extra: &str,
    fault: Fault,
    check: impl FnOnce(u16, Result<Vec<u8>, String>, u64),
) {
    let (upstream, faults, trove) = setup(extra).await;
    let host = trove.registry_host(REPO);
    let up = upstream.host();
    let spec = ImageSpec::new(seed, 2).file_size(256 * 1024);
    let blobs = blocking(move || {
        push_generated(&up, "e2e/f:1", &spec, None);
        blobs_of(&format!("{up}/e2e/f:1"))
    })
    .await;
    let layer = blobs[1].clone();
    faults.inject("GET", &format!("/blobs/{layer}"), fault, 1);

    let res = reqwest::Client::new()
        .get(format!("http://{host}/v2/e2e/f/blobs/{layer}"))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let length = res.content_length().unwrap_or(0);
    let body = res
        .bytes()
        .await
        .map(|b| b.to_vec())
        .map_err(|e| format!("{e:?}"));
    check(status, body, length);
    // The proxy logs an exchange when it has finished it (a delayed one, after the delay).
    let logged = blocking({
        let path = format!("/blobs/{layer}");
        let faults = faults.clone_handle();
        move || {
            trove_tests::util::poll_until(Duration::from_secs(10), || {
                (faults.count("GET", &path) > 0).then_some(())
            })
        }
    })
    .await;
    assert!(logged.is_some());
    assert_eq!(faults.count("GET", &format!("/blobs/{layer}")), 1);
    let store = check_blob_store(&trove.data_dir());
    assert!(!store.blobs.contains(&layer), "a failed fetch was cached");
    assert!(
        store.uploads.is_empty(),
        "leftover uploads {:?}",
        store.uploads
    );

    faults.heal();
    let (got, _) = blocking(move || skopeo_pull(&format!("{host}/e2e/f:1")))
        .await
        .unwrap_or_else(|e| panic!("pull after the upstream recovered: {e}"));
    assert_eq!(got, blobs.iter().cloned().collect::<BTreeSet<_>>());
    let store = check_blob_store(&trove.data_dir());
    assert!(blobs.iter().all(|b| store.blobs.contains(b)));
    drop(upstream);
    trove.stop().await;
}

fn error_message(body: &Result<Vec<u8>, String>) -> String {
    let body = body.as_ref().expect("an error body");
    let v: serde_json::Value = serde_json::from_slice(body).expect("OCI error JSON");
    assert_eq!(v["errors"][0]["code"], "UNAVAILABLE", "{v}");
    v["errors"][0]["message"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_fault_upstream_500() {
    fault_then_recovery(51, "", Fault::Status(500), |status, body, _| {
        assert_eq!(status, 502);
        let msg = error_message(&body);
        assert!(msg.contains("answered 500"), "{msg}");
    })
    .await;
}

/// The connection drops halfway through the blob: the client, already streaming, sees its
/// transfer break (never a complete body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_fault_connection_reset_mid_blob() {
    fault_then_recovery(
        52,
        "",
        Fault::ResetMidBody,
        |status, body, length| match status {
            200 => {
                let e = body.expect_err("a cut transfer must not complete");
                assert!(!e.is_empty(), "length {length}");
            }
            502 => assert!(error_message(&body).contains("broke after")),
            s => panic!("status {s}"),
        },
    )
    .await;
}

/// The upstream serves other bytes for the digest: the verification fails before the last bytes
/// go out, so the client's transfer breaks; nothing is cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_fault_wrong_bytes_for_a_digest() {
    fault_then_recovery(53, "", Fault::CorruptBody, |status, body, length| {
        assert_eq!(status, 200, "streaming starts before verification");
        match body {
            Err(_) => {}
            Ok(b) => panic!("got a complete body of {} / {length} bytes", b.len()),
        }
    })
    .await;
}

/// An upstream slower than `upstream_timeout` gives a clear 503 in about that time; a slow one
/// within it works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_fault_slow_upstream() {
    let started = Instant::now();
    fault_then_recovery(
        54,
        "upstream_timeout = 2",
        Fault::Delay(Duration::from_secs(5)),
        |status, body, _| {
            assert_eq!(status, 503);
            let msg = error_message(&body);
            assert!(msg.contains("did not answer"), "{msg}");
        },
    )
    .await;
    eprintln!(
        "[e2e] slow-upstream test took {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // Slow but within the timeout: served.
    let (upstream, faults, trove) = setup("upstream_timeout = 3").await;
    let host = trove.registry_host(REPO);
    let up = upstream.host();
    faults.inject("GET", "/blobs/", Fault::Delay(Duration::from_secs(1)), 10);
    let (got, secs) = blocking(move || {
        push_generated(&up, "e2e/slow:1", &ImageSpec::new(55, 2), None);
        skopeo_pull(&format!("{host}/e2e/slow:1"))
    })
    .await
    .unwrap();
    assert_eq!(got.len(), 3);
    eprintln!("[e2e] pull through a 1 s-per-blob upstream: {secs:.1}s");
    drop(upstream);
    trove.stop().await;
}

/// The upstream is another Trove with its bearer-token realm on and anonymous access off: the
/// proxy follows its `WWW-Authenticate: Bearer` challenge, gets a token for the pull scope with
/// the stored credentials, retries, and reuses the token (one challenge, one token request for
/// a whole pull). Without credentials the client gets a clear 502.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_token_dance_with_a_trove_upstream() {
    let secrets = tempfile::tempdir().unwrap();
    let pw = secrets.path().join("pw");
    std::fs::write(&pw, "pw\n").unwrap();
    let upstream = TroveInstance::start_secured(&format!(
        r#"
[security]
anonymous = false
[[role]]
name = "mirror-pull"
privileges = [{{ format = "docker", repo = "up", actions = ["browse", "read"] }}]
[[user]]
name = "alice"
password_file = "{pw}"
roles = ["admin"]
[[user]]
name = "mirror"
password_file = "{pw}"
roles = ["mirror-pull"]
[[repository]]
name = "up"
format = "docker"
kind = "hosted"
connector = {{ http = 0 }}
"#,
        pw = pw.display()
    ))
    .await;
    let faults = FaultProxy::start(upstream.connector_addr("up"));
    let creds = format!(
        "upstream_username = \"mirror\"\nupstream_password_file = \"{}\"",
        pw.display()
    );
    let trove = TroveInstance::start(
        &[
            proxy_docker_toml("tok", &faults.url(), &creds),
            proxy_docker_toml("tok-anon", &faults.url(), ""),
        ]
        .concat(),
    )
    .await;
    let up = upstream.registry_host("up");
    let (_, digest) = blocking(move || {
        push_generated(&up, "e2e/app:1", &ImageSpec::new(61, 3), Some("alice:pw"))
    })
    .await;

    let res = reqwest::Client::new()
        .get(format!(
            "http://{}/v2/e2e/app/manifests/1",
            trove.registry_host("tok-anon")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    assert!(res.headers().get("www-authenticate").is_none());
    let body = res.text().await.unwrap();
    assert!(body.contains("requires credentials"), "{body}");
    faults.reset_log();

    let host = trove.registry_host("tok");
    let (blobs, _) = blocking(move || skopeo_pull(&format!("{host}/e2e/app:1")))
        .await
        .unwrap();
    assert_eq!(blobs.len(), 4);
    let log = faults.exchanges();
    let challenges = log.iter().filter(|e| e.status == 401).count();
    let tokens = log
        .iter()
        .filter(|e| e.path.starts_with("/v2/token"))
        .count();
    assert_eq!((challenges, tokens), (1, 1), "{log:#?}");
    assert!(
        log.iter().all(|e| e.status == 200 || e.status == 401),
        "{log:#?}"
    );
    let host = trove.registry_host("tok");
    blocking(move || assert_eq!(manifest_digest(&format!("{host}/e2e/app:1")), digest)).await;
    trove.stop().await;
    upstream.stop().await;
}

/// Issue 14: a registry without the referrers API (Debian's docker-registry 2.8 answers 404)
/// has no referrers, so a proxy of it answers the spec's empty index, cached as metadata (asked
/// upstream once), and so does a group with it as a member. And a cross-repository mount from
/// a group whose proxy member only knows a blob upstream fetches the blob before linking it:
/// the mounted blob then serves its bytes (it used to be linked without them and answer 500).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_referrers_without_the_api_and_mounts_of_blobs_not_cached_yet() {
    let upstream = blocking(Upstream::start).await;
    let faults = FaultProxy::start(upstream.addr());
    let trove = TroveInstance::start(&format!(
        "{}[[repository]]\nname = \"mine\"\nformat = \"docker\"\nkind = \"hosted\"\n\
         [[repository]]\nname = \"all\"\nformat = \"docker\"\nkind = \"group\"\n\
         members = [\"mine\", \"{REPO}\"]\nwritable_member = \"mine\"\n",
        proxy_docker_toml(REPO, &faults.url(), "")
    ))
    .await;
    let up = upstream.host();
    let (manifest, blobs) = blocking(move || {
        let (_, digest) = push_generated(&up, "e2e/app:1", &ImageSpec::new(41, 2), None);
        (digest, blobs_of(&format!("{up}/e2e/app:1")))
    })
    .await;
    let main = format!("http://{}", trove.main_addr());
    let http = reqwest::Client::new();
    for repo in [REPO, REPO, "all"] {
        let r = http
            .get(format!("{main}/v2/{repo}/e2e/app/referrers/{manifest}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{repo}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["manifests"], serde_json::json!([]), "{repo}: {v}");
        assert_eq!(v["mediaType"], "application/vnd.oci.image.index.v1+json");
    }
    assert_eq!(
        faults.count("GET", "/referrers/"),
        1,
        "the empty index is cached, not asked again"
    );

    let layer = blobs.last().unwrap().clone();
    let r = http
        .post(format!(
            "{main}/v2/all/e2e/app/blobs/uploads/?mount={layer}&from=all/e2e/app"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "mounted: {:?}", r.text().await);
    let r = http
        .get(format!("{main}/v2/mine/e2e/app/blobs/{layer}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    assert_eq!(
        trove_tests::sha256_digest(&bytes),
        layer,
        "the mounted blob has its bytes"
    );
    let store = check_blob_store(&trove.data_dir());
    assert!(store.uploads.is_empty(), "{:?}", store.uploads);
    trove.stop().await;
}
