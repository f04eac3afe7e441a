//! The storage lifecycle with the stock docker client (issue 15): five tags of one image that
//! share a base layer; a cleanup policy "keep the 2 most recent" previews and deletes 3; garbage
//! collection frees exactly their own layers, configs and manifests (measured on disk); what is
//! left still pulls; an immutable tag refuses a second push.

use std::collections::BTreeSet;

use trove_tests::images::write_docker_archive_of;
use trove_tests::{Dockerd, ImageSpec, TroveInstance, blocking};

const REPO: &str = "life";
const MIB: usize = 1 << 20;

/// Bytes of the blob files under `dir` (upload sessions aside).
fn bytes_on_disk(dir: &std::path::Path) -> u64 {
    fn walk(p: &std::path::Path, total: &mut u64) {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        for e in rd.flatten() {
            let path = e.path();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                if !path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().contains("upload"))
                {
                    walk(&path, total);
                }
            } else if ft.is_file() {
                *total += e.metadata().unwrap().len();
            }
        }
    }
    let mut total = 0;
    walk(dir, &mut total);
    total
}

/// What the registry holds for `reference`: the manifest's size and its config and layers as
/// (digest, size).
async fn manifest_of(host: &str, reference: &str) -> (u64, Vec<(String, u64)>) {
    let r = reqwest::Client::new()
        .get(format!("http://{host}/v2/e2e/app/manifests/{reference}"))
        .header(
            "accept",
            "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{reference}");
    let body = r.bytes().await.unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let blobs = std::iter::once(&doc["config"])
        .chain(doc["layers"].as_array().unwrap())
        .map(|d| {
            (
                d["digest"].as_str().unwrap().to_owned(),
                d["size"].as_u64().unwrap(),
            )
        })
        .collect();
    (body.len() as u64, blobs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_two_latest_then_gc_frees_their_unique_layers_and_immutable_tags_hold() {
    let trove = TroveInstance::start(&format!(
        "[storage]\ngc_grace = \"0s\"\ngc_interval = \"0s\"\ncleanup_interval = \"0s\"\n\
         [[cleanup_policy]]\nname = \"keep2\"\nformat = \"docker\"\nkeep_latest = 2\n\
         name_regex = ':v\\d+$'\n\
         [[repository]]\nname = \"{REPO}\"\nformat = \"docker\"\nkind = \"hosted\"\n\
         connector = {{ http = 0 }}\ncleanup_policies = [\"keep2\"]\n\
         immutable_tags = ['^release-.*$']\noptions = {{ delete_untagged_after_days = 0 }}\n"
    ))
    .await;
    let host = trove.registry_host(REPO);
    let blob_dir = trove.data_dir().join("blobs");
    // Six images (five pushed as v1..v5, one for the immutable tag): a shared 3 MiB base layer
    // and a 1 MiB layer of their own each.
    let work = tempfile::tempdir().unwrap();
    let base = ImageSpec::new(900, 1).file_size(MIB).layer_tar(0);
    let images: Vec<_> = (1..=6u64)
        .map(|i| {
            let spec = ImageSpec::new(i, 1).file_size(MIB / 3);
            let own = spec.layer_tar(0);
            write_docker_archive_of(
                &work.path().join(format!("{i}.tar")),
                &spec,
                vec![base.clone(), own],
                Some(&format!("trove-e2e/life:{i}")),
            )
        })
        .collect();
    let docker = std::sync::Arc::new(Dockerd::start());
    {
        let (docker, host, images) = (docker.clone(), host.clone(), images.clone());
        blocking(move || {
            for (i, img) in images.iter().take(5).enumerate() {
                docker.load(&img.path);
                let target = format!("{host}/e2e/app:v{}", i + 1);
                docker.docker(&["tag", img.repo_tag.as_deref().unwrap(), &target]);
                docker.push(&target);
                // Distinct push times: the policy keeps the most recently pushed.
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        })
        .await;
    }
    let mut manifests = Vec::new();
    for i in 1..=5 {
        manifests.push(manifest_of(&host, &format!("v{i}")).await);
    }
    let kept: BTreeSet<&str> = manifests[3..]
        .iter()
        .flat_map(|(_, b)| b.iter().map(|(d, _)| d.as_str()))
        .collect();
    let mut unique = BTreeSet::new();
    let mut expect_freed = 0u64;
    for (len, blobs) in &manifests[..3] {
        expect_freed += len;
        for (d, size) in blobs {
            if !kept.contains(d.as_str()) && unique.insert(d.clone()) {
                expect_freed += size;
            }
        }
    }
    assert_eq!(
        unique.len(),
        6,
        "each old image has its own layer and config: {unique:?}"
    );

    let life = &trove.trove().lifecycle;
    let preview = life.run("cleanup:keep2", true).await.unwrap().unwrap();
    assert_eq!(
        (preview.outcome.as_str(), preview.deleted),
        ("ok", 3),
        "{preview:?}"
    );
    let text = preview.report.to_string();
    for t in ["v1", "v2", "v3"] {
        assert!(text.contains(t), "preview lists {t}: {text}");
    }
    for t in ["v4", "v5"] {
        assert!(
            !text.contains(&format!("\"{t}\"")),
            "preview keeps {t}: {text}"
        );
    }
    assert_eq!(
        preview.bytes_freed as u64, expect_freed,
        "the preview's bytes: {preview:?}"
    );
    let run = life.run("cleanup:keep2", false).await.unwrap().unwrap();
    assert_eq!((run.outcome.as_str(), run.deleted), ("ok", 3), "{run:?}");

    let before = bytes_on_disk(&blob_dir);
    let gc = life.run("gc", false).await.unwrap().unwrap();
    assert_eq!(gc.outcome, "ok", "{gc:?}");
    let after = bytes_on_disk(&blob_dir);
    eprintln!(
        "[e2e] blob store {before} -> {after} bytes on disk ({} freed, {} expected); gc report {}",
        before - after,
        expect_freed,
        gc.report
    );
    assert_eq!(gc.bytes_freed as u64, expect_freed, "{gc:?}");
    assert_eq!(before - after, expect_freed, "the space came back");

    let (docker2, host2, images2) = (docker.clone(), host.clone(), images.clone());
    blocking(move || {
        let docker = docker2;
        // What remains pulls from a clean local store; what went does not.
        for img in images2.iter().take(5) {
            docker.docker(&["rmi", "--force", img.image_id()]);
        }
        for (i, img) in images2.iter().enumerate().take(5) {
            let target = format!("{host2}/e2e/app:v{}", i + 1);
            let out = docker.try_docker(&["pull", &target]);
            if i < 3 {
                assert!(!out.status.success(), "{target} was deleted by the policy");
            } else {
                assert!(
                    out.status.success(),
                    "{target}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                assert_eq!(docker.image_id(&target), img.image_id());
            }
        }
        // An immutable tag: the first push goes, a second image under the tag is refused,
        // naming the rule.
        let release = format!("{host2}/e2e/app:release-1");
        docker.docker(&["tag", &format!("{host2}/e2e/app:v4"), &release]);
        docker.push(&release);
        docker.load(&images2[5].path);
        docker.docker(&["tag", images2[5].repo_tag.as_deref().unwrap(), &release]);
        let out = docker.try_docker(&["push", &release]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.status.success(),
            "a second push of an immutable tag went: {text}"
        );
        assert!(
            text.contains("immutable") && text.contains("release-"),
            "the refusal names the rule: {text}"
        );
    })
    .await;
    // The tag still serves the first image.
    let (_, blobs) = manifest_of(&host, "release-1").await;
    assert_eq!(blobs, manifests[3].1);
    drop(docker);
    trove.stop().await;
}

/// A proxy over its `max_cache_bytes`: garbage collection evicts the least recently downloaded
/// layers until it is under the limit, keeps every manifest and tag, and an evicted image pulls
/// again (its layers fetched anew from the upstream).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_over_max_cache_bytes_evicts_the_least_recently_downloaded_layers() {
    use trove_tests::Upstream;
    use trove_tests::pullthrough::{proxy_docker_toml, push_generated, skopeo_pull};
    const LIMIT: u64 = 8 << 20;
    let upstream = blocking(Upstream::start).await;
    let trove = TroveInstance::start(&format!(
        "[storage]\ngc_grace = \"0s\"\ngc_interval = \"0s\"\ncleanup_interval = \"0s\"\n{}",
        proxy_docker_toml(
            "cache",
            &upstream.url(),
            &format!("max_cache_bytes = {LIMIT}")
        )
    ))
    .await;
    let host = trove.registry_host("cache");
    // Two images of two 3 MiB layers each: about 12 MiB cached, over the 8 MiB limit.
    let (up, h) = (upstream.host(), host.clone());
    let (old_blobs, new_blobs) = blocking(move || {
        push_generated(
            &up,
            "e2e/old:1",
            &ImageSpec::new(41, 2).file_size(MIB),
            None,
        );
        push_generated(
            &up,
            "e2e/new:1",
            &ImageSpec::new(42, 2).file_size(MIB),
            None,
        );
        let old = skopeo_pull(&format!("{h}/e2e/old:1")).unwrap().0;
        std::thread::sleep(std::time::Duration::from_millis(20));
        let new = skopeo_pull(&format!("{h}/e2e/new:1")).unwrap().0;
        (old, new)
    })
    .await;
    let node = trove.trove();
    node.meta.flush_downloads().await.unwrap();
    let repo = node
        .meta
        .repos()
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name.as_str() == "cache")
        .unwrap();
    let (used_before, _) = node.meta.assets().repo_usage(&repo.id).await.unwrap();
    assert!(used_before > LIMIT, "{used_before}");
    let blob_dir = trove.data_dir().join("blobs");
    let disk_before = bytes_on_disk(&blob_dir);
    let run = node.lifecycle.run("gc", false).await.unwrap().unwrap();
    assert_eq!(run.outcome, "ok", "{run:?}");
    let (used_after, _) = node.meta.assets().repo_usage(&repo.id).await.unwrap();
    let disk_after = bytes_on_disk(&blob_dir);
    eprintln!(
        "[e2e] proxy usage {used_before} -> {used_after} (limit {LIMIT}), disk {disk_before} -> {disk_after}; evicted {}",
        run.report["evicted"]
    );
    assert!(used_after <= LIMIT, "{used_after} over the limit");
    assert!(run.report["evicted"].as_u64().unwrap() >= 1, "{run:?}");
    assert_eq!(disk_before - disk_after, run.bytes_freed as u64, "{run:?}");
    // What went is the old image's layers; the newly downloaded image is whole.
    let on_disk = |d: &String| {
        blob_dir.join(d.replace("sha256:", "")).exists() || {
            let hex = d.trim_start_matches("sha256:");
            walk_has(&blob_dir, hex)
        }
    };
    assert!(
        new_blobs.iter().all(on_disk),
        "the recently downloaded image stays cached"
    );
    assert!(
        old_blobs.iter().any(|d| !on_disk(d)),
        "the old image's layers were evicted"
    );
    // Every manifest and tag stays; the old image pulls again through the proxy.
    let h = host.clone();
    let again = blocking(move || skopeo_pull(&format!("{h}/e2e/old:1")))
        .await
        .unwrap()
        .0;
    assert_eq!(again, old_blobs);
    drop(upstream);
    trove.stop().await;
}

fn walk_has(dir: &std::path::Path, name: &str) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            walk_has(&p, name)
        } else {
            p.file_name().is_some_and(|n| n == name)
        }
    })
}
