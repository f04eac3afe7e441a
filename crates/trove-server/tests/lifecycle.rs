//! The storage lifecycle end to end through the registry API (issue 15): garbage collection
//! frees exactly what a deleted tag alone needed, keeps referrers of kept manifests, never
//! loses what concurrent pushes link; cleanup policies' preview agrees with their run; quotas
//! and immutable tags refuse with docker's DENIED, naming the rule.

use actix_web::test::TestRequest;
use serde_json::Value;

use crate::support::{self, OCI_MANIFEST, call, get, image_manifest, put_manifest};

/// `[storage]` for tests: no grace window, nothing scheduled (runs are on demand).
const STORAGE: &str =
    "[storage]\ngc_grace = \"0s\"\ngc_interval = \"0s\"\ncleanup_interval = \"0s\"\n";

/// Bytes of the blob files on disk (what the blob store holds; uploads in progress aside).
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

async fn gc(trove: &trove_server::Trove, dry_run: bool) -> trove_store::TaskRun {
    let run = trove
        .lifecycle
        .run("gc", dry_run)
        .await
        .expect("gc runs")
        .expect("gc is a task");
    assert_eq!(run.outcome, "ok", "{run:?}");
    run
}

/// Content addressed and pushed: a blob of `n` bytes seeded by `seed`.
fn blob(seed: &str, n: usize) -> Vec<u8> {
    seed.bytes().cycle().take(n).collect()
}

