//! Proxy repositories: a pull-through cache of a remote repository, kept in the shared metadata
//! and blob stores. Content addressed by digest is cached forever; mutable metadata (a docker
//! tag) is revalidated upstream after the repository's metadata max-age, with a HEAD first so an
//! unchanged tag costs no download; upstream "not found" answers are remembered for a while.
//! Concurrent requests for the same missing asset share one upstream fetch (`flight.rs`), which
//! runs on the server's runtime and outlives the clients that asked. Bytes become visible only
//! after their digest is verified. When the upstream is down or rate-limiting, cached metadata
//! is served with a stale mark (`ATTR_UPSTREAM_STALE`); repeated connection failures block the
//! upstream for a while ([`ProxyRepository::upstream_status`]). Upstream credentials and the
//! upstream's bearer-token dance are handled in `upstream.rs`.
//!
//! The only crate that makes outbound HTTP requests. Generic over the format: it calls only
//! `FormatSpec`, `MetadataStore` and `BlobStore` (a test runs it with a toy format). It must never
//! depend on an HTTP server framework or on other repository kinds.

mod flight;
mod upstream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::json;
use sha2::Digest as _;
use trove_core::documents::{self, GeneratedCache, MAX_DOCUMENT};
use trove_core::{
    ATTR_UPSTREAM_STALE, Algorithm, Asset, AssetClass, AssetIndex, AssetMeta, AssetPath, BlobInfo,
    BlobStore, ByteRange, Ctx, Digest, Error, ErrorKind, Fetched, FormatSpec, KindConfig, NewAsset,
    Page, ProxyConfig, Repository, RepositoryConfig, Result, UpstreamRequest, now_millis,
};
use trove_store::{Link, MetadataStore, Quota, StoredLink};

use flight::{Flight, Waited, error_of, outcome_of};
pub use upstream::{Credentials, UpstreamStatus};
use upstream::{Upstream, describe, headers_of};

/// Key of the attrs of a cached mutable asset: when the upstream last confirmed it (unix millis).
const ATTR_CHECKED: &str = "upstreamChecked";
/// Keys of the attrs of a cached mutable asset: the upstream's `ETag` and `Last-Modified`,
/// sent back as `If-None-Match` / `If-Modified-Since` when it is revalidated.
const ATTR_ETAG: &str = "upstreamEtag";
const ATTR_LAST_MODIFIED: &str = "upstreamLastModified";
/// Whether the upstream announced the content's digest (docker): then a HEAD revalidates.
const ATTR_ANNOUNCED: &str = "upstreamAnnounced";

pub struct ProxyRepository {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: RepositoryConfig,
    proxy: ProxyConfig,
    meta: MetadataStore,
    blobs: Arc<dyn BlobStore>,
    format: Arc<dyn FormatSpec>,
    upstream: Upstream,
    /// Where fetches run: the server's multi-thread runtime, not a request's.
    runtime: tokio::runtime::Handle,
    flights: Mutex<HashMap<String, Arc<Flight>>>,
    /// Request path → until when the upstream's 404 stands.
    negative: Mutex<HashMap<String, Instant>>,
    /// Tag lists, catalogs, referrers: computed once per change to the rows.
    generated_docs: GeneratedCache,
    /// The blob store's quota (`[storage] quota_bytes`), which cache fills obey.
    limits: Arc<trove_core::StorageLimits>,
}

