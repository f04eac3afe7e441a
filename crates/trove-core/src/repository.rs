use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Asset, AssetMeta, AssetPath, ByteRange, FormatId, NewAsset, Page, RepoName, Result};

/// Per-request context passed down to repositories.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    /// The authenticated user name, for audit fields; `None` when anonymous.
    pub user: Option<String>,
    /// The request's id (as logged and sent back in `X-Request-Id`), for log lines below.
    pub request_id: Option<std::sync::Arc<str>>,
    /// Which form of a document the caller asked for (`FormatSpec::render`); `None` is the
    /// canonical form.
    pub variant: Option<&'static str>,
    /// An administrator's explicit override of immutable tags (set only by the service layer
    /// for an administrator who asked for it): such a tag may then be moved or deleted.
    pub override_immutable: bool,
}

impl Ctx {
    /// The same caller asking for the canonical form (what a group asks its members for).
    pub fn canonical(&self) -> Ctx {
        Ctx {
            variant: None,
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoKind {
    Hosted,
    Proxy,
    Group,
}

impl RepoKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RepoKind::Hosted => "hosted",
            RepoKind::Proxy => "proxy",
            RepoKind::Group => "group",
        }
    }
}

/// Whether a hosted repository accepts new content and overwrites (Nexus' "deployment policy").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WritePolicy {
    /// New paths and overwrites (moving a docker tag) are allowed.
    #[default]
    Allow,
    /// A path is written once; overwriting it with different content is refused.
    AllowOnce,
    /// Read only.
    Deny,
}

/// A repository's own ports (its connector): `/v2/` served at the root, as docker clients
/// need for a registry mirror or a repository-per-host setup. Ports bind on the main listen
/// address; `https` needs `certificate` and `key` (PEM file paths).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl ConnectorSpec {
    /// Whether it opens any port.
    pub fn is_empty(&self) -> bool {
        self.http.is_none() && self.https.is_none()
    }
}

/// Settings that depend on the repository kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum KindConfig {
    Hosted {
        #[serde(default)]
        write_policy: WritePolicy,
    },
    Proxy(ProxyConfig),
    /// Ordered members (repository names); writes go to `writable_member` if set.
    Group {
        members: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        writable_member: Option<String>,
    },
}

/// Settings of a proxy repository (a pull-through cache of `remote`). Secrets are never stored
/// here: only where to read the upstream password (an environment variable or a file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyConfig {
    /// The upstream's base URL (`https://registry-1.docker.io`).
    pub remote: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_password_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_password_file: Option<String>,
    /// Seconds a cached mutable asset (a tag) is served before it is revalidated upstream.
    #[serde(default = "ProxyConfig::default_metadata_max_age")]
    pub metadata_max_age: u64,
    /// Seconds an upstream "not found" is remembered; 0 turns the negative cache off.
    #[serde(default = "ProxyConfig::default_negative_cache_ttl")]
    pub negative_cache_ttl: u64,
    /// Seconds to wait for the upstream to connect, answer, or send the next bytes.
    #[serde(default = "ProxyConfig::default_upstream_timeout")]
    pub upstream_timeout: u64,
    /// Stop contacting an upstream for a while after repeated connection failures.
    #[serde(default = "ProxyConfig::default_auto_block")]
    pub auto_block: bool,
    /// The cache's limit: past it, garbage collection evicts the least recently downloaded
    /// content first (never the metadata a cached item needs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cache_bytes: Option<u64>,
}

