//! The seam later formats stand on, against a toy document format (`DocFormat`) and small
//! loopback HTTP servers: a fetched document is rewritten before it is cached and teaches the
//! proxy upstream URLs the path does not tell (on another host, which never gets the remote's
//! credentials); a file asked for before its document is found through the document; variants
//! of cached documents are rendered; a stale document is revalidated with the upstream's
//! `ETag` (a 304 costs no download).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use trove_core::{Fetched, Generated, RepoName, Rewritten};
use trove_store::testing::read_all;
use trove_store::{DeclaredRepo, FsBlobStore};

use super::*;

/// One request a [`Server`] saw: method, path, headers (names lowercase).
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    headers: HashMap<String, String>,
}

/// A tiny HTTP/1.1 server on a thread: fixed bodies by path, each with a strong ETag that a
/// matching `If-None-Match` turns into a 304; paths under `/private/` need Basic credentials
/// (answering 401 with a Basic challenge otherwise). One request per connection.
struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Binds now (so its URL can go into the files it serves).
    fn bind() -> (TcpListener, String) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        (listener, url)
    }

    fn serve(listener: TcpListener, files: &[(&str, &[u8])]) -> Server {
        let addr = listener.local_addr().unwrap();
        let files: Arc<HashMap<String, Vec<u8>>> = Arc::new(
            files
                .iter()
                .map(|(p, b)| ((*p).to_owned(), b.to_vec()))
                .collect(),
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (files, log) = (files.clone(), log.clone());
                std::thread::spawn(move || answer(stream, &files, &log));
            }
        });
        Server { addr, seen }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

fn answer(
    mut stream: std::net::TcpStream,
    files: &HashMap<String, Vec<u8>>,
    log: &Mutex<Vec<Seen>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("").to_owned(),
    );
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    log.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        headers: headers.clone(),
    });
    let close = "Content-Length: 0\r\nConnection: close\r\n\r\n";
    let out = match files.get(&path) {
        _ if path.starts_with("/private/") && !headers.contains_key("authorization") => {
            format!("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"t\"\r\n{close}")
                .into_bytes()
        }
        None => format!("HTTP/1.1 404 Not Found\r\n{close}").into_bytes(),
        Some(body) => {
            let etag = format!("\"{}\"", Digest::of(Algorithm::Sha256, body).hex());
            if headers.get("if-none-match") == Some(&etag) {
                format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n{close}").into_bytes()
            } else {
                let mut out = format!(
                    "HTTP/1.1 200 OK\r\nETag: {etag}\r\nContent-Type: text/plain\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                if method != "HEAD" {
                    out.extend_from_slice(body);
                }
                out
            }
        }
    };
    let _ = stream.write_all(&out);
    let _ = stream.flush();
}

/// `/pkg/<name>` is a document of lines `file <absolute URL> [<digest>]`; cached, each line
/// becomes `file /files/<name>/<basename>` and teaches that path's URL (and digest). `/files/<name>/<f>` is content
/// found through `/pkg/<name>`. Variant `count` of a document is its number of lines.
struct DocFormat;