impl ProxyRepository {
    /// Builds the proxy of a `KindConfig::Proxy` repository. Reads the upstream password (from
    /// the environment or a file) now, so a missing secret fails at start, not on first pull.
    /// Fetches are spawned on `runtime`.
    pub fn new(
        cfg: RepositoryConfig,
        meta: MetadataStore,
        blobs: Arc<dyn BlobStore>,
        format: Arc<dyn FormatSpec>,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self> {
        let KindConfig::Proxy(proxy) = &cfg.kind else {
            return Err(Error::invalid(format!(
                "repository {} is not a proxy",
                cfg.name
            )));
        };
        let proxy = proxy.clone();
        let creds = Credentials::from_config(&proxy)
            .map_err(|e| Error::invalid(format!("repository {}: {}", cfg.name, e.msg)))?;
        let upstream = Upstream::new(cfg.name.as_str(), &proxy, creds)?;
        Ok(ProxyRepository {
            inner: Arc::new(Inner {
                cfg,
                proxy,
                meta,
                blobs,
                format,
                upstream,
                runtime,
                flights: Mutex::new(HashMap::new()),
                negative: Mutex::new(HashMap::new()),
                generated_docs: GeneratedCache::default(),
                limits: Arc::default(),
            }),
        })
    }

    /// The node's `[storage]` limits for this proxy's cache fills (call before sharing it).
    pub fn with_limits(mut self, limits: Arc<trove_core::StorageLimits>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.limits = limits;
        }
        self
    }

    /// Whether the upstream is reachable or auto-blocked, its last error, request counts.
    pub fn upstream_status(&self) -> UpstreamStatus {
        self.inner.upstream.status()
    }
}

fn refused(cfg: &RepositoryConfig, remote: &str) -> Error {
    Error::unsupported(format!(
        "repository {} is a proxy of {remote}; push to a hosted repository",
        cfg.name
    ))
}

impl Inner {
    /// Writes the row of a cached asset with its role and references (a cached manifest is
    /// stored before the layers it needs, so those are not required), in a transaction that
    /// checks the blob is still stored and the blob store's quota holds.
    async fn cache(&self, key: &AssetPath, asset: &NewAsset) -> Result<AssetMeta> {
        let (role, refs) = trove_core::lifecycle::describe(
            self.format.as_ref(),
            self.blobs.as_ref(),
            key,
            &asset.blob,
        )
        .await?;
        let link = Link {
            overwrite: true,
            role,
            refs: &refs,
            require_targets: false,
            blobs: Some(self.blobs.as_ref()),
            quota: Quota {
                repo: self.cfg.name.as_str(),
                repo_bytes: None,
                store_bytes: self.limits.quota_bytes,
            },
        };
        let (meta, _) = self
            .meta
            .assets()
            .link(&self.cfg.id, key, asset, &link)
            .await?;
        Ok(meta)
    }

    fn max_age(&self) -> i64 {
        (self.proxy.metadata_max_age as i64).saturating_mul(1000)
    }

    /// Whether a cached asset may be served without asking upstream.
    fn fresh(&self, class: &AssetClass, m: &AssetMeta) -> bool {
        match class {
            AssetClass::Content { .. } | AssetClass::Local => true,
            AssetClass::Metadata => {
                let checked = m
                    .attrs
                    .get(ATTR_CHECKED)
                    .and_then(serde_json::Value::as_i64)
                    .unwrap_or(m.created);
                now_millis() - checked < self.max_age()
            }
        }
    }

