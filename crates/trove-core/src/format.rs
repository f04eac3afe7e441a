use async_trait::async_trait;
use bytes::Bytes;

use crate::{AssetMeta, AssetPath, BlobInfo, Digest, Error, ErrorKind, Page, ProxyConfig, Result};

/// A format's identifier ("docker"; later "raw", "npm", ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FormatId(pub &'static str);

/// A document a repository computes rather than stores (docker `tags/list`).
pub struct Generated {
    pub bytes: Bytes,
    pub content_type: String,
}

/// Read access to a repository's own asset rows, handed to `FormatSpec::generate`.
#[async_trait]
pub trait AssetIndex: Send + Sync {
    /// Assets whose storage path starts with `prefix`, ordered by path.
    async fn list(&self, prefix: &str, page: &Page) -> Result<Vec<AssetMeta>>;
    /// Only the storage paths under `prefix`, ordered: for listings (tags, catalog) that need
    /// no metadata. Stores answer it without building an `AssetMeta` per row.
    async fn list_paths(&self, prefix: &str) -> Result<Vec<String>> {
        let rows = self.list(prefix, &Page::default()).await?;
        Ok(rows
            .into_iter()
            .map(|m| m.path.as_str().to_owned())
            .collect())
    }
    /// The paths under `prefix` that sort at or after `from`, ordered: skips a leading part of
    /// the range without reading it (docker's catalog skips the blob rows).
    async fn list_paths_from(&self, prefix: &str, from: &str) -> Result<Vec<String>> {
        let mut paths = self.list_paths(prefix).await?;
        paths.retain(|p| p.as_str() >= from);
        Ok(paths)
    }
}

/// The format logic a repository kind may call. Kinds never call anything else of a format, so a
/// new format needs no change in `trove-hosted` (nor later in proxy or group).
#[async_trait]
pub trait FormatSpec: Send + Sync {
    fn id(&self) -> FormatId;
    /// Maps a request path to the key the asset is stored under (docker: every image name of a
    /// repository shares one blob namespace, as in Nexus).
    fn storage_path(&self, path: &AssetPath) -> AssetPath;
    /// Whether `generate` may answer for `path`. Repositories cache generated documents and
    /// check the cache against the database, which this spares every other request; the
    /// default (`true`) is always correct.
    fn generates(&self, _path: &AssetPath) -> bool {
        true
    }
    /// Computes a document the repository does not store; `None` when `path` is not one.
    async fn generate(&self, path: &AssetPath, index: &dyn AssetIndex)
    -> Result<Option<Generated>>;

    // What a proxy repository asks. The defaults suit a format of plain files: everything is
    // mutable and fetched at `<remote><path>`.

    /// Immutable content, mutable metadata, or computed locally.
    fn classify(&self, _path: &AssetPath) -> AssetClass {
        AssetClass::Metadata
    }
    /// The request that fetches `path` from the proxy's remote.
    fn upstream(&self, proxy: &ProxyConfig, path: &AssetPath) -> Result<UpstreamRequest> {
        Ok(UpstreamRequest {
            url: format!("{}{}", proxy.remote.trim_end_matches('/'), path),
            accept: None,
            scope: None,
        })
    }
    /// The digest an upstream response announces for its body (docker: `Docker-Content-Digest`),
    /// which lets a proxy revalidate a cached copy with a HEAD.
    fn announced_digest(&self, _headers: &UpstreamHeaders) -> Option<Digest> {
        None
    }
    /// Checks a fetched body (already hashed into `blob`) against what the upstream announced;
    /// an error keeps it out of the cache.
    fn check_upstream(
        &self,
        path: &AssetPath,
        headers: &UpstreamHeaders,
        blob: &BlobInfo,
    ) -> Result<()> {
        match self.announced_digest(headers) {
            Some(d) if d.algorithm() == blob.digest.algorithm() && d != blob.digest => {
                Err(Error::new(
                    ErrorKind::Upstream,
                    format!(
                        "upstream announced {d} for {path} but sent content with digest {}",
                        blob.digest
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
    /// Another path that serves the same content forever once `path` resolved to `blob`
    /// (docker: a manifest fetched by tag is also the manifest by its digest).
    fn content_alias(&self, _path: &AssetPath, _blob: &BlobInfo) -> Option<AssetPath> {
        None
    }

    // What a group repository asks.

    /// The document a group serves at `path`, merged from its members' documents there (docker:
    /// the union of tag lists). A format that merges at `path` answers `Some` for any `parts`,
    /// the empty list included (the empty document), so a group asks `merge(path, vec![])` to
    /// learn whether to gather `path` from every member; `None` (the default) means the first
    /// member that has the path serves it.
    fn merge(&self, _path: &AssetPath, _parts: Vec<Generated>) -> Option<Generated> {
        None
    }
}

/// How a proxy repository treats a path (asked through `FormatSpec::classify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetClass {
    /// Immutable content, cached forever. `digest` is set when the path names the content (docker
    /// blobs and manifests by digest): fetched bytes must hash to it before they are kept.
    Content { digest: Option<crate::Digest> },
    /// Mutable (a docker tag, a listing): cached, and revalidated upstream after the
    /// repository's metadata max-age.
    Metadata,
    /// Computed from the repository's own rows (docker `_catalog`); never fetched upstream.
    Local,
}

/// The outbound request a proxy makes for a path (`FormatSpec::upstream`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    /// Absolute URL.
    pub url: String,
    /// `Accept` header value, if the format needs one (docker manifests: every manifest type).
    pub accept: Option<String>,
    /// What to ask a bearer-token realm for (docker: `repository:<name>:pull`), so a cached
    /// token can be sent before the upstream challenges again.
    pub scope: Option<String>,
}

/// Response headers of an upstream, as plain strings (names lowercase): the core knows no HTTP
/// library.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamHeaders(Vec<(String, String)>);

impl UpstreamHeaders {
    pub fn new() -> Self {
        UpstreamHeaders(Vec::new())
    }
    pub fn push(&mut self, name: &str, value: &str) {
        self.0.push((name.to_ascii_lowercase(), value.to_owned()));
    }
    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Key of `AssetMeta::attrs` that a proxy sets (never stores) when it serves a cached copy it
/// could not revalidate: the value says why (upstream down, rate-limited, blocked). Front-ends
/// turn it into a response header.
pub const ATTR_UPSTREAM_STALE: &str = "upstreamStale";