#[async_trait]
impl FormatSpec for DocFormat {
    fn id(&self) -> trove_core::FormatId {
        trove_core::FormatId::new("doc")
    }
    fn storage_path(&self, path: &AssetPath) -> AssetPath {
        path.clone()
    }
    async fn generate(&self, _: &AssetPath, _: &dyn AssetIndex) -> Result<Option<Generated>> {
        Ok(None)
    }
    fn classify(&self, path: &AssetPath) -> AssetClass {
        if path.as_str().starts_with("/files/") {
            AssetClass::Content { digest: None }
        } else {
            AssetClass::Metadata
        }
    }
    fn upstream(&self, proxy: &ProxyConfig, path: &AssetPath) -> Result<UpstreamRequest> {
        Ok(UpstreamRequest {
            url: format!("{}/private{path}", proxy.remote),
            ..Default::default()
        })
    }
    fn rewrites(&self, path: &AssetPath) -> bool {
        path.as_str().starts_with("/pkg/")
    }
    fn rewrite_fetched(&self, path: &AssetPath, fetched: Fetched<'_>) -> Result<Rewritten> {
        let name = path.as_str().trim_start_matches("/pkg/");
        let mut doc = String::new();
        let mut links = Vec::new();
        for line in String::from_utf8_lossy(&fetched.bytes).lines() {
            let mut words = line.trim_start_matches("file ").split(' ');
            let url = words.next().unwrap_or_default();
            let digest = words.next().map(Digest::parse).transpose()?;
            let base = url.rsplit('/').next().unwrap_or_default();
            let local = format!("/files/{name}/{base}");
            doc.push_str(&format!("file {local}\n"));
            links.push(trove_core::Link {
                path: AssetPath::parse(&local)?,
                url: url.to_owned(),
                digest,
            });
        }
        Ok(Rewritten {
            doc: Generated {
                bytes: Bytes::from(doc),
                content_type: "text/x-doc".into(),
            },
            links,
        })
    }
    fn upstream_source(&self, path: &AssetPath) -> Option<AssetPath> {
        let rest = path.as_str().strip_prefix("/files/")?;
        let (name, _) = rest.split_once('/')?;
        AssetPath::parse(&format!("/pkg/{name}")).ok()
    }
    fn render(&self, _: &AssetPath, variant: &str, doc: &Generated) -> Result<Option<Generated>> {
        Ok((variant == "count").then(|| Generated {
            bytes: Bytes::from(
                String::from_utf8_lossy(&doc.bytes)
                    .lines()
                    .count()
                    .to_string(),
            ),
            content_type: "text/plain".into(),
        }))
    }
}

async fn proxy_of(remote: &str, dir: &tempfile::TempDir) -> ProxyRepository {
    let meta = MetadataStore::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    let pw = dir.path().join("upstream.pw");
    std::fs::write(&pw, "s3cret").unwrap();
    let mut cfg = ProxyConfig::new(remote);
    cfg.metadata_max_age = 0;
    cfg.upstream_username = Some("me".into());
    cfg.upstream_password_file = Some(pw.display().to_string());
    let decl = DeclaredRepo {
        name: RepoName::parse("p").unwrap(),
        format: "doc".into(),
        options: Default::default(),
        kind: KindConfig::Proxy(cfg),
        force_basic_auth: false,
        routing_rule: None,
        connector: None,
        lifecycle: Default::default(),
    };
    meta.repos().reconcile(&[decl]).await.unwrap();
    let cfg = meta.repos().list().await.unwrap().remove(0);
    let blobs = Arc::new(FsBlobStore::open(dir.path().join("blobs")).await.unwrap());
    ProxyRepository::new(
        cfg,
        meta,
        blobs,
        Arc::new(DocFormat),
        tokio::runtime::Handle::current(),
    )
    .unwrap()
}