    fn negative_hit(&self, path: &AssetPath) -> bool {
        let mut n = self.negative.lock().expect("negative cache lock");
        match n.get(path.as_str()) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                n.remove(path.as_str());
                false
            }
            None => false,
        }
    }

    fn remember_missing(&self, path: &AssetPath) {
        if self.proxy.negative_cache_ttl == 0 {
            return;
        }
        let mut n = self.negative.lock().expect("negative cache lock");
        if n.len() > 10_000 {
            let now = Instant::now();
            n.retain(|_, until| *until > now);
        }
        n.insert(
            path.as_str().to_owned(),
            Instant::now() + Duration::from_secs(self.proxy.negative_cache_ttl),
        );
    }

    /// Opens the cached blob of `meta`, or the requested range of it.
    async fn serve(&self, meta: AssetMeta, range: Option<ByteRange>) -> Result<Asset> {
        documents::open_asset(self.blobs.as_ref(), meta, range).await
    }

    async fn generated(&self, ctx: &Ctx, path: &AssetPath) -> Result<Option<(AssetMeta, Bytes)>> {
        let assets = self.meta.assets();
        let version = assets.content_version(&self.cfg.id);
        self.generated_docs
            .generated(version, self.format.as_ref(), self, path, ctx.variant)
            .await
    }

    /// The request that fetches `path` (stored at `key`): from the URL a fetched document
    /// recorded for it (an npm tarball on a CDN), else where the format says; with the digest
    /// that document announced for it, when it did.
    async fn request_for(
        &self,
        path: &AssetPath,
        key: &AssetPath,
    ) -> Result<(UpstreamRequest, Option<Digest>)> {
        match self.meta.links().get(&self.cfg.id, key.as_str()).await? {
            Some(link) => Ok((
                UpstreamRequest {
                    url: link.url,
                    ..Default::default()
                },
                link.digest,
            )),
            None => Ok((self.format.upstream(&self.proxy, path)?, None)),
        }
    }

    /// For a path whose upstream URL is learnt from a metadata document: makes sure that
    /// document was fetched (refreshing it if stale), so its links are recorded.
    async fn learn_links(self: &Arc<Self>, path: &AssetPath, key: &AssetPath) -> Result<()> {
        let Some(source) = self.format.upstream_source(path) else {
            return Ok(());
        };
        if self
            .meta
            .links()
            .get(&self.cfg.id, key.as_str())
            .await?
            .is_some()
        {
            return Ok(());
        }
        let source_key = self.format.storage_path(&source);
        let class = self.format.classify(&source);
        let flight = self.flight(&source, &source_key, class);
        if let Waited::Done(Err(e)) = flight.wait(false).await? {
            tracing::debug!(repository = %self.cfg.name, %source, error = %e.1,
                "could not refresh the document that links to this path");
        }
        Ok(())
    }

    /// The flight fetching `path` (stored at `key`): joins the one in progress or starts one.
    fn flight(
        self: &Arc<Self>,
        path: &AssetPath,
        key: &AssetPath,
        class: AssetClass,
    ) -> Arc<Flight> {
        let mut flights = self.flights.lock().expect("flight map lock");
        if let Some(f) = flights.get(key.as_str()) {
            return f.clone();
        }
        let f = Flight::new();
        flights.insert(key.as_str().to_owned(), f.clone());
        drop(flights);
        let (me, path, key, fl) = (self.clone(), path.clone(), key.clone(), f.clone());
        self.runtime.spawn(async move {
            let guard = FlightGuard {
                inner: me.clone(),
                key: key.as_str().to_owned(),
                flight: fl.clone(),
            };
            let outcome = me.fetch(&path, &key, &class, &fl).await;
            guard.complete(outcome_of(outcome));
        });
        f
    }

    /// The body of a flight: re-checks the cache (a fetch that finished just before this one
    /// started has filled it), revalidates stale metadata with a HEAD, otherwise downloads.
    async fn fetch(
        self: &Arc<Self>,
        path: &AssetPath,
        key: &AssetPath,
        class: &AssetClass,
        flight: &Arc<Flight>,
    ) -> Result<Option<AssetMeta>> {
        let cached = self.meta.assets().get(&self.cfg.id, key.as_str()).await?;
        if let Some(m) = &cached
            && self.fresh(class, m)
        {
            return Ok(cached);
        }
        let Some(cached) = cached else {
            self.learn_links(path, key).await?;
            let got = self.download(path, key, class, flight, None).await?;
            if got.is_none() {
                self.remember_missing(path);
            }
            return Ok(got);
        };
        // Stale metadata: anything but a clear "gone" keeps the cached copy serving.
        match self.revalidate(path, key, class, &cached, flight).await {
            Ok(Some(m)) => Ok(Some(m)),
            Ok(None) => {
                tracing::info!(repository = %self.cfg.name, %path, "gone upstream; dropped from the cache");
                self.meta
                    .assets()
                    .delete(&self.cfg.id, key.as_str())
                    .await?;
                self.remember_missing(path);
                Ok(None)
            }
            Err(e) => {
                tracing::warn!(
                    repository = %self.cfg.name, %path, error = %e.msg,
                    "upstream failed; serving the cached copy"
                );
                let mut m = cached;
                if !m.attrs.is_object() {
                    m.attrs = json!({});
                }
                m.attrs[ATTR_UPSTREAM_STALE] = json!(e.msg);
                Ok(Some(m))
            }
        }
    }

    /// Asks upstream whether the cached copy still holds. A format that announces digests
    /// (docker) is asked with a HEAD: if it announces the digest we hold, only the check time
    /// moves. Otherwise a conditional GET with the upstream's own `ETag` / `Last-Modified`: a
    /// 304 moves the check time, a 200 is the new content.
    async fn revalidate(
        &self,
        path: &AssetPath,
        key: &AssetPath,
        class: &AssetClass,
        cached: &AssetMeta,
        flight: &Arc<Flight>,
    ) -> Result<Option<AssetMeta>> {
        let (mut req, _) = self.request_for(path, key).await?;
        let attr = |k: &str| {
            cached
                .attrs
                .get(k)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let conditional = attr(ATTR_ETAG).is_some() || attr(ATTR_LAST_MODIFIED).is_some();
        let announced = cached
            .attrs
            .get(ATTR_ANNOUNCED)
            .and_then(serde_json::Value::as_bool);
        if conditional && announced != Some(true) {
            req.if_none_match = attr(ATTR_ETAG);
            req.if_modified_since = attr(ATTR_LAST_MODIFIED);
            let Some(res) = self.upstream.send(Method::GET, &req).await? else {
                return Ok(None);
            };
            if res.status() == reqwest::StatusCode::NOT_MODIFIED {
                return self.confirm(path, key, cached).await.map(Some);
            }
            return self.download(path, key, class, flight, Some(res)).await;
        }
        let Some(res) = self.upstream.send(Method::HEAD, &req).await? else {
            return Ok(None);
        };
        let headers = headers_of(res.headers());
        if self.format.announced_digest(&headers).as_ref() == Some(&cached.blob.digest) {
            return self.confirm(path, key, cached).await.map(Some);
        }
        self.download(path, key, class, flight, None).await
    }

    /// The upstream confirmed the cached copy: only its check time moves.
    async fn confirm(
        &self,
        path: &AssetPath,
        key: &AssetPath,
        cached: &AssetMeta,
    ) -> Result<AssetMeta> {
        let mut attrs = match &cached.attrs {
            serde_json::Value::Object(_) => cached.attrs.clone(),
            _ => json!({}),
        };
        attrs[ATTR_CHECKED] = json!(now_millis());
        let asset = NewAsset {
            blob: cached.blob.clone(),
            content_type: cached.content_type.clone(),
            attrs,
        };
        let m = self.cache(key, &asset).await?;
        tracing::debug!(repository = %self.cfg.name, %path, "unchanged upstream");
        Ok(m)
    }

    /// What a mutable asset keeps of the upstream's answer, to revalidate it later.
    fn upstream_attrs(&self, headers: &trove_core::UpstreamHeaders) -> serde_json::Value {
        let mut attrs = json!({ ATTR_CHECKED: now_millis() });
        if let Some(v) = headers.get("etag") {
            attrs[ATTR_ETAG] = json!(v);
        }
        if let Some(v) = headers.get("last-modified") {
            attrs[ATTR_LAST_MODIFIED] = json!(v);
        }
        if self.format.announced_digest(headers).is_some() {
            attrs[ATTR_ANNOUNCED] = json!(true);
        }
        attrs
    }

    /// A metadata document the format rewrites before it is cached: read whole (bounded),
    /// checked against what the upstream announced, rewritten, then stored with the links it
    /// taught (replacing those of its previous copy).
    async fn download_document(
        &self,
        path: &AssetPath,
        key: &AssetPath,
        req: &UpstreamRequest,
        res: reqwest::Response,
    ) -> Result<Option<AssetMeta>> {
        let started = Instant::now();
        let headers = headers_of(res.headers());
        if res.content_length().is_some_and(|l| l > MAX_DOCUMENT) {
            return Err(Error::new(
                ErrorKind::Upstream,
                format!("upstream document {path} is over {MAX_DOCUMENT} bytes; not cached"),
            ));
        }
        let body: trove_core::ByteStream = Box::pin(
            res.bytes_stream()
                .map(|r| r.map_err(|e| std::io::Error::other(describe(&e)))),
        );
        let bytes = documents::collect(body, 0).await.map_err(|e| {
            Error::new(
                ErrorKind::Upstream,
                format!(
                    "download of {path} from {} broke: {}",
                    self.upstream.remote(),
                    e.msg
                ),
            )
        })?;
        let fetched_blob = BlobInfo {
            digest: Digest::of(Algorithm::Sha256, &bytes),
            size: bytes.len() as u64,
        };
        self.format
            .check_upstream(path, &headers, &fetched_blob)
            .map_err(|e| {
                Error::new(
                    ErrorKind::Upstream,
                    format!("{}; nothing was cached", e.msg),
                )
            })?;
        let rewritten = self.format.rewrite_fetched(
            path,
            Fetched {
                bytes,
                content_type: headers.get("content-type"),
                url: &req.url,
            },
        )?;
        let links: Vec<StoredLink> = rewritten
            .links
            .into_iter()
            .map(|l| StoredLink {
                path: self.format.storage_path(&l.path).as_str().to_owned(),
                url: l.url,
                digest: l.digest,
            })
            .collect();
        let attrs = self.upstream_attrs(&headers);
        let meta = self
            .store_document(path, key, rewritten.doc, attrs, &links)
            .await?;
        tracing::info!(
            repository = %self.cfg.name, %path, bytes = meta.blob.size, links = links.len(),
            ms = started.elapsed().as_secs_f64() * 1e3, "fetched document from upstream"
        );
        Ok(Some(meta))
    }

    /// Stores a document the proxy made (rewritten, or standing in for an absent one) and
    /// the links it teaches, then its row.
    async fn store_document(
        &self,
        path: &AssetPath,
        key: &AssetPath,
        doc: trove_core::Generated,
        attrs: serde_json::Value,
        links: &[StoredLink],
    ) -> Result<AssetMeta> {
        let digest = Digest::of(Algorithm::Sha256, &doc.bytes);
        let id = self.blobs.begin_upload().await?;
        let stored = async {
            self.blobs
                .append(&id, 0, documents::once(doc.bytes))
                .await?;
            self.blobs.commit(&id, &digest).await
        }
        .await;
        let blob = match stored {
            Ok(b) => b,
            Err(e) => {
                let _ = self.blobs.abort(&id).await;
                return Err(e);
            }
        };
        // Links first: a document served from the cache always has its links recorded.
        self.meta
            .links()
            .replace(&self.cfg.id, key.as_str(), links)
            .await?;
        let asset = NewAsset {
            blob,
            content_type: Some(doc.content_type),
            attrs,
        };
        let meta = self.cache(key, &asset).await?;
        tracing::debug!(repository = %self.cfg.name, %path, "document stored");
        Ok(meta)
    }

    /// GET upstream (or take the answer `res` a revalidation already got), streaming into the
    /// blob store (and to clients reading along), verify, commit, then write the row(s).
    /// `None` when the upstream has no such asset.
    async fn download(
        &self,
        path: &AssetPath,
        key: &AssetPath,
        class: &AssetClass,
        flight: &Arc<Flight>,
        res: Option<reqwest::Response>,
    ) -> Result<Option<AssetMeta>> {
        let started = Instant::now();
        let (req, announced) = self.request_for(path, key).await?;
        let res = match res {
            Some(res) => res,
            None => match self.upstream.send(Method::GET, &req).await? {
                Some(res) => res,
                None => {
                    return match self.format.absent_upstream(path) {
                        Some(doc) => {
                            let attrs = json!({ ATTR_CHECKED: now_millis() });
                            self.store_document(path, key, doc, attrs, &[])
                                .await
                                .map(Some)
                        }
                        None => Ok(None),
                    };
                }
            },
        };
        if self.format.rewrites(path) {
            return self.download_document(path, key, &req, res).await;
        }
        let headers = headers_of(res.headers());
        let content_type = headers.get("content-type").map(str::to_owned);
        let expected_len = res.content_length();
        // What the bytes must hash to: the digest the path names, else the one the document
        // that linked here announced.
        let known = match class {
            AssetClass::Content { digest } => digest.clone(),
            _ => None,
        }
        .or(announced);
        if let (Some(d), Some(len)) = (&known, expected_len) {
            flight.set_early(AssetMeta {
                path: path.clone(),
                blob: BlobInfo {
                    digest: d.clone(),
                    size: len,
                },
                content_type: content_type.clone(),
                created: now_millis(),
                last_downloaded: None,
                attrs: json!({}),
            });
        }
        let hasher = Arc::new(Mutex::new(sha2::Sha256::new()));
        let (h, fl) = (hasher.clone(), flight.clone());
        let hash = known.is_none();
        let body = res.bytes_stream().map(move |r| match r {
            Ok(b) => {
                if hash {
                    h.lock().expect("hasher lock").update(&b);
                }
                fl.push(b.clone());
                Ok(b)
            }
            Err(e) => Err(std::io::Error::other(describe(&e))),
        });
        let id = self.blobs.begin_upload().await?;
        let broken = |why: String| {
            Error::new(
                ErrorKind::Upstream,
                format!(
                    "download of {path} from {} broke after {} of {} bytes: {why}; nothing was cached",
                    self.upstream.remote(),
                    flight.received(),
                    expected_len.map_or("?".to_owned(), |l| l.to_string())
                ),
            )
        };
        let size = match self.blobs.append(&id, 0, Box::pin(body)).await {
            Ok(n) => n,
            Err(e) => {
                let _ = self.blobs.abort(&id).await;
                return Err(broken(e.msg));
            }
        };
        if let Some(len) = expected_len
            && size != len
        {
            let _ = self.blobs.abort(&id).await;
            return Err(broken(format!("Content-Length said {len}")));
        }
        let digest = match known {
            Some(d) => d,
            None => {
                let h = std::mem::take(&mut *hasher.lock().expect("hasher lock"));
                Digest::from_hex(Algorithm::Sha256, hex::encode(h.finalize()))
            }
        };
        let blob = BlobInfo { digest, size };
        if let Err(e) = self.format.check_upstream(path, &headers, &blob) {
            let _ = self.blobs.abort(&id).await;
            return Err(Error::new(
                ErrorKind::Upstream,
                format!("{}; nothing was cached", e.msg),
            ));
        }
        let blob = self.blobs.commit(&id, &blob.digest).await.map_err(|e| {
            if e.kind == ErrorKind::DigestMismatch {
                Error::new(
                    ErrorKind::Upstream,
                    format!(
                        "upstream {} sent wrong content for {path} ({}); nothing was cached",
                        self.upstream.remote(),
                        e.msg
                    ),
                )
            } else {
                e
            }
        })?;
        let attrs = match class {
            AssetClass::Metadata => self.upstream_attrs(&headers),
            _ => json!({}),
        };
        let asset = NewAsset {
            blob: blob.clone(),
            content_type: content_type.clone(),
            attrs,
        };
        // The immutable alias first: a tag row never points at a manifest missing by digest.
        if let Some(alias) = self.format.content_alias(path, &blob) {
            let alias_key = self.format.storage_path(&alias);
            let by_digest = NewAsset {
                attrs: json!({}),
                ..asset.clone()
            };
            self.cache(&alias_key, &by_digest).await?;
        }
        let meta = self.cache(key, &asset).await?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        tracing::info!(
            repository = %self.cfg.name, %path, bytes = blob.size, ms,
            "fetched from upstream"
        );
        Ok(Some(meta))
    }

    /// HEAD of content not cached yet: asks upstream without downloading (a client that HEADs
    /// a blob usually does not want it).
    async fn head_upstream(&self, path: &AssetPath, digest: &Digest) -> Result<Option<AssetMeta>> {
        let key = self.format.storage_path(path);
        let (req, _) = self.request_for(path, &key).await?;
        let Some(res) = self.upstream.send(Method::HEAD, &req).await? else {
            return Ok(None);
        };
        let headers = headers_of(res.headers());
        // From the header: for a HEAD, reqwest's `content_length()` is the (empty) body's.
        let size = headers
            .get("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        let Some(size) = size else {
            return Err(Error::new(
                ErrorKind::Upstream,
                format!(
                    "upstream {} sent no Content-Length for {path}",
                    self.upstream.remote()
                ),
            ));
        };
        if let Some(d) = self.format.announced_digest(&headers)
            && d != *digest
        {
            return Err(Error::new(
                ErrorKind::Upstream,
                format!("upstream announced {d} for {path}"),
            ));
        }
        Ok(Some(AssetMeta {
            path: path.clone(),
            blob: BlobInfo {
                digest: digest.clone(),
                size,
            },
            content_type: headers.get("content-type").map(str::to_owned),
            created: now_millis(),
            last_downloaded: None,
            attrs: json!({}),
        }))
    }

    /// Runs upstream I/O on the server runtime (reqwest's pooled connections live there).
    async fn on_runtime<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl std::future::Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        self.runtime
            .spawn(f)
            .await
            .map_err(|e| Error::internal(format!("upstream task failed: {e}")))?
    }
}