#[actix_web::test]
async fn gc_frees_what_a_deleted_tag_alone_needed_and_keeps_referrers() {
    let inst = support::instance(&format!(
        "{STORAGE}[[repository]]\nname = \"h2\"\nformat = \"docker\"\nkind = \"hosted\"\n\
         options = {{ delete_untagged_after_days = 0 }}\n"
    ))
    .await;
    let app = main_app!(inst.trove);
    // `hosted` (declared by the support module) has no untagged rule; h2 has one of 0 days.
    let push_blob = |data: Vec<u8>| {
        let app = &app;
        async move {
            let d = support::sha256(&data);
            let r = call(
                app,
                TestRequest::post()
                    .uri(&format!("/v2/h2/app/blobs/uploads/?digest={d}"))
                    .set_payload(data.clone()),
            )
            .await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            (d, data.len())
        }
    };
    let shared = push_blob(blob("shared", 3000)).await;
    let l1 = push_blob(blob("only-one", 5000)).await;
    let c1 = push_blob(blob("{\"config\":1}", 40)).await;
    let l2 = push_blob(blob("only-two", 7000)).await;
    let c2 = push_blob(blob("{\"config\":2}", 41)).await;
    let m1 = image_manifest(
        OCI_MANIFEST,
        (&c1.0, c1.1),
        &[(&shared.0, shared.1), (&l1.0, l1.1)],
    );
    let m2 = image_manifest(
        OCI_MANIFEST,
        (&c2.0, c2.1),
        &[(&shared.0, shared.1), (&l2.0, l2.1)],
    );
    let (m1d, m2d) = (support::sha256(&m1), support::sha256(&m2));
    for (tag, body) in [("1", &m1), ("2", &m2)] {
        let r = call(
            &app,
            put_manifest(&format!("/v2/h2/app/manifests/{tag}"), OCI_MANIFEST, body),
        )
        .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    // A signature of image 2 (a referrer: untagged, attached to its subject).
    let sig_layer = push_blob(blob("signature", 300)).await;
    let sig_cfg = push_blob(blob("{\"sig\":true}", 30)).await;
    let mut sig: Value = serde_json::from_slice(&image_manifest(
        OCI_MANIFEST,
        (&sig_cfg.0, sig_cfg.1),
        &[(&sig_layer.0, sig_layer.1)],
    ))
    .unwrap();
    sig["subject"] =
        serde_json::json!({"mediaType": OCI_MANIFEST, "digest": m2d, "size": m2.len()});
    let sig = serde_json::to_vec(&sig).unwrap();
    let sigd = support::sha256(&sig);
    let r = call(
        &app,
        put_manifest(&format!("/v2/h2/app/manifests/{sigd}"), OCI_MANIFEST, &sig),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // An abandoned blob: uploaded, never referenced by a manifest.
    let orphan = push_blob(blob("orphan", 900)).await;

    let blob_dir = inst.trove.server.blob_dir();
    let before = bytes_on_disk(&blob_dir);

    // With every tag in place only the orphan layer goes.
    let first = gc(&inst.trove, false).await;
    assert_eq!(
        (
            first.report["parts"].as_u64(),
            first.report["blobs"].as_u64()
        ),
        (Some(1), Some(1)),
        "{first:?}"
    );
    assert_eq!(first.bytes_freed, orphan.1 as i64);
    assert_eq!(bytes_on_disk(&blob_dir), before - orphan.1 as u64);

    // Delete tag 1: manifest 1 is untagged now, and under h2's rule of 0 days it goes with its
    // unique layer and config; the shared layer, image 2 and its signature stay.
    let r = call(&app, TestRequest::delete().uri("/v2/h2/app/manifests/1")).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let expect_bytes = (m1.len() + l1.1 + c1.1) as i64;
    let dry = gc(&inst.trove, true).await;
    assert!(dry.dry_run);
    assert_eq!(
        (
            dry.report["documents"].as_u64(),
            dry.report["parts"].as_u64()
        ),
        (Some(1), Some(2)),
        "{dry:?}"
    );
    assert_eq!(
        (dry.report["blobs"].as_u64(), dry.bytes_freed),
        (Some(3), expect_bytes),
        "{dry:?}"
    );
    let on_disk = bytes_on_disk(&blob_dir);
    assert_eq!(
        on_disk,
        before - orphan.1 as u64,
        "a dry run removes nothing"
    );
    let real = gc(&inst.trove, false).await;
    assert_eq!(
        (real.report["blobs"].as_u64(), real.bytes_freed),
        (Some(3), expect_bytes),
        "{real:?}"
    );
    assert_eq!(
        bytes_on_disk(&blob_dir),
        on_disk - expect_bytes as u64,
        "the space came back"
    );

    for (d, gone) in [
        (&l1.0, true),
        (&c1.0, true),
        (&shared.0, false),
        (&l2.0, false),
        (&c2.0, false),
        (&sig_layer.0, false),
        (&sig_cfg.0, false),
    ] {
        let r = call(&app, get(&format!("/v2/h2/app/blobs/{d}"))).await;
        assert_eq!(r.status, if gone { 404 } else { 200 }, "blob {d}");
        if !gone {
            assert_eq!(&support::sha256(&r.body), d, "blob {d} intact");
        }
    }
    let r = call(&app, get(&format!("/v2/h2/app/manifests/{m1d}"))).await;
    assert_eq!(r.status, 404, "the untagged manifest went");
    let r = call(&app, get("/v2/h2/app/manifests/2")).await;
    assert_eq!((r.status, support::sha256(&r.body)), (200, m2d.clone()));
    let r = call(&app, get(&format!("/v2/h2/app/referrers/{m2d}"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["manifests"][0]["digest"],
        sigd,
        "the kept image keeps its signature"
    );

    // Nothing is left to collect: a second run removes nothing.
    let again = gc(&inst.trove, false).await;
    assert_eq!((again.deleted, again.bytes_freed), (0, 0), "{again:?}");
    // The REST API lists the task with its last run.
    let r = call(&app, get("/service/rest/v1/tasks")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let tasks = r.json();
    let gc_task = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "gc")
        .expect("gc listed");
    assert!(gc_task["last_run"].is_object(), "{gc_task}");
}

#[actix_web::test]
async fn without_an_untagged_rule_a_deleted_tag_frees_nothing_until_the_manifest_goes() {
    let inst = support::instance(STORAGE).await;
    let app = main_app!(inst.trove);
    let layer = push_blob!(app, "app", &blob("layer", 2000));
    let cfg = push_blob!(app, "app", b"{\"c\":0}");
    let m = image_manifest(OCI_MANIFEST, (&cfg, 7), &[(&layer, 2000)]);
    let md = support::sha256(&m);
    assert_eq!(
        call(
            &app,
            put_manifest("/v2/hosted/app/manifests/t", OCI_MANIFEST, &m)
        )
        .await
        .status,
        201
    );
    assert_eq!(
        call(
            &app,
            TestRequest::delete().uri("/v2/hosted/app/manifests/t")
        )
        .await
        .status,
        202
    );
    let run = gc(&inst.trove, false).await;
    assert_eq!(
        run.deleted, 0,
        "an untagged manifest stays without the rule: {run:?}"
    );
    assert_eq!(
        call(&app, get(&format!("/v2/hosted/app/manifests/{md}")))
            .await
            .status,
        200
    );
    // Deleting the manifest by digest is what frees its layers.
    let r = call(
        &app,
        TestRequest::delete().uri(&format!("/v2/hosted/app/manifests/{md}")),
    )
    .await;
    assert_eq!(r.status, 202);
    let run = gc(&inst.trove, false).await;
    assert_eq!(
        (run.report["blobs"].as_u64(), run.bytes_freed),
        (Some(3), (2000 + 7 + m.len()) as i64),
        "{run:?}"
    );
    assert_eq!(
        call(&app, get(&format!("/v2/hosted/app/blobs/{layer}")))
            .await
            .status,
        404
    );
}

/// Pushes image `tag` of `img` in `repo`: a layer shared by every image, one of its own, its
/// config, its manifest. `Ok(digest)` once the manifest PUT is acknowledged; `Err` when a step
/// was refused (a layer collected before its manifest arrived: with a zero grace window, a
/// client sends it again).
async fn push_image<S, B>(
    app: &S,
    repo: &str,
    img: &str,
    tag: &str,
    shared: &[u8],
) -> Result<(String, Vec<String>), String>
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let own = blob(&format!("{repo}/{img}:{tag}"), 1500);
    let cfg = format!("{{\"image\":\"{repo}/{img}:{tag}\"}}").into_bytes();
    let mut digests = Vec::new();
    for data in [shared, &own[..], &cfg[..]] {
        let d = support::sha256(data);
        let r = call(
            app,
            TestRequest::post()
                .uri(&format!("/v2/{repo}/{img}/blobs/uploads/?digest={d}"))
                .set_payload(data.to_vec()),
        )
        .await;
        if r.status != 201 {
            return Err(format!(
                "blob {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        digests.push(d);
    }
    let m = image_manifest(
        OCI_MANIFEST,
        (&digests[2], cfg.len()),
        &[(&digests[0], shared.len()), (&digests[1], own.len())],
    );
    let r = call(
        app,
        put_manifest(
            &format!("/v2/{repo}/{img}/manifests/{tag}"),
            OCI_MANIFEST,
            &m,
        ),
    )
    .await;
    if r.status != 201 {
        return Err(format!(
            "manifest {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    Ok((support::sha256(&m), digests))
}

/// The concurrency protocol under load: pushes that share layers, cross-repository mounts and
/// tag deletions go on while garbage collection runs in a loop with a zero grace window (on
/// other threads). Afterwards every acknowledged image still tagged pulls with the right
/// digests, and once the pushes stopped, every blob nothing references is gone.
#[actix_web::test]
async fn gc_in_a_loop_never_loses_what_concurrent_pushes_acknowledged() {
    let inst = support::instance(&format!(
        "{STORAGE}[[repository]]\nname = \"h2\"\nformat = \"docker\"\nkind = \"hosted\"\n\
         options = {{ delete_untagged_after_days = 0 }}\n\
         [[repository]]\nname = \"h3\"\nformat = \"docker\"\nkind = \"hosted\"\n\
         options = {{ delete_untagged_after_days = 0 }}\n"
    ))
    .await;
    let app = main_app!(inst.trove);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let (trove, stop) = (inst.trove.clone(), stop.clone());
        // On the multi-thread runtime's other threads when there are any; the test's pushes run
        // on this one, interleaved with the collector's transactions.
        tokio::spawn(async move {
            let (mut runs, mut freed) = (0u64, 0i64);
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                let run = trove.lifecycle.run("gc", false).await.unwrap().unwrap();
                assert_eq!(run.outcome, "ok", "{run:?}");
                runs += 1;
                freed += run.bytes_freed;
                tokio::task::yield_now().await;
            }
            (runs, freed)
        })
    };
    let shared = blob("shared-base-layer", 4000);
    let clients = 20usize;
    let rounds = 6usize;
    // What each client's last acknowledged push of each tag was, and which tags it deleted.
    let results = futures_util::future::join_all((0..clients).map(|c| {
        let (app, shared) = (&app, &shared);
        async move {
            let repo = if c % 2 == 0 { "h2" } else { "h3" };
            let img = format!("img{}", c % 5);
            let mut kept: Vec<(String, String, String, Vec<String>)> = Vec::new();
            let (mut acked, mut refused, mut deleted, mut mounted) = (0, 0, 0, 0);
            for round in 0..rounds {
                let tag = format!("c{c}-r{round}");
                match push_image(app, repo, &img, &tag, shared).await {
                    Ok((digest, blobs)) => {
                        acked += 1;
                        kept.push((repo.to_owned(), img.clone(), tag.clone(), blobs));
                        let _ = digest;
                    }
                    Err(_) => refused += 1,
                }
                // Mount the shared layer into the other repository.
                let other = if repo == "h2" { "h3" } else { "h2" };
                let d = support::sha256(shared);
                let r = call(
                    app,
                    TestRequest::post().uri(&format!(
                        "/v2/{other}/{img}/blobs/uploads/?mount={d}&from={repo}/{img}"
                    )),
                )
                .await;
                if r.status == 201 {
                    mounted += 1;
                }
                // Every other round, delete the oldest tag this client still holds.
                if round % 2 == 1 && !kept.is_empty() {
                    let (r, i, t, _) = kept.remove(0);
                    let res = call(
                        app,
                        TestRequest::delete().uri(&format!("/v2/{r}/{i}/manifests/{t}")),
                    )
                    .await;
                    assert_eq!(res.status, 202, "{:?}", res.body);
                    deleted += 1;
                }
                tokio::task::yield_now().await;
            }
            (kept, acked, refused, deleted, mounted)
        }
    }))
    .await;
    stop.store(true, std::sync::atomic::Ordering::Release);
    let (runs, freed) = collector.await.unwrap();
    let (mut acked, mut refused, mut deleted, mut mounted) = (0, 0, 0, 0);
    let mut still_tagged = Vec::new();
    for (kept, a, r, d, m) in results {
        acked += a;
        refused += r;
        deleted += d;
        mounted += m;
        still_tagged.extend(kept);
    }
    eprintln!(
        "concurrency: {clients} clients x {rounds} rounds: {acked} pushes acknowledged, {refused} refused \
         (retryable), {deleted} tags deleted, {mounted} mounts, {} images still tagged; {runs} GC runs freed {freed} bytes",
        still_tagged.len()
    );
    assert!(
        runs >= 2,
        "the collector ran during the pushes ({runs} runs)"
    );
    assert!(
        acked > clients * rounds / 2,
        "most pushes succeed ({acked} of {})",
        clients * rounds
    );
    // Every acknowledged image still tagged pulls, with the right digests.
    let mut needed = std::collections::BTreeSet::new();
    for (repo, img, tag, blobs) in &still_tagged {
        let r = call(&app, get(&format!("/v2/{repo}/{img}/manifests/{tag}"))).await;
        assert_eq!(r.status, 200, "{repo}/{img}:{tag} lost: {:?}", r.body);
        let manifest: Value = serde_json::from_slice(&r.body).unwrap();
        needed.insert(support::sha256(&r.body));
        let listed: Vec<String> = std::iter::once(&manifest["config"])
            .chain(manifest["layers"].as_array().unwrap())
            .map(|d| d["digest"].as_str().unwrap().to_owned())
            .collect();
        let mut expect = blobs.clone();
        expect.rotate_left(2); // pushed shared, own, config; listed config, shared, own
        assert_eq!(listed, expect, "{repo}/{img}:{tag}");
        for d in blobs {
            let b = call(&app, get(&format!("/v2/{repo}/{img}/blobs/{d}"))).await;
            assert_eq!(b.status, 200, "{repo}/{img}:{tag} lost blob {d}");
            assert_eq!(
                &support::sha256(&b.body),
                d,
                "{repo}/{img}:{tag} blob {d} corrupt"
            );
            needed.insert(d.clone());
        }
    }
    // Quiet now: one more collection leaves exactly what tagged images need.
    gc(&inst.trove, false).await;
    let on_disk: std::collections::BTreeSet<String> =
        list_blob_digests(&inst.trove.server.blob_dir());
    let stray: Vec<_> = on_disk.difference(&needed).collect();
    let missing: Vec<_> = needed.difference(&on_disk).collect();
    assert!(missing.is_empty(), "needed blobs missing: {missing:?}");
    assert!(
        stray.is_empty(),
        "blobs nothing references are left: {stray:?}"
    );
}

/// The digests of the blob files under the blob store's directory (files named by their hex).
fn list_blob_digests(dir: &std::path::Path) -> std::collections::BTreeSet<String> {
    fn walk(p: &std::path::Path, out: &mut std::collections::BTreeSet<String>) {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        for e in rd.flatten() {
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                if !path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().contains("upload"))
                {
                    walk(&path, out);
                }
            } else {
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                    out.insert(format!("sha256:{name}"));
                }
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(dir, &mut out);
    out
}

#[actix_web::test]
async fn a_policy_keeping_the_two_latest_tags_previews_and_deletes_three_of_five() {
    let inst = support::instance(&format!(
        "{STORAGE}[[cleanup_policy]]\nname = \"keep2\"\nformat = \"docker\"\nkeep_latest = 2\n\
         [[repository]]\nname = \"h2\"\nformat = \"docker\"\nkind = \"hosted\"\n\
         cleanup_policies = [\"keep2\"]\noptions = {{ delete_untagged_after_days = 0 }}\n"
    ))
    .await;
    let app = main_app!(inst.trove);
    let shared = blob("base", 3000);
    let mut pushed = Vec::new();
    for i in 1..=5 {
        let (d, blobs) = push_image(&app, "h2", "app", &format!("v{i}"), &shared)
            .await
            .unwrap();
        pushed.push((d, blobs));
        // Distinct push times: the policy orders versions by them.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // The bytes the three oldest images alone hold: manifest, own layer, config.
    let mut unique = 0u64;
    for i in 1..=3 {
        let m = call(&app, get(&format!("/v2/h2/app/manifests/v{i}"))).await;
        unique +=
            m.body.len() as u64 + 1500 + format!("{{\"image\":\"h2/app:v{i}\"}}").len() as u64;
    }
    let task = "cleanup:keep2";
    let preview = inst.trove.lifecycle.run(task, true).await.unwrap().unwrap();
    assert_eq!(
        (preview.outcome.as_str(), preview.deleted),
        ("ok", 3),
        "{preview:?}"
    );
    let listed = serde_json::to_string(&preview.report).unwrap();
    for t in ["v1", "v2", "v3"] {
        assert!(
            listed.contains(&format!("\"{t}\"")) || listed.contains(&format!("manifests/{t}\"")),
            "{t} in {listed}"
        );
    }
    assert_eq!(
        call(&app, get("/v2/h2/app/manifests/v1")).await.status,
        200,
        "a preview deletes nothing"
    );
    let run = inst
        .trove
        .lifecycle
        .run(task, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((run.outcome.as_str(), run.deleted), ("ok", 3), "{run:?}");
    assert_eq!(
        run.bytes_freed, preview.bytes_freed,
        "the preview's bytes are the run's"
    );
    for (i, status) in [(1, 404), (2, 404), (3, 404), (4, 200), (5, 200)] {
        assert_eq!(
            call(&app, get(&format!("/v2/h2/app/manifests/v{i}")))
                .await
                .status,
            status,
            "v{i}"
        );
    }
    // The next collection frees the deleted images' own layers and configs (and manifests).
    let blob_dir = inst.trove.server.blob_dir();
    let before = bytes_on_disk(&blob_dir);
    let freed = gc(&inst.trove, false).await;
    assert_eq!(
        freed.report["blobs"].as_u64(),
        Some(9),
        "3 manifests, 3 layers, 3 configs: {freed:?}"
    );
    assert_eq!(freed.bytes_freed as u64, unique, "{freed:?}");
    assert_eq!(bytes_on_disk(&blob_dir), before - unique);
    assert_eq!(
        freed.bytes_freed as u64, run.bytes_freed as u64,
        "the policy's preview named the bytes GC frees"
    );
    for (d, blobs) in &pushed[3..] {
        assert_eq!(
            call(&app, get(&format!("/v2/h2/app/manifests/{d}")))
                .await
                .status,
            200
        );
        for b in blobs {
            assert_eq!(
                call(&app, get(&format!("/v2/h2/app/blobs/{b}")))
                    .await
                    .status,
                200
            );
        }
    }
    // On demand through the REST API too, with ?dry_run=true.
    let r = call(
        &app,
        TestRequest::post().uri("/service/rest/v1/tasks/cleanup:keep2/run?dry_run=true"),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["deleted"], 0, "{}", r.json());
    // A real run through the API is audited with who asked and what went; a dry run is not.
    let r = call(
        &app,
        TestRequest::post().uri("/service/rest/v1/tasks/gc/run"),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let r = call(&app, get("/service/rest/v1/audit?entity=task")).await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let entries = r.json();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (entries[0]["actor"].as_str(), entries[0]["action"].as_str()),
        (Some("tester"), Some("run"))
    );
    assert_eq!(entries[0]["entity_name"], "gc", "{}", entries[0]);
    // Purging a repository through the API is audited too.
    let r = call(
        &app,
        TestRequest::post().uri("/service/rest/v1/repositories/h2/purge"),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["deleted_assets"].as_u64().unwrap() > 0);
    let r = call(&app, get("/service/rest/v1/audit?entity=repository:h2")).await;
    assert!(
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "purge"),
        "{}",
        r.json()
    );
}

#[actix_web::test]
async fn a_quota_refuses_with_denied_naming_it_and_reads_go_on() {
    let inst = support::instance(&format!(
        "{STORAGE}[[repository]]\nname = \"q\"\nformat = \"docker\"\nkind = \"hosted\"\nquota_bytes = 10000\n"
    ))
    .await;
    let app = main_app!(inst.trove);
    let first = blob("first", 6000);
    let d1 = support::sha256(&first);
    let r = call(
        &app,
        TestRequest::post()
            .uri(&format!("/v2/q/app/blobs/uploads/?digest={d1}"))
            .set_payload(first.clone()),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let second = blob("second", 6000);
    let d2 = support::sha256(&second);
    let r = call(
        &app,
        TestRequest::post()
            .uri(&format!("/v2/q/app/blobs/uploads/?digest={d2}"))
            .set_payload(second),
    )
    .await;
    r.expect_error(403, "DENIED");
    let msg = r.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("quota_bytes") && msg.contains('q'), "{msg}");
    // The blob it had is still there, and pushing it again adds nothing, so it is allowed.
    let r = call(&app, get(&format!("/v2/q/app/blobs/{d1}"))).await;
    assert_eq!(r.status, 200);
    let r = call(
        &app,
        TestRequest::post()
            .uri(&format!("/v2/q/app/blobs/uploads/?digest={d1}"))
            .set_payload(first),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

#[actix_web::test]
async fn an_immutable_tag_is_pushed_once_and_never_moved_or_deleted() {
    let inst = support::instance(&format!(
        "{STORAGE}[[repository]]\nname = \"imm\"\nformat = \"docker\"\nkind = \"hosted\"\n\
         immutable_tags = ['^v\\d+\\.\\d+\\.\\d+$']\n"
    ))
    .await;
    let app = main_app!(inst.trove);
    let shared = blob("x", 100);
    let (d1, _) = push_image(&app, "imm", "app", "v1.0.0", &shared)
        .await
        .unwrap();
    // Pushing the same manifest again is no move.
    let same = call(&app, get("/v2/imm/app/manifests/v1.0.0")).await;
    let r = call(
        &app,
        put_manifest("/v2/imm/app/manifests/v1.0.0", OCI_MANIFEST, &same.body),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // Another manifest under the tag is refused, naming the rule.
    let err = push_image(&app, "imm", "app", "v1.0.0", &blob("y", 100))
        .await
        .unwrap_err();
    assert!(
        err.starts_with("manifest 403")
            && err.contains("DENIED")
            && err.contains("immutable_tags rule"),
        "{err}"
    );
    let r = call(
        &app,
        TestRequest::delete().uri("/v2/imm/app/manifests/v1.0.0"),
    )
    .await;
    r.expect_error(403, "DENIED");
    let r = call(
        &app,
        TestRequest::delete().uri(&format!("/v2/imm/app/manifests/{d1}")),
    )
    .await;
    r.expect_error(403, "DENIED");
    let r = call(&app, get("/v2/imm/app/manifests/v1.0.0")).await;
    assert_eq!((r.status, support::sha256(&r.body)), (200, d1));
    // Tags outside the rule move freely.
    push_image(&app, "imm", "app", "latest", &shared)
        .await
        .unwrap();
    push_image(&app, "imm", "app", "latest", &blob("z", 100))
        .await
        .unwrap();
}

/// `trove gc [--dry-run]` and `trove repo purge NAME` against a node's database (the server
/// need not run): the dry run names the bytes, the run frees them, a purge and the next
/// collection leave an empty blob store.
#[actix_web::test]
async fn the_cli_collects_and_purges() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, support::TESTER_PASSWORD).unwrap();
    let file = dir.path().join("trove.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\ndata_dir = {:?}\n{STORAGE}[[user]]\nname = \"tester\"\npassword_file = {pw:?}\nroles = [\"admin\"]\n\
             [[repository]]\nname = \"hosted\"\nformat = \"docker\"\nkind = \"hosted\"\n",
            dir.path().join("data")
        ),
    )
    .unwrap();
    let config = trove_server::Config::load(Some(&file)).unwrap();
    let blob_dir = config.blob_dir();
    {
        let trove = trove_server::Trove::open(&config).await.unwrap();
        let app = main_app!(trove);
        push_image(&app, "hosted", "app", "1", &blob("base", 2500))
            .await
            .unwrap();
        push_blob!(app, "app", &blob("orphan", 1234));
        trove.meta.close().await;
    }
    let trove_cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_trove"))
            .args(args)
            .arg("--config")
            .arg(&file)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "trove {args:?}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let before = bytes_on_disk(&blob_dir);
    let dry = trove_cli(&["gc", "--dry-run"]);
    assert!(
        dry.contains("dry run of garbage collection ok: 1 blobs, 1234 bytes would be freed"),
        "{dry}"
    );
    assert_eq!(bytes_on_disk(&blob_dir), before);
    let real = trove_cli(&["gc"]);
    assert!(
        real.contains("garbage collection ok: 1 blobs, 1234 bytes freed"),
        "{real}"
    );
    assert_eq!(bytes_on_disk(&blob_dir), before - 1234);
    let purged = trove_cli(&["repo", "purge", "hosted"]);
    assert!(
        purged.contains("purged hosted: 5 assets deleted"),
        "{purged}"
    );
    let real = trove_cli(&["gc"]);
    assert!(real.contains("garbage collection ok: 4 blobs"), "{real}");
    assert_eq!(
        bytes_on_disk(&blob_dir),
        0,
        "a purged repository's bytes came back"
    );
}

/// kill -9 of `trove gc` in the middle of its sweep: nothing a tag needs is lost, and the next
/// collection (on a restarted node, which takes over the dead process's lease at once) finishes
/// the job: exactly what the tagged image needs is left, and every `blobs` row has its file.
#[actix_web::test]
async fn a_gc_killed_mid_sweep_loses_nothing_and_the_next_run_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, support::TESTER_PASSWORD).unwrap();
    let file = dir.path().join("trove.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\ndata_dir = {:?}\n{STORAGE}[[user]]\nname = \"tester\"\npassword_file = {pw:?}\nroles = [\"admin\"]\n\
             [[repository]]\nname = \"hosted\"\nformat = \"docker\"\nkind = \"hosted\"\n",
            dir.path().join("data")
        ),
    )
    .unwrap();
    let config = trove_server::Config::load(Some(&file)).unwrap();
    let blob_dir = config.blob_dir();
    const ORPHANS: usize = 3000;
    let (manifest, needed) = {
        let trove = trove_server::Trove::open(&config).await.unwrap();
        let app = main_app!(trove);
        let (digest, blobs) = push_image(&app, "hosted", "app", "1", &blob("base", 2500))
            .await
            .unwrap();
        for i in 0..ORPHANS {
            push_blob!(app, "app", &blob(&format!("orphan-{i}"), 600));
        }
        trove.meta.close().await;
        let mut needed: std::collections::BTreeSet<String> = blobs.into_iter().collect();
        needed.insert(digest.clone());
        (digest, needed)
    };
    let start = list_blob_digests(&blob_dir).len();
    assert_eq!(start, ORPHANS + needed.len());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_trove"))
        .args(["gc", "--config"])
        .arg(&file)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it removed some files and before it removed them all.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let at_kill = loop {
        let n = list_blob_digests(&blob_dir).len();
        if n < start - 50 {
            child.kill().unwrap();
            break n;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "trove gc ended before it was killed"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "trove gc removed nothing"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    child.wait().unwrap();
    let after_kill = list_blob_digests(&blob_dir);
    eprintln!(
        "crash: {start} blob files, killed at {at_kill}, {} left after the kill",
        after_kill.len()
    );
    assert!(
        after_kill.len() > needed.len(),
        "killed mid-sweep, not after it ({} left)",
        after_kill.len()
    );
    assert!(needed.is_subset(&after_kill), "a needed blob went");

    // Restart: the image pulls, and the next collection finishes at once (the dead process's
    // lease is taken over) and leaves exactly what the image needs.
    let trove = trove_server::Trove::open(&config).await.unwrap();
    let app = main_app!(trove);
    let r = call(&app, get("/v2/hosted/app/manifests/1")).await;
    assert_eq!(
        (r.status, support::sha256(&r.body)),
        (200, manifest.clone())
    );
    let run = gc(&trove, false).await;
    assert!(
        run.report["blobs"].as_u64().unwrap() as usize >= after_kill.len() - needed.len(),
        "{run:?}"
    );
    let left = list_blob_digests(&blob_dir);
    assert_eq!(left, needed, "exactly what the image needs is left");
    let (rows, _) = trove.meta.assets().blob_totals().await.unwrap();
    assert_eq!(rows as usize, needed.len(), "every blobs row has its file");
    for d in &needed {
        let b = call(&app, get(&format!("/v2/hosted/app/blobs/{d}"))).await;
        if *d != manifest {
            assert_eq!((b.status, support::sha256(&b.body)), (200, d.clone()));
        }
    }
    trove.meta.close().await;
}

/// A soft quota warns (the repository's view, metrics) and refuses nothing; the hard quota
/// past it refuses.
#[actix_web::test]
async fn a_soft_quota_warns_in_the_api_and_metrics_and_refuses_nothing() {
    let inst = support::instance(&format!(
        "{STORAGE}[[repository]]\nname = \"soft\"\nformat = \"docker\"\nkind = \"hosted\"\n\
         quota_soft_bytes = 1000\nquota_bytes = \"10 KiB\"\n"
    ))
    .await;
    let app = main_app!(inst.trove);
    let quota = |app| async move {
        let r = call(app, get("/service/rest/v1/repositories/soft")).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.json()["quota"].clone()
    };
    let q = quota(&app).await;
    assert_eq!(
        (q["used_bytes"].as_u64(), q["over_soft"].as_bool()),
        (Some(0), Some(false)),
        "{q}"
    );
    let data = blob("soft", 3000);
    let d = support::sha256(&data);
    let r = call(
        &app,
        TestRequest::post()
            .uri(&format!("/v2/soft/app/blobs/uploads/?digest={d}"))
            .set_payload(data),
    )
    .await;
    assert_eq!(r.status, 201, "a soft quota refuses nothing: {:?}", r.body);
    let q = quota(&app).await;
    assert_eq!(
        (
            q["used_bytes"].as_u64(),
            q["over_soft"].as_bool(),
            q["at_hard"].as_bool(),
            q["hard_bytes"].as_u64()
        ),
        (Some(3000), Some(true), Some(false), Some(10240)),
        "{q}"
    );
    let m = call(&app, get("/metrics")).await;
    let text = String::from_utf8_lossy(&m.body).to_string();
    assert!(
        text.contains("trove_repository_over_quota{repository=\"soft\",kind=\"soft\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("trove_repository_over_quota{repository=\"soft\",kind=\"hard\"} 0"),
        "{text}"
    );
    let big = blob("big", 8000);
    let d = support::sha256(&big);
    let r = call(
        &app,
        TestRequest::post()
            .uri(&format!("/v2/soft/app/blobs/uploads/?digest={d}"))
            .set_payload(big),
    )
    .await;
    r.expect_error(403, "DENIED");
}

/// Below `[storage] min_free_bytes` new uploads are refused early with 507 naming the key, reads
/// go on, and `/status/writable` says why.
#[actix_web::test]
async fn below_min_free_bytes_uploads_are_refused_with_507() {
    let inst = support::instance("[storage]\nmin_free_bytes = \"1000 TiB\"\n").await;
    let app = main_app!(inst.trove);
    let r = call(
        &app,
        TestRequest::post().uri("/v2/hosted/app/blobs/uploads/"),
    )
    .await;
    assert_eq!(r.status, 507, "{:?}", String::from_utf8_lossy(&r.body));
    assert!(
        String::from_utf8_lossy(&r.body).contains("min_free_bytes"),
        "{:?}",
        r.body
    );
    let r = call(&app, get("/v2/hosted/app/tags/list")).await;
    assert_ne!(r.status, 507, "reads go on");
    let r = call(&app, get("/service/rest/v1/status/writable")).await;
    assert_eq!(r.status, 503, "{:?}", String::from_utf8_lossy(&r.body));
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("min_free_bytes"),
        "{}",
        r.json()
    );
}

/// A measurement, run by hand (`cargo nextest run -p trove-server --run-ignored only
/// gc_over_many_unreferenced_blobs --no-capture`): `GC_BLOBS` unreferenced layers (default
/// 20,000) linked in one repository beside a kept image; a dry run and a real run, their wall
/// times and the process's peak RSS. Everything unreferenced goes, the image stays.
#[actix_web::test]
#[ignore = "a measurement, minutes in a debug build"]
async fn gc_over_many_unreferenced_blobs() {
    use trove_core::{AssetPath, AssetRole, BlobInfo, NewAsset};
    let n: usize = std::env::var("GC_BLOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let inst = support::instance(STORAGE).await;
    let app = main_app!(inst.trove);
    let (digest, _) = push_image(&app, "hosted", "app", "1", &blob("base", 2500))
        .await
        .unwrap();
    let trove = &inst.trove;
    let repo = trove
        .meta
        .repos()
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name.as_str() == "hosted")
        .unwrap();
    let blobs = trove.front.blobs.clone();
    let started = std::time::Instant::now();
    for i in 0..n {
        let data = bytes::Bytes::from(format!("unreferenced layer {i:08}").repeat(16));
        let d = trove_core::Digest::parse(&support::sha256(&data)).unwrap();
        let id = blobs.begin_upload().await.unwrap();
        let len = data.len() as u64;
        blobs
            .append(&id, 0, Box::pin(futures_util::stream::iter([Ok(data)])))
            .await
            .unwrap();
        blobs.commit(&id, &d).await.unwrap();
        let asset = NewAsset {
            blob: BlobInfo {
                digest: d.clone(),
                size: len,
            },
            content_type: None,
            attrs: serde_json::Value::Null,
        };
        let link = trove_store::Link {
            role: AssetRole::Part,
            ..Default::default()
        };
        let path = AssetPath::parse(&format!("/v2/-/blobs/{d}")).unwrap();
        trove
            .meta
            .assets()
            .link(&repo.id, &path, &asset, &link)
            .await
            .unwrap();
    }
    eprintln!(
        "measure: {n} unreferenced blobs written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let t = std::time::Instant::now();
    let dry = gc(trove, true).await;
    let dry_s = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let real = gc(trove, false).await;
    let real_s = t.elapsed().as_secs_f64();
    eprintln!(
        "measure: dry run {dry_s:.2} s ({} blobs, {} bytes); real run {real_s:.2} s ({} blobs, {} bytes); peak RSS {} MiB",
        dry.report["blobs"],
        dry.bytes_freed,
        real.report["blobs"],
        real.bytes_freed,
        real.report["peak_rss_bytes"].as_u64().unwrap_or(0) >> 20
    );
    assert_eq!(real.report["blobs"].as_u64(), Some(n as u64));
    assert_eq!(dry.bytes_freed, real.bytes_freed);
    let r = call(&app, get(&format!("/v2/hosted/app/manifests/{digest}"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        list_blob_digests(&trove.server.blob_dir()).len(),
        4,
        "the image's manifest, config and two layers"
    );
}