impl ProxyConfig {
    pub fn default_metadata_max_age() -> u64 {
        300
    }
    pub fn default_negative_cache_ttl() -> u64 {
        60
    }
    pub fn default_upstream_timeout() -> u64 {
        60
    }
    pub fn default_auto_block() -> bool {
        true
    }
    /// A proxy of `remote` with every other setting at its default.
    pub fn new(remote: impl Into<String>) -> Self {
        ProxyConfig {
            remote: remote.into(),
            upstream_username: None,
            upstream_password_env: None,
            upstream_password_file: None,
            metadata_max_age: Self::default_metadata_max_age(),
            negative_cache_ttl: Self::default_negative_cache_ttl(),
            upstream_timeout: Self::default_upstream_timeout(),
            auto_block: Self::default_auto_block(),
            max_cache_bytes: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RepositoryConfig {
    /// Stable row id (uuid v7); assets reference it, so a rename keeps content.
    pub id: String,
    pub name: RepoName,
    pub format: FormatId,
    /// The format's own settings (docker: `hub_index`), a JSON object that only the format
    /// reads and validates; `{}` when none are set.
    pub options: serde_json::Map<String, serde_json::Value>,
    pub online: bool,
    pub kind: KindConfig,
    /// Refuse anonymous requests (and anonymous tokens) even when anonymous access would allow
    /// them: clients must log in.
    pub force_basic_auth: bool,
    /// The routing rule guarding this repository, by name.
    pub routing_rule: Option<String>,
    /// Cleanup policies, quotas, immutable tags.
    pub lifecycle: crate::RepoLifecycle,
}

impl RepositoryConfig {
    pub fn kind(&self) -> RepoKind {
        match self.kind {
            KindConfig::Hosted { .. } => RepoKind::Hosted,
            KindConfig::Proxy(_) => RepoKind::Proxy,
            KindConfig::Group { .. } => RepoKind::Group,
        }
    }
}

/// The one seam between wire formats and repository kinds. Paths are format paths
/// (`/v2/<name>/manifests/<tag>`); the kind maps them to storage through `FormatSpec`.
#[async_trait]
pub trait Repository: Send + Sync {
    fn config(&self) -> &RepositoryConfig;
    /// Whether this repository accepts writes at all, asked before a client streams an upload
    /// (a read-only hosted repository, later a proxy, answers `Unsupported` with the reason).
    fn check_writable(&self) -> Result<()>;
    /// Whether requests for `path` may proceed at all, asked before work that does not go
    /// through `get`/`put` (a docker upload streams to the blob store first). A repository
    /// guarded by a routing rule refuses blocked paths here; the default allows.
    fn check_path(&self, _path: &AssetPath) -> Result<()> {
        Ok(())
    }
    /// Whether a new upload may start, asked before a client streams one: a hosted repository
    /// at its hard quota, or a blob store below `[storage] min_free_bytes`, refuses here,
    /// before any byte moves. The default allows.
    async fn check_upload(&self, _ctx: &Ctx) -> Result<()> {
        Ok(())
    }
    /// Whether `delete(path)` would be allowed, asked before a delete that spans several rows
    /// (a docker manifest with its tags) so it refuses whole or not at all: an immutable tag
    /// refuses without an administrator's override. The default allows.
    fn check_delete(&self, _ctx: &Ctx, _path: &AssetPath) -> Result<()> {
        Ok(())
    }
    async fn get(
        &self,
        ctx: &Ctx,
        path: &AssetPath,
        range: Option<ByteRange>,
    ) -> Result<Option<Asset>>;
    async fn head(&self, ctx: &Ctx, path: &AssetPath) -> Result<Option<AssetMeta>>;
    async fn put(&self, ctx: &Ctx, path: &AssetPath, asset: NewAsset) -> Result<AssetMeta>;
    /// Removes the asset row (the blob stays until garbage collection); `false` if absent.
    async fn delete(&self, ctx: &Ctx, path: &AssetPath) -> Result<bool>;
    async fn list(&self, ctx: &Ctx, prefix: &str, page: &Page) -> Result<Vec<AssetMeta>>;
}

/// How a front-end finds a repository by name without depending on the server that built it.
pub trait RepoLookup: Send + Sync {
    fn get(&self, name: &str) -> Option<Arc<dyn Repository>>;
    /// The names of every online repository, sorted (for registry-wide listings).
    fn names(&self) -> Vec<String>;
}