struct FlightGuard {
    inner: Arc<Inner>,
    key: String,
    flight: Arc<Flight>,
}

/// Ends a flight: first out of the map, so a request that arrives after a failure starts a new
/// fetch instead of sharing the failed one (one that arrives after a success finds the row,
/// which is written before), then the outcome for the waiters. If the fetch panics, the drop
/// does both with an error, so no waiter hangs.
impl FlightGuard {
    fn complete(self, outcome: flight::Outcome) {
        self.unlink();
        self.flight.finish(outcome);
    }

    fn unlink(&self) {
        let mut flights = self.inner.flights.lock().expect("flight map lock");
        if flights
            .get(&self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
        {
            flights.remove(&self.key);
        }
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        if !self.flight.is_done() {
            self.unlink();
            self.flight.finish(Err((
                ErrorKind::Internal,
                "the upstream fetch failed".into(),
            )));
        }
    }
}

#[async_trait]
impl AssetIndex for Inner {
    async fn list(&self, prefix: &str, page: &Page) -> Result<Vec<AssetMeta>> {
        self.meta.assets().list(&self.cfg.id, prefix, page).await
    }

    async fn read(&self, meta: &AssetMeta) -> Result<Bytes> {
        documents::read_document(self.blobs.as_ref(), meta).await
    }

