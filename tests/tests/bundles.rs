//! Offline bundles end to end (issue 23), scenario S2's sneakernet: Trove A proxies a real
//! registry (Debian's `docker-registry`) and the stock docker client pulls images through it;
//! `trove bundle export --repository hub --select 'library/*'` writes them into one file;
//! Trove B, whose proxy has no route to any registry, imports it and docker pulls the same
//! images from B. Then: a second import changes nothing; a bundle cut short is finished by
//! importing the whole file; the bundle, written with `--format oci-layout`, is read by
//! `skopeo copy oci-archive:` into a plain registry; a bundle with one byte flipped in a layer is refused for that
//! blob (and the rows that need it) with a clear report; an export `--against` B's manifest,
//! after one more image was pulled into A, holds exactly that image's blobs.
//!
//! The commands run as the CLI runs them (`trove_server::bundles` on a node opened from the
//! instance's own trove.toml, while it serves).

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use trove_server::{Config, Trove, bundles};
use trove_tests::images::manifest_digests;
use trove_tests::pullthrough::{proxy_docker_toml, push_generated};
use trove_tests::{Dockerd, ImageSpec, Skopeo, TroveInstance, Upstream, blocking};

const KIB: usize = 1 << 10;

async fn node(t: &TroveInstance) -> std::sync::Arc<Trove> {
    let config = Config::from_toml_str(t.config_toml()).expect("config");
    Trove::open(&config).await.expect("open the node")
}

/// The digests and sizes of the blobs in a bundle file, by its tar entries.
fn bundle_blobs(path: &Path) -> Vec<(String, u64, u64)> {
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .filter_map(|e| {
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let hex = name.strip_prefix("blobs/sha256/")?.to_owned();
            Some((format!("sha256:{hex}"), e.size(), e.raw_file_position()))
        })
        .collect()
}

/// The manifest digest, config and layers of `docker://reference`.
fn image_blobs(reference: &str) -> BTreeSet<String> {
    let raw = Skopeo::new().inspect_raw(&format!("docker://{reference}"));
    let (config, layers) = manifest_digests(&raw);
    let mut out: BTreeSet<String> = layers.into_iter().collect();
    out.insert(config);
    out.insert(trove_tests::sha256_digest(&raw));
    out
}

