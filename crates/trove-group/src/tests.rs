//! The group against real hosted members (a temp metadata store and an in-memory blob store) and
//! a toy format (`TestFormat`), which proves it is generic: nothing here knows docker (the
//! docker merge is tested in trove-formats, and through a group in trove-server's tests).

use std::sync::atomic::{AtomicUsize, Ordering};

use trove_core::{AssetIndex, BlobStore, FormatId, KindConfig, WritePolicy};
use trove_hosted::HostedRepository;
use trove_routing::{Mode, RoutingRule, RuleGuard};
use trove_store::testing::{body, read_all as read_stream};
use trove_store::{DeclaredRepo, MemBlobStore, MetadataStore, digest_of};

use super::*;

/// Stores every path as given and generates `/index` (the stored paths, one per line); a group
/// merges `/index` documents into the sorted union of their lines when `merges` is set.
struct TestFormat {
    merges: bool,
}

#[async_trait]
impl FormatSpec for TestFormat {
    fn id(&self) -> trove_core::FormatId {
        FormatId::new("test")
    }
    fn storage_path(&self, path: &AssetPath) -> AssetPath {
        path.clone()
    }
    async fn generate(
        &self,
        path: &AssetPath,
        index: &dyn AssetIndex,
    ) -> Result<Option<Generated>> {
        if path.as_str() != "/index" {
            return Ok(None);
        }
        let all = index.list("/", &Page::default()).await?;
        let text: Vec<String> = all.iter().map(|m| m.path.to_string()).collect();
        Ok(Some(Generated {
            bytes: Bytes::from(text.join("\n")),
            content_type: "text/plain".into(),
        }))
    }
    fn merge(&self, path: &AssetPath, parts: Vec<trove_core::MergePart>) -> Option<Generated> {
        if !self.merges || path.as_str() != "/index" {
            return None;
        }
        let mut lines: Vec<String> = parts
            .iter()
            .flat_map(|p| {
                String::from_utf8_lossy(&p.doc.bytes)
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter(|l| !l.is_empty())
            .collect();
        lines.sort();
        lines.dedup();
        Some(Generated {
            bytes: Bytes::from(lines.join("\n")),
            content_type: "text/plain".into(),
        })
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    blobs: Arc<MemBlobStore>,
    a: Arc<HostedRepository>,
    b: Arc<HostedRepository>,
    read_only: Arc<HostedRepository>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let meta = MetadataStore::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    let decl = |name: &str, write_policy| DeclaredRepo {
        name: RepoName::parse(name).unwrap(),
        format: "test".into(),
        options: Default::default(),
        kind: KindConfig::Hosted { write_policy },
        force_basic_auth: false,
        routing_rule: None,
        connector: None,
        lifecycle: Default::default(),
    };
    meta.repos()
        .reconcile(&[
            decl("a", WritePolicy::Allow),
            decl("b", WritePolicy::Allow),
            decl("ro", WritePolicy::Deny),
        ])
        .await
        .unwrap();
    let configs = meta.repos().list().await.unwrap();
    let blobs = Arc::new(MemBlobStore::new());
    let format = Arc::new(TestFormat { merges: true });
    let hosted = |name: &str| {
        let cfg = configs
            .iter()
            .find(|c| c.name.as_str() == name)
            .unwrap()
            .clone();
        Arc::new(HostedRepository::new(
            cfg,
            meta.clone(),
            blobs.clone(),
            format.clone(),
        ))
    };
    Fixture {
        a: hosted("a"),
        b: hosted("b"),
        read_only: hosted("ro"),
        blobs,
        _dir: dir,
    }
}

impl Fixture {
    async fn store(&self, data: &[u8]) -> NewAsset {
        let id = self.blobs.begin_upload().await.unwrap();
        self.blobs.append(&id, 0, body(&[data])).await.unwrap();
        let blob = self
            .blobs
            .commit(&id, &digest_of(Algorithm::Sha256, data))
            .await
            .unwrap();
        NewAsset {
            blob,
            content_type: Some("text/plain".into()),
            attrs: serde_json::Value::Null,
        }
    }

    async fn put(&self, repo: &HostedRepository, path: &str, data: &[u8]) {
        let asset = self.store(data).await;
        repo.put(&Ctx::default(), &p(path), asset).await.unwrap();
    }

    /// A group named `g` (its config borrowed from member `a`, so it follows core's fields).
    fn group(
        &self,
        members: Vec<Arc<dyn Repository>>,
        writable: Option<Arc<dyn Repository>>,
        merges: bool,
    ) -> GroupRepository {
        GroupRepository::new(
            config_named(self.a.config(), "g"),
            members,
            writable,
            Arc::new(TestFormat { merges }),
        )
    }
}

fn config_named(template: &RepositoryConfig, name: &str) -> RepositoryConfig {
    let mut cfg = template.clone();
    cfg.id = format!("{name}-id");
    cfg.name = RepoName::parse(name).unwrap();
    cfg
}

fn p(s: &str) -> AssetPath {
    AssetPath::parse(s).unwrap()
}

async fn text(repo: &dyn Repository, path: &str) -> Option<String> {
    let asset = repo.get(&Ctx::default(), &p(path), None).await.unwrap()?;
    Some(String::from_utf8(read_stream(asset.body).await).unwrap())
}

fn block(name: &str, matcher: &str, inner: Arc<dyn Repository>) -> Arc<dyn Repository> {
    let rule = RoutingRule::new(name, "", Mode::Block, &[matcher]).unwrap();
    Arc::new(RuleGuard::new(inner, Arc::new(rule)))
}

/// A member that serves fixed documents or always fails with `fail`, counting requests.
struct Fake {
    cfg: RepositoryConfig,
    docs: Vec<(&'static str, &'static str, &'static [u8])>,
    fail: Option<ErrorKind>,
    asked: AtomicUsize,
}

impl Fake {
    fn failing(template: &RepositoryConfig, name: &str, kind: ErrorKind) -> Arc<Fake> {
        Arc::new(Fake {
            cfg: config_named(template, name),
            docs: vec![],
            fail: Some(kind),
            asked: AtomicUsize::new(0),
        })
    }
    fn answer(&self, path: &AssetPath) -> Result<Option<(AssetMeta, Bytes)>> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        if let Some(kind) = &self.fail {
            return Err(Error::new(
                kind.clone(),
                format!("upstream of {} is unreachable", self.cfg.name),
            ));
        }
        let Some((_, ctype, bytes)) = self.docs.iter().find(|(p, _, _)| *p == path.as_str()) else {
            return Ok(None);
        };
        let meta = AssetMeta {
            path: path.clone(),
            blob: BlobInfo {
                digest: digest_of(Algorithm::Sha256, bytes),
                size: bytes.len() as u64,
            },
            content_type: Some((*ctype).into()),
            created: 0,
            last_downloaded: None,
            attrs: serde_json::Value::Null,
        };
        Ok(Some((meta, Bytes::from_static(bytes))))
    }
}

#[async_trait]
impl Repository for Fake {
    fn config(&self) -> &RepositoryConfig {
        &self.cfg
    }
    fn check_writable(&self) -> Result<()> {
        Err(Error::unsupported("fake"))
    }
    async fn get(
        &self,
        _ctx: &Ctx,
        path: &AssetPath,
        _range: Option<ByteRange>,
    ) -> Result<Option<Asset>> {
        Ok(self.answer(path)?.map(|(meta, bytes)| Asset {
            meta,
            body: Box::pin(futures_util::stream::iter([Ok(bytes)])),
            served: None,
        }))
    }
    async fn head(&self, _ctx: &Ctx, path: &AssetPath) -> Result<Option<AssetMeta>> {
        Ok(self.answer(path)?.map(|(meta, _)| meta))
    }
    async fn put(&self, _ctx: &Ctx, _path: &AssetPath, _asset: NewAsset) -> Result<AssetMeta> {
        Err(Error::unsupported("fake"))
    }
    async fn delete(&self, _ctx: &Ctx, _path: &AssetPath) -> Result<bool> {
        Err(Error::unsupported("fake"))
    }
    async fn list(&self, _ctx: &Ctx, _prefix: &str, _page: &Page) -> Result<Vec<AssetMeta>> {
        match &self.fail {
            Some(kind) => Err(Error::new(kind.clone(), "listing failed")),
            None => Ok(vec![]),
        }
    }
}

#[tokio::test]
async fn first_hit_in_member_order() {
    let f = fixture().await;
    f.put(&f.a, "/f", b"from a").await;
    f.put(&f.b, "/f", b"from b").await;
    f.put(&f.b, "/only-b", b"b alone").await;
    let ab = f.group(vec![f.a.clone(), f.b.clone()], None, true);
    let ba = f.group(vec![f.b.clone(), f.a.clone()], None, true);
    assert_eq!(text(&ab, "/f").await.as_deref(), Some("from a"));
    assert_eq!(text(&ba, "/f").await.as_deref(), Some("from b"));
    assert_eq!(text(&ab, "/only-b").await.as_deref(), Some("b alone"));
    assert_eq!(text(&ab, "/missing").await, None);

    let ctx = Ctx::default();
    let head = ab.head(&ctx, &p("/f")).await.unwrap().unwrap();
    assert_eq!(head.blob.digest, digest_of(Algorithm::Sha256, b"from a"));
    assert!(ab.head(&ctx, &p("/missing")).await.unwrap().is_none());

    // Ranges go to the member that has the asset, and its refusal is the answer.
    let range = ByteRange::From {
        start: 5,
        end: None,
    };
    let got = ab.get(&ctx, &p("/f"), Some(range)).await.unwrap().unwrap();
    assert_eq!(read_stream(got.body).await, b"a");
    let beyond = ByteRange::From {
        start: 100,
        end: None,
    };
    let e = ab.get(&ctx, &p("/f"), Some(beyond)).await.err().unwrap();
    assert_eq!(e.kind, ErrorKind::RangeNotSatisfiable);

    // An empty group has nothing.
    let empty = f.group(vec![], None, true);
    assert_eq!(text(&empty, "/f").await, None);
    assert_eq!(text(&empty, "/index").await, None);
}

#[tokio::test]
async fn members_whose_rule_blocks_the_path_are_skipped() {
    let f = fixture().await;
    f.put(&f.a, "/secret/x", b"a's secret").await;
    f.put(&f.b, "/secret/x", b"b's copy").await;
    let guarded_a = block("no-secrets", "^/secret/.*", f.a.clone());
    let g = f.group(vec![guarded_a.clone(), f.b.clone()], None, true);
    assert_eq!(text(&g, "/secret/x").await.as_deref(), Some("b's copy"));
    // Blocked in one member, absent from the other: simply not there (a 404, so that a docker
    // push through the group, which HEADs every blob first, still uploads it).
    assert_eq!(text(&g, "/secret/none").await, None);
    assert!(
        g.head(&Ctx::default(), &p("/secret/none"))
            .await
            .unwrap()
            .is_none()
    );

    // Blocked by every member: the rule is the answer.
    let only = f.group(vec![guarded_a], None, true);
    let e = only
        .get(&Ctx::default(), &p("/secret/x"), None)
        .await
        .err()
        .unwrap();
    assert_eq!(
        e.kind,
        ErrorKind::Blocked {
            rule: "no-secrets".into()
        }
    );
    assert!(
        e.msg
            .starts_with("every member of group g refuses /secret/x: a: "),
        "{}",
        e.msg
    );
}

#[tokio::test]
async fn failing_members_are_skipped_but_reported_when_nothing_answers() {
    let f = fixture().await;
    f.put(&f.a, "/f", b"from a").await;
    let down = Fake::failing(f.a.config(), "hub", ErrorKind::Unavailable);
    let broken = Fake::failing(f.a.config(), "broken", ErrorKind::Internal);
    let g = f.group(vec![broken.clone(), down.clone(), f.a.clone()], None, true);
    assert_eq!(text(&g, "/f").await.as_deref(), Some("from a"));
    assert_eq!(down.asked.load(Ordering::SeqCst), 1);

    // Nobody has it and a member could not tell: its error beats a bare 404, and an
    // unreachable upstream says more than an internal error.
    let e = g
        .get(&Ctx::default(), &p("/missing"), None)
        .await
        .err()
        .unwrap();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert_eq!(
        e.msg,
        "no member of group g could answer for /missing; hub: upstream of hub is unreachable \
         (1 other member(s) failed too)"
    );
    let e = g.head(&Ctx::default(), &p("/missing")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);

    // Listings fail as a whole rather than look complete.
    let e = g
        .list(&Ctx::default(), "/", &Page::default())
        .await
        .unwrap_err();
    assert!(
        e.msg.starts_with("group g: listing member broken:"),
        "{}",
        e.msg
    );
}

#[tokio::test]
async fn generated_documents_are_merged() {
    let f = fixture().await;
    f.put(&f.a, "/x1", b"1").await;
    f.put(&f.a, "/x2", b"2").await;
    f.put(&f.b, "/x2", b"2").await;
    f.put(&f.b, "/y", b"3").await;
    let ctx = Ctx::default();

    let g = f.group(vec![f.a.clone(), f.b.clone()], None, true);
    assert_eq!(text(&g, "/index").await.as_deref(), Some("/x1\n/x2\n/y"));
    let head = g.head(&ctx, &p("/index")).await.unwrap().unwrap();
    assert_eq!(head.blob.size, "/x1\n/x2\n/y".len() as u64);
    assert_eq!(
        head.blob.digest,
        digest_of(Algorithm::Sha256, b"/x1\n/x2\n/y")
    );
    assert_eq!(head.content_type.as_deref(), Some("text/plain"));
    assert_eq!(head.attrs, serde_json::Value::Null);

    // A member whose rule refuses the document adds nothing to it.
    let g = f.group(
        vec![block("no-index", "/index", f.a.clone()), f.b.clone()],
        None,
        true,
    );
    assert_eq!(text(&g, "/index").await.as_deref(), Some("/x2\n/y"));

    // A member that fails leaves a partial document, marked stale so clients are warned.
    let down = Fake::failing(f.a.config(), "hub", ErrorKind::Unavailable);
    let g = f.group(vec![f.a.clone(), down.clone()], None, true);
    let got = g.get(&ctx, &p("/index"), None).await.unwrap().unwrap();
    assert_eq!(
        got.meta.attrs[ATTR_UPSTREAM_STALE],
        "group g: hub could not answer: upstream of hub is unreachable"
    );
    assert_eq!(read_stream(got.body).await, b"/x1\n/x2");
    // ... and when nothing answers, the failure is the answer.
    let g = f.group(vec![down], None, true);
    let e = g.get(&ctx, &p("/index"), None).await.err().unwrap();
    assert_eq!(e.kind, ErrorKind::Unavailable);

    // Without a merge for the path, the first member that has it answers.
    let g = f.group(vec![f.b.clone(), f.a.clone()], None, false);
    assert_eq!(text(&g, "/index").await.as_deref(), Some("/x2\n/y"));
}

#[tokio::test]
async fn nested_groups() {
    let f = fixture().await;
    f.put(&f.a, "/x", b"a").await;
    f.put(&f.b, "/only-b", b"b").await;
    let inner: Arc<dyn Repository> = Arc::new(f.group(vec![f.b.clone()], None, true));
    let outer = f.group(vec![f.a.clone(), inner], None, true);
    assert_eq!(text(&outer, "/only-b").await.as_deref(), Some("b"));
    assert_eq!(text(&outer, "/index").await.as_deref(), Some("/only-b\n/x"));
}

#[tokio::test]
async fn writes_go_to_the_writable_member() {
    let f = fixture().await;
    let ctx = Ctx::default();
    let g = f.group(vec![f.a.clone(), f.b.clone()], Some(f.b.clone()), true);
    g.check_writable().unwrap();
    let asset = f.store(b"pushed").await;
    let meta = g.put(&ctx, &p("/new"), asset).await.unwrap();
    assert_eq!(meta.blob.size, 6);
    assert!(f.b.head(&ctx, &p("/new")).await.unwrap().is_some());
    assert!(f.a.head(&ctx, &p("/new")).await.unwrap().is_none());
    assert_eq!(text(&g, "/new").await.as_deref(), Some("pushed"));
    assert!(g.delete(&ctx, &p("/new")).await.unwrap());
    assert!(f.b.head(&ctx, &p("/new")).await.unwrap().is_none());
    assert!(!g.delete(&ctx, &p("/new")).await.unwrap());

    // The writable member's own refusals come through unchanged.
    let g = f.group(vec![f.read_only.clone()], Some(f.read_only.clone()), true);
    let e = g.check_writable().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unsupported);
    assert!(e.msg.contains("read-only"), "{}", e.msg);
    let guarded = block("no-tmp", "/tmp/.*", f.b.clone());
    let g = f.group(vec![guarded.clone()], Some(guarded), true);
    let asset = f.store(b"tmp").await;
    let e = g.put(&ctx, &p("/tmp/x"), asset).await.unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::Blocked {
            rule: "no-tmp".into()
        }
    );
}

#[tokio::test]
async fn without_a_writable_member_writes_are_unsupported() {
    let f = fixture().await;
    let ctx = Ctx::default();
    let g = f.group(vec![f.a.clone(), f.b.clone()], None, true);
    let msg = "group g has no writable member; push to a hosted repository or set \
               writable_member";
    let e = g.check_writable().unwrap_err();
    assert_eq!((e.kind, e.msg.as_str()), (ErrorKind::Unsupported, msg));
    let asset = f.store(b"x").await;
    let e = g.put(&ctx, &p("/x"), asset).await.unwrap_err();
    assert_eq!((e.kind, e.msg.as_str()), (ErrorKind::Unsupported, msg));
    let e = g.delete(&ctx, &p("/x")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unsupported);
    assert!(f.a.head(&ctx, &p("/x")).await.unwrap().is_none());
    assert!(f.b.head(&ctx, &p("/x")).await.unwrap().is_none());
}

#[tokio::test]
async fn listings_are_the_union_with_the_first_member_winning() {
    let f = fixture().await;
    f.put(&f.a, "/a1", b"a1").await;
    f.put(&f.a, "/f", b"a's f").await;
    f.put(&f.b, "/b1", b"b1").await;
    f.put(&f.b, "/f", b"b's f").await;
    f.put(&f.b, "/z", b"z").await;
    let ctx = Ctx::default();
    // b's rule hides `/z` from its listing.
    let g = f.group(
        vec![f.a.clone(), block("hide-z", "/z", f.b.clone())],
        None,
        true,
    );
    let paths = |v: &[AssetMeta]| -> Vec<String> { v.iter().map(|m| m.path.to_string()).collect() };
    let all = g.list(&ctx, "/", &Page::default()).await.unwrap();
    assert_eq!(paths(&all), ["/a1", "/b1", "/f"]);
    let f_entry = all.iter().find(|m| m.path.as_str() == "/f").unwrap();
    assert_eq!(f_entry.blob.digest, digest_of(Algorithm::Sha256, b"a's f"));

    let page = |after: Option<&str>| Page {
        after: after.map(str::to_owned),
        limit: Some(2),
    };
    let first = g.list(&ctx, "/", &page(None)).await.unwrap();
    assert_eq!(paths(&first), ["/a1", "/b1"]);
    let second = g.list(&ctx, "/", &page(Some("/b1"))).await.unwrap();
    assert_eq!(paths(&second), ["/f"]);
    let third = g.list(&ctx, "/", &page(Some("/f"))).await.unwrap();
    assert!(third.is_empty());
}

/// Content named by its digest is the same bytes in every member, so an image whose manifest
/// was resolved by tag in one member can take its blobs from whichever member has them first.
#[tokio::test]
async fn content_by_digest_is_consistent_across_members() {
    let f = fixture().await;
    let layer = b"layer bytes";
    let digest = digest_of(Algorithm::Sha256, layer);
    let blob_path = format!("/img/blobs/{digest}");
    f.put(&f.b, "/img/manifests/1", b"manifest -> layer").await;
    f.put(&f.b, &blob_path, layer).await;
    f.put(&f.a, &blob_path, layer).await;
    let g = f.group(vec![f.a.clone(), f.b.clone()], None, true);
    let ctx = Ctx::default();
    let manifest = g.head(&ctx, &p("/img/manifests/1")).await.unwrap().unwrap();
    assert_eq!(
        manifest.blob.digest,
        digest_of(Algorithm::Sha256, b"manifest -> layer")
    );
    let got = g.get(&ctx, &p(&blob_path), None).await.unwrap().unwrap();
    assert_eq!(got.meta.blob.digest, digest);
    assert_eq!(read_stream(got.body).await, layer);
}

/// Merges `/who` as `member:kind` lines (what `merge` is told of each part), counting merges;
/// renders variant `upper`; stores `/who` as it is given.
#[derive(Default)]
struct WhoFormat {
    merged: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl FormatSpec for WhoFormat {
    fn id(&self) -> trove_core::FormatId {
        FormatId::new("test")
    }
    fn storage_path(&self, path: &AssetPath) -> AssetPath {
        path.clone()
    }
    fn generates(&self, _: &AssetPath) -> bool {
        false
    }
    async fn generate(&self, _: &AssetPath, _: &dyn AssetIndex) -> Result<Option<Generated>> {
        Ok(None)
    }
    fn merges(&self, path: &AssetPath) -> bool {
        path.as_str() == "/who"
    }
    fn merge(&self, path: &AssetPath, parts: Vec<trove_core::MergePart>) -> Option<Generated> {
        if path.as_str() != "/who" {
            return None;
        }
        self.merged
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let lines: Vec<String> = parts
            .iter()
            .map(|p| {
                format!(
                    "{}:{}:{}",
                    p.member,
                    p.kind.as_str(),
                    String::from_utf8_lossy(&p.doc.bytes)
                )
            })
            .collect();
        Some(Generated {
            bytes: Bytes::from(lines.join("\n")),
            content_type: "text/plain".into(),
        })
    }
    fn render(&self, _: &AssetPath, variant: &str, doc: &Generated) -> Result<Option<Generated>> {
        Ok((variant == "upper").then(|| Generated {
            bytes: Bytes::from(doc.bytes.to_ascii_uppercase()),
            content_type: "text/upper".into(),
        }))
    }
}

/// A merge is told each part's member and kind (a format guards against dependency confusion
/// with it), is kept while the parts are unchanged, asks members for their canonical form, and
/// renders the caller's variant from the merged document.
#[tokio::test]
async fn merges_know_their_members_are_kept_and_render_variants() {
    let f = fixture().await;
    f.put(&f.a, "/who", b"from a").await;
    f.put(&f.b, "/who", b"from b").await;
    let who = Arc::new(WhoFormat::default());
    let g = GroupRepository::new(
        config_named(f.a.config(), "g"),
        vec![f.a.clone(), f.b.clone()],
        None,
        who.clone(),
    );
    let read = |ctx: Ctx| {
        let g = &g;
        async move {
            let a = g.get(&ctx, &p("/who"), None).await.unwrap().unwrap();
            String::from_utf8(trove_store::testing::read_all(a.body).await).unwrap()
        }
    };
    assert_eq!(
        read(Ctx::default()).await,
        "a:hosted:from a\nb:hosted:from b"
    );
    assert_eq!(
        read(Ctx::default()).await,
        "a:hosted:from a\nb:hosted:from b"
    );
    let upper = Ctx {
        variant: Some("upper"),
        ..Ctx::default()
    };
    assert_eq!(
        read(upper.clone()).await,
        "A:HOSTED:FROM A\nB:HOSTED:FROM B"
    );
    assert_eq!(
        who.merged.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "unchanged parts are merged once, variants included"
    );
    f.put(&f.b, "/who", b"b changed").await;
    assert_eq!(read(upper).await, "A:HOSTED:FROM A\nB:HOSTED:B CHANGED");
    assert_eq!(who.merged.load(std::sync::atomic::Ordering::SeqCst), 2);
}