    async fn list_paths(&self, prefix: &str) -> Result<Vec<String>> {
        self.meta.assets().list_paths(&self.cfg.id, prefix).await
    }

    async fn list_paths_from(&self, prefix: &str, from: &str) -> Result<Vec<String>> {
        self.meta
            .assets()
            .list_paths_from(&self.cfg.id, prefix, from)
            .await
    }
}

impl ProxyRepository {
    /// A stored asset (cache hit) or one fetched from upstream (joining a flight in progress).
    async fn fetch_or_serve(
        &self,
        path: &AssetPath,
        key: &AssetPath,
        class: AssetClass,
        range: Option<ByteRange>,
    ) -> Result<Option<Asset>> {
        let inner = &self.inner;
        match inner.meta.assets().get(&inner.cfg.id, key.as_str()).await? {
            Some(m) if inner.fresh(&class, &m) => return inner.serve(m, range).await.map(Some),
            Some(_) => {}
            None if inner.negative_hit(path) => return Ok(None),
            None => {}
        }
        let flight = inner.flight(path, key, class);
        match flight.wait(range.is_none()).await? {
            Waited::Early(meta) => {
                let body = flight.body(
                    meta.blob.size,
                    meta.blob.digest.clone(),
                    inner.blobs.clone(),
                );
                Ok(Some(Asset {
                    meta,
                    body,
                    served: None,
                }))
            }
            Waited::Done(Ok(Some(meta))) => inner.serve(meta, range).await.map(Some),
            Waited::Done(Ok(None)) => Ok(None),
            Waited::Done(Err(e)) => Err(error_of(&e)),
        }
    }
}

#[async_trait]
impl Repository for ProxyRepository {
    fn config(&self) -> &RepositoryConfig {
        &self.inner.cfg
    }

