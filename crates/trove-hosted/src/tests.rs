//! The kind against a toy format (`TestFormat`), which proves it is generic: nothing here knows
//! docker.

use trove_core::{Algorithm, ErrorKind, FormatId, Generated, RepoName};
use trove_store::testing::{body, read_all};
use trove_store::{DeclaredRepo, MemBlobStore, digest_of};

use super::*;

/// Stores `/shared/<x>` for any `/<dir>/shared/<x>`, generates `/index` from the stored paths
/// and `/concat` from the stored bodies under `/docs/`, renders variant `upper` of any document
/// in upper case, and calls what is under `/meta/` mutable.
struct TestFormat;

#[async_trait]
impl FormatSpec for TestFormat {
    fn id(&self) -> FormatId {
        FormatId::new("test")
    }
    fn storage_path(&self, path: &AssetPath) -> AssetPath {
        match path.as_str().split_once("/shared/") {
            Some((_, x)) => AssetPath::parse(&format!("/shared/{x}")).unwrap(),
            None => path.clone(),
        }
    }
    fn is_mutable(&self, path: &AssetPath) -> bool {
        path.as_str().starts_with("/meta/")
    }
    fn render(
        &self,
        _path: &AssetPath,
        variant: &str,
        doc: &Generated,
    ) -> Result<Option<Generated>> {
        Ok((variant == "upper").then(|| Generated {
            bytes: Bytes::from(doc.bytes.to_ascii_uppercase()),
            content_type: "text/upper".into(),
        }))
    }
    async fn generate(
        &self,
        path: &AssetPath,
        index: &dyn AssetIndex,
    ) -> Result<Option<Generated>> {
        if path.as_str() == "/concat" {
            let mut out = Vec::new();
            for m in index.list("/docs/", &Page::default()).await? {
                out.extend_from_slice(&index.read(&m).await?);
            }
            return Ok(Some(Generated {
                bytes: Bytes::from(out),
                content_type: "text/plain".into(),
            }));
        }
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
}

struct Fixture {
    _dir: tempfile::TempDir,
    blobs: Arc<MemBlobStore>,
    repo: HostedRepository,
}

async fn fixture(write_policy: WritePolicy) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let meta = MetadataStore::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    let kind = KindConfig::Hosted { write_policy };
    let name = RepoName::parse("h").unwrap();
    let decl = DeclaredRepo {
        name,
        format: "test".into(),
        options: Default::default(),
        kind,
        force_basic_auth: false,
        routing_rule: None,
        connector: None,
        lifecycle: Default::default(),
    };
    meta.repos().reconcile(&[decl]).await.unwrap();
    let cfg = meta.repos().list().await.unwrap().remove(0);
    let blobs = Arc::new(MemBlobStore::new());
    let repo = HostedRepository::new(cfg, meta, blobs.clone(), Arc::new(TestFormat));
    Fixture {
        _dir: dir,
        blobs,
        repo,
    }
}

async fn store(f: &Fixture, data: &[u8]) -> NewAsset {
    let id = f.blobs.begin_upload().await.unwrap();
    f.blobs.append(&id, 0, body(&[data])).await.unwrap();
    let blob = f
        .blobs
        .commit(&id, &digest_of(Algorithm::Sha256, data))
        .await
        .unwrap();
    NewAsset {
        blob,
        content_type: Some("text/plain".into()),
        attrs: serde_json::json!({"a": 1}),
    }
}

fn p(s: &str) -> AssetPath {
    AssetPath::parse(s).unwrap()
}

#[tokio::test]
async fn put_get_head_range_delete() {
    let f = fixture(WritePolicy::Allow).await;
    let ctx = Ctx::default();
    assert!(
        f.repo
            .get(&ctx, &p("/a/file"), None)
            .await
            .unwrap()
            .is_none()
    );
    let asset = store(&f, b"0123456789").await;
    let meta = f.repo.put(&ctx, &p("/a/file"), asset).await.unwrap();
    assert_eq!(meta.blob.size, 10);
    let got = f
        .repo
        .get(&ctx, &p("/a/file"), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.meta.attrs, serde_json::json!({"a": 1}));
    assert_eq!(read_all(got.body).await, b"0123456789");
    let range = ByteRange::From {
        start: 2,
        end: Some(4),
    };
    let got = f
        .repo
        .get(&ctx, &p("/a/file"), Some(range))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.served, Some((2, 3)));
    assert_eq!(read_all(got.body).await, b"234");
    let bad = ByteRange::From {
        start: 10,
        end: None,
    };
    let err = f
        .repo
        .get(&ctx, &p("/a/file"), Some(bad))
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind, ErrorKind::RangeNotSatisfiable);
    assert_eq!(
        f.repo
            .head(&ctx, &p("/a/file"))
            .await
            .unwrap()
            .unwrap()
            .blob
            .size,
        10
    );
    assert!(f.repo.delete(&ctx, &p("/a/file")).await.unwrap());
    assert!(f.repo.head(&ctx, &p("/a/file")).await.unwrap().is_none());
}

#[tokio::test]
async fn storage_path_and_generate_come_from_the_format() {
    let f = fixture(WritePolicy::Allow).await;
    let ctx = Ctx::default();
    let asset = store(&f, b"shared bytes").await;
    f.repo.put(&ctx, &p("/one/shared/x"), asset).await.unwrap();
    let via_other = f
        .repo
        .get(&ctx, &p("/two/shared/x"), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read_all(via_other.body).await, b"shared bytes");
    let index = f.repo.get(&ctx, &p("/index"), None).await.unwrap().unwrap();
    assert_eq!(index.meta.content_type.as_deref(), Some("text/plain"));
    assert_eq!(read_all(index.body).await, b"/shared/x");
}