/// Every row of `hub`: (path, digest).
async fn rows(t: &Trove) -> Vec<(String, String)> {
    let sel = trove_bundle::Selection {
        repositories: vec!["hub".into()],
        ..Default::default()
    };
    let plan = trove_bundle::plan(&t.meta, &*t.front.blobs, &bundles::spec_of, &sel)
        .await
        .unwrap();
    plan.repositories[0]
        .assets
        .iter()
        .map(|a| (a.path.clone(), a.digest.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_carries_cached_images_into_a_trove_without_a_route_to_the_registry() {
    let upstream = blocking(Upstream::start).await;
    let host = upstream.host();
    let images = blocking({
        let host = host.clone();
        move || {
            [
                "library/alpha:1",
                "library/beta:1",
                "library/gamma:2",
                "team/other:1",
            ]
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let spec = ImageSpec::new(700 + i as u64, 2).file_size(64 * KIB);
                let (img, _) = push_generated(&host, r, &spec, None);
                ((*r).to_owned(), img)
            })
            .collect::<Vec<_>>()
        }
    })
    .await;
    // beta in OCI media types (the others stay Docker schema 2): an OCI image layout's
    // readers (containers/image) only look at OCI manifests.
    blocking({
        let host = host.clone();
        move || {
            let beta = format!("docker://{host}/library/beta:1");
            Skopeo::new().copy(&beta, &beta, &["--format", "oci"]);
        }
    })
    .await;
    let a = TroveInstance::start(&proxy_docker_toml("hub", &upstream.url(), "")).await;
    // B's proxy points at a closed port: it can only serve what it is given.
    let b = TroveInstance::start(&proxy_docker_toml("hub", "http://127.0.0.1:9", "")).await;
    let (a_host, b_host) = (a.registry_host("hub"), b.registry_host("hub"));
    // The image ids docker sees through A (beta's changed with its conversion to OCI).
    let (docker, ids) = blocking({
        let (a_host, images) = (a_host.clone(), images.clone());
        move || {
            let docker = Dockerd::start();
            let mut ids = Vec::new();
            for (r, _) in &images {
                let reference = format!("{a_host}/{r}");
                docker.pull(&reference);
                ids.push(docker.image_id(&reference));
            }
            (docker, ids)
        }
    })
    .await;
    let library: BTreeSet<String> = images[..3]
        .iter()
        .flat_map(|(r, _)| image_blobs(&format!("{host}/{r}")))
        .collect();

    // Export the library images from A (while A serves).
    let work = tempfile::tempdir().unwrap();
    let bundle1 = work.path().join("library.bundle");
    let ta = node(&a).await;
    let sel = trove_bundle::Selection {
        repositories: vec!["hub".into()],
        select: vec!["library/*".into()],
        ..Default::default()
    };
    let exported = bundles::export(&ta, &sel, true, None, &bundle1)
        .await
        .unwrap();
    let in_file: BTreeSet<String> = bundle_blobs(&bundle1).into_iter().map(|b| b.0).collect();
    assert_eq!(
        in_file, library,
        "exactly the three library images' blobs, once each"
    );
    assert_eq!(exported.blobs, library.len());
    assert!(!work.path().join("library.partial").exists());

    // The same file is an OCI image layout archive: skopeo copies an image out of it into a
    // plain registry, with the same config (the image itself).
    let oci = format!("oci-archive:{}:library/beta:1", bundle1.display());
    let dest = format!("docker://{host}/copied/beta:1");
    blocking({
        let (oci, dest) = (oci.clone(), dest.clone());
        move || {
            Skopeo::new().copy(&oci, &dest, &[]);
        }
    })
    .await;
    let config_of = |r: &str| {
        let raw = Skopeo::new().inspect_raw(&format!("docker://{r}"));
        manifest_digests(&raw).0
    };
    assert_eq!(
        config_of(&format!("{host}/copied/beta:1")),
        config_of(&format!("{host}/library/beta:1"))
    );

    // Import into B; docker pulls the same images from B, and team/other is not there.
    let tb = node(&b).await;
    let report = bundles::import(&tb, &bundle1, None, None).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.blobs_added, library.len(), "{report:?}");
    assert_eq!(report.assets_added, exported.assets, "{report:?}");
    let docker = blocking({
        let (b_host, images) = (b_host.clone(), images.clone());
        move || {
            for id in &ids {
                docker.rmi_all(id);
            }
            for ((r, _), id) in images[..3].iter().zip(&ids) {
                let reference = format!("{b_host}/{r}");
                docker.pull(&reference);
                assert_eq!(&docker.image_id(&reference), id, "{r} from B");
            }
            let out = docker.try_docker(&["pull", &format!("{b_host}/team/other:1")]);
            assert!(
                !out.status.success(),
                "not in the bundle, and B has no upstream"
            );
            docker
        }
    })
    .await;

    // Importing the same bundle again changes nothing.
    let again = bundles::import(&tb, &bundle1, None, None).await.unwrap();
    assert_eq!(
        (again.blobs_added, again.blobs_existing, again.assets_added),
        (0, library.len(), 0),
        "{again:?}"
    );
    assert_eq!(again.assets_unchanged, exported.assets, "{again:?}");

    // A transfer cut short: what came in stays, and the whole file finishes the import with
    // the same result as B's uninterrupted one.
    let c = TroveInstance::start(&proxy_docker_toml("hub", "http://127.0.0.1:9", "")).await;
    let tc = node(&c).await;
    let cut = work.path().join("cut.bundle");
    let whole = std::fs::read(&bundle1).unwrap();
    std::fs::write(&cut, &whole[..whole.len() * 2 / 3]).unwrap();
    let partial = bundles::import(&tc, &cut, None, None).await;
    match &partial {
        Ok(r) => assert!(!r.is_clean(), "a cut bundle is reported: {r:?}"),
        Err(e) => assert!(
            format!("{e:#}").to_lowercase().contains("eof")
                || format!("{e:#}").contains("failed to"),
            "{e:#}"
        ),
    }
    let finished = bundles::import(&tc, &bundle1, None, None).await.unwrap();
    assert!(finished.is_clean(), "{finished:?}");
    let have_b = trove_bundle::have(&tb.meta, &["hub".into()]).await.unwrap();
    let have_c = trove_bundle::have(&tc.meta, &["hub".into()]).await.unwrap();
    assert_eq!(have_b.blobs, have_c.blobs);
    assert_eq!(rows(&tb).await, rows(&tc).await, "the same rows as B's");

    // One byte flipped in a layer: that blob and the rows that need it are refused, the rest
    // goes in, and the bad bytes are nowhere in the store.
    let d = TroveInstance::start(&proxy_docker_toml("hub", "http://127.0.0.1:9", "")).await;
    let td = node(&d).await;
    let bad = work.path().join("bad.bundle");
    std::fs::copy(&bundle1, &bad).unwrap();
    let (victim, size, at) = bundle_blobs(&bundle1)
        .into_iter()
        .max_by_key(|b| b.1)
        .unwrap();
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&bad)
        .unwrap();
    f.seek(SeekFrom::Start(at + size / 2)).unwrap();
    let mut byte = [0u8];
    f.read_exact(&mut byte).unwrap();
    f.seek(SeekFrom::Start(at + size / 2)).unwrap();
    f.write_all(&[byte[0] ^ 0x20]).unwrap();
    drop(f);
    let refused = bundles::import(&td, &bad, None, None).await.unwrap();
    assert_eq!(refused.blobs_refused.len(), 1, "{refused:?}");
    assert_eq!(refused.blobs_refused[0].0, victim);
    assert!(
        refused.blobs_refused[0].1.contains("do not hash to"),
        "{refused:?}"
    );
    assert_eq!(refused.blobs_added, library.len() - 1, "{refused:?}");
    assert!(!refused.assets_refused.is_empty());
    assert!(
        refused
            .assets_refused
            .iter()
            .all(|(_, _, why)| why.contains(&victim)),
        "{refused:?}"
    );
    let digest = trove_core::Digest::parse(&victim).unwrap();
    assert!(td.front.blobs.stat(&digest).await.unwrap().is_none());

    // One more image pulled into A; an export against what B has holds only its blobs.
    let delta = blocking({
        let host = host.clone();
        move || {
            let spec = ImageSpec::new(790, 2).file_size(64 * KIB);
            push_generated(&host, "library/delta:1", &spec, None).0
        }
    })
    .await;
    let delta_blobs = image_blobs(&format!("{host}/library/delta:1"));
    let docker = blocking({
        let a_host = a_host.clone();
        move || {
            docker.pull(&format!("{a_host}/library/delta:1"));
            docker
        }
    })
    .await;
    let have = work.path().join("b-has.json");
    bundles::manifest(&tb, &["hub".into()], &have)
        .await
        .unwrap();
    let bundle2 = work.path().join("delta.bundle");
    let sel = trove_bundle::Selection {
        against: Some(trove_bundle::read_have(&have).unwrap()),
        ..sel
    };
    let exported2 = bundles::export(&ta, &sel, false, None, &bundle2)
        .await
        .unwrap();
    let blobs2 = bundle_blobs(&bundle2);
    let in_file2: BTreeSet<String> = blobs2.iter().map(|b| b.0.clone()).collect();
    assert_eq!(in_file2, delta_blobs, "only the new image's blobs");
    assert_eq!(
        exported2.bytes,
        blobs2.iter().map(|b| b.1).sum::<u64>(),
        "the sizes add up"
    );
    let report2 = bundles::import(&tb, &bundle2, None, None).await.unwrap();
    assert!(report2.is_clean(), "{report2:?}");
    assert_eq!(report2.blobs_added, delta_blobs.len());
    blocking(move || {
        docker.rmi_all(delta.image_id());
        let reference = format!("{b_host}/library/delta:1");
        docker.pull(&reference);
        assert_eq!(docker.image_id(&reference), delta.image_id());
    })
    .await;
    for t in [ta, tb, tc, td] {
        t.meta.close().await;
    }
    for t in [a, b, c, d] {
        t.stop().await;
    }
}
