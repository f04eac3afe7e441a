//! The proxy against a real upstream: Debian's `docker-registry` (CNCF distribution) on a
//! loopback port, filled over its HTTP API. Docker paths go through `DockerSpec`; a toy format
//! (`FileFormat`) proves the kind is generic and that a digest mismatch is never cached.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use trove_core::{Generated, RepoName};
use trove_formats::docker::DockerSpec;
use trove_store::testing::read_all;
use trove_store::{DeclaredRepo, FsBlobStore, digest_of};

use super::*;

const REGISTRY: &str = "/usr/bin/docker-registry";

/// A throwaway `docker-registry serve` (killed on drop).
struct Registry {
    child: Option<Child>,
    url: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    async fn start() -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("reg.")
            .tempdir_in("/tmp")
            .unwrap();
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = Command::new(REGISTRY)
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {REGISTRY}: {e}"));
        // Owned at once: the drop stops it if it never gets ready.
        let reg = Registry {
            child: Some(child),
            url: format!("http://{addr}"),
            _dir: dir,
        };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client.get(format!("{}/v2/", reg.url)).send().await.is_ok() {
                return reg;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("docker-registry did not start");
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    async fn push_blob(&self, name: &str, data: &[u8]) -> Digest {
        let digest = digest_of(Algorithm::Sha256, data);
        let c = reqwest::Client::new();
        let res = c
            .post(format!("{}/v2/{name}/blobs/uploads/", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        let loc = res.headers()["location"].to_str().unwrap().to_owned();
        let sep = if loc.contains('?') { '&' } else { '?' };
        let res = c
            .put(format!("{loc}{sep}digest={digest}"))
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        digest
    }

    /// Pushes a one-layer image under `name:tag`; returns (manifest bytes, its digest, layer).
    async fn push_image(&self, name: &str, tag: &str, layer: &[u8]) -> (Vec<u8>, Digest, Digest) {
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","n":{}}}"#,
            layer.len()
        );
        let cd = self.push_blob(name, config.as_bytes()).await;
        let ld = self.push_blob(name, layer).await;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld.to_string(), "size": layer.len()}],
        }))
        .unwrap();
        let res = reqwest::Client::new()
            .put(format!("{}/v2/{name}/manifests/{tag}", self.url))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        let d = digest_of(Algorithm::Sha256, &manifest);
        (manifest, d, ld)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves `/files/<digest>` from docker-registry's blob API of image `files`, and `/claimed/<a>/<b>`
/// as content that must hash to `<a>` but is fetched from blob `<b>` (an upstream that lies).
struct FileFormat;

#[async_trait]
impl FormatSpec for FileFormat {
    fn id(&self) -> trove_core::FormatId {
        trove_core::FormatId::new("files")
    }
    fn storage_path(&self, path: &AssetPath) -> AssetPath {
        path.clone()
    }
    async fn generate(&self, _: &AssetPath, _: &dyn AssetIndex) -> Result<Option<Generated>> {
        Ok(None)
    }
    fn classify(&self, path: &AssetPath) -> AssetClass {
        let segs: Vec<&str> = path.as_str().split('/').collect();
        match segs.as_slice() {
            ["", "files", d] | ["", "claimed", d, _] => AssetClass::Content {
                digest: Digest::parse(d).ok(),
            },
            _ => AssetClass::Metadata,
        }
    }
    fn upstream(
        &self,
        proxy: &ProxyConfig,
        path: &AssetPath,
    ) -> Result<trove_core::UpstreamRequest> {
        let segs: Vec<&str> = path.as_str().split('/').collect();
        let d = match segs.as_slice() {
            ["", "files", d] | ["", "claimed", _, d] => d,
            _ => return Err(Error::not_found("no such file")),
        };
        Ok(trove_core::UpstreamRequest {
            url: format!("{}/v2/files/blobs/{d}", proxy.remote),
            ..Default::default()
        })
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    blobs: Arc<FsBlobStore>,
    meta: MetadataStore,
    repo: ProxyRepository,
}

async fn fixture(proxy: ProxyConfig, format: Arc<dyn FormatSpec>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let meta = MetadataStore::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    let decl = DeclaredRepo {
        name: RepoName::parse("p").unwrap(),
        format: format.id(),
        options: Default::default(),
        kind: KindConfig::Proxy(proxy),
        force_basic_auth: false,
        routing_rule: None,
        connector: None,
        lifecycle: Default::default(),
    };
    meta.repos().reconcile(&[decl]).await.unwrap();
    let cfg = meta.repos().list().await.unwrap().remove(0);
    let blobs = Arc::new(FsBlobStore::open(dir.path().join("blobs")).await.unwrap());
    let repo = ProxyRepository::new(
        cfg,
        meta.clone(),
        blobs.clone(),
        format,
        tokio::runtime::Handle::current(),
    )
    .unwrap();
    Fixture {
        _dir: dir,
        blobs,
        meta,
        repo,
    }
}

fn p(s: &str) -> AssetPath {
    AssetPath::parse(s).unwrap()
}

fn ctx() -> Ctx {
    Ctx::default()
}

async fn body_of(repo: &ProxyRepository, path: &str) -> Option<(AssetMeta, Vec<u8>)> {
    let a = repo.get(&ctx(), &p(path), None).await.unwrap()?;
    Some((a.meta, read_all(a.body).await))
}

/// Incompressible test bytes.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_through_and_serves_from_cache() {
    let reg = Registry::start().await;
    let layer = noise(300_000, 1);
    let (manifest, md, ld) = reg.push_image("team/app", "1", &layer).await;
    let f = fixture(ProxyConfig::new(&reg.url), Arc::new(DockerSpec::default())).await;