#[tokio::test]
async fn write_policies() {
    let f = fixture(WritePolicy::AllowOnce).await;
    let ctx = Ctx::default();
    let one = store(&f, b"one").await;
    f.repo.put(&ctx, &p("/f"), one.clone()).await.unwrap();
    f.repo
        .put(&ctx, &p("/f"), one)
        .await
        .expect("same content again is fine");
    let two = store(&f, b"two").await;
    assert_eq!(
        f.repo.put(&ctx, &p("/f"), two).await.unwrap_err().kind,
        ErrorKind::AlreadyExists
    );

    let f = fixture(WritePolicy::Deny).await;
    assert_eq!(
        f.repo.check_writable().unwrap_err().kind,
        ErrorKind::Unsupported
    );
    let one = store(&f, b"one").await;
    assert_eq!(
        f.repo.put(&ctx, &p("/f"), one).await.unwrap_err().kind,
        ErrorKind::Unsupported
    );
}

#[tokio::test]
async fn a_row_without_its_blob_is_an_internal_error() {
    let f = fixture(WritePolicy::Allow).await;
    let ctx = Ctx::default();
    let asset = store(&f, b"gone").await;
    let digest = asset.blob.digest.clone();
    f.repo.put(&ctx, &p("/f"), asset).await.unwrap();
    f.blobs.delete(&digest).await.unwrap();
    let err = f.repo.get(&ctx, &p("/f"), None).await.err().unwrap();
    assert_eq!(err.kind, ErrorKind::Internal);
}

#[tokio::test]
async fn a_get_records_last_downloaded_a_head_does_not() {
    let f = fixture(WritePolicy::Allow).await;
    let ctx = Ctx::default();
    let asset = store(&f, b"payload").await;
    f.repo.put(&ctx, &p("/a/file"), asset).await.unwrap();
    let meta = &f.repo.meta;
    f.repo.head(&ctx, &p("/a/file")).await.unwrap().unwrap();
    assert_eq!(
        meta.flush_downloads().await.unwrap(),
        0,
        "HEAD is not a download"
    );
    let before = trove_core::now_millis();
    f.repo
        .get(&ctx, &p("/a/file"), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(meta.flush_downloads().await.unwrap(), 1);
    let got = f.repo.head(&ctx, &p("/a/file")).await.unwrap().unwrap();
    assert!(got.last_downloaded.is_some_and(|t| t >= before), "{got:?}");
    assert_eq!(meta.flush_downloads().await.unwrap(), 0, "flushed once");
}

fn upper() -> Ctx {
    Ctx {
        variant: Some("upper"),
        ..Ctx::default()
    }
}

async fn text(repo: &HostedRepository, ctx: &Ctx, path: &str) -> Vec<u8> {
    let a = repo.get(ctx, &p(path), None).await.unwrap().expect(path);
    read_all(a.body).await
}

/// Variants of generated and of stored documents are rendered by the format, cached, and
/// follow changes to the rows; HEAD describes the variant.
#[tokio::test]
async fn variants_of_generated_and_stored_documents() {
    let f = fixture(WritePolicy::Allow).await;
    let ctx = Ctx::default();
    let a = store(&f, b"alpha ").await;
    f.repo.put(&ctx, &p("/docs/a"), a).await.unwrap();
    let b = store(&f, b"beta").await;
    f.repo.put(&ctx, &p("/docs/b"), b).await.unwrap();
    assert_eq!(
        text(&f.repo, &ctx, "/concat").await,
        b"alpha beta",
        "read through AssetIndex"
    );
    assert_eq!(text(&f.repo, &upper(), "/concat").await, b"ALPHA BETA");
    assert_eq!(
        text(&f.repo, &ctx, "/concat").await,
        b"alpha beta",
        "canonical unchanged"
    );
    let head = f.repo.head(&upper(), &p("/concat")).await.unwrap().unwrap();
    assert_eq!(head.content_type.as_deref(), Some("text/upper"));
    assert_eq!(
        head.blob.digest,
        digest_of(Algorithm::Sha256, b"ALPHA BETA")
    );
    // A change to the rows: both forms follow.
    let c = store(&f, b" gamma").await;
    f.repo.put(&ctx, &p("/docs/c"), c).await.unwrap();
    assert_eq!(
        text(&f.repo, &upper(), "/concat").await,
        b"ALPHA BETA GAMMA"
    );
    assert_eq!(text(&f.repo, &ctx, "/concat").await, b"alpha beta gamma");
    // A stored document's variant, and its HEAD.
    assert_eq!(text(&f.repo, &upper(), "/docs/a").await, b"ALPHA ");
    assert_eq!(text(&f.repo, &ctx, "/docs/a").await, b"alpha ");
    let head = f.repo.head(&upper(), &p("/docs/a")).await.unwrap().unwrap();
    assert_eq!(head.blob.size, 6);
    assert_eq!(head.content_type.as_deref(), Some("text/upper"));
}

/// `allow_once`: a version is written once; what the format calls mutable stays writable.
#[tokio::test]
async fn allow_once_keeps_versions_and_lets_metadata_change() {
    let f = fixture(WritePolicy::AllowOnce).await;
    let ctx = Ctx::default();
    let one = store(&f, b"v1").await;
    f.repo.put(&ctx, &p("/pkg/1.0"), one.clone()).await.unwrap();
    let other = store(&f, b"v1 again, other bytes").await;
    let e = f
        .repo
        .put(&ctx, &p("/pkg/1.0"), other.clone())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists, "{e:?}");
    f.repo.put(&ctx, &p("/meta/index"), one).await.unwrap();
    f.repo.put(&ctx, &p("/meta/index"), other).await.unwrap();
    assert_eq!(
        text(&f.repo, &ctx, "/meta/index").await,
        b"v1 again, other bytes"
    );
}