    fn check_writable(&self) -> Result<()> {
        Err(refused(&self.inner.cfg, &self.inner.proxy.remote))
    }

    async fn get(
        &self,
        ctx: &Ctx,
        path: &AssetPath,
        range: Option<ByteRange>,
    ) -> Result<Option<Asset>> {
        let inner = &self.inner;
        let class = inner.format.classify(path);
        if class == AssetClass::Local {
            let Some((meta, bytes)) = inner.generated(ctx, path).await? else {
                return Ok(None);
            };
            return Ok(Some(Asset {
                meta,
                body: documents::once(bytes),
                served: None,
            }));
        }
        let key = inner.format.storage_path(path);
        let served = self.fetch_or_serve(path, &key, class, range).await;
        let Ok(Some(asset)) = served else {
            return served;
        };
        inner.meta.note_download(&inner.cfg.id, key.as_str());
        match ctx.variant {
            None => Ok(Some(asset)),
            Some(variant) => {
                let bytes = documents::collect(asset.body, asset.meta.blob.size).await?;
                let (meta, bytes) = inner.generated_docs.rendered(
                    inner.format.as_ref(),
                    path,
                    variant,
                    asset.meta,
                    bytes,
                )?;
                Ok(Some(Asset {
                    meta,
                    body: documents::once(bytes),
                    served: None,
                }))
            }
        }
    }