async fn fetch(repo: &ProxyRepository, ctx: &Ctx, path: &str) -> Vec<u8> {
    let a = repo
        .get(ctx, &AssetPath::parse(path).unwrap(), None)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{path} not found"));
    read_all(a.body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_rewritten_teach_links_render_variants_and_revalidate() {
    let (cdn_listener, cdn_url) = Server::bind();
    let cdn = Server::serve(cdn_listener, &[("/cdn/demo-1.tgz", b"tarball one")]);
    // The remote serves the document and one file itself; its paths need credentials.
    let (listener, remote_url) = Server::bind();
    let doc = format!("file {cdn_url}/cdn/demo-1.tgz\nfile {remote_url}/private/own/demo-2.tgz\n");
    let remote = Server::serve(
        listener,
        &[
            ("/private/pkg/demo", doc.as_bytes()),
            ("/private/own/demo-2.tgz", b"tarball two"),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let repo = proxy_of(&remote.url(), &dir).await;
    let ctx = Ctx::default();

    // A file first: the proxy fetches its document to learn where it lives (the CDN).
    assert_eq!(
        fetch(&repo, &ctx, "/files/demo/demo-1.tgz").await,
        b"tarball one"
    );
    assert_eq!(
        remote.seen("/private/pkg/demo").len(),
        2,
        "401, then with credentials"
    );
    let cdn_seen = cdn.seen("/cdn/demo-1.tgz");
    assert_eq!(cdn_seen.len(), 1);
    assert!(
        !cdn_seen[0].headers.contains_key("authorization"),
        "the remote's credentials never go to another host"
    );
    assert!(remote.seen("/private/pkg/demo")[1].headers["authorization"].starts_with("Basic "));
    // The cached document is the rewritten one; its variant is rendered from it.
    let cached = fetch(&repo, &ctx, "/pkg/demo").await;
    assert_eq!(
        String::from_utf8(cached).unwrap(),
        "file /files/demo/demo-1.tgz\nfile /files/demo/demo-2.tgz\n"
    );
    let count = Ctx {
        variant: Some("count"),
        ..Ctx::default()
    };
    assert_eq!(fetch(&repo, &count, "/pkg/demo").await, b"2");
    // The second file was taught too, on the remote itself (with credentials there).
    assert_eq!(
        fetch(&repo, &ctx, "/files/demo/demo-2.tgz").await,
        b"tarball two"
    );
    // metadata_max_age = 0: every read revalidates, by ETag, and a 304 downloads nothing.
    let asked = remote.seen("/private/pkg/demo");
    let last = asked.last().unwrap();
    assert!(last.headers.contains_key("if-none-match"), "{last:?}");
    assert!(
        asked.iter().all(|s| s.method == "GET"),
        "no HEAD for formats without digests"
    );
    assert_eq!(
        fetch(&repo, &ctx, "/files/demo/demo-1.tgz").await,
        b"tarball one"
    );
    assert_eq!(
        cdn.seen("/cdn/demo-1.tgz").len(),
        1,
        "content is cached for good"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_file_must_hash_to_the_digest_its_document_announced() {
    let (listener, url) = Server::bind();
    let good = Digest::of(Algorithm::Sha512, b"the real bytes");
    let doc = format!(
        "file {url}/files/ok.tgz {good}\nfile {url}/files/bad.tgz {good}\nfile {url}/files/plain.tgz\n"
    );
    let remote = Server::serve(
        listener,
        &[
            ("/private/pkg/d", doc.as_bytes()),
            ("/files/ok.tgz", b"the real bytes"),
            ("/files/bad.tgz", b"tampered bytes"),
            ("/files/plain.tgz", b"no digest announced"),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let repo = proxy_of(&remote.url(), &dir).await;
    let ctx = Ctx::default();
    assert_eq!(
        fetch(&repo, &ctx, "/files/d/ok.tgz").await,
        b"the real bytes"
    );
    let meta = repo
        .inner
        .meta
        .assets()
        .get(&repo.inner.cfg.id, "/files/d/ok.tgz")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(meta.blob.digest, good, "kept under the announced digest");
    let bad = repo
        .get(&ctx, &AssetPath::parse("/files/d/bad.tgz").unwrap(), None)
        .await;
    let e = match bad {
        Err(e) => e,
        Ok(Some(a)) => {
            // Streamed while downloading: the body must end in an error, not the bytes.
            let mut body = a.body;
            let mut failed = false;
            while let Some(chunk) = body.next().await {
                failed |= chunk.is_err();
            }
            assert!(failed, "tampered bytes were served whole");
            Error::new(ErrorKind::Upstream, "streamed")
        }
        Ok(None) => panic!("not found"),
    };
    assert_eq!(e.kind, ErrorKind::Upstream, "{e:?}");
    assert!(
        repo.inner
            .meta
            .assets()
            .get(&repo.inner.cfg.id, "/files/d/bad.tgz")
            .await
            .unwrap()
            .is_none(),
        "nothing cached for bytes that do not match"
    );
    // Without an announced digest the bytes are kept by their own SHA-256.
    assert_eq!(
        fetch(&repo, &ctx, "/files/d/plain.tgz").await,
        b"no digest announced"
    );
}