    // A HEAD of a blob not cached asks the upstream's HEAD and caches nothing.
    let blob = format!("/v2/team/app/blobs/{ld}");
    let h = f.repo.head(&ctx(), &p(&blob)).await.unwrap().unwrap();
    assert_eq!(
        (h.blob.digest.clone(), h.blob.size),
        (ld.clone(), layer.len() as u64)
    );
    let s = f.repo.upstream_status();
    assert_eq!((s.gets, s.heads), (0, 1), "{s:?}");
    assert!(f.blobs.stat(&ld).await.unwrap().is_none());
    let missing = format!(
        "/v2/team/app/blobs/{}",
        digest_of(Algorithm::Sha256, b"none")
    );
    assert!(f.repo.head(&ctx(), &p(&missing)).await.unwrap().is_none());

    let (m, bytes) = body_of(&f.repo, "/v2/team/app/manifests/1").await.unwrap();
    assert_eq!(bytes, manifest);
    assert_eq!(m.blob.digest, md);
    assert_eq!(
        m.content_type.as_deref(),
        Some("application/vnd.oci.image.manifest.v1+json")
    );
    let (_, bytes) = body_of(&f.repo, &format!("/v2/team/app/blobs/{ld}"))
        .await
        .unwrap();
    assert_eq!(bytes, layer);
    let s = f.repo.upstream_status();
    assert_eq!((s.gets, s.heads), (2, 2), "{s:?}");
    // Tag lists come from the upstream (and are cached like a tag).
    let (_, tags) = body_of(&f.repo, "/v2/team/app/tags/list").await.unwrap();
    let tags: serde_json::Value = serde_json::from_slice(&tags).unwrap();
    assert_eq!(tags["tags"], json!(["1"]));
    assert_eq!(f.repo.upstream_status().gets, 3);