    async fn head(&self, ctx: &Ctx, path: &AssetPath) -> Result<Option<AssetMeta>> {
        let inner = &self.inner;
        let class = inner.format.classify(path);
        if class == AssetClass::Local {
            return Ok(inner.generated(ctx, path).await?.map(|(m, _)| m));
        }
        if ctx.variant.is_some() {
            // The variant's size and digest are those of the rendered document.
            return Ok(self.get(ctx, path, None).await?.map(|a| a.meta));
        }
        let key = inner.format.storage_path(path);
        match inner.meta.assets().get(&inner.cfg.id, key.as_str()).await? {
            Some(m) if inner.fresh(&class, &m) => return Ok(Some(m)),
            Some(_) => {}
            None if inner.negative_hit(path) => return Ok(None),
            None => {
                if let AssetClass::Content {
                    digest: Some(digest),
                } = &class
                {
                    let in_flight = inner
                        .flights
                        .lock()
                        .expect("lock")
                        .get(key.as_str())
                        .cloned();
                    if let Some(meta) = in_flight.and_then(|f| f.early()) {
                        return Ok(Some(meta));
                    }
                    let (me, p, d) = (inner.clone(), path.clone(), digest.clone());
                    let found = inner
                        .on_runtime(async move { me.head_upstream(&p, &d).await })
                        .await?;
                    if found.is_none() {
                        inner.remember_missing(path);
                    }
                    return Ok(found);
                }
            }
        }
        let flight = inner.flight(path, &key, class);
        match flight.wait(false).await? {
            Waited::Done(Ok(m)) => Ok(m),
            Waited::Done(Err(e)) => Err(error_of(&e)),
            Waited::Early(m) => Ok(Some(m)),
        }
    }

    async fn put(&self, _ctx: &Ctx, _path: &AssetPath, _asset: NewAsset) -> Result<AssetMeta> {
        Err(refused(&self.inner.cfg, &self.inner.proxy.remote))
    }

    async fn delete(&self, _ctx: &Ctx, _path: &AssetPath) -> Result<bool> {
        Err(refused(&self.inner.cfg, &self.inner.proxy.remote))
    }

    async fn list(&self, _ctx: &Ctx, prefix: &str, page: &Page) -> Result<Vec<AssetMeta>> {
        AssetIndex::list(&*self.inner, prefix, page).await
    }
}

#[cfg(test)]
mod seam_tests;
#[cfg(test)]
mod tests;
