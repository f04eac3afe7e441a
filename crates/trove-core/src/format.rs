use async_trait::async_trait;
use bytes::Bytes;

use crate::{AssetMeta, AssetPath, BlobInfo, Digest, Error, ErrorKind, Page, ProxyConfig, Result};

/// A format's identifier (`docker`, `raw`, later `npm`, ...): 1 to 32 of `a-z 0-9 -`, starting
/// with a letter. Formats declare theirs as constants ([`FormatId::new`]); ids read from
/// configuration or the database are parsed ([`FormatId::parse`]) and then looked up in the
/// server's format registry, which says whether the format exists.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FormatId(std::borrow::Cow<'static, str>);

impl FormatId {
    /// A format's own id constant. The grammar is checked by the registry's tests.
    pub const fn new(id: &'static str) -> FormatId {
        FormatId(std::borrow::Cow::Borrowed(id))
    }

    pub fn parse(s: &str) -> Result<FormatId> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(FormatId(std::borrow::Cow::Owned(s.to_owned())))
        } else {
            Err(Error::invalid(format!(
                "invalid format {s:?}: use 1-32 of a-z 0-9 -, starting with a letter"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for FormatId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for FormatId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

/// A format's own id constant (as [`FormatId::new`]).
impl From<&'static str> for FormatId {
    fn from(id: &'static str) -> FormatId {
        FormatId::new(id)
    }
}

impl PartialEq<str> for FormatId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for FormatId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl serde::Serialize for FormatId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for FormatId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FormatId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A document a repository computes rather than stores (docker `tags/list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub bytes: Bytes,
    pub content_type: String,
}

/// One member's document handed to [`FormatSpec::merge`], in member order.
#[derive(Debug, Clone)]
pub struct MergePart {
    /// The member's name.
    pub member: String,
    /// Hosted, proxy or group: formats that guard against dependency confusion let a hosted
    /// member that has a name hide the same name in later proxy members.
    pub kind: crate::RepoKind,
    pub doc: Generated,
}

/// A metadata document a proxy fetched, before it is cached ([`FormatSpec::rewrite_fetched`]).
pub struct Fetched<'a> {
    pub bytes: Bytes,
    pub content_type: Option<&'a str>,
    /// The absolute URL it was fetched from, against which relative links resolve.
    pub url: &'a str,
}

/// What a proxy caches instead of a fetched document, and the upstream URLs it learnt from it.
#[derive(Debug, Clone)]
pub struct Rewritten {
    pub doc: Generated,
    /// Paths of this repository whose upstream URL is not derivable from the path (an npm
    /// tarball on a CDN, a wheel on another host). The proxy records them and fetches those
    /// paths from there.
    pub links: Vec<Link>,
}

/// A path a fetched document teaches: where upstream it lives and, when the document says,
/// what its bytes hash to (npm's `dist.integrity`, a wheel link's `#sha256=`), which the proxy
/// checks before it keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub path: AssetPath,
    pub url: String,
    pub digest: Option<Digest>,
}

/// Read access to a repository's own asset rows, handed to `FormatSpec::generate`.
#[async_trait]
pub trait AssetIndex: Send + Sync {
    /// Assets whose storage path starts with `prefix`, ordered by path.
    async fn list(&self, prefix: &str, page: &Page) -> Result<Vec<AssetMeta>>;
    /// The whole stored body of `meta` (a version's manifest that a generated index is built
    /// from). For documents only: implementations may refuse bodies over a few MiB.
    async fn read(&self, meta: &AssetMeta) -> Result<Bytes>;
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

    /// Whether the content at `path` may change after it was first written: a hosted
    /// repository with `write_policy = "allow_once"` lets these be overwritten (an index or
    /// metadata file) while everything else is written once (a version). Default: nothing.
    fn is_mutable(&self, _path: &AssetPath) -> bool {
        false
    }

    /// The component (image, package) and version (tag) a stored `path` belongs to, in the
    /// format's own terms, for selections such as a bundle's `--select 'library/*:1.*'`:
    /// `Some((component, Some(version)))` for a path a version names (a docker tag), `Some((
    /// component, None))` for the component's other content (digests, blobs, files), `None`
    /// when the path belongs to no component. Default: no components (only whole
    /// repositories can be selected).
    fn component_of(&self, _path: &AssetPath) -> Option<(String, Option<String>)> {
        None
    }

    /// Whether the content at `path` points at other stored content that must travel with it
    /// ([`Self::references`]); only then are its bytes read. Default: nothing does.
    fn refers(&self, _path: &AssetPath) -> bool {
        false
    }

    /// The stored paths the content at `path` (its bytes: `doc`) needs to be served: a docker
    /// manifest's config and layers, an index's child manifests. Unparsable content refers to
    /// nothing (it was verified when it was stored).
    fn references(&self, _path: &AssetPath, _doc: &[u8]) -> Vec<AssetPath> {
        Vec::new()
    }

    /// The `variant` of the document at `path`, made from its canonical form `doc` (what
    /// `generate` answers, a proxy cached or a group merged): npm's abbreviated packument, the
    /// HTML of a PEP 691 index. `None`: the canonical form is served as it is. Repositories
    /// cache what this answers next to the canonical form.
    fn render(
        &self,
        _path: &AssetPath,
        _variant: &str,
        _doc: &Generated,
    ) -> Result<Option<Generated>> {
        Ok(None)
    }

    // What a proxy repository asks. The defaults suit a format of plain files: everything is
    // mutable and fetched at `<remote><path>`.

    /// Whether a fetched document at `path` must go through [`Self::rewrite_fetched`] before it
    /// is cached (it carries upstream URLs). Such documents are read whole, so only metadata.
    fn rewrites(&self, _path: &AssetPath) -> bool {
        false
    }
    /// The document a proxy caches and serves for what it fetched at `path`: links made
    /// relative to the repository (or marked for the front end to make absolute from the
    /// caller's URL), plus the upstream URLs it learnt. Called only where `rewrites` is true.
    fn rewrite_fetched(&self, _path: &AssetPath, fetched: Fetched<'_>) -> Result<Rewritten> {
        Ok(Rewritten {
            doc: Generated {
                bytes: fetched.bytes,
                content_type: fetched
                    .content_type
                    .unwrap_or("application/octet-stream")
                    .to_owned(),
            },
            links: Vec::new(),
        })
    }
    /// What a proxy caches, as mutable metadata, when the upstream has nothing at `path`
    /// (docker: an empty referrers index, which the spec says a registry without the referrers
    /// API means). `None`: a 404 is a 404.
    fn absent_upstream(&self, _path: &AssetPath) -> Option<Generated> {
        None
    }
    /// The metadata document whose fetch records the upstream URL of `path` (npm: a tarball's
    /// packument). A proxy with no recorded URL for `path` refreshes that document first; with
    /// none recorded even then, it fetches [`Self::upstream`].
    fn upstream_source(&self, _path: &AssetPath) -> Option<AssetPath> {
        None
    }

    /// Immutable content, mutable metadata, or computed locally.
    fn classify(&self, _path: &AssetPath) -> AssetClass {
        AssetClass::Metadata
    }
    /// The request that fetches `path` from the proxy's remote.
    fn upstream(&self, proxy: &ProxyConfig, path: &AssetPath) -> Result<UpstreamRequest> {
        Ok(UpstreamRequest {
            url: format!("{}{}", proxy.remote.trim_end_matches('/'), path),
            ..Default::default()
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
    fn merge(&self, _path: &AssetPath, _parts: Vec<MergePart>) -> Option<Generated> {
        None
    }
    /// Whether `merge` merges at `path` (it must agree with `merge`); formats override it to
    /// spare building the empty document per request.
    fn merges(&self, path: &AssetPath) -> bool {
        self.merge(path, Vec::new()).is_some()
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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpstreamRequest {
    /// Absolute URL.
    pub url: String,
    /// `Accept` header value, if the format needs one (docker manifests: every manifest type).
    pub accept: Option<String>,
    /// What to ask a bearer-token realm for (docker: `repository:<name>:pull`), so a cached
    /// token can be sent before the upstream challenges again.
    pub scope: Option<String>,
    /// Set by the proxy when it revalidates a cached copy: `If-None-Match` and
    /// `If-Modified-Since` from what the upstream sent with it.
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
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