    // Cached: by tag (fresh), by digest (the alias written with the tag), the blob under any
    // image name of the repository, and HEADs: no upstream request at all.
    reg_gone(reg);
    assert_eq!(
        body_of(&f.repo, "/v2/team/app/manifests/1")
            .await
            .unwrap()
            .1,
        manifest
    );
    assert_eq!(
        body_of(&f.repo, &format!("/v2/team/app/manifests/{md}"))
            .await
            .unwrap()
            .1,
        manifest
    );
    assert_eq!(
        body_of(&f.repo, &format!("/v2/other/blobs/{ld}"))
            .await
            .unwrap()
            .1,
        layer
    );
    let head = f
        .repo
        .head(&ctx(), &p(&format!("/v2/team/app/blobs/{ld}")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.blob.size, layer.len() as u64);
    assert!(body_of(&f.repo, "/v2/team/app/tags/list").await.is_some());
    let ranged = f
        .repo
        .get(
            &ctx(),
            &p(&format!("/v2/team/app/blobs/{ld}")),
            Some(ByteRange::From {
                start: 10,
                end: Some(19),
            }),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read_all(ranged.body).await, layer[10..20]);
    assert_eq!(f.repo.upstream_status().gets, 3);

    // What the catalog (computed locally) shows: the cached image.
    let (_, catalog) = body_of(&f.repo, "/v2/_catalog").await.unwrap();
    let catalog: serde_json::Value = serde_json::from_slice(&catalog).unwrap();
    assert_eq!(catalog["repositories"], json!(["team/app"]));
}

fn reg_gone(mut reg: Registry) {
    reg.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_revalidated_with_a_head_after_max_age() {
    let reg = Registry::start().await;
    let (m1, d1, _) = reg.push_image("app", "latest", b"one").await;
    let mut cfg = ProxyConfig::new(&reg.url);
    cfg.metadata_max_age = 1;
    let f = fixture(cfg, Arc::new(DockerSpec::default())).await;
    let tag = "/v2/app/manifests/latest";

    assert_eq!(body_of(&f.repo, tag).await.unwrap().1, m1);
    let (m2, d2, _) = reg.push_image("app", "latest", b"two").await;
    assert_ne!(d1, d2);
    // Within the max-age: the cached tag, no upstream request.
    assert_eq!(body_of(&f.repo, tag).await.unwrap().1, m1);
    let s = f.repo.upstream_status();
    assert_eq!((s.gets, s.heads), (1, 0));

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (meta, bytes) = body_of(&f.repo, tag).await.unwrap();
    assert_eq!((bytes, meta.blob.digest), (m2.clone(), d2.clone()));
    let s = f.repo.upstream_status();
    assert_eq!((s.gets, s.heads), (2, 1), "changed: a HEAD, then the GET");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(body_of(&f.repo, tag).await.unwrap().1, m2);
    let s = f.repo.upstream_status();
    assert_eq!((s.gets, s.heads), (2, 2), "unchanged: a HEAD only");
    // A HEAD from a client right after is served from the refreshed row.
    let h = f.repo.head(&ctx(), &p(tag)).await.unwrap().unwrap();
    assert_eq!(h.blob.digest, d2);
    assert_eq!(f.repo.upstream_status().heads, 2);
    // The old manifest stays reachable by digest (content is cached forever).
    assert_eq!(
        body_of(&f.repo, &format!("/v2/app/manifests/{d1}"))
            .await
            .unwrap()
            .1,
        m1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_404s_are_remembered() {
    let reg = Registry::start().await;
    let f = fixture(ProxyConfig::new(&reg.url), Arc::new(DockerSpec::default())).await;
    let missing = "/v2/nope/manifests/1";
    assert!(body_of(&f.repo, missing).await.is_none());
    assert!(body_of(&f.repo, missing).await.is_none());
    assert!(f.repo.head(&ctx(), &p(missing)).await.unwrap().is_none());
    assert_eq!(
        f.repo.upstream_status().gets,
        1,
        "the second ask is answered locally"
    );

    let mut cfg = ProxyConfig::new(&reg.url);
    cfg.negative_cache_ttl = 0;
    let f = fixture(cfg, Arc::new(DockerSpec::default())).await;
    assert!(body_of(&f.repo, missing).await.is_none());
    reg.push_image("nope", "1", b"now").await;
    assert!(
        body_of(&f.repo, missing).await.is_some(),
        "no negative cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_fetch_that_outlives_its_clients() {
    let reg = Registry::start().await;
    let layer = noise(12 << 20, 2);
    let digest = reg.push_blob("big", &layer).await;
    let f = Arc::new(fixture(ProxyConfig::new(&reg.url), Arc::new(DockerSpec::default())).await);
    let path = format!("/v2/big/blobs/{digest}");

    // The first client reads one chunk and goes away.
    let first = f.repo.get(&ctx(), &p(&path), None).await.unwrap().unwrap();
    let mut body = first.body;
    assert!(body.next().await.unwrap().is_ok());
    drop(body);

    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (f, path) = (f.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let a = f.repo.get(&ctx(), &p(&path), None).await.unwrap().unwrap();
            assert_eq!(a.meta.blob.size, 12 << 20);
            read_all(a.body).await
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap() == layer, "a client got other bytes");
    }
    assert_eq!(
        f.repo.upstream_status().gets,
        1,
        "one upstream GET for 9 clients"
    );
    // The abandoned fetch completed: cached, and the upstream no longer needed.
    reg_gone(reg);
    let key = format!("/v2/-/blobs/{digest}");
    assert!(
        f.meta
            .assets()
            .get(&f.repo.config().id, &key)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(f.blobs.stat(&digest).await.unwrap().unwrap().size, 12 << 20);
}

/// A client slower than the fetch by more than the in-memory window continues from the blob
/// store at its own offset once the fetch has committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_falls_behind_the_window_continues_from_the_store() {
    let reg = Registry::start().await;
    let size = flight::WINDOW as usize + (8 << 20);
    let layer = noise(size, 6);
    let digest = reg.push_blob("big", &layer).await;
    let f = fixture(ProxyConfig::new(&reg.url), Arc::new(DockerSpec::default())).await;
    let path = p(&format!("/v2/big/blobs/{digest}"));
    let asset = f.repo.get(&ctx(), &path, None).await.unwrap().unwrap();
    let mut body = asset.body;
    let mut got = body.next().await.unwrap().unwrap().to_vec();
    let key = format!("/v2/-/blobs/{digest}");
    for _ in 0..200 {
        if f.meta
            .assets()
            .get(&f.repo.config().id, &key)
            .await
            .unwrap()
            .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while let Some(chunk) = body.next().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert!(
        got == layer,
        "{} bytes, expected {}",
        got.len(),
        layer.len()
    );
    assert_eq!(f.repo.upstream_status().gets, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_fetch_still_fills_the_cache() {
    let reg = Registry::start().await;
    let layer = noise(4 << 20, 3);
    let digest = reg.push_blob("big", &layer).await;
    let f = fixture(ProxyConfig::new(&reg.url), Arc::new(DockerSpec::default())).await;
    let path = p(&format!("/v2/big/blobs/{digest}"));
    drop(f.repo.get(&ctx(), &path, None).await.unwrap().unwrap());
    let key = format!("/v2/-/blobs/{digest}");
    for _ in 0..100 {
        if f.meta
            .assets()
            .get(&f.repo.config().id, &key)
            .await
            .unwrap()
            .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reg_gone(reg);
    assert_eq!(body_of(&f.repo, path.as_str()).await.unwrap().1, layer);
    assert_eq!(f.repo.upstream_status().gets, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_refused() {
    let f = fixture(
        ProxyConfig::new("http://127.0.0.1:9"),
        Arc::new(DockerSpec::default()),
    )
    .await;
    let e = f.repo.check_writable().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unsupported);
    assert_eq!(
        e.msg,
        "repository p is a proxy of http://127.0.0.1:9; push to a hosted repository"
    );
    let asset = NewAsset {
        blob: BlobInfo {
            digest: digest_of(Algorithm::Sha256, b""),
            size: 0,
        },
        content_type: None,
        attrs: json!({}),
    };
    let path = p("/v2/a/manifests/1");
    assert_eq!(
        f.repo.put(&ctx(), &path, asset).await.unwrap_err().kind,
        ErrorKind::Unsupported
    );
    assert_eq!(
        f.repo.delete(&ctx(), &path).await.unwrap_err().kind,
        ErrorKind::Unsupported
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_upstream_serves_stale_tags_then_gets_blocked() {
    let mut reg = Registry::start().await;
    let (m1, _, _) = reg.push_image("app", "1", b"x").await;
    let mut cfg = ProxyConfig::new(&reg.url);
    cfg.metadata_max_age = 0;
    cfg.upstream_timeout = 2;
    let f = fixture(cfg, Arc::new(DockerSpec::default())).await;
    let tag = "/v2/app/manifests/1";
    let (m, bytes) = body_of(&f.repo, tag).await.unwrap();
    assert_eq!(bytes, m1);
    assert!(m.attrs.get(ATTR_UPSTREAM_STALE).is_none());
    reg.stop();

    // Stale but served, and marked as such.
    let (m, bytes) = body_of(&f.repo, tag).await.unwrap();
    assert_eq!(bytes, m1);
    let why = m.attrs[ATTR_UPSTREAM_STALE].as_str().unwrap();
    assert!(why.contains("unreachable"), "{why}");
    let h = f.repo.head(&ctx(), &p(tag)).await.unwrap().unwrap();
    assert!(h.attrs.get(ATTR_UPSTREAM_STALE).is_some());
    assert!(f.repo.upstream_status().available);

    // Not cached: a clear error; the third connection failure blocks the upstream.
    let e = f
        .repo
        .get(&ctx(), &p("/v2/app/manifests/2"), None)
        .await
        .err()
        .unwrap();
    assert_eq!(e.kind, ErrorKind::Unavailable, "{e:?}");
    assert!(e.msg.contains("unreachable"), "{}", e.msg);
    let s = f.repo.upstream_status();
    assert!(!s.available, "{s:?}");
    assert_eq!(s.consecutive_failures, 3);
    assert!(s.blocked_until.unwrap() > now_millis());
    assert!(
        s.last_error.unwrap().contains("onnect"),
        "the cause is kept"
    );

    // Blocked: nothing is sent, cached tags still serve.
    let sent = (s.gets, s.heads);
    let e = f
        .repo
        .get(&ctx(), &p("/v2/app/manifests/3"), None)
        .await
        .err()
        .unwrap();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(e.msg.contains("blocked"), "{}", e.msg);
    let (m, bytes) = body_of(&f.repo, tag).await.unwrap();
    assert_eq!(bytes, m1);
    assert!(
        m.attrs[ATTR_UPSTREAM_STALE]
            .as_str()
            .unwrap()
            .contains("blocked")
    );
    let s = f.repo.upstream_status();
    assert_eq!((s.gets, s.heads), sent, "no request while blocked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_format_and_a_lying_upstream() {
    let reg = Registry::start().await;
    let a = noise(100_000, 4);
    let b = noise(100_000, 5);
    let da = reg.push_blob("files", &a).await;
    let db = reg.push_blob("files", &b).await;
    let f = fixture(ProxyConfig::new(&reg.url), Arc::new(FileFormat)).await;

    assert_eq!(
        body_of(&f.repo, &format!("/files/{da}")).await.unwrap().1,
        a
    );

    // Bytes of a claimed to be b: the client sees the transfer fail, nothing is cached.
    let lie = format!("/claimed/{db}/{da}");
    let e = fetch(&f.repo, &lie).await.unwrap_err();
    assert!(e.contains("wrong content"), "{e}");
    assert!(
        f.meta
            .assets()
            .get(&f.repo.config().id, &lie)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        f.blobs.stat(&db).await.unwrap().is_none(),
        "never stored under the claimed digest"
    );
    // The next request tries again (no negative or poisoned entry), and fails the same way.
    assert!(
        fetch(&f.repo, &lie)
            .await
            .unwrap_err()
            .contains("wrong content")
    );
    assert_eq!(f.repo.upstream_status().gets, 3);
    assert_eq!(
        body_of(&f.repo, &format!("/files/{db}")).await.unwrap().1,
        b
    );
}

/// The whole body, or the error the request or the body stream ended with. Checks that a failed
/// transfer never delivered every byte.
async fn fetch(repo: &ProxyRepository, path: &str) -> std::result::Result<Vec<u8>, String> {
    let asset = match repo.get(&ctx(), &p(path), None).await {
        Ok(Some(a)) => a,
        Ok(None) => return Err("not found".into()),
        Err(e) => return Err(e.msg),
    };
    let size = asset.meta.blob.size as usize;
    let mut body = asset.body;
    let mut got = Vec::new();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(c) => got.extend_from_slice(&c),
            Err(e) => {
                assert!(got.len() < size, "a failed body delivered all {size} bytes");
                return Err(e.to_string());
            }
        }
    }
    Ok(got)
}

#[test]
fn credentials_come_from_env_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "s3cret\n").unwrap();
    let mut cfg = ProxyConfig::new("https://x");
    assert!(Credentials::from_config(&cfg).unwrap().is_none());
    cfg.upstream_username = Some("u".into());
    cfg.upstream_password_file = Some(file.display().to_string());
    let c = Credentials::from_config(&cfg).unwrap().unwrap();
    assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "s3cret"));
    cfg.upstream_password_file = None;
    cfg.upstream_password_env = Some("TROVE_PROXY_TEST_SURELY_UNSET".into());
    let e = Credentials::from_config(&cfg).unwrap_err();
    assert!(
        e.msg.contains("TROVE_PROXY_TEST_SURELY_UNSET is not set"),
        "{}",
        e.msg
    );
}

#[test]
fn proxy_config_round_trips_through_the_database_json() {
    let mut cfg = ProxyConfig::new("https://registry-1.docker.io");
    cfg.metadata_max_age = 7;
    let kind = KindConfig::Proxy(cfg);
    let text = serde_json::to_string(&kind).unwrap();
    assert_eq!(serde_json::from_str::<KindConfig>(&text).unwrap(), kind);
    // Older rows without the optional keys get the defaults.
    let old: KindConfig = serde_json::from_str(r#"{"kind":"proxy","remote":"https://x"}"#).unwrap();
    assert_eq!(old, KindConfig::Proxy(ProxyConfig::new("https://x")));
}
